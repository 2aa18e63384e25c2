"""Run configuration: what the user asks for, and its resolved, hashable form.

A run's identity is the sha256 of the canonical JSON of its *semantic* settings — method, task, seed, steps,
resolved hyper-parameters, data source, evaluation schedule and protocol version — and never of paths,
devices or launchers, so moving the data or the output changes nothing and a relaunch finds its own run.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from dabench.errors import UsageError
from dabench.hparams import resolve_hparams
from dabench.registry import METHODS, TASKS, UnknownKeyError
import dabench.methods  # noqa: F401  (registers every method)
import dabench.tasks  # noqa: F401  (registers every task)

#: bump when evaluation changes in a way that makes old results incomparable
PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class RunConfig:
    """What one run is. ``steps=None`` and ``eval_every=None`` take the method's defaults."""

    method: str
    task: str
    seed: int = 0
    steps: int | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    hparams_seed: int = 0
    data: str = "auto"
    eval_every: int | None = None
    checkpoint_every: int = 500

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResolvedRun:
    """A :class:`RunConfig` with every default filled in; ``semantic`` is what the run id hashes."""

    config: RunConfig
    method_cls: Any
    task: Any
    hparams: dict[str, Any]
    steps: int
    eval_every: int
    data: str

    @property
    def semantic(self) -> dict[str, Any]:
        return {
            "method": self.config.method,
            "task": self.config.task,
            "seed": self.config.seed,
            "steps": self.steps,
            "hparams": self.hparams,
            "data": self.data,
            "eval_every": self.eval_every,
            "protocol_version": PROTOCOL_VERSION,
        }

    @property
    def run_id(self) -> str:
        blob = json.dumps(self.semantic, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def dirname(self) -> str:
        return f"{self.config.method}_{self.config.task}_s{self.config.seed}_{self.run_id}"


def resolve(config: RunConfig, data_kind: str) -> ResolvedRun:
    """Fill in defaults and validate; raises :class:`UsageError` with the valid choices on bad input."""
    try:
        method_cls = METHODS.get(config.method)
        task = TASKS.get(config.task)
    except UnknownKeyError as err:
        raise UsageError(str(err)) from None
    hparams = resolve_hparams(method_cls, task.family, config.hparams, config.hparams_seed)
    steps = config.steps if config.steps is not None else method_cls.DEFAULT_STEPS
    for flag, value in (("--steps", steps), ("--eval-every", config.eval_every),
                        ("--checkpoint-every", config.checkpoint_every)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UsageError(f"{flag} must be a positive integer; got {value!r}")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        raise UsageError(f"--seed must be an integer >= 0; got {config.seed!r}")
    eval_every = config.eval_every or max(1, steps // 10)
    return ResolvedRun(config, method_cls, task, hparams, steps, eval_every, data_kind)
