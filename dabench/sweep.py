"""Sweeps: a YAML spec → hashed run configs → jobs on SLURM (or locally), with skip-done, resume and status.

A sweep is methods × tasks × seeds × a hyper-parameter grid (× optional seeded random draws), at one budget.
Each point is an ordinary :class:`~dabench.config.RunConfig`; its directory under the sweep root is named by
the hash of the settings that change results (:attr:`~dabench.config.ResolvedRun.run_id`: not paths, devices,
the executor or its resources), so launching a sweep again finds its runs: done ones are skipped, interrupted
ones resume from their checkpoint, queued or running ones are left alone.

Spec (YAML, read with ``yaml.safe_load``; every key but ``methods`` and ``tasks`` is optional)::

    name: table1                 # the sweep root is <out>/<name> (default: the file's or preset's name)
    description: one line        # shown by `dabench sweep presets`
    out: runs                    # folder of sweep roots (default ./runs)
    methods: [source-only, dann]
    tasks: [mnist-usps, usps-mnist]
    seeds: 3                     # 3 means 0, 1, 2; or a list [0, 5]
    hparams:                     # grid: a list sweeps, a scalar fixes; a name applies to the methods declaring it
      lr: [0.01, 0.001]
      dann:                      # a method's own grid; a list of mappings is a union of grids (paired values)
        - {gamma: 5.0, lambda_max: 0.5}
        - {gamma: 10.0, lambda_max: 1.0}
    random: {draws: 4, seed: 0}  # hparams_seed 1..4: each method's samplers (seed 0 = defaults); grid applies on top
    data: auto                   # auto | full | embedded
    data_root: [/shared/data]    # read-only roots (also $DABENCH_DATA)
    device: auto
    protocols: [accuracy, pad]   # evaluated after training (`dabench eval`); accuracy comes with every run
    budget: cpu                  # which of `budgets` (CLI: --budget)
    budgets:
      cpu:  {steps: null, eval_every: null, checkpoint_every: 500}     # null steps: the method's CPU default
      full: {steps: 20000, checkpoint_every: 1000, hparams: {cdlm: {preset: paper}},
             executor: {gpus: 1, cpus: 4, mem: 16G, time: 240}}
    executor:                    # defaults < spec < budget < command-line flags
      name: slurm                # slurm | local | debug
      partition: gpu
      gpus: 0
      cpus: 1
      mem: 4G
      time: 60                   # minutes, or "HH:MM:SS" / "D-HH:MM:SS"
      array_parallelism: 16
      max_requeues: 3            # time-outs a job may requeue itself after
      sbatch: {account: abc, qos: normal}
      setup: ["module load cuda"]

``steps`` (top level or in a budget) may also map methods to step counts: ``{default: 2000, cdlm: 5000}``.

Run states, read from the run directories and the sweep's job records (``<root>/_sweep/``):

* ``DONE``: ``done`` is written (and every protocol's ``eval_<protocol>.json``);
* ``RUNNING`` / ``PENDING``: its last job is running / waiting in the queue;
* ``FAILED``: its last job ended with an error (shown with its last line and log; ``--retry-failed``);
* ``INCOMPLETE``: started, not done, no job any more (a relaunch resumes it from its checkpoint);
* ``NOT_LAUNCHED``: no directory yet.
"""
from __future__ import annotations

import difflib
import functools
import json
import logging
import math
import re
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from dabench import io
from dabench.config import RunConfig, resolve
from dabench.errors import DataError, UsageError
from dabench.rundir import RunDir
from dabench.launchers import (LAUNCHERS, ExecutorSettings, Submission, SweepJob,
                               meta_dir, read_attempts, read_submissions, record_submissions)
from dabench.registry import METHODS, PROTOCOLS, TASKS, UnknownKeyError

log = logging.getLogger(__name__)

DONE, RUNNING, PENDING, FAILED, INCOMPLETE, NOT_LAUNCHED = (
    "DONE", "RUNNING", "PENDING", "FAILED", "INCOMPLETE", "NOT_LAUNCHED")
STATES = (DONE, RUNNING, PENDING, FAILED, INCOMPLETE, NOT_LAUNCHED)

SPEC_KEYS = ("name", "description", "out", "methods", "tasks", "seeds", "hparams", "random", "data", "data_root",
             "device", "protocols", "budget", "budgets", "steps", "eval_every", "checkpoint_every", "executor")
BUDGET_KEYS = ("description", "steps", "eval_every", "checkpoint_every", "hparams", "executor")
EXECUTOR_KEYS = ("name", "partition", "gpus", "cpus", "mem", "time", "array_parallelism", "max_requeues",
                 "sbatch", "setup")
