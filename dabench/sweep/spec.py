"""A sweep spec: the YAML schema, the presets, loading with the command line's overrides, and expansion into runs.

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
                                 # (defaults: true → draw 0 is the defaults: hparams_seed 0, 1..3)
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
Each point of the grid is an ordinary :class:`~dabench.config.RunConfig`; its directory is named by the hash of
the settings that change results (never paths, devices, the executor or its resources), so launching a sweep
again finds its runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dabench.config import RunConfig, resolve
from dabench.errors import DataError, UsageError
from dabench.registry import METHODS, TASKS
from dabench.sweep import validate as v
from dabench.sweep.launchers import ExecutorSettings


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
        return {
            "name": self.name, "origin": self.origin, "description": self.description, "out": str(self.out),
            "methods": list(self.methods), "tasks": list(self.tasks), "seeds": list(self.seeds),
            "hparam_layers": [_plain(layer) for layer in self.hparam_layers],
            "hparams_seeds": list(self.hparams_seeds), "steps": _plain(self.steps), "eval_every": self.eval_every,
            "checkpoint_every": self.checkpoint_every, "data": self.data, "data_root": list(self.data_roots),
            "device": self.device, "protocols": list(self.protocols), "budget": self.budget,
            "executor": self.executor.to_dict(),
        }


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(x) for k, x in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    return obj


# ------------------------------------------------------------------------------------------- presets
def _preset_folder():
    return resources.files("dabench") / "presets"


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in _preset_folder().iterdir() if p.name.endswith(".yaml"))


def preset_descriptions() -> list[tuple[str, str]]:
    """``(name, description)`` of every preset shipped with dabench."""
    out = []
    for name in preset_names():
        raw = yaml.safe_load((_preset_folder() / f"{name}.yaml").read_text()) or {}
        out.append((name, str(raw.get("description", ""))))
    return out


def _read_spec_text(ref: str) -> tuple[str, str, str]:
    """``(text, origin, default name)`` of a spec file path or a preset name."""
    path = Path(ref).expanduser()
    if path.is_file():
        try:
            return path.read_text(), str(path), path.stem
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read sweep spec {path}: {err}") from None
    if v.NAME_RE.match(ref) and ref in preset_names():
        return (_preset_folder() / f"{ref}.yaml").read_text(), f"preset {ref}", ref
    if path.suffix in (".yaml", ".yml") or "/" in ref:
        raise UsageError(f"no sweep spec file '{ref}'")
    raise UsageError(f"'{ref}' is neither a spec file nor a preset{v.hint(ref, preset_names())}; "
                     f"presets: {', '.join(preset_names())}")


# ----------------------------------------------------------------------------------------------- load
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
    if not isinstance(raw, dict):
        raise UsageError(f"sweep spec {origin} must be a YAML mapping (methods:, tasks:, ...); got {v.show(raw)}")
    return _build_spec(v.Checker(origin), raw, default_name, dict(overrides or {}))


def _budget(ck: v.Checker, spec: dict, cli: dict) -> tuple[str | None, dict, tuple[str, ...]]:
    """The chosen budget's name, its overlay (steps, eval_every, checkpoint_every, hparams, executor), all names."""
    budgets = spec.get("budgets") or {}
    if not isinstance(budgets, dict):
        raise ck.fail("budgets", f"must map budget names to settings; got {v.show(budgets)}")
    name = cli.get("budget") or spec.get("budget") or (next(iter(budgets)) if budgets else None)
    if name is not None and name not in budgets:
        valid = ", ".join(map(str, budgets)) or "(the spec defines none)"
        raise UsageError(f"sweep spec {ck.origin}: unknown budget '{name}'; valid: {valid}")
    overlay = ck.keys(budgets.get(name) if name else None, v.BUDGET_KEYS, f"budgets.{name}")
    return name, overlay, tuple(map(str, budgets))


