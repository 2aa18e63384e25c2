"""Test helpers: resolving a run on the in-memory toy task (which is not in the task registry)."""
from __future__ import annotations

from dabench.config import ResolvedRun, RunConfig
from dabench.hparams import resolve_hparams
from dabench.registry import METHODS


def toy_run(method: str, toy_data, steps: int = 20, seed: int = 0, eval_every: int = 10,
            checkpoint_every: int = 5, **hparams) -> ResolvedRun:
    cls = METHODS.get(method)
    config = RunConfig(method, "toy", seed=seed, steps=steps, hparams=hparams, eval_every=eval_every,
                       checkpoint_every=checkpoint_every)
    resolved_hp = resolve_hparams(cls, "digits", {"batch_size": 16, **hparams})
    return ResolvedRun(config, cls, toy_data.task, resolved_hp, steps, eval_every, "embedded")
