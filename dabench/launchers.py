"""Launchers: how a sweep's runs reach a machine, and the job that runs one of them there.

Three launchers are registered in :data:`LAUNCHERS`:

* ``slurm``: one submitit job array per launch (``AutoExecutor(cluster="slurm").map_array``), throttled by the
  array parallelism (``--array=0-N%P``); partition, GPUs, CPUs, memory, time limit and extra sbatch options
  come from the sweep's executor settings.
* ``local``: submitit's local executor (one process per run on this machine, one ``map_array``); at most
  ``array_parallelism`` of them train at once (file-lock slots under the sweep root).
* ``debug``: in this process, one run after the other (breakpoints work; errors are recorded, not raised).

The job is :class:`SweepJob`, a ``submitit.helpers.Checkpointable``: ``__call__(config)`` calls
:func:`dabench.train.run`, which resumes from the run's ``checkpoint.pt`` by itself; ``checkpoint()`` returns a
*fresh* instance, so on a timeout or a preemption submitit requeues the job without ever pickling a model, and
the requeued job resumes from the last checkpoint (losing at most ``checkpoint_every`` steps).

Everything a sweep writes besides the run directories lives in ``<sweep root>/_sweep/``: ``logs/`` (submitit's
stdout/stderr and pickles), ``jobs/<run>.json`` (the submissions of each run, written by the launcher),
``attempts/<run>.jsonl`` (one line per job start, resume and end, appended by the job), ``locks/`` and
``slots/``.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import submitit

from dabench import io
from dabench.config import RunConfig
from dabench.errors import UsageError
from dabench.registry import Registry

log = logging.getLogger(__name__)

LAUNCHERS = Registry("launcher")

#: the folder, inside a sweep root, that holds everything that is not a run directory
META = "_sweep"

#: SLURM job states in which a job still holds (or waits for) resources
_SLURM_PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED",
                  "CONFIGURING", "RESIZING"}
_SLURM_RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}


def meta_dir(sweep_root: Path, *parts: str) -> Path:
    return Path(sweep_root, META, *parts)


# ------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class ExecutorSettings:
    """Where and with what the jobs of a sweep run.

    Attributes:
        name: the launcher (``slurm``, ``local`` or ``debug``).
        partition: SLURM partition (``None``: the cluster's default).
        gpus: GPUs per job.
        cpus: CPUs per job (also the job's torch thread count).
        mem: memory per job in SLURM's syntax (``16G``, ``4000M``); ``None``: the cluster's default.
        time: time limit per job, minutes. On SLURM, submitit signals the job 90 s before it, the job
            requeues itself and resumes from its checkpoint.
        array_parallelism: at most this many jobs of one launch run at once.
        max_requeues: how many time-outs a job may requeue itself after (preemptions are not counted).
        sbatch: extra sbatch options (``{"account": "abc", "qos": "normal"}`` → ``--account=abc --qos=normal``).
        setup: shell lines run before each job (``module load cuda``).
    """

    name: str = "slurm"
    partition: str | None = None
    gpus: int = 0
    cpus: int = 1
    mem: str | None = None
    time: int = 60
    array_parallelism: int = 16
    max_requeues: int = 3
    sbatch: dict[str, str] = field(default_factory=dict)
    setup: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"partition={self.partition or '(default)'}", f"gpus={self.gpus}", f"cpus={self.cpus}",
                 f"mem={self.mem or '(default)'}", f"time={self.time} min",
                 f"at most {self.array_parallelism} at once"]
        parts += [f"--{k}={v}" for k, v in sorted(self.sbatch.items())]
        return ", ".join(parts)


@dataclass(frozen=True)
class Submission:
    """One job of one run, as recorded in ``_sweep/jobs/<run>.json``."""

    executor: str
    job_id: str
    host: str
    submitted_at: float
    stdout: str = ""
    stderr: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ------------------------------------------------------------------------------------------- records
def read_submissions(sweep_root: Path, dirname: str) -> list[Submission]:
    path = meta_dir(sweep_root, "jobs", f"{dirname}.json")
    if not path.exists():
        return []
    try:
        return [Submission(**s) for s in io.read_json(path).get("submissions", [])]
    except (ValueError, TypeError) as err:
        log.warning("ignoring unreadable job record %s (%s)", path, err)
        return []


def record_submissions(sweep_root: Path, entries: list[tuple[str, RunConfig, Submission]]) -> None:
    """Append each ``(dirname, config, submission)`` to its run's job record (written atomically)."""
    for dirname, config, sub in entries:
        path = meta_dir(sweep_root, "jobs", f"{dirname}.json")
        subs = read_submissions(sweep_root, dirname) + [sub]
        io.write_json(path, {"dirname": dirname, "config": config.to_dict(),
                             "submissions": [s.to_dict() for s in subs]})


def read_attempts(sweep_root: Path, dirname: str) -> list[dict[str, Any]]:
    path = meta_dir(sweep_root, "attempts", f"{dirname}.jsonl")
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # a line cut by a kill mid-write: skip it
            continue
    return out


def _append_attempt(sweep_root: Path, dirname: str, event: dict[str, Any]) -> None:
    """One line per event; a single ``write`` of a short line in append mode is not interleaved."""
    path = meta_dir(sweep_root, "attempts", f"{dirname}.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps({"time": round(time.time(), 3), **event}, sort_keys=True) + "\n")


# --------------------------------------------------------------------------------------------- locks
@contextlib.contextmanager
def _file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An exclusive ``fcntl`` lock on ``path`` (released by the kernel if the holder dies).

    Yields whether the lock is held; on a filesystem without locks, logs a warning and yields ``True``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EACCES):
                yield False
                return
            log.warning("cannot lock %s (%s); going on without the lock", path, err)
            yield True
            return
        try:
            yield True
        finally:
            fcntl.lockf(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _slot(sweep_root: Path, slots: int) -> Iterator[None]:
    """Hold one of ``slots`` slots (the local launcher's array parallelism); no-op when ``slots`` is 0."""
    if slots <= 0:
        yield
        return
    while True:
        for k in range(slots):
            with _file_lock(meta_dir(sweep_root, "slots", f"{k}.lock"), blocking=False) as held:
                if held:
                    yield
                    return
        time.sleep(0.5)


# ----------------------------------------------------------------------------------------------- job
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
            _append_attempt(self.sweep_root, self.run_name, {"event": "resumed", "job_id": self.job_id,
                                                             "step": self.step})


def current_job_id() -> str | None:
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID") or env.get("SUBMITIT_LOCAL_JOB_ID") or env.get("DABENCH_DEBUG_JOB_ID")


class SweepJob(submitit.helpers.Checkpointable):
    """Runs one sweep run (train, then the sweep's protocols) wherever the launcher put it.

    Args:
        sweep_root: absolute path of the sweep's folder (holds the run directories); shared storage on SLURM.
        data_roots: read-only data roots (already checked on the submitting host).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: torch threads (the job's CPUs).
        protocols: protocols to evaluate after training (``dabench eval``); ``accuracy`` needs no extra step.
        slots: the local launcher's parallelism (0: no throttling here; SLURM throttles the array itself).
    """

    def __init__(self, sweep_root: str, data_roots: list[str] | None = None, device: str = "auto",
                 threads: int = 1, protocols: tuple[str, ...] = (), slots: int = 0):
        self.settings = {"sweep_root": str(sweep_root), "data_roots": list(data_roots or []), "device": device,
                         "threads": int(threads), "protocols": tuple(protocols), "slots": int(slots)}

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """On a time-out or a preemption: requeue a fresh job with the same run config. The model is not
        pickled: it is in the run's ``checkpoint.pt``, which the requeued job resumes from."""
        return submitit.helpers.DelayedSubmission(SweepJob(**self.settings), *args, **kwargs)

    def __call__(self, config: RunConfig) -> dict[str, Any]:
        with _job_logging():
            return self._run(config)

    def _run(self, config: RunConfig) -> dict[str, Any]:
        import torch

        s = self.settings
        root = Path(s["sweep_root"])
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, s["threads"]))
        try:
            return self._train(config, root)
        finally:
            torch.set_num_threads(threads)  # the debug launcher runs jobs in the user's process

    def _train(self, config: RunConfig, root: Path) -> dict[str, Any]:
        from dabench.plan import plan_run
        from dabench.runs import evaluate_run, execute

        s = self.settings
        plan = plan_run(config, root, s["data_roots"])
        rundir = plan.rundir
        job_id = current_job_id()
        catcher = _ResumeCatcher(root, rundir.name, job_id)
        logging.getLogger("dabench.train").addHandler(catcher)
        with _slot(root, s["slots"]):
            _append_attempt(root, rundir.name, {
                "event": "start", "job_id": job_id, "host": socket.gethostname(), "pid": os.getpid(),
                "restart": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0),
                "checkpoint_step": rundir.checkpoint_step(),
            })
            log.info("run %s (job %s): %s", rundir, job_id, json.dumps(config.to_dict(), sort_keys=True))
            try:
                # one writer per run: a job that finds its run being trained waits for it, then finds it done
                result = execute(plan, device=s["device"], progress=False, wait=True)
                for protocol in s["protocols"]:
                    if not rundir.has_eval(protocol):
                        evaluate_run(rundir, [protocol], data_roots=s["data_roots"], device=s["device"])
            except Exception as err:
                _append_attempt(root, rundir.name, {"event": "end", "job_id": job_id, "status": "error",
                                                    "error": error_line(err), "resumed_from": catcher.step})
                raise
            except BaseException as err:  # SystemExit from submitit's requeue, KeyboardInterrupt
                _append_attempt(root, rundir.name, {"event": "end", "job_id": job_id, "status": "interrupted",
                                                    "error": error_line(err), "resumed_from": catcher.step})
                raise
            finally:
                logging.getLogger("dabench.train").removeHandler(catcher)
        _append_attempt(root, rundir.name, {"event": "end", "job_id": job_id, "status": "done",
                                            "resumed_from": catcher.step})
        log.info("run %s done: target accuracy %s", rundir.name, result.get("target_acc"))
        return {"run_dir": str(rundir), "target_acc": result.get("target_acc")}


