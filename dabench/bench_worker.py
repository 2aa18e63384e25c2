"""``dabench bench``: its options, their checks, and the worker process that measures one method.

Each method is measured in a fresh ``python -m dabench.bench_worker SPEC RESULT`` process, so that its peak
memory is its own: the worker reads its :class:`BenchOptions` (and the method) from the JSON file ``SPEC`` and
writes its row, as JSON, to the file ``RESULT``; it prints nothing. :func:`measure_in_worker` starts one and
returns its row. Every check of what the user asked for (:func:`plan_methods`, :func:`check_output`) raises
:class:`~dabench.errors.UsageError` before any data are loaded or any measurement starts.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dabench.errors import UsageError, WriteError

#: where ``dabench bench`` would plan runs (the folder ``dabench run`` writes to by default; git-ignored)
RUNS_ROOT = Path("runs")
#: the report's default path: under the git-ignored runs folder, so that a bench never replaces a committed
#: report; the project's own reports are written with an explicit ``-o leaderboard/...``
DEFAULT_OUT = RUNS_ROOT / "bench" / "performance.md"
DEFAULT_TASK = "mnist-mnistm"


class WorkerFailed(RuntimeError):
    """A worker process ended without a row; the message holds the last line it wrote to stderr."""


@dataclass
class BenchOptions:
    """What one ``dabench bench`` measures, and how (the command's flags, ``--out`` aside)."""

    methods: list[str] = field(default_factory=list)  # METHOD or METHOD:PRESET; empty: every registered method
    task: str = DEFAULT_TASK
    device: str = "cpu"
    data: str = "auto"
    steps: int = 30
    min_seconds: float = 2.0
    warmup: int = 5
    repeats: int = 3
    workers: list[int] = field(default_factory=lambda: [0, 1, 2])
    conventional: bool = True


def check_numbers(options: BenchOptions) -> None:
    """Raise :class:`UsageError` on a step, repeat, warm-up, duration or worker count out of range."""
    if not options.min_seconds >= 0:
        raise UsageError(f"--min-seconds takes a duration >= 0 in seconds; got {options.min_seconds}")
    for name, value in (("--steps", options.steps), ("--repeats", options.repeats), ("--warmup", options.warmup)):
        if value < 1:
            raise UsageError(f"{name} must be a positive integer; got {value}")
    if any(w < 0 for w in options.workers):
        raise UsageError(f"--workers takes worker counts >= 0; got {' '.join(map(str, options.workers))}")


def plan_methods(options: BenchOptions) -> dict[str, Any]:
    """Each method spec → its :class:`~dabench.plan.RunPlan` (seed 0), in the order asked for.

    Planning validates the task, every method and preset, their compatibility and ``--data`` (raising
    :class:`UsageError`) without loading any data; each plan also says which source-only classifier the method
    predicts through. Nothing is written under :data:`RUNS_ROOT`.
    """
    from dabench.bench import run_config
    from dabench.plan import plan_run
    from dabench.registry import METHODS, UnknownKeyError

    try:
        specs = options.methods or list(METHODS.names())
        plans = {spec: plan_run(run_config(spec, options.task, seed=0, data=options.data), RUNS_ROOT)
                 for spec in specs}
    except UnknownKeyError as err:
        raise UsageError(str(err)) from None
    check_numbers(options)
    return plans


def check_output(out: str | Path) -> Path:
    """The report's path, once it is known that it can be written there: not a folder, and under a folder that
    exists or can be made and is writable. Raises :class:`UsageError` naming the fix otherwise."""
    out = Path(out)
    if out.is_dir() or str(out).endswith(("/", os.sep)):
        raise UsageError(f"-o {out} is a folder; name the report file, e.g. -o {out / DEFAULT_OUT.name}")
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise WriteError(f"cannot write the report to {out}: {folder} is not a folder; choose another -o")
    fix = f"choose a writable place with -o (default {DEFAULT_OUT})"
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WriteError(f"cannot write the report to {out}: the folder {folder} is read-only; {fix}")
    try:  # the test that also holds for root and read-only file systems: make the folder, write a file in it
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise WriteError(f"cannot write the report to {out}: {err.strerror or type(err).__name__}; {fix}") from None
    return out


def load_data(plan):
    """The data ``plan`` trains on, loaded (a :class:`~dabench.errors.DataError` names the fix when missing)."""
    from dabench.bench import BenchData
    from dabench.tasks import load_task

    return BenchData(plan.source.kind, load_task(plan.resolved.task, plan.source))


def measure(spec: str, options: BenchOptions, conventional: bool = False) -> dict[str, Any]:
    """Measure one method (with ``conventional``, the reference method against the conventional pipeline) in
    this process; returns its row."""
    import torch

    from dabench import bench
    from dabench.plan import pick_device, plan_run

    device = pick_device(options.device)
    plan = plan_run(bench.run_config(spec, options.task, seed=0, data=options.data), RUNS_ROOT)
    data = load_data(plan)
    if device.type == "cuda":
        data.task_data = data.task_data.to(device)
    row: dict[str, Any] = {"method": spec, "device": str(device), "data": data.kind}
    steps = bench.window_steps(spec, options.task, data, device, options.steps, options.warmup,
                               options.min_seconds)
    row["steps"] = steps
    if conventional:
        row.update(bench.conventional_comparison(options.task, data, device, steps, options.warmup,
                                                 options.repeats, options.workers))
    else:
        row.update(bench.method_rates(spec, options.task, data, device, steps, options.warmup, options.repeats))
        row["eval"] = bench.eval_throughput(plan, data, device, options.repeats)
        row["validators_s"] = bench.validator_seconds(plan, data, device, options.repeats)
        eval_images = len(data.task_data.src_val) + len(data.task_data.tgt_test)
        row["validator_share"] = bench.validator_share(
            loop_rate=row["loop"], eval_rate=row["eval"], validators_s=row["validators_s"],
            batch=plan.resolved.hparams["batch_size"], default_steps=plan.resolved.method_cls.DEFAULT_STEPS,
            eval_images=eval_images)
    row["peak_rss_mb"] = bench.peak_rss_mb()
    if device.type == "cuda":
        row["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return row


def measure_in_worker(spec: str, options: BenchOptions, conventional: bool = False) -> dict[str, Any]:
    """:func:`measure` in a fresh worker process (its peak memory is then the method's own); returns the row.

    Raises :class:`WorkerFailed` with the worker's last line on stderr when it ends without one.
    """
    with tempfile.TemporaryDirectory(prefix="dabench-bench-worker-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "row.json"
        spec_path.write_text(json.dumps({"method": spec, "conventional": conventional, "options": asdict(options)}))
        proc = subprocess.run([sys.executable, "-m", "dabench.bench_worker", str(spec_path), str(result_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0 or not result_path.is_file():
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise WorkerFailed(f"benchmark worker for {spec} failed: {last}")
        return json.loads(result_path.read_text())


def main(argv: list[str]) -> int:
    """The worker: ``python -m dabench.bench_worker SPEC RESULT``."""
    from dabench import io

    spec_path, result_path = argv
    spec = json.loads(Path(spec_path).read_text())
    row = measure(spec["method"], BenchOptions(**spec["options"]), conventional=spec["conventional"])
    io.write_json(Path(result_path), row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
