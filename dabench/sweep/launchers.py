"""Launchers: how a sweep's jobs reach a machine, what they are given, and the records of where they went.

Three launchers are registered in :data:`LAUNCHERS`:

* ``slurm``: one submitit job array per launch (``AutoExecutor(cluster="slurm").map_array``), throttled by the
  array parallelism (``--array=0-N%P``), with the partition, GPUs, CPUs, memory, time limit, extra sbatch
  options and setup lines of the sweep's :class:`ExecutorSettings`.
* ``local``: submitit's local executor on this machine: ``array_parallelism`` worker processes, worker k running
  runs k, k + P, k + 2P, … one after the other (a process per run would start every run's Python and PyTorch
  at once: 144 runs took 36 GB and a load of 100 before any of them trained).
* ``debug``: in this process, one run after the other (breakpoints work; errors are recorded, not raised).

A job process starts in the sweep's own folder (``<root>/_sweep``), never in the folder the sweep was launched
from: Python puts a process's starting folder first on ``sys.path``, so a folder named ``dabench`` there (the
top of a clone of the repository, say) would shadow the installed package's modules and the job could not load.

Besides the run directories, a sweep writes only under ``<root>/_sweep/``: ``logs/`` (submitit's scripts, job
logs and pickles), ``jobs/<run>.json`` (the submissions of each run, written here), ``attempts/<run>.jsonl``
(one line per job start, resume and end, appended by the job).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import socket
import subprocess
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
        setup: shell lines run before each SLURM job (``module load cuda``), in the folder it was submitted from.
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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "partition": self.partition, "gpus": self.gpus, "cpus": self.cpus,
                "mem": self.mem, "time": self.time, "array_parallelism": self.array_parallelism,
                "max_requeues": self.max_requeues, "sbatch": dict(self.sbatch), "setup": list(self.setup)}


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


def append_attempt(sweep_root: Path, dirname: str, event: dict[str, Any]) -> None:
    """One line per event; a single ``write`` of a short line in append mode is not interleaved."""
    path = meta_dir(sweep_root, "attempts", f"{dirname}.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps({"time": round(time.time(), 3), **event}, sort_keys=True) + "\n")


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    """Run the block in ``path`` (the processes it starts begin there), then come back."""
    before = os.getcwd()
    path.mkdir(parents=True, exist_ok=True)
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def error_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return text.splitlines()[0] if text else type(err).__name__


# ------------------------------------------------------------------------------------------ launchers
class Launcher:
    """Submits a sweep's jobs and answers which of its earlier jobs are still queued or running.

    ``job`` is a :class:`~dabench.sweep.job.SweepJob` (any callable taking a :class:`RunConfig`, with a
    ``with_settings(**changes)`` copy)."""

    name = ""

    def check(self) -> None:
        """Raise :class:`UsageError` if this launcher cannot submit from this host."""

    def launch(self, job, configs: list[RunConfig], settings: ExecutorSettings,
               sweep_root: Path) -> list[Submission]:
        raise NotImplementedError

    def active(self, submissions: list[Submission]) -> dict[str, str]:
        """``job_id → "PENDING" | "RUNNING"`` for those of ``submissions`` (all of this launcher) still in
        the queue. Raises :class:`RuntimeError` when the queue cannot be asked."""
        return {}

    def wait(self, submissions: list[Submission], poll_s: float = 2.0) -> list[str]:
        """Wait until none of ``submissions`` is queued or running; returns the ids of jobs known to have failed
        (a launcher that cannot tell returns none: the runs' states say it)."""
        while self.active(submissions):
            time.sleep(poll_s)
        return []


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
            # the user's setup lines run where the sweep was submitted from; the job itself in _sweep/
            "slurm_setup": [*settings.setup, f"cd {shlex.quote(str(meta_dir(sweep_root)))}"],
        }
        optional = {"gpus_per_node": settings.gpus, "slurm_partition": settings.partition,
                    "slurm_mem": settings.mem, "slurm_additional_parameters": dict(settings.sbatch)}
        params.update({k: v for k, v in optional.items() if v})
        executor.update_parameters(**params)
        try:
            jobs = executor.map_array(job, configs)  # one array: `sbatch --array=0-N%P`
        except Exception as err:  # noqa: BLE001 — sbatch's refusal reaches the user as one line
            raise UsageError(f"sbatch refused the job array: {error_line(err)}") from None
        host, now = socket.gethostname(), time.time()
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
        workers = max(1, min(settings.array_parallelism, len(configs)))
        shares = [list(configs[k::workers]) for k in range(workers)]  # worker k: runs k, k + P, k + 2P, ...
        executor = submitit.AutoExecutor(folder=meta_dir(sweep_root, "logs"), cluster="local")
        # a worker runs its share one after the other: its time limit covers the whole share
        params: dict[str, Any] = {"timeout_min": settings.time * len(shares[0]), "nodes": 1, "tasks_per_node": 1}
        if settings.gpus:
            params["gpus_per_node"] = settings.gpus
        executor.update_parameters(**params)
        with _working_directory(meta_dir(sweep_root)):  # the processes start there (see the module's doc)
            jobs = executor.map_array(job.as_worker(), shares)
        host, now = socket.gethostname(), time.time()
        by_worker = []
        for j in jobs:
            self._jobs[str(j.job_id)] = j
            by_worker.append(Submission("local", str(j.job_id), host, now, str(j.paths.stdout), str(j.paths.stderr)))
        return [by_worker[i % workers] for i in range(len(configs))]  # each run's record: the worker that runs it

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

    def wait(self, submissions, poll_s=2.0):
        super().wait(submissions, poll_s)
        return [s.job_id for s in submissions if s.job_id in self._jobs and _failed(self._jobs[s.job_id])]


