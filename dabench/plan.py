"""The run plan: a config resolved once into what to train, where, from which data, and what it needs first.

:func:`plan_run` is the single place that turns a :class:`~dabench.config.RunConfig` into a :class:`RunPlan`
(validated hyper-parameters, data source, run directory) together with the runs it depends on — today the
source-only classifier of the same task and seed, which CDLM and UNIT-lite classify their translations
with. ``dabench run``, sweep jobs, ``dabench eval`` and ``dabench bench`` all start here, so the dependency is
declared once (``Method.NEEDS_SOURCE_CLASSIFIER``) and honoured everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dabench.config import ResolvedRun, RunConfig, resolve
from dabench.data import DataSource, resolve_source
from dabench.errors import UsageError
from dabench.registry import METHODS, TASKS, UnknownKeyError
from dabench.rundir import RunDir
from dabench.tasks import task_spec


@dataclass(frozen=True)
class RunPlan:
    """One run, resolved: its settings, its data source, its directory, and the runs to finish before it."""

    resolved: ResolvedRun
    source: DataSource
    rundir: RunDir
    needs: tuple["RunPlan", ...] = ()

    @property
    def config(self) -> RunConfig:
        return self.resolved.config

    @property
    def source_classifier(self) -> "RunPlan | None":
        """The source-only run this one classifies through, if any."""
        return next((p for p in self.needs if p.config.method == "source-only"), None)


def data_source_for(config: RunConfig, data_roots: list | None, allow_download: bool) -> DataSource:
    """The data ``config`` trains on (full data when a root is configured, else the embedded data)."""
    try:
        task = TASKS.get(config.task)
        method_cls = METHODS.get(config.method)
    except UnknownKeyError as err:
        raise UsageError(str(err)) from None
    task.check_method(config.method, method_cls)
    if config.data not in ("auto", "full", "embedded"):
        raise UsageError(f"--data must be one of auto, full, embedded; got '{config.data}'")
    return resolve_source(config.data, data_roots, embedded_ok=task.has_embedded(), allow_download=allow_download)


def plan_run(config: RunConfig, out_root: str | Path, data_roots: list | None = None,
             allow_download: bool = False) -> RunPlan:
    """Resolve ``config`` (raising :class:`UsageError` on bad input, before anything is written) into its plan."""
    source = data_source_for(config, data_roots, allow_download)
    resolved = resolve(config, source.kind)
    base = source_classifier_config(resolved)
    needs = () if base is None else (plan_run(base, out_root, data_roots, allow_download),)
    return RunPlan(resolved, source, RunDir(Path(out_root) / resolved.dirname), needs)


def source_classifier_config(resolved: ResolvedRun) -> RunConfig | None:
    """The source-only run a method classifies through (``NEEDS_SOURCE_CLASSIFIER``: same task, seed and data),
    or None when it needs none (or the task has no classes to classify)."""
    if not resolved.method_cls.NEEDS_SOURCE_CLASSIFIER or not task_spec(resolved.task).num_classes:
        return None
    return RunConfig("source-only", resolved.config.task, seed=resolved.config.seed, data=resolved.data)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be one of auto, cpu, cuda; got '{device}'")
    return torch.device(device)
