"""Checks of a sweep spec's values, each failing with one line that names the spec, the key and what it expects.

:class:`Checker` carries the spec's origin into every message; the functions below check one part of a spec
(seeds, steps, hyper-parameter grids, protocols, the executor) and return it in the form
:class:`~dabench.sweep.spec.SweepSpec` holds. :func:`parse_minutes` reads a time limit in any of sbatch's forms.
"""
from __future__ import annotations

import difflib
import math
import re
from typing import Any, Iterable

from dabench.errors import UsageError
from dabench.registry import METHODS, PROTOCOLS, UnknownKeyError
from dabench.sweep.launchers import LAUNCHERS, ExecutorSettings

SPEC_KEYS = ("name", "description", "out", "methods", "tasks", "seeds", "hparams", "random", "data", "data_root",
             "device", "protocols", "budget", "budgets", "steps", "eval_every", "checkpoint_every", "executor")
BUDGET_KEYS = ("description", "steps", "eval_every", "checkpoint_every", "hparams", "executor")
EXECUTOR_KEYS = ("name", "partition", "gpus", "cpus", "mem", "time", "array_parallelism", "max_requeues",
                 "sbatch", "setup")
#: sbatch options that dabench (through submitit) sets itself
MANAGED_SBATCH = {"array", "output", "error", "open-mode", "signal", "job-name", "wrap", "parsable"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SCALARS = (str, int, float, bool)


def show(value: Any) -> str:
    """``repr(value)``, cut to 60 characters (for messages)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def hint(word: str, choices: Iterable[str], cutoff: float = 0.5) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Checker:
    """Validation helpers whose errors name the spec and the key."""

    def __init__(self, origin: str):
        self.origin = origin

    def fail(self, key: str, message: str) -> UsageError:
        return UsageError(f"sweep spec {self.origin}: '{key}' {message}")

    def keys(self, mapping: Any, valid: Iterable[str], where: str) -> dict:
        if mapping is None:
            return {}
        if not isinstance(mapping, dict):
            raise self.fail(where, f"must be a mapping; got {show(mapping)}")
        valid = list(valid)
        for key in mapping:
            if key not in valid:
                raise UsageError(f"sweep spec {self.origin}: unknown key '{key}' in {where}{hint(key, valid)}; "
                                 f"valid: {', '.join(valid)}")
        return mapping

    def names(self, value: Any, key: str, registry) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"must be a non-empty list of names; got {show(value)}")
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
            raise self.fail(key, f"must be {what}; got {show(value)}")
        return value

    def choice(self, value: Any, key: str, choices: Iterable[str]) -> str:
        choices = list(choices)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}; got {show(value)}")
        return value

    def folders(self, value: Any, key: str) -> tuple[str, ...]:
        value = [value] if isinstance(value, str) else (value or [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of folders; got {show(value)}")
        return tuple(value)


def seeds(ck: Checker, value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ck.fail("seeds", f"must be a count >= 1 or a list of seeds; got {value}")
        return tuple(range(value))
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        raise ck.fail("seeds", f"must be a count (3 means 0, 1, 2) or a list of seeds >= 0; got {show(value)}")
    return tuple(dict.fromkeys(value))


def steps(ck: Checker, value: Any, methods: tuple[str, ...]) -> Any:
    """An int, ``None`` (each method's default) or ``{method | "default": int | None}``."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key != "default" and key not in methods:
                raise ck.fail("steps", f"maps '{key}', which is neither 'default' nor a method of this sweep"
                              f"{hint(key, methods)}")
            ck.integer(v, f"steps.{key}", 1, allow_none=True)
        return dict(value)
    return ck.integer(value, "steps", 1, allow_none=True)


def random_draws(ck: Checker, value: Any) -> tuple[int, ...]:
    """The ``hparams_seed`` of each random draw: ``(0,)`` (the defaults) without draws; ``seed+1 .. seed+draws``;
    with ``defaults: true``, draw 0 (the defaults) and ``seed+1 .. seed+draws-1`` (DomainBed's search: N draws,
    the first being the defaults)."""
    random = ck.keys(value, ("draws", "seed", "defaults"), "random")
    if not random:
        return (0,)
    draws = ck.integer(random.get("draws"), "random.draws", 1)
    first = ck.integer(random.get("seed", 0), "random.seed", 0)
    defaults = random.get("defaults", False)
    if not isinstance(defaults, bool):
        raise ck.fail("random.defaults", f"must be true or false; got {show(defaults)}")
    if defaults:
        return (0,) + tuple(range(first + 1, first + draws))
    return tuple(range(first + 1, first + draws + 1))


def hparam_layer(ck: Checker, layer: Any, methods: tuple[str, ...], where: str) -> None:
    """A grid: shared hyper-parameters (applied to the methods that declare them) and per-method grids."""
    if not isinstance(layer, dict):
        raise ck.fail(where, f"must be a mapping of hyper-parameters (or of methods to grids); got {show(layer)}")
    for key, value in layer.items():
        if key in METHODS:
            if key in methods:  # e.g. a preset's CDLM grid with --methods dann: nothing to apply
                _method_grids(ck, key, value, f"{where}.{key}")
            continue
        if not any(key in METHODS.get(m).HPARAMS for m in methods):
            every = sorted({h for m in methods for h in METHODS.get(m).HPARAMS})
            raise ck.fail(f"{where}.{key}", f"is neither a hyper-parameter of any method of this sweep "
                          f"({', '.join(methods)}) nor a method{hint(key, every + METHODS.names(), 0.4)}")
        _values(ck, f"{where}.{key}", value)


def _method_grids(ck: Checker, method: str, value: Any, where: str) -> None:
    grids = value if isinstance(value, list) else [value]
    if not grids:
        raise ck.fail(where, "is an empty list of grids")
    declared = METHODS.get(method).HPARAMS
    for grid in grids:
        if not isinstance(grid, dict):
            raise ck.fail(where, f"must be a mapping or a list of mappings; got {show(grid)}")
        for name, values in grid.items():
            if name != "preset" and name not in declared:
                raise ck.fail(where, f"names '{name}', which is not a hyper-parameter of {method}"
                              f"{hint(name, declared, 0.4)}; valid: {', '.join(sorted(declared))}, preset")
            _values(ck, f"{where}.{name}", values)


def _values(ck: Checker, key: str, values: Any) -> None:
    items = values if isinstance(values, list) else [values]
    if not items or not all(isinstance(v, SCALARS) for v in items):
        raise ck.fail(key, f"must be a value or a non-empty list of values; got {show(values)}")


def protocols(ck: Checker, value: Any) -> tuple[str, ...]:
    if value is None:
        return ("accuracy",)
    names = ck.names(value, "protocols", PROTOCOLS) if PROTOCOLS.names() else None
    if names is None:  # no protocol registry yet: only the loop's own accuracy exists
        names = tuple(value if isinstance(value, list) else [value])
        if set(names) != {"accuracy"}:
            raise ck.fail("protocols", f"can only be [accuracy] in this installation; got {show(value)}")
    return names


def executor(ck: Checker, layers: list[tuple[str, Any]]) -> ExecutorSettings:
    """The executor settings of ``(where, mapping)`` layers, later ones winning (``sbatch`` options merged)."""
    merged: dict[str, Any] = {}
    sbatch: dict[str, str] = {}
    for where, layer in layers:
        for key, value in ck.keys(layer, EXECUTOR_KEYS, where).items():
            if key == "sbatch":
                sbatch.update(_sbatch(ck, value, f"{where}.sbatch"))
            elif value is not None:
                merged[key] = value
    partition = merged.get("partition")
    if partition is not None and (not isinstance(partition, str) or not partition):
        raise ck.fail("executor.partition", f"must be a partition name; got {show(partition)}")
    setup = merged.get("setup", [])
    setup = [setup] if isinstance(setup, str) else setup
    if not isinstance(setup, list) or not all(isinstance(s, str) for s in setup):
        raise ck.fail("executor.setup", f"must be a list of shell lines; got {show(setup)}")
    return ExecutorSettings(
        name=ck.choice(merged.get("name", "slurm"), "executor.name", LAUNCHERS.names()),
        partition=partition, gpus=ck.integer(merged.get("gpus", 0), "executor.gpus", 0),
        cpus=ck.integer(merged.get("cpus", 1), "executor.cpus", 1), mem=_mem(ck, merged.get("mem")),
        time=parse_minutes(merged.get("time", 60), f"sweep spec {ck.origin}: 'executor.time' (or --time)"),
        array_parallelism=ck.integer(merged.get("array_parallelism", 16), "executor.array_parallelism", 1),
        max_requeues=ck.integer(merged.get("max_requeues", 3), "executor.max_requeues", 0),
        sbatch=sbatch, setup=tuple(setup),
    )


def _mem(ck: Checker, mem: Any) -> str | None:
    if isinstance(mem, int) and not isinstance(mem, bool):
        mem = f"{mem}M"
    if mem is not None and (not isinstance(mem, str) or not re.match(r"^\d+(\.\d+)?[KMGT]?$", mem)):
        raise ck.fail("executor.mem", f"(or --mem) must be a SLURM memory size such as 16G or 4000M; got {show(mem)}")
    return mem


def _sbatch(ck: Checker, value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ck.fail(where, f"must map sbatch options to values ({{account: abc}}); got {show(value)}")
    out = {}
    for key, v in value.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", key):
            raise ck.fail(where, f"has an invalid option name {show(key)}")
        if key.replace("_", "-") in MANAGED_SBATCH:
            raise ck.fail(where, f"sets '{key}', which dabench manages itself")
        if not isinstance(v, SCALARS):
            raise ck.fail(f"{where}.{key}", f"must be a value; got {show(v)}")
        out[key] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def parse_minutes(value: Any, label: str = "--time") -> int:
    """A time limit in whole minutes, from minutes or any of sbatch's ``--time`` forms: ``MM:SS``, ``HH:MM:SS``,
    ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``.

    Raises:
        UsageError: naming ``label`` (the flag or the spec key the value came from).
    """
    err = UsageError(f"{label} must be minutes or an sbatch time (MM:SS, HH:MM:SS, D-HH[:MM[:SS]]; e.g. 90, "
                     f"1:30:00, 2-00:00:00); got {show(value)}")
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