def _failed(job) -> bool:
    """Whether a finished submitit job ended with an error (or without its result)."""
    try:
        return job.exception() is not None
    except Exception:  # noqa: BLE001 — no result at all: the process died before writing one
        return True


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

    def __init__(self):
        self._failed: set[str] = set()

    def launch(self, job, configs, settings, sweep_root):
        logs = meta_dir(sweep_root, "logs")
        logs.mkdir(parents=True, exist_ok=True)
        subs = []
        for k, config in enumerate(configs):
            job_id = f"debug-{os.getpid()}-{int(time.time() * 1000)}-{k}"
            log_path = logs / f"{job_id}_log.out"
            subs.append(Submission("debug", job_id, socket.gethostname(), time.time(), str(log_path), str(log_path)))
            self._run_one(job, config, job_id, log_path)
        return subs

    def _run_one(self, job, config: RunConfig, job_id: str, log_path: Path) -> None:
        handler = logging.FileHandler(log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logging.getLogger("dabench").addHandler(handler)
        os.environ["DABENCH_DEBUG_JOB_ID"] = job_id
        try:
            job(config)
        except Exception as err:  # noqa: BLE001 — recorded in the attempts file by the job
            self._failed.add(job_id)
            handler.stream.write(traceback.format_exc())
            log.warning("run %s on %s, seed %d, failed: %s (log: %s)", config.method, config.task, config.seed,
                        error_line(err), log_path)
        finally:
            os.environ.pop("DABENCH_DEBUG_JOB_ID", None)
            logging.getLogger("dabench").removeHandler(handler)
            handler.close()

    def wait(self, submissions, poll_s=2.0):
        return [s.job_id for s in submissions if s.job_id in self._failed]


_INSTANCES: dict[str, Launcher] = {}


def get_launcher(name: str) -> Launcher:
    """The launcher ``name``, one instance per process (the local one remembers the processes it started)."""
    if name not in _INSTANCES:
        _INSTANCES[name] = LAUNCHERS.get(name)()
    return _INSTANCES[name]
