"""Hyper-parameter declarations: a default, an optional sampler for random sweeps, and strict parsing.

A method declares ``HPARAMS = {"lr": HP(0.01, log_uniform(1e-3, 1e-1), "SGD learning rate")}``. Resolution
(:func:`resolve_hparams`) starts from the defaults, applies the method's per-family ``OVERRIDES``, then the
draw of ``hparams_seed`` (seed 0 = defaults; each hparam has its own generator seeded by its name, so adding
one never changes the others' draws), then the user's overrides. Unknown keys and values of the wrong type
raise :class:`~dabench.errors.UsageError` with the valid choices.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from dabench.errors import UsageError
from dabench.seeding import seed_hash

Sampler = Callable[[np.random.Generator], Any]


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric hyper-parameter: an interval, each end open or closed or absent."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    @property
    def text(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


POSITIVE = Range(0, None, low_open=True)  # learning rates, widths, temperatures
NONNEGATIVE = Range(0)  # loss weights, decays, seeds
AT_LEAST_ONE = Range(1)  # sizes and counts
UNIT = Range(0, 1)  # probabilities, momenta, mixing weights
UNIT_OPEN_HIGH = Range(0, 1, high_open=True)  # dropout, Adam β


@dataclass(frozen=True)
class HP:
    """One hyper-parameter: its default, an optional random-search sampler, a one-line doc and choices.

    ``valid``: the :class:`Range` a numeric value must lie in (declared next to the default; float values must
    also be finite). ``absent``: the value that a run recorded before this hyper-parameter existed is
    equivalent to (a switch added later whose "off" value is the old behaviour); ``None`` when there is none.
    """

    default: Any
    sampler: Sampler | None = None
    doc: str = ""
    choices: tuple | None = None
    absent: Any = None
    valid: Range | None = None

    def parse(self, name: str, value: Any) -> Any:
        """Convert ``value`` (a string from the CLI, or a Python value) to the default's type, or raise."""
        kind = type(self.default)
        try:
            if kind is bool:
                parsed = _parse_bool(value)
            elif kind is int:
                parsed = int(value) if not isinstance(value, float) or float(value).is_integer() else None
                if parsed is None:
                    raise ValueError
            elif kind is float:
                parsed = float(value)
            elif kind is str:
                parsed = str(value)
            else:
                raise ValueError
        except (TypeError, ValueError):
            raise UsageError(
                f"hyper-parameter '{name}' expects a {kind.__name__} (default {self.default!r}), got {value!r}"
            ) from None
        if self.choices is not None and parsed not in self.choices:
            raise UsageError(
                f"hyper-parameter '{name}' must be one of {', '.join(map(str, self.choices))}; got {parsed!r}"
            )
        self.check(name, parsed)
        return parsed

    def check(self, name: str, value: Any) -> None:
        """Raise :class:`UsageError` unless a numeric ``value`` is finite and inside :attr:`valid`."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        valid = self.valid if self.valid is not None else LOOP_RANGES.get(name)
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"hyper-parameter '{name}' must be a finite number; got {value!r} "
                             f"(e.g. --set {name}={self.default!r})")
        if valid is not None and value not in valid:
            raise UsageError(f"hyper-parameter '{name}' must be {valid.text} (default {self.default!r}); got "
                             f"{value!r} (e.g. --set {name}={self.default!r})")


#: ranges every method's hyper-parameters of these names obey unless they declare their own: the loop needs a
#: batch, and a learning rate is positive by the suite's convention (so a method a user adds gets them too)
LOOP_RANGES = {"batch_size": AT_LEAST_ONE, "lr": POSITIVE}


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def log_uniform(low: float, high: float) -> Sampler:
    """Sampler: ``exp(U(log low, log high))``."""
    return lambda rng: float(np.exp(rng.uniform(np.log(low), np.log(high))))


def uniform(low: float, high: float) -> Sampler:
    return lambda rng: float(rng.uniform(low, high))


def choice(options: list) -> Sampler:
    return lambda rng: options[int(rng.integers(len(options)))]


def resolve_hparams(
    method_cls: Any,
    family: str,
    overrides: Mapping[str, Any] | None = None,
    hparams_seed: int = 0,
) -> dict[str, Any]:
    """The full, typed hyper-parameter dict for ``method_cls`` on a task family.

    Args:
        method_cls: a :class:`~dabench.method.Method` subclass (reads ``HPARAMS``, ``OVERRIDES``, ``PRESETS``).
        family: the task family (``"digits"``, ``"translation"``, ...), selects ``OVERRIDES[family]``.
        overrides: user values by name (strings are parsed to the declared type). The key ``preset`` selects
            one of the method's named presets, applied before the other overrides.
        hparams_seed: 0 for the defaults, k > 0 for a random draw from each hparam's sampler.
    Raises:
        UsageError: for an unknown name, an unknown preset or a value of the wrong type.
    """
    declared: dict[str, HP] = method_cls.HPARAMS
    values = {name: hp.default for name, hp in declared.items()}
    values.update(getattr(method_cls, "OVERRIDES", {}).get(family, {}))
    if hparams_seed:
        for name, hp in declared.items():
            if hp.sampler is not None:
                values[name] = hp.sampler(np.random.default_rng(seed_hash(hparams_seed, name)))
    overrides = dict(overrides or {})
    preset = overrides.pop("preset", None)
    if preset is not None:
        presets = getattr(method_cls, "PRESETS", {})
        if preset not in presets:
            valid = ", ".join(sorted(presets)) or "(none)"
            raise UsageError(f"unknown preset '{preset}' for {method_cls.__name__}; valid: {valid}")
        values.update(presets[preset])
    for name, value in overrides.items():
        if name not in declared:
            raise UsageError(unknown_hparam_message(name, method_cls))
        values[name] = declared[name].parse(name, value)
    return values


def complete_recorded(method_cls: Any, recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A run's recorded hyper-parameters with the switches added since it ran set to their ``absent`` value,
    so old runs load and group with the new runs they are equivalent to."""
    values = dict(recorded)
    for name, hp in method_cls.HPARAMS.items():
        if name not in values and hp.absent is not None:
            values[name] = hp.absent
    return values


def unknown_hparam_message(name: str, method_cls: Any) -> str:
    valid = sorted(method_cls.HPARAMS)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.4)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown hyper-parameter '{name}' for {method_cls.__name__}{hint}; valid: {', '.join(valid)}"