def error_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return text.splitlines()[0] if text else type(err).__name__


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


# ------------------------------------------------------------------------------------------ launchers
class Launcher:
    """Submits a sweep's jobs and answers which of its earlier jobs are still queued or running."""

    name = ""

    def check(self) -> None:
        """Raise :class:`UsageError` if this launcher cannot submit from this host."""

    def launch(self, job: SweepJob, configs: list[RunConfig], settings: ExecutorSettings,
               sweep_root: Path) -> list[Submission]:
        raise NotImplementedError

    def active(self, submissions: list[Submission]) -> dict[str, str]:
        """``job_id → "PENDING" | "RUNNING"`` for those of ``submissions`` (all of this launcher) still in
        the queue. Raises :class:`RuntimeError` when the queue cannot be asked."""
        return {}

    def wait(self, submissions: list[Submission], poll_s: float = 2.0) -> None:
        while self.active(submissions):
            time.sleep(poll_s)


@LAUNCHERS.register("slurm")
class SlurmLauncher(Launcher):
    """One submitit job array per launch on a SLURM cluster (run from a login node, or any host with sbatch)."""

    name = "slurm"

    def check(self) -> None:
        if shutil.which("sbatch") is None or shutil.which("squeue") is None:
            raise UsageError("--executor slurm needs sbatch and squeue on this host; run from a SLURM login node, "
                             "use --executor local, or start a local test cluster with scripts/slurm-local.sh")

    def launch(self, job, configs, settings, sweep_root):
        executor = submitit.AutoExecutor(folder=meta_dir(sweep_root, "logs"), cluster="slurm",
                                         slurm_max_num_timeout=settings.max_requeues)
        params: dict[str, Any] = {
            "name": f"dabench-{Path(sweep_root).name}", "timeout_min": settings.time, "nodes": 1,
            "tasks_per_node": 1, "cpus_per_task": settings.cpus,
            "slurm_array_parallelism": settings.array_parallelism,
        }
        if settings.gpus:
            params["gpus_per_node"] = settings.gpus
        if settings.partition:
            params["slurm_partition"] = settings.partition
        if settings.mem:
            params["slurm_mem"] = settings.mem
        if settings.sbatch:
            params["slurm_additional_parameters"] = dict(settings.sbatch)
        if settings.setup:
            params["slurm_setup"] = list(settings.setup)
        executor.update_parameters(**params)
        try:
            jobs = executor.map_array(job, configs)  # one array: `sbatch --array=0-N%P`
        except Exception as err:  # noqa: BLE001 — sbatch's refusal reaches the user as one line
            raise UsageError(f"sbatch refused the job array: {error_line(err)}") from None
        host = socket.gethostname()
        now = time.time()
        return [Submission("slurm", str(j.job_id), host, now, str(j.paths.stdout), str(j.paths.stderr))
                for j in jobs]

    def active(self, submissions):
        if not submissions:
            return {}
        try:
            proc = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T", "-u", _user()], capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as err:
            raise RuntimeError(f"cannot run squeue: {err}") from None
        if proc.returncode != 0:
            raise RuntimeError(f"squeue failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        queue = {}
        for line in proc.stdout.splitlines():
            job_id, _, state = line.strip().partition("|")
            state = state.split()[0] if state else ""
            if state in _SLURM_RUNNING:
                queue[job_id] = "RUNNING"
            elif state in _SLURM_PENDING:
                queue[job_id] = "PENDING"
        return {s.job_id: queue[s.job_id] for s in submissions if s.job_id in queue}


def _user() -> str:
    import getpass

    return getpass.getuser()


@LAUNCHERS.register("local")
class LocalLauncher(Launcher):
    """submitit's local executor: one process per run on this machine, ``array_parallelism`` at a time."""

    name = "local"

    def __init__(self):
        self._jobs: dict[str, Any] = {}

    def launch(self, job, configs, settings, sweep_root):
        slots = max(1, settings.array_parallelism)
        job = SweepJob(**{**job.settings, "slots": slots})
        executor = submitit.AutoExecutor(folder=meta_dir(sweep_root, "logs"), cluster="local")
        # a queued process waits for a slot inside its time limit: give it the waves before it as well
        waves = math.ceil(len(configs) / slots)
        params: dict[str, Any] = {"timeout_min": settings.time * waves, "nodes": 1, "tasks_per_node": 1}
        if settings.gpus:
            params["gpus_per_node"] = settings.gpus
        executor.update_parameters(**params)
        jobs = executor.map_array(job, configs)
        host = socket.gethostname()
        now = time.time()
        subs = []
        for j in jobs:
            self._jobs[str(j.job_id)] = j
            subs.append(Submission("local", str(j.job_id), host, now, str(j.paths.stdout), str(j.paths.stderr)))
        return subs

    def active(self, submissions):
        out = {}
        host = socket.gethostname()
        for s in submissions:
            job = self._jobs.get(s.job_id)
            if job is not None:
                job.done()  # polls (and so reaps) the process this launcher started
            if s.host == host and _pid_alive(int(s.job_id)):
                out[s.job_id] = "RUNNING"
        return out


def _pid_alive(pid: int) -> bool:
    """A live (not zombie) submitit process with this pid on this host."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0] if ")" in stat else "?"
    return state not in ("Z", "X") and b"submitit" in cmdline


@LAUNCHERS.register("debug")
class DebugLauncher(Launcher):
    """In this process, one run after the other; a failing run is recorded (and logged) and the next goes on."""

    name = "debug"

    def launch(self, job, configs, settings, sweep_root):
        logs = meta_dir(sweep_root, "logs")
        logs.mkdir(parents=True, exist_ok=True)
        host = socket.gethostname()
        subs = []
        for k, config in enumerate(configs):
            job_id = f"debug-{os.getpid()}-{int(time.time() * 1000)}-{k}"
            log_path = logs / f"{job_id}_log.out"
            handler = logging.FileHandler(log_path)
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
            logging.getLogger("dabench").addHandler(handler)
            os.environ["DABENCH_DEBUG_JOB_ID"] = job_id
            subs.append(Submission("debug", job_id, host, time.time(), str(log_path), str(log_path)))
            try:
                SweepJob(**job.settings)(config)
            except Exception as err:  # noqa: BLE001 — recorded in the attempts file by the job
                handler.stream.write(traceback.format_exc())
                log.warning("run %s on %s, seed %d, failed: %s (log: %s)", config.method, config.task, config.seed,
                            error_line(err), log_path)
            finally:
                os.environ.pop("DABENCH_DEBUG_JOB_ID", None)
                logging.getLogger("dabench").removeHandler(handler)
                handler.close()
        return subs
