"""Sweeps: a YAML spec → hashed run configs → jobs on SLURM (or locally), with skip-done, resume and status.

A sweep is methods × tasks × seeds × a hyper-parameter grid (× optional seeded random draws), at one budget.
Each point is an ordinary run whose directory is named by the hash of the settings that change results, so
launching a sweep again finds its runs: done ones are skipped, interrupted ones resume from their checkpoint,
queued or running ones are left alone. One module per job:

* :mod:`~dabench.sweep.spec` — the YAML schema, the presets, loading, and expansion into runs
  (:mod:`~dabench.sweep.validate` holds the checks of each value);
* :mod:`~dabench.sweep.status` — the state of each run: DONE / RUNNING / PENDING / FAILED / INCOMPLETE /
  NOT_LAUNCHED;
* :mod:`~dabench.sweep.launchers` — executor settings, the sweep's records, the slurm / local / debug launchers;
* :mod:`~dabench.sweep.job` — :class:`SweepJob`, what a launcher runs: one run through
  :func:`dabench.runs.execute` (under the run directory's writer lock) and :func:`dabench.runs.evaluate_run`;
* :mod:`~dabench.sweep.submit` — the data check on the submitting host, submission, and waiting.

Nothing here prints: ``dabench sweep`` (:mod:`dabench.cli.sweep`) parses, calls these functions and prints.
"""
from __future__ import annotations

from dabench.sweep.job import SweepJob
from dabench.sweep.launchers import (LAUNCHERS, ExecutorSettings, Submission, get_launcher, meta_dir,
                                     read_attempts, read_submissions)
from dabench.sweep.spec import SweepRun, SweepSpec, expand, load_spec, preset_descriptions, preset_names
from dabench.sweep.status import (DONE, FAILED, INCOMPLETE, NOT_LAUNCHED, PENDING, RUNNING, STATES, TO_SUBMIT,
                                  RunStatus, all_done, as_rows, counts, resumable, sweep_states)
from dabench.sweep.submit import check_data, submit, wait
from dabench.sweep.validate import parse_minutes

__all__ = [
    "DONE", "FAILED", "INCOMPLETE", "LAUNCHERS", "NOT_LAUNCHED", "PENDING", "RUNNING", "STATES", "TO_SUBMIT",
    "ExecutorSettings", "RunStatus", "Submission", "SweepJob", "SweepRun", "SweepSpec", "all_done", "as_rows",
    "check_data", "counts", "expand", "get_launcher", "load_spec", "meta_dir", "parse_minutes",
    "preset_descriptions", "preset_names", "read_attempts", "read_submissions", "resumable", "submit",
    "sweep_states", "wait",
]