def _build_spec(ck: v.Checker, raw: dict, default_name: str, cli: dict[str, Any]) -> SweepSpec:
    spec = ck.keys(raw, v.SPEC_KEYS, "the spec")
    budget_name, budget, budget_names = _budget(ck, spec, cli)

    def pick(key: str, default: Any = None) -> Any:
        """The command line's value, else the budget's, else the spec's."""
        if cli.get(key) is not None:
            return cli[key]
        return budget[key] if key in budget else spec.get(key, default)

    name = cli.get("name") or spec.get("name") or default_name
    if not isinstance(name, str) or not v.NAME_RE.match(name):
        raise ck.fail("name", f"must be a folder name (letters, digits, '.', '_', '-'); got {v.show(name)}")
    out = cli.get("out") or spec.get("out") or "runs"
    if not isinstance(out, str):
        raise ck.fail("out", f"must be a path; got {v.show(out)}")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ck.fail("description", "must be a string")
    methods = ck.names(cli.get("methods") or spec.get("methods"), "methods", METHODS)
    layers = tuple(layer for layer in (spec.get("hparams"), budget.get("hparams")) if layer is not None)
    for where, layer in zip(("hparams", f"budgets.{budget_name}.hparams"), layers):
        v.hparam_layer(ck, layer, methods, where)
    executor = v.executor(ck, [("executor", spec.get("executor")),
                               (f"budgets.{budget_name}.executor", budget.get("executor")),
                               ("command line", cli.get("executor") or {})])
    return SweepSpec(
        name=name, origin=ck.origin, out=Path(out).expanduser().absolute(), methods=methods,
        tasks=ck.names(cli.get("tasks") or spec.get("tasks"), "tasks", TASKS),
        seeds=v.seeds(ck, cli.get("seeds") if cli.get("seeds") is not None else spec.get("seeds", 1)),
        hparam_layers=layers, hparams_seeds=v.random_draws(ck, spec.get("random")),
        steps=v.steps(ck, pick("steps"), methods),
        eval_every=ck.integer(pick("eval_every"), "eval_every", 1, allow_none=True),
        checkpoint_every=ck.integer(pick("checkpoint_every", 500), "checkpoint_every", 1),
        data=ck.choice(pick("data", "auto"), "data", ("auto", "full", "embedded")),
        data_roots=ck.folders(cli.get("data_root") or spec.get("data_root"), "data_root"),
        device=ck.choice(pick("device", "auto"), "device", ("auto", "cpu", "cuda")),
        protocols=v.protocols(ck, spec.get("protocols")), budget=budget_name, budgets=budget_names,
        executor=executor, description=description,
    )


# --------------------------------------------------------------------------------------------- expand
@dataclass(frozen=True)
class SweepRun:
    """One point of a sweep: its config (with the data source resolved), run id and directory name."""

    config: RunConfig
    run_id: str
    dirname: str

    @property
    def label(self) -> str:
        parts = [f"{k}={x}" for k, x in sorted(self.config.hparams.items())]
        if self.config.hparams_seed:
            parts.append(f"draw {self.config.hparams_seed}")
        return " ".join(parts) or "-"


def _grid_points(grid: dict[str, Any]) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = [{}]
    for name, values in grid.items():
        values = values if isinstance(values, list) else [values]
        points = [{**p, name: x} for p in points for x in values]
    return points


def _method_points(spec: SweepSpec, method: str) -> list[dict[str, Any]]:
    """The hyper-parameter overrides of ``method``: each layer's grid, later layers overriding earlier ones."""
    declared = METHODS.get(method).HPARAMS
    points: list[dict[str, Any]] = [{}]
    for layer in spec.hparam_layers:
        shared = {k: x for k, x in layer.items() if k not in METHODS and k in declared}
        own = layer.get(method)
        layer_points = _grid_points(shared)
        if own is not None:
            own_points = [p for grid in (own if isinstance(own, list) else [own]) for p in _grid_points(grid)]
            layer_points = [{**a, **b} for a in layer_points for b in own_points]
        points = [{**a, **b} for a in points for b in layer_points]
    return points


def expand(spec: SweepSpec) -> list[SweepRun]:
    """Every run of the sweep, in a stable order (method, task, grid point, draw, seed), without duplicates (two
    grid points that resolve to the same settings are one run).

    Raises:
        UsageError: a grid point the method rejects (wrong type, out of choices), prefixed with the spec.
    """
    runs: dict[str, SweepRun] = {}
    for method in spec.methods:
        points = _method_points(spec, method)
        for task in spec.tasks:
            try:
                TASKS.get(task).check_method(method, METHODS.get(method))
            except UsageError as err:
                raise UsageError(f"sweep spec {spec.origin}: {err}") from None
            for hparams in points:
                for hparams_seed in spec.hparams_seeds:
                    for seed in spec.seeds:
                        run = _sweep_run(spec, RunConfig(
                            method, task, seed=seed, steps=spec.steps_for(method), hparams=dict(hparams),
                            hparams_seed=hparams_seed, data=spec.data, eval_every=spec.eval_every,
                            checkpoint_every=spec.checkpoint_every))
                        runs.setdefault(run.run_id, run)
    return list(runs.values())


def _sweep_run(spec: SweepSpec, config: RunConfig) -> SweepRun:
    """The run of one grid point, with its data source resolved (``auto`` becomes ``full`` or ``embedded``)."""
    from dabench.plan import data_source_for

    try:
        kind = data_source_for(config, list(spec.data_roots), allow_download=False).kind
        config = replace(config, data=kind)
        resolved = resolve(config, kind)
    except (UsageError, DataError) as err:
        raise UsageError(f"sweep spec {spec.origin}: {config.method} on {config.task}: {err}") from None
    return SweepRun(config, resolved.run_id, resolved.dirname)
