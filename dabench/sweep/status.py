"""Where each run of a sweep stands, from its run directory (read through :class:`~dabench.rundir.RunDir` only),
the sweep's own records (``_sweep/jobs``, ``_sweep/attempts``, the job logs) and the queues of the launchers
that took its jobs.

The states, in the order they are decided:

* ``DONE``: the run is finished (RunDir says so) and every protocol of the sweep is evaluated;
* ``RUNNING`` / ``PENDING``: its last job is running / waiting in the queue; also ``RUNNING`` whenever a live
  process holds the run directory's writer lock, whatever the queue says (a job the queue has forgotten, a
  ``dabench run`` of the same run): launching again would only make a second job wait for it;
* ``FAILED``: its last job ended with an error (with the error's line and the job's log);
* ``INCOMPLETE``: started, or launched, but not done and no job any more (a relaunch resumes it from its
  checkpoint);
* ``NOT_LAUNCHED``: nothing written for it and never launched.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dabench.errors import UsageError
from dabench.registry import METHODS
from dabench.rundir import RunDir, RunState
from dabench.sweep.launchers import Submission, get_launcher, read_attempts, read_submissions
from dabench.sweep.spec import SweepRun, SweepSpec

DONE, RUNNING, PENDING, FAILED, INCOMPLETE, NOT_LAUNCHED = (
    "DONE", "RUNNING", "PENDING", "FAILED", "INCOMPLETE", "NOT_LAUNCHED")
STATES = (DONE, RUNNING, PENDING, FAILED, INCOMPLETE, NOT_LAUNCHED)
#: the states that `launch` submits
TO_SUBMIT = (NOT_LAUNCHED, INCOMPLETE)


@dataclass
class RunStatus:
    """One run's state, with its last job, how far it is (``step`` of ``total``) and, if it failed, why."""

    run: SweepRun
    state: str
    job: Submission | None = None
    step: int | None = None
    total: int | None = None
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
    last = {}
    for run in runs:
        subs = read_submissions(root, run.dirname)
        if subs:
            last[run.dirname] = subs[-1]
    queues, warnings = _queues(list(last.values()), strict)
    statuses = [run_status(root, run, last.get(run.dirname), queues, spec.protocols) for run in runs]
    return statuses, warnings


def _queues(jobs: list[Submission], strict: bool) -> tuple[dict[str, dict[str, str]], list[str]]:
    """``executor → {job id → PENDING | RUNNING}`` for the jobs still queued, and warnings."""
    queues: dict[str, dict[str, str]] = {}
    warnings = []
    for name in sorted({s.executor for s in jobs}):
        try:
            queues[name] = get_launcher(name).active([s for s in jobs if s.executor == name])
        except RuntimeError as err:
            if strict:
                raise UsageError(f"cannot ask the {name} queue which jobs of this sweep are still queued ({err}); "
                                 f"not submitting anything, so that no run is started twice") from None
            warnings.append(f"cannot ask the {name} queue ({err}); its queued or running jobs show as INCOMPLETE "
                            f"unless their run is being written")
            queues[name] = {}
    return queues, warnings


def run_status(root: Path, run: SweepRun, job: Submission | None, queues: dict[str, dict[str, str]],
               protocols: tuple[str, ...]) -> RunStatus:
    """The state of one run, given its last job and what the queues say (see the module's doc)."""
    rundir = RunDir(root / run.dirname)
    status = RunStatus(run, NOT_LAUNCHED, job, total=_planned_steps(run), log=job.stderr if job else "")
    state = rundir.state()
    if state is RunState.DONE:
        status.step = _final_step(rundir)
        status.total = status.step or status.total
        if all(rundir.has_eval(p) for p in protocols):
            status.state = DONE
            return status
    queued = queues.get(job.executor, {}).get(job.job_id) if job else None
    if queued or state is RunState.RUNNING:
        status.state = PENDING if queued == PENDING and state is not RunState.RUNNING else RUNNING
        status.step = status.step if status.step is not None else _progress_step(rundir)
        return status
    error = _failure(root, run, job)
    if error is not None:
        status.state, status.error = FAILED, error
    elif state is not RunState.NEW or job is not None:
        status.state = INCOMPLETE
    if status.step is None:
        status.step = rundir.checkpoint_step()
    return status


def _failure(root: Path, run: SweepRun, job: Submission | None) -> str | None:
    """Why the run's last job failed, or ``None`` when it did not: the error its last attempt recorded, else, for
    a job that never started the run, the last exception line of its log."""
    attempts = read_attempts(root, run.dirname)
    starts = [i for i, a in enumerate(attempts) if a.get("event") == "start"]
    tail = attempts[starts[-1]:] if starts else []
    end = next((a for a in tail if a.get("event") == "end"), None)
    if end is not None and end.get("status") == "error":
        return end.get("error", "")
    started_since = job is not None and bool(starts) and attempts[starts[-1]].get("time", 0) >= job.submitted_at - 1
    if job is not None and not started_since:
        return _log_error(Path(job.stderr)) or None
    return None


def _planned_steps(run: SweepRun) -> int | None:
    config = run.config
    return config.steps if config.steps is not None else getattr(METHODS.get(config.method), "DEFAULT_STEPS", None)


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


def resumable(statuses: list[RunStatus]) -> list[RunStatus]:
    """The runs to submit that resume from a checkpoint."""
    return [st for st in statuses if st.state == INCOMPLETE and st.step]


def all_done(statuses: list[RunStatus]) -> bool:
    return all(st.state == DONE for st in statuses)


def as_rows(statuses: list[RunStatus]) -> list[dict[str, Any]]:
    """One plain record per run (state, method, task, seed, hyper-parameters, step/total, job, directory)."""
    return [{"state": st.state, "method": st.run.config.method, "task": st.run.config.task,
             "seed": st.run.config.seed, "hparams": st.run.label, "step": st.step, "total": st.total,
             "job": st.job.job_id if st.job else None, "run": st.run.dirname} for st in statuses]
