"""The job a launcher runs: one sweep run, trained and evaluated wherever the launcher put it.

:class:`SweepJob` is a ``submitit.helpers.Checkpointable``: ``__call__(config)`` plans the run
(:func:`dabench.plan.plan_run`) and carries it out with :func:`dabench.runs.execute` — which trains the runs it
needs first, resumes from the run's checkpoint by itself and holds the run directory's writer lock while it
trains — then evaluates the sweep's protocols with :func:`dabench.runs.evaluate_run`. A job that finds its run
being trained by another live process waits for that process and then finds the run done: a run is never
trained twice at once.

:class:`SweepWorker` is the local launcher's job: a share of the runs, one after the other in one process.

``checkpoint()`` returns a *fresh* instance, so on a time-out or a preemption submitit requeues the job without
ever pickling a model, and the requeued job resumes from the last checkpoint (losing at most
``checkpoint_every`` steps). Every start, resume and end is appended to the sweep's attempts record.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, Iterator

import submitit

from dabench.config import RunConfig
from dabench.sweep.launchers import append_attempt, error_line

log = logging.getLogger(__name__)

#: environment variables that hold paths the job reads (data roots, the data cache)
PATH_VARIABLES = ("DABENCH_DATA", "DABENCH_CACHE")


def absolute_path_variables(environ: dict[str, str] | None = None) -> dict[str, list[str]]:
    """``{name: [value, absolute value]}`` for each of :data:`PATH_VARIABLES` set to a relative path here.

    A job starts in the sweep's own folder, not where it was submitted from: the job swaps such a value, which
    it inherits, for the absolute one (a value the job's own setup changed is left alone)."""
    environ = os.environ if environ is None else environ
    out = {}
    for name in PATH_VARIABLES:
        value = environ.get(name, "")
        absolute = os.pathsep.join(str(Path(p).expanduser().absolute()) if p else p for p in value.split(os.pathsep))
        if value and absolute != value:
            out[name] = [value, absolute]
    return out


def current_job_id() -> str | None:
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID") or env.get("SUBMITIT_LOCAL_JOB_ID") or env.get("DABENCH_DEBUG_JOB_ID")


class _ResumeCatcher(logging.Handler):
    """Hears the training loop report resuming ``run_name`` (its log line ``resuming <run> from step N``) and
    records that step, as the loop itself states it, in the run's attempts file at once."""

    def __init__(self, sweep_root: Path, run_name: str, job_id: str | None):
        super().__init__(logging.INFO)
        self.sweep_root, self.run_name, self.job_id = sweep_root, run_name, job_id
        self.step: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == "resuming %s from step %d" and len(args) == 2 and args[0] == self.run_name:
            self.step = int(args[1])
            append_attempt(self.sweep_root, self.run_name, {"event": "resumed", "job_id": self.job_id,
                                                            "step": self.step})


class SweepJob(submitit.helpers.Checkpointable):
    """Runs one sweep run (train, then the sweep's protocols) wherever the launcher put it.

    Args:
        sweep_root: absolute path of the sweep's folder (holds the run directories); shared storage on SLURM.
        data_roots: absolute read-only data roots (already checked on the submitting host).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: torch threads (the job's CPUs).
        protocols: protocols to evaluate after training; ``accuracy`` needs no extra step.
        env: :func:`absolute_path_variables` of the submitting host.
    """

    def __init__(self, sweep_root: str, data_roots: list[str] | None = None, device: str = "auto",
                 threads: int = 1, protocols: tuple[str, ...] = (), env: dict[str, list[str]] | None = None):
        self.settings = {"sweep_root": str(sweep_root), "data_roots": list(data_roots or []), "device": device,
                         "threads": int(threads), "protocols": tuple(protocols), "env": dict(env or {})}

    def with_settings(self, **changes: Any) -> "SweepJob":
        return type(self)(**{**self.settings, **changes})

    def as_worker(self) -> "SweepWorker":
        """This job's settings in a :class:`SweepWorker`, which runs a list of runs one after the other."""
        return SweepWorker(**self.settings)

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """On a time-out or a preemption: requeue a fresh job with the same run config. The model is not
        pickled: it is in the run's checkpoint, which the requeued job resumes from."""
        return submitit.helpers.DelayedSubmission(self.with_settings(), *args, **kwargs)

    def __call__(self, config: RunConfig) -> dict[str, Any]:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, self.settings["threads"]))
        try:  # the debug launcher runs jobs in the user's process: leave it as it was
            with _job_logging(), _absolute_paths(self.settings["env"]):
                return self._run(config)
        finally:
            torch.set_num_threads(threads)

    def _run(self, config: RunConfig) -> dict[str, Any]:
        from dabench.plan import plan_run

        s = self.settings
        root = Path(s["sweep_root"])
        plan = plan_run(config, root, s["data_roots"])
        name, job_id = plan.rundir.name, current_job_id()
        catcher = _ResumeCatcher(root, name, job_id)
        logging.getLogger("dabench.train").addHandler(catcher)
        append_attempt(root, name, {
            "event": "start", "job_id": job_id, "host": socket.gethostname(), "pid": os.getpid(),
            "restart": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0),
            "checkpoint_step": plan.rundir.checkpoint_step(),
        })
        log.info("run %s (job %s): %s", plan.rundir, job_id, json.dumps(config.to_dict(), sort_keys=True))
        try:
            result = self._train_and_evaluate(plan)
        except Exception as err:
            append_attempt(root, name, {"event": "end", "job_id": job_id, "status": "error",
                                        "error": error_line(err), "resumed_from": catcher.step})
            raise
        except BaseException as err:  # SystemExit from submitit's requeue, KeyboardInterrupt
            append_attempt(root, name, {"event": "end", "job_id": job_id, "status": "interrupted",
                                        "error": error_line(err), "resumed_from": catcher.step})
            raise
        finally:
            logging.getLogger("dabench.train").removeHandler(catcher)
        append_attempt(root, name, {"event": "end", "job_id": job_id, "status": "done", "resumed_from": catcher.step})
        log.info("run %s done: target accuracy %s", name, result.get("target_acc"))
        return {"run_dir": str(plan.rundir), "target_acc": result.get("target_acc")}

    def _train_and_evaluate(self, plan) -> dict[str, Any]:
        from dabench.runs import evaluate_run, execute

        s = self.settings
        # one writer per run (the run directory's lock, taken by execute): a job that finds its run being trained
        # waits for the writer, then finds the run done
        result = execute(plan, device=s["device"], progress=False, wait=True)
        for protocol in s["protocols"]:
            if not plan.rundir.has_eval(protocol):
                evaluate_run(plan.rundir, [protocol], data_roots=s["data_roots"], device=s["device"])
        return result