#: sbatch options that dabench (through submitit) sets itself
_MANAGED_SBATCH = {"array", "output", "error", "open-mode", "signal", "job-name", "wrap", "parsable"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class SweepSpec:
    """A loaded and validated sweep spec (with the command line's overrides applied).

    Attributes:
        name: the sweep's name; its runs live in ``out / name``.
        origin: the spec file's path, or ``preset <name>``.
        hparam_layers: grids applied one over the other (the spec's, then the budget's).
        hparams_seeds: ``(0,)`` without random draws, else ``seed+1 .. seed+draws``.
        steps: an int, ``None`` (the method's default) or ``{method | "default": int | None}``.
    """

    name: str
    origin: str
    out: Path
    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    hparam_layers: tuple[dict, ...] = ()
    hparams_seeds: tuple[int, ...] = (0,)
    steps: Any = None
    eval_every: int | None = None
    checkpoint_every: int = 500
    data: str = "auto"
    data_roots: tuple[str, ...] = ()
    device: str = "auto"
    protocols: tuple[str, ...] = ("accuracy",)
    budget: str | None = None
    budgets: tuple[str, ...] = ()
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    description: str = ""

    @property
    def root(self) -> Path:
        return self.out / self.name

    def steps_for(self, method: str) -> int | None:
        if isinstance(self.steps, dict):
            return self.steps.get(method, self.steps.get("default"))
        return self.steps

    def to_dict(self) -> dict[str, Any]:
        """The effective spec, as YAML-able data (written to ``_sweep/spec.yaml`` at each launch)."""
        ex = self.executor
        return {
            "name": self.name, "origin": self.origin, "description": self.description, "out": str(self.out),
            "methods": list(self.methods), "tasks": list(self.tasks), "seeds": list(self.seeds),
            "hparam_layers": [_plain(layer) for layer in self.hparam_layers],
            "hparams_seeds": list(self.hparams_seeds), "steps": _plain(self.steps), "eval_every": self.eval_every,
            "checkpoint_every": self.checkpoint_every, "data": self.data, "data_root": list(self.data_roots),
            "device": self.device, "protocols": list(self.protocols), "budget": self.budget,
            "executor": {"name": ex.name, "partition": ex.partition, "gpus": ex.gpus, "cpus": ex.cpus,
                         "mem": ex.mem, "time": ex.time, "array_parallelism": ex.array_parallelism,
                         "max_requeues": ex.max_requeues, "sbatch": dict(ex.sbatch), "setup": list(ex.setup)},
        }


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def preset_names() -> list[str]:
    folder = resources.files("dabench") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_spec_text(ref: str) -> tuple[str, str, str]:
    """``(text, origin, default name)`` of a spec file path or a preset name."""
    path = Path(ref).expanduser()
    if path.is_file():
        try:
            return path.read_text(), str(path), path.stem
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read sweep spec {path}: {err}") from None
    if _NAME_RE.match(ref) and ref in preset_names():
        text = (resources.files("dabench") / "presets" / f"{ref}.yaml").read_text()
        return text, f"preset {ref}", ref
    if path.suffix in (".yaml", ".yml") or "/" in ref:
        raise UsageError(f"no sweep spec file '{ref}'")
    close = difflib.get_close_matches(ref, preset_names(), n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise UsageError(f"'{ref}' is neither a spec file nor a preset{hint}; presets: {', '.join(preset_names())}")


def load_spec(ref: str, overrides: dict[str, Any] | None = None) -> SweepSpec:
    """Read, validate and resolve a sweep spec; ``overrides`` (from the command line) win over the spec.

    Args:
        ref: a YAML file, or the name of a preset in ``dabench/presets``.
        overrides: any of ``name, out, methods, tasks, seeds, steps, eval_every, checkpoint_every, data,
            data_root, device, budget`` and ``executor`` (a dict of executor settings, ``sbatch`` merged).
    Raises:
        UsageError: one line naming the spec, the key and what was expected.
    """
    text, origin, default_name = _read_spec_text(ref)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise UsageError(f"sweep spec {origin} is not valid YAML: {problem}{where}") from None
    return _build_spec(raw, origin, default_name, dict(overrides or {}))


class _Checker:
    """Validation helpers whose errors name the spec and the key."""

    def __init__(self, origin: str):
        self.origin = origin

    def fail(self, key: str, message: str) -> UsageError:
        return UsageError(f"sweep spec {self.origin}: '{key}' {message}")

    def keys(self, mapping: Any, valid: Iterable[str], where: str) -> dict:
        if mapping is None:
            return {}
        if not isinstance(mapping, dict):
            raise self.fail(where, f"must be a mapping; got {_show(mapping)}")
        valid = list(valid)
        for key in mapping:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise UsageError(f"sweep spec {self.origin}: unknown key '{key}' in {where}{hint}; "
                                 f"valid: {', '.join(valid)}")
        return mapping

    def names(self, value: Any, key: str, registry) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"must be a non-empty list of names; got {_show(value)}")
        for name in value:
            try:
                registry.get(name)
            except UnknownKeyError as err:
                raise UsageError(f"sweep spec {self.origin}: '{key}': {err}") from None
        return tuple(dict.fromkeys(value))

    def integer(self, value: Any, key: str, minimum: int, allow_none: bool = False) -> int | None:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            what = f"an integer >= {minimum}" + (" or null" if allow_none else "")
            raise self.fail(key, f"must be {what}; got {_show(value)}")
        return value

    def choice(self, value: Any, key: str, choices: Iterable[str]) -> str:
        choices = list(choices)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}; got {_show(value)}")
        return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _build_spec(raw: Any, origin: str, default_name: str, cli: dict[str, Any]) -> SweepSpec:
    ck = _Checker(origin)
    if not isinstance(raw, dict):
        raise UsageError(f"sweep spec {origin} must be a YAML mapping (methods:, tasks:, ...); got {_show(raw)}")
    spec = ck.keys(raw, SPEC_KEYS, "the spec")

    # budget: an overlay of steps / eval_every / checkpoint_every / hparams / executor
    budgets = spec.get("budgets") or {}
    if not isinstance(budgets, dict):
        raise ck.fail("budgets", f"must map budget names to settings; got {_show(budgets)}")
    budget_name = cli.get("budget") or spec.get("budget") or (next(iter(budgets)) if budgets else None)
    if budget_name is not None and budget_name not in budgets:
        valid = ", ".join(map(str, budgets)) or "(the spec defines none)"
        raise UsageError(f"sweep spec {origin}: unknown budget '{budget_name}'; valid: {valid}")
    budget = ck.keys(budgets.get(budget_name) if budget_name else None, BUDGET_KEYS, f"budgets.{budget_name}")

    name = cli.get("name") or spec.get("name") or default_name
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ck.fail("name", f"must be a folder name (letters, digits, '.', '_', '-'); got {_show(name)}")
    out = cli.get("out") or spec.get("out") or "runs"
    if not isinstance(out, str):
        raise ck.fail("out", f"must be a path; got {_show(out)}")

    methods = ck.names(cli.get("methods") or spec.get("methods"), "methods", METHODS)
    tasks = ck.names(cli.get("tasks") or spec.get("tasks"), "tasks", TASKS)
    seeds = _seeds(ck, cli.get("seeds") if cli.get("seeds") is not None else spec.get("seeds", 1))

    def pick(key: str, default: Any = None) -> Any:
        if cli.get(key) is not None:
            return cli[key]
        if key in budget:
            return budget[key]
        return spec.get(key, default)

    steps = _steps(ck, pick("steps"), methods)
    eval_every = ck.integer(pick("eval_every"), "eval_every", 1, allow_none=True)
    checkpoint_every = ck.integer(pick("checkpoint_every", 500), "checkpoint_every", 1)
    data = ck.choice(pick("data", "auto"), "data", ("auto", "full", "embedded"))
    device = ck.choice(pick("device", "auto"), "device", ("auto", "cpu", "cuda"))
    roots = cli.get("data_root") or spec.get("data_root") or []
    if isinstance(roots, str):
        roots = [roots]
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise ck.fail("data_root", f"must be a list of folders; got {_show(roots)}")

    layers = tuple(layer for layer in (spec.get("hparams"), budget.get("hparams")) if layer is not None)
    for where, layer in zip(("hparams", f"budgets.{budget_name}.hparams"), layers):
        _check_hparam_layer(ck, layer, methods, where)

    random = ck.keys(spec.get("random"), ("draws", "seed"), "random")
    if random:
        draws = ck.integer(random.get("draws"), "random.draws", 1)
        first = ck.integer(random.get("seed", 0), "random.seed", 0)
        hparams_seeds = tuple(range(first + 1, first + draws + 1))
    else:
        hparams_seeds = (0,)

    protocols = _protocols(ck, spec.get("protocols"))
    executor = _executor(ck, spec.get("executor"), budget.get("executor"), cli.get("executor") or {},
                         f"budgets.{budget_name}.executor")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ck.fail("description", "must be a string")
    return SweepSpec(
        name=name, origin=origin, out=Path(out).expanduser().absolute(), methods=methods, tasks=tasks,
        seeds=seeds, hparam_layers=layers, hparams_seeds=hparams_seeds, steps=steps, eval_every=eval_every,
        checkpoint_every=checkpoint_every, data=data, data_roots=tuple(roots), device=device,
        protocols=protocols, budget=budget_name, budgets=tuple(map(str, budgets)), executor=executor,
        description=description,
    )


