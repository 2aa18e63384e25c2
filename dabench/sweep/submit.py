"""Submitting a sweep's runs and waiting for them: the data check on the submitting host, one submission per
launch (recorded under ``_sweep/``), and the wait for the jobs to end.

:func:`check_data` runs before anything is queued and reports every missing dataset of the sweep in one message;
:func:`submit` builds the :class:`~dabench.sweep.job.SweepJob` the launcher sends out; :func:`wait` returns the
jobs that failed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dabench import io
from dabench.errors import DataError
from dabench.registry import TASKS
from dabench.sweep.job import SweepJob, absolute_path_variables
from dabench.sweep.launchers import ExecutorSettings, Submission, get_launcher, meta_dir, record_submissions
from dabench.sweep.spec import SweepRun, SweepSpec


# ------------------------------------------------------------------------------------------ data check
@dataclass
class _Missing:
    """What one dataset lacks: the first error met, and the tasks that need it."""

    error: str
    tasks: list[str] = field(default_factory=list)


def check_data(spec: SweepSpec, runs: list[SweepRun]) -> list[str]:
    """Check, on this (the submitting) host, that every task's data is there before any job is queued.

    Files are looked up where the loaders look (roots, then the cache). A split that is not found that way is
    loaded once here (no download): derived data (MNIST-M, Fashion-M, converted image folders) is then built
    into the cache once, before the jobs need it, and missing official data fails.

    Returns:
        one line per task whose data had to be built here (for the user).
    Raises:
        DataError: every missing or corrupt dataset of the sweep in one message, each with the tasks that need
            it and the command that fixes it.
    """
    from dabench.data import resolve_source

    notes = []
    missing: dict[str, _Missing] = {}
    for task_name, kind in sorted({(r.config.task, r.config.data) for r in runs}):
        task = TASKS.get(task_name)
        source = resolve_source(kind, list(spec.data_roots), allow_download=False)
        if kind == "embedded":
            for ds in task.datasets():
                if not ds.has_embedded():
                    _note(missing, ds.info.name, task_name, "has no embedded data; set DABENCH_DATA to a data root "
                          "(or `data: full` in the spec)")
        elif _load_missing_splits(task, source, missing):
            notes.append(f"{task_name}: data checked and derived splits built into {source.cache}")
    if missing:
        raise DataError(_missing_message(missing))
    return notes


def _load_missing_splits(task, source, missing: dict[str, _Missing]) -> bool:
    """Load each split of ``task`` that is not found as a file (building derived data); a dataset that fails is
    noted in ``missing``. Returns whether anything was loaded."""
    src, tgt = task.datasets()
    loaded = False
    for ds, split in ((src, "train"), (tgt, "train"), (tgt, "test")):
        name = ds.info.name
        if name in missing:
            _note(missing, name, task.name, "")
            continue
        if source.find(ds.info.relpath(split)):
            continue
        try:
            ds.load(split, source, task.size)
            loaded = True
        except DataError as err:
            _note(missing, name, task.name, str(err))
    return loaded


def _note(missing: dict[str, _Missing], dataset: str, task: str, error: str) -> None:
    entry = missing.setdefault(dataset, _Missing(error))
    if task not in entry.tasks:
        entry.tasks.append(task)


def _missing_message(missing: dict[str, _Missing]) -> str:
    n = len(missing)
    parts = [f"{name} (task{'s' if len(m.tasks) > 1 else ''} {', '.join(m.tasks)}): {m.error}"
             for name, m in sorted(missing.items())]
    return (f"{n} dataset{'s' if n > 1 else ''} of this sweep missing or unreadable ({', '.join(sorted(missing))}); "
            f"nothing was submitted. " + "; ".join(parts))


# ---------------------------------------------------------------------------------------------- submit
def submit(spec: SweepSpec, runs: list[SweepRun], executor: ExecutorSettings | None = None) -> list[Submission]:
    """Submit ``runs`` as one job array (or in-process for ``debug``) and record the jobs."""
    from dabench.data import env_roots

    executor = executor or spec.executor
    launcher = get_launcher(executor.name)
    launcher.check()
    root = spec.root
    meta_dir(root).mkdir(parents=True, exist_ok=True)
    io.write_text(meta_dir(root, "spec.yaml"), yaml.safe_dump(spec.to_dict(), sort_keys=False))
    # absolute paths: a job starts in the sweep's own folder, not in this one
    roots = [str(Path(r).expanduser().absolute()) for r in [*spec.data_roots, *env_roots()]]
    job = SweepJob(str(root), data_roots=list(dict.fromkeys(roots)), device=spec.device, threads=executor.cpus,
                   protocols=tuple(p for p in spec.protocols if p != "accuracy"), env=absolute_path_variables())
    subs = launcher.launch(job, [r.config for r in runs], executor, root)
    record_submissions(root, [(r.dirname, r.config, s) for r, s in zip(runs, subs)])
    return subs


def wait(subs: list[Submission], poll_s: float = 2.0) -> list[Submission]:
    """Wait until none of ``subs`` is queued or running; returns those known to have failed."""
    by_executor: dict[str, list[Submission]] = {}
    for s in subs:
        by_executor.setdefault(s.executor, []).append(s)
    failed: set[str] = set()
    for name, mine in by_executor.items():
        failed.update(get_launcher(name).wait(mine, poll_s))
    return [s for s in subs if s.job_id in failed]