class SweepWorker(SweepJob):
    """The local launcher's worker: runs its share of a sweep's runs one after the other in one process.

    A run that fails is recorded (in its attempts file and, with its traceback, in this worker's log) and the
    worker goes on to the next; it raises at the end when any of its runs failed, so the job is seen to have
    failed. On a time-out it is requeued with the same share, whose finished runs it then skips.
    """

    def __call__(self, configs: list[RunConfig]) -> dict[str, Any]:  # type: ignore[override]
        results, failed = [], []
        for config in configs:
            try:
                results.append(super().__call__(config))
            except Exception:  # noqa: BLE001 — recorded by the run's job; the share goes on
                log.exception("run %s %s seed %s failed", config.method, config.task, config.seed)
                failed.append(f"{config.method} {config.task} seed {config.seed}")
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(configs)} runs failed: {'; '.join(failed)}")
        return {"runs": results}


@contextlib.contextmanager
def _absolute_paths(env: dict[str, list[str]]) -> Iterator[None]:
    """Swap the relative path variables inherited from the submitting host for their absolute values."""
    saved = {name: os.environ.get(name) for name in env}
    for name, (given, absolute) in env.items():
        if os.environ.get(name) == given:
            os.environ[name] = absolute
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _job_logging() -> Iterator[None]:
    """INFO from dabench (the loop's resume line included) into the job's log, with timestamps; the logger is
    restored afterwards (the debug launcher runs jobs inside the user's process)."""
    logger = logging.getLogger("dabench")
    saved = logger.level, logger.propagate
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s dabench: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