def _seeds(ck: _Checker, value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ck.fail("seeds", f"must be a count >= 1 or a list of seeds; got {value}")
        return tuple(range(value))
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        raise ck.fail("seeds", f"must be a count (3 means 0, 1, 2) or a list of seeds >= 0; got {_show(value)}")
    return tuple(dict.fromkeys(value))


def _steps(ck: _Checker, value: Any, methods: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        for key, v in value.items():
            if key != "default" and key not in methods:
                raise ck.fail("steps", f"maps '{key}', which is neither 'default' nor a method of this sweep")
            ck.integer(v, f"steps.{key}", 1, allow_none=True)
        return dict(value)
    return ck.integer(value, "steps", 1, allow_none=True)


_SCALARS = (str, int, float, bool)


def _check_hparam_layer(ck: _Checker, layer: Any, methods: tuple[str, ...], where: str) -> None:
    if not isinstance(layer, dict):
        raise ck.fail(where, f"must be a mapping of hyper-parameters (or of methods to grids); got {_show(layer)}")
    for key, value in layer.items():
        if key in METHODS:
            if key not in methods:  # e.g. a preset's CDLM grid with --methods dann: nothing to apply
                continue
            grids = value if isinstance(value, list) else [value]
            if not grids:
                raise ck.fail(f"{where}.{key}", "is an empty list of grids")
            cls = METHODS.get(key)
            for grid in grids:
                if not isinstance(grid, dict):
                    raise ck.fail(f"{where}.{key}", f"must be a mapping or a list of mappings; got {_show(grid)}")
                for name, values in grid.items():
                    if name != "preset" and name not in cls.HPARAMS:
                        close = difflib.get_close_matches(str(name), list(cls.HPARAMS), n=1, cutoff=0.4)
                        hint = f" (did you mean '{close[0]}'?)" if close else ""
                        raise ck.fail(f"{where}.{key}", f"names '{name}', which is not a hyper-parameter of "
                                      f"{key}{hint}; valid: {', '.join(sorted(cls.HPARAMS))}, preset")
                    _check_values(ck, f"{where}.{key}.{name}", values)
            continue
        declared = [m for m in methods if key in METHODS.get(m).HPARAMS]
        if not declared:
            every = sorted({h for m in methods for h in METHODS.get(m).HPARAMS})
            close = difflib.get_close_matches(str(key), every + list(METHODS.names()), n=1, cutoff=0.4)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ck.fail(f"{where}.{key}", f"is neither a hyper-parameter of any method of this sweep "
                          f"({', '.join(methods)}) nor a method{hint}")
        _check_values(ck, f"{where}.{key}", values=value)


def _check_values(ck: _Checker, key: str, values: Any) -> None:
    items = values if isinstance(values, list) else [values]
    if not items or not all(isinstance(v, _SCALARS) for v in items):
        raise ck.fail(key, f"must be a value or a non-empty list of values; got {_show(values)}")


def _grid_points(grid: dict[str, Any]) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = [{}]
    for name, values in grid.items():
        values = values if isinstance(values, list) else [values]
        points = [{**p, name: v} for p in points for v in values]
    return points


def _method_points(spec: SweepSpec, method: str) -> list[dict[str, Any]]:
    """The hyper-parameter overrides of ``method``: each layer's grid, later layers overriding earlier ones."""
    declared = METHODS.get(method).HPARAMS
    points: list[dict[str, Any]] = [{}]
    for layer in spec.hparam_layers:
        shared = {k: v for k, v in layer.items() if k not in METHODS and k in declared}
        own = layer.get(method)
        layer_points = _grid_points(shared)
        if own is not None:
            own_points = [p for grid in (own if isinstance(own, list) else [own]) for p in _grid_points(grid)]
            layer_points = [{**a, **b} for a in layer_points for b in own_points]
        points = [{**a, **b} for a in points for b in layer_points]
    return points


def _protocols(ck: _Checker, value: Any) -> tuple[str, ...]:
    if value is None:
        return ("accuracy",)
    names = ck.names(value, "protocols", PROTOCOLS) if PROTOCOLS.names() else None
    if names is None:  # no protocol registry yet: only the loop's own accuracy exists
        names = tuple(value if isinstance(value, list) else [value])
        if set(names) != {"accuracy"}:
            raise ck.fail("protocols", f"can only be [accuracy] in this installation; got {_show(value)}")
    return names


def _executor(ck: _Checker, spec_ex: Any, budget_ex: Any, cli_ex: dict[str, Any],
              budget_where: str) -> ExecutorSettings:
    merged: dict[str, Any] = {}
    sbatch: dict[str, Any] = {}
    for where, layer in (("executor", spec_ex), (budget_where, budget_ex), ("command line", cli_ex)):
        layer = ck.keys(layer, EXECUTOR_KEYS, where)
        for key, value in layer.items():
            if key == "sbatch":
                sbatch.update(_sbatch(ck, value, f"{where}.sbatch"))
            elif value is not None:
                merged[key] = value
    name = ck.choice(merged.get("name", "slurm"), "executor.name", LAUNCHERS.names())
    partition = merged.get("partition")
    if partition is not None and (not isinstance(partition, str) or not partition):
        raise ck.fail("executor.partition", f"must be a partition name; got {_show(partition)}")
    mem = merged.get("mem")
    if isinstance(mem, int) and not isinstance(mem, bool):
        mem = f"{mem}M"
    if mem is not None and (not isinstance(mem, str) or not re.match(r"^\d+(\.\d+)?[KMGT]?$", mem)):
        raise ck.fail("executor.mem", f"(or --mem) must be a SLURM memory size such as 16G or 4000M; got {_show(mem)}")
    setup = merged.get("setup", [])
    if isinstance(setup, str):
        setup = [setup]
    if not isinstance(setup, list) or not all(isinstance(s, str) for s in setup):
        raise ck.fail("executor.setup", f"must be a list of shell lines; got {_show(setup)}")
    return ExecutorSettings(
        name=name, partition=partition, gpus=ck.integer(merged.get("gpus", 0), "executor.gpus", 0),
        cpus=ck.integer(merged.get("cpus", 1), "executor.cpus", 1), mem=mem,
        time=parse_minutes(merged.get("time", 60), f"sweep spec {ck.origin}: 'executor.time' (or --time)"),
        array_parallelism=ck.integer(merged.get("array_parallelism", 16), "executor.array_parallelism", 1),
        max_requeues=ck.integer(merged.get("max_requeues", 3), "executor.max_requeues", 0),
        sbatch=sbatch, setup=tuple(setup),
    )


def _sbatch(ck: _Checker, value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ck.fail(where, f"must map sbatch options to values ({{account: abc}}); got {_show(value)}")
    out = {}
    for key, v in value.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", key):
            raise ck.fail(where, f"has an invalid option name {_show(key)}")
        if key.replace("_", "-") in _MANAGED_SBATCH:
            raise ck.fail(where, f"sets '{key}', which dabench manages itself")
        if not isinstance(v, _SCALARS):
            raise ck.fail(f"{where}.{key}", f"must be a value; got {_show(v)}")
        out[key] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def parse_minutes(value: Any, label: str = "--time") -> int:
    """A time limit in whole minutes, from minutes or any of sbatch's ``--time`` forms: ``MM:SS``, ``HH:MM:SS``,
    ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``.

    Raises:
        UsageError: naming ``label`` (the flag or the spec key the value came from).
    """
    err = UsageError(f"{label} must be minutes or an sbatch time (MM:SS, HH:MM:SS, D-HH[:MM[:SS]]; e.g. 90, "
                     f"1:30:00, 2-00:00:00); got {_show(value)}")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise err
    m = re.match(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$", str(value).strip())
    if not m:
        raise err
    days, a, b, c = (int(g) if g is not None else None for g in m.groups())
    if days is None:
        seconds = a * 60 if b is None else a * 60 + b if c is None else a * 3600 + b * 60 + c
    else:
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    minutes = math.ceil(seconds / 60)
    if minutes < 1:
        raise err
    return minutes


# ------------------------------------------------------------------------------------------- expand
@dataclass(frozen=True)
class SweepRun:
    """One point of a sweep: its config (with the data source resolved), run id and directory name."""

    config: RunConfig
    run_id: str
    dirname: str

    @property
    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.config.hparams.items())]
        if self.config.hparams_seed:
            parts.append(f"draw {self.config.hparams_seed}")
        return " ".join(parts) or "-"


def expand(spec: SweepSpec) -> list[SweepRun]:
    """Every run of the sweep, in a stable order (method, task, grid point, draw, seed), without duplicates.

    Raises:
        UsageError: a grid point the method rejects (wrong type, out of choices), prefixed with the spec.
    """
    from dabench.plan import data_source_for

    runs: list[SweepRun] = []
    seen: set[str] = set()
    for method in spec.methods:
        points = _method_points(spec, method)
        for task_name in spec.tasks:
            task = TASKS.get(task_name)
            check = getattr(task, "check_method", None)
            if check is not None:
                try:
                    check(method, METHODS.get(method))
                except UsageError as err:
                    raise UsageError(f"sweep spec {spec.origin}: {err}") from None
            for hparams in points:
                for hparams_seed in spec.hparams_seeds:
                    for seed in spec.seeds:
                        config = RunConfig(method, task_name, seed=seed, steps=spec.steps_for(method),
                                           hparams=dict(hparams), hparams_seed=hparams_seed, data=spec.data,
                                           eval_every=spec.eval_every, checkpoint_every=spec.checkpoint_every)
                        try:
                            kind = data_source_for(config, list(spec.data_roots), allow_download=False).kind
                            config = replace(config, data=kind)
                            resolved = resolve(config, kind)
                        except (UsageError, DataError) as err:
                            raise UsageError(f"sweep spec {spec.origin}: {method} on {task_name}: {err}") from None
                        if resolved.run_id in seen:
                            continue
                        seen.add(resolved.run_id)
                        runs.append(SweepRun(config, resolved.run_id, resolved.dirname))
    return runs


# ------------------------------------------------------------------------------------------ data check
def check_data(spec: SweepSpec, runs: list[SweepRun]) -> list[str]:
    """Check, on this (the submitting) host, that every task's data is there before any job is queued.

    Files are looked up where the loaders look (roots, then the cache). A task whose files are not all found
    that way is loaded once here (no download): derived data (MNIST-M, Fashion-M, converted image folders)
    is then built into the cache once, before the jobs need it, and missing official data raises the
    loader's :class:`DataError`, which names the command that fixes it.

    Returns:
        one line per task that had to be loaded here (for the user).
    Raises:
        DataError: missing or corrupt data, with the fix.
    """
    from dabench.data import resolve_source
    from dabench.tasks import load_task

    notes = []
    pairs = sorted({(r.config.task, r.config.data) for r in runs})
    for task_name, kind in pairs:
        task = TASKS.get(task_name)
        source = resolve_source(kind, list(spec.data_roots), allow_download=False)
        if kind == "embedded":
            lacking = [ds.info.name for ds in task.datasets() if not ds.has_embedded()]
            if lacking:
                raise DataError(f"task {task_name} has no embedded data ({', '.join(lacking)}); set DABENCH_DATA "
                                f"to a data root (or `data: full` in the spec)")
            continue
        if all(source.find(relpath) for relpath in _task_files(task)):
            continue
        try:
            load_task(task, source)
        except DataError as err:
            raise DataError(f"task {task_name}: {err}") from None
        notes.append(f"{task_name}: data checked and derived splits built into {source.cache}")
    return notes


def _task_files(task) -> list[str]:
    """The files a task's loaders read, at their root-layout paths (source train; target train and test)."""
    src, tgt = task.datasets()
    return [src.info.relpath("train"), tgt.info.relpath("train"), tgt.info.relpath("test")]


# -------------------------------------------------------------------------------------------- states
@dataclass
class RunStatus:
    run: SweepRun
    state: str
    job: Submission | None = None
    step: int | None = None
    error: str = ""
    log: str = ""


def sweep_states(spec: SweepSpec, runs: list[SweepRun], strict: bool = False) -> tuple[list[RunStatus], list[str]]:
    """The state of every run, from its directory, its job records and the queues of the launchers used.

    Args:
        strict: raise :class:`UsageError` when a queue cannot be asked (launch must not submit twice).
    Returns:
        ``(statuses, warnings)``.
    """
    root = spec.root
    subs = {r.dirname: read_submissions(root, r.dirname) for r in runs}
    last = {d: s[-1] for d, s in subs.items() if s}
    queues: dict[str, dict[str, str]] = {}
    warnings = []
    for name in sorted({s.executor for s in last.values()}):
        mine = [s for s in last.values() if s.executor == name]
        try:
            queues[name] = _launcher(name).active(mine)
        except RuntimeError as err:
            if strict:
                raise UsageError(f"cannot ask the {name} queue which jobs of this sweep are still queued ({err}); "
                                 f"not submitting anything, so that no run is started twice") from None
            warnings.append(f"cannot ask the {name} queue ({err}); its queued or running jobs show as INCOMPLETE")
            queues[name] = {}
    out = []
    for run in runs:
        out.append(_run_status(root, run, last.get(run.dirname), queues, spec.protocols))
    return out, warnings


_LAUNCHER_CACHE: dict[str, Any] = {}


def _launcher(name: str):
    if name not in _LAUNCHER_CACHE:
        _LAUNCHER_CACHE[name] = LAUNCHERS.get(name)()
    return _LAUNCHER_CACHE[name]


def _run_status(root: Path, run: SweepRun, job: Submission | None, queues, protocols) -> RunStatus:
    rundir = RunDir(root / run.dirname)
    status = RunStatus(run, NOT_LAUNCHED, job, log=job.stderr if job else "")
    if rundir.is_done():
        status.step = _final_step(rundir)
        if all(rundir.has_eval(p) for p in protocols):
            status.state = DONE
            return status
    queued = queues.get(job.executor, {}).get(job.job_id) if job else None
    if queued:
        status.state = RUNNING if queued == "RUNNING" else PENDING
        status.step = status.step or _progress_step(rundir)
        return status
    attempts = read_attempts(root, run.dirname)
    starts = [i for i, a in enumerate(attempts) if a.get("event") == "start"]
    tail = attempts[starts[-1]:] if starts else []
    end = next((a for a in tail if a.get("event") == "end"), None)
    started_since = job is not None and bool(starts) and attempts[starts[-1]].get("time", 0) >= job.submitted_at - 1
    if end is not None and end.get("status") == "error":
        status.state, status.error = FAILED, end.get("error", "")
    elif job is not None and not started_since and (line := _log_error(Path(job.stderr))):
        status.state, status.error = FAILED, line
    elif rundir.path.exists():
        status.state = INCOMPLETE
    if status.state != DONE and status.step is None:
        status.step = rundir.checkpoint_step()
    return status


def _progress_step(rundir: RunDir) -> int | None:
    """How far a running run is: its last checkpoint or its last evaluation, whichever is later."""
    steps = [s for s in (rundir.checkpoint_step(), rundir.last_metrics_step()) if s is not None]
    return max(steps) if steps else None


def _final_step(rundir: RunDir) -> int | None:
    try:
        return int(rundir.read_result()["steps"])
    except (OSError, ValueError, KeyError, TypeError, UsageError):
        return None


def _log_error(path: Path) -> str:
    """The last exception line of a job log that ends in a traceback (a job that failed before dabench ran)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 20000))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    if "Traceback (most recent call last)" not in text:
        return ""
    tail = text.rpartition("Traceback (most recent call last)")[2]
    lines = [ln for ln in tail.splitlines() if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", ln)]
    return lines[-1].strip() if lines else ""


def counts(statuses: list[RunStatus]) -> dict[str, int]:
    out = {s: 0 for s in STATES}
    for st in statuses:
        out[st.state] += 1
    return out


def status_table(spec: SweepSpec, statuses: list[RunStatus]) -> str:
    from tabulate import tabulate

    rows = []
    for st in statuses:
        c = st.run.config
        total = _final_step(RunDir(spec.root / st.run.dirname)) if st.state == DONE else None
        steps = c.steps if c.steps is not None else METHODS.get(c.method).DEFAULT_STEPS
        step = f"{st.step if st.step is not None else '-'}/{total or steps}"
        rows.append([st.state, c.method, c.task, c.seed, st.run.label, step, st.job.job_id if st.job else "-",
                     st.run.dirname])
    return tabulate(rows, headers=["state", "method", "task", "seed", "hparams", "step", "job", "run"],
                    tablefmt="simple", disable_numparse=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(statuses: list[RunStatus]) -> str:
    n = counts(statuses)
    return (f"{_plural(len(statuses), 'run')}: {n[DONE]} done, {n[RUNNING]} running, {n[PENDING]} pending, {n[FAILED]} failed, "
            f"{n[INCOMPLETE]} incomplete, {n[NOT_LAUNCHED]} not launched")


# -------------------------------------------------------------------------------------------- launch
def submit(spec: SweepSpec, runs: list[SweepRun], executor: ExecutorSettings | None = None) -> list[Submission]:
    """Submit ``runs`` as one job array (or in-process for ``debug``) and record the jobs."""
    executor = executor or spec.executor
    launcher = _launcher(executor.name)
    launcher.check()
    root = spec.root
    meta_dir(root).mkdir(parents=True, exist_ok=True)
    io.write_text(meta_dir(root, "spec.yaml"), yaml.safe_dump(spec.to_dict(), sort_keys=False))
    from dabench.data import env_roots

    roots = [str(Path(r).expanduser().absolute()) for r in spec.data_roots] + [str(r) for r in env_roots()]
    job = SweepJob(str(root), data_roots=list(dict.fromkeys(roots)), device=spec.device, threads=executor.cpus,
                   protocols=tuple(p for p in spec.protocols if p != "accuracy"))
    subs = launcher.launch(job, [r.config for r in runs], executor, root)
    record_submissions(root, [(r.dirname, r.config, s) for r, s in zip(runs, subs)])
    return subs


def wait(spec: SweepSpec, subs: list[Submission], poll_s: float = 2.0) -> None:
    by_executor: dict[str, list[Submission]] = {}
    for s in subs:
        by_executor.setdefault(s.executor, []).append(s)
    for name, mine in by_executor.items():
        _launcher(name).wait(mine, poll_s)


# ------------------------------------------------------------------------------------------------ CLI
def _say(*parts) -> None:
    print(*parts, flush=True)


def _one_line_errors(cmd):
    """A file the sweep cannot read or write (permissions, a full disk) ends the command with one line."""
    @functools.wraps(cmd)
    def wrapper(args) -> int:
        try:
            return cmd(args)
        except OSError as err:
            where = f" ({err.filename})" if err.filename else ""
            raise UsageError(f"{err.strerror or err}{where}") from None

    return wrapper


def _csv(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise UsageError(f"expected a comma-separated list; got '{value}'")
    return items


def _seed_list(value: str) -> list[int]:
    try:
        seeds = [int(v) for v in _csv(value)]
    except ValueError:
        raise UsageError(f"--seeds expects comma-separated integers (e.g. 0,1,2); got '{value}'") from None
    if any(s < 0 for s in seeds):
        raise UsageError(f"--seeds must be >= 0; got '{value}'")
    return seeds


def _positive(name: str):
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise UsageError(f"{name} expects a positive integer; got '{value}'")
        return n

    return parse


def _nonnegative(name: str):
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = -1
        if n < 0:
            raise UsageError(f"{name} expects an integer >= 0; got '{value}'")
        return n

    return parse


def _add_common(p) -> None:
    p.add_argument("spec", metavar="SPEC", help="a sweep spec (YAML file) or a preset name (`dabench sweep presets`)")
    g = p.add_argument_group("what runs (override the spec)")
    g.add_argument("--budget", help="which of the spec's budgets (e.g. cpu or full)")
    g.add_argument("--out", help="folder of sweep roots (default: the spec's, else ./runs)")
    g.add_argument("--name", help="sweep name: the runs go to OUT/NAME")
    g.add_argument("--methods", type=_csv, help="comma-separated methods instead of the spec's")
    g.add_argument("--tasks", type=_csv, help="comma-separated tasks instead of the spec's")
    g.add_argument("--seeds", type=_seed_list, help="comma-separated seeds instead of the spec's (e.g. 0,1,2)")
    g.add_argument("--steps", type=_positive("--steps"), help="step budget of every run")
    g.add_argument("--eval-every", type=_positive("--eval-every"), help="evaluate every N steps")
    g.add_argument("--checkpoint-every", type=_positive("--checkpoint-every"), help="checkpoint every N steps")
    g.add_argument("--data", choices=["auto", "full", "embedded"], help="data source of every run")
    g.add_argument("--data-root", action="append", help="read-only data root (repeatable; also $DABENCH_DATA)")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device of every run")
    e = p.add_argument_group("where it runs (override the spec's executor)")
    e.add_argument("--executor", choices=LAUNCHERS.names(), help="slurm (default), local or debug (in-process)")
    e.add_argument("--partition", help="SLURM partition")
    e.add_argument("--gpus", type=_nonnegative("--gpus"), help="GPUs per job")
    e.add_argument("--cpus", type=_positive("--cpus"), help="CPUs per job")
    e.add_argument("--mem", help="memory per job (e.g. 16G)")
    e.add_argument("--time", help="time limit per job: minutes or [D-]HH:MM:SS")
    e.add_argument("--array-parallelism", type=_positive("--array-parallelism"), help="jobs running at once")
    e.add_argument("--sbatch", action="append", metavar="KEY=VALUE", help="extra sbatch option (repeatable)")
    e.add_argument("--yes", "-y", action="store_true", help="submit without asking")


def overrides_from_args(args) -> dict[str, Any]:
    from dabench.cli._common import parse_sets

    ex = {"name": args.executor, "partition": args.partition, "gpus": args.gpus, "cpus": args.cpus,
          "mem": args.mem, "array_parallelism": args.array_parallelism}
    if args.time is not None:
        ex["time"] = args.time if not args.time.isdigit() else int(args.time)
    if args.sbatch:
        try:
            ex["sbatch"] = parse_sets(args.sbatch)
        except UsageError:
            raise UsageError(f"--sbatch expects KEY=VALUE (e.g. --sbatch account=abc); got {args.sbatch}") from None
    return {"budget": args.budget, "out": args.out, "name": args.name, "methods": args.methods, "tasks": args.tasks,
            "seeds": args.seeds, "steps": args.steps, "eval_every": args.eval_every,
            "checkpoint_every": args.checkpoint_every, "data": args.data, "data_root": args.data_root,
            "device": args.device, "executor": {k: v for k, v in ex.items() if v is not None}}


def _header(spec: SweepSpec, runs: list[SweepRun]) -> str:
    budget = f", budget {spec.budget}" if spec.budget else ""
    return f"sweep {spec.name} ({spec.origin}{budget}): {_plural(len(runs), 'run')} in {spec.root}"


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: no terminal to ask on; pass --yes to submit without asking")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _submit_and_report(spec: SweepSpec, to_run: list[SweepRun], args, what: str) -> int:
    ex = spec.executor
    launcher = _launcher(ex.name)
    launcher.check()
    where = {"slurm": "one SLURM job array", "local": "local processes", "debug": "this process, one by one"}
    _say(f"executor {ex.name} ({where.get(ex.name, ex.name)}): {ex.describe()}")
    _say(f"logs: {meta_dir(spec.root, 'logs')}")
    if not _confirm(f"Submit {_plural(len(to_run), 'job')}{what}?", args.yes):
        _say("nothing submitted")
        return 1
    subs = submit(spec, to_run)
    if ex.name == "slurm":
        arrays = sorted({s.job_id.split("_")[0] for s in subs})
        _say(f"submitted {_plural(len(subs), 'job')} as SLURM array {', '.join(arrays)}")
    elif ex.name == "local":
        _say(f"started {_plural(len(subs), 'local job')} (pids {subs[0].job_id}..{subs[-1].job_id}), "
             f"{min(ex.array_parallelism, len(subs))} at a time")
    else:
        _say(f"ran {_plural(len(subs), 'run')} in this process")
    if getattr(args, "wait", False) or ex.name == "debug":
        if ex.name != "debug":
            _say("waiting for them to finish...")
            wait(spec, subs)
        return _print_status(spec, expand(spec), final=True)
    _say(f"follow them with: dabench sweep status {args.spec}" + _repeat_flags(args))
    return 0


def _repeat_flags(args) -> str:
    """The flags that change which runs a spec means (so that `status` looks at the same runs)."""
    parts = []
    for flag in ("budget", "out", "name", "methods", "tasks", "seeds", "steps", "eval_every", "checkpoint_every",
                 "data"):
        value = getattr(args, flag, None)
        if value is None:
            continue
        value = ",".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"--{flag.replace('_', '-')} {value}")
    return (" " + " ".join(parts)) if parts else ""


@_one_line_errors
def cmd_launch(args) -> int:
    spec = load_spec(args.spec, overrides_from_args(args))
    runs = expand(spec)
    _say(_header(spec, runs))
    statuses, warnings = sweep_states(spec, runs, strict=True)
    for w in warnings:
        _say(f"warning: {w}")
    n = counts(statuses)
    to_run = [st for st in statuses if st.state in (NOT_LAUNCHED, INCOMPLETE)]
    resumable = sum(1 for st in to_run if st.state == INCOMPLETE and st.step)
    _say(f"  done: {n[DONE]}, queued or running: {n[RUNNING] + n[PENDING]}, failed: {n[FAILED]}"
         + (f" (not resubmitted: `dabench sweep status {args.spec} --retry-failed`)" if n[FAILED] else ""))
    _say(f"  to run: {len(to_run)} ({len(to_run) - resumable} new, {resumable} resuming from a checkpoint)")
    if not to_run:
        _say("nothing to submit")
        return 0
    for note in check_data(spec, [st.run for st in to_run]):
        _say(f"  {note}")
    return _submit_and_report(spec, [st.run for st in to_run], args, "")


def _print_status(spec: SweepSpec, runs: list[SweepRun], final: bool = False) -> int:
    statuses, warnings = sweep_states(spec, runs)
    for w in warnings:
        _say(f"warning: {w}")
    _say(status_table(spec, statuses))
    _say(summary_line(statuses))
    failed = [st for st in statuses if st.state == FAILED]
    for st in failed:
        _say(f"failed run {st.run.dirname} (job {st.job.job_id if st.job else '-'}): {st.error or 'see the log'}")
        if st.log:
            _say(f"  log: {st.log}")
    if final:
        return 0 if all(st.state == DONE for st in statuses) else 1
    return 0


@_one_line_errors
def cmd_status(args) -> int:
    spec = load_spec(args.spec, overrides_from_args(args))
    runs = expand(spec)
    _say(_header(spec, runs))
    code = _print_status(spec, runs)
    if not args.retry_failed:
        return code
    statuses, _ = sweep_states(spec, runs, strict=True)
    failed = [st.run for st in statuses if st.state == FAILED]
    if not failed:
        _say("no failed runs to retry")
        return 0
    check_data(spec, failed)
    return _submit_and_report(spec, failed, args, " for the failed runs (each resumes from its checkpoint)")


@_one_line_errors
def cmd_presets(args) -> int:
    for name in preset_names():
        text = (resources.files("dabench") / "presets" / f"{name}.yaml").read_text()
        raw = yaml.safe_load(text) or {}
        _say(f"{name:12s} {raw.get('description', '')}")
    return 0


def add_parser(subparsers) -> None:
    """Add ``dabench sweep {launch,status,presets}`` to the CLI's subparsers."""
    p = subparsers.add_parser("sweep", help="launch a grid of runs on SLURM (or locally) and follow it")
    sub = p.add_subparsers(dest="sweep_command", required=True, parser_class=type(p))
    lp = sub.add_parser("launch", help="submit every run of SPEC that is not done (done ones are skipped, "
                                       "incomplete ones resume)")
    _add_common(lp)
    lp.add_argument("--wait", action="store_true", help="wait for the jobs to finish, then print the status")
    lp.set_defaults(func=cmd_launch)
    sp = sub.add_parser("status", help="table of done / running / pending / failed runs of SPEC")
    _add_common(sp)
    sp.add_argument("--retry-failed", action="store_true", help="submit the failed runs again")
    sp.add_argument("--wait", action="store_true", help="with --retry-failed: wait for them to finish")
    sp.set_defaults(func=cmd_status)
    pp = sub.add_parser("presets", help="list the sweep presets shipped with dabench")
    pp.set_defaults(func=cmd_presets)

