"""Fault injection: every bad input and environment failure we know of, through the real command line.

Each case runs ``python -m dabench ...`` in a subprocess (embedded data, a private cache) and asserts the exit code,
that stderr holds no traceback and, on failure, exactly one ``dabench: error: ...`` line (the last one; log warnings
may come before it) matching the expected message, and that nothing half-written is left behind (no ``.tmp`` file
anywhere, and no run directory where the run never started). A full disk is simulated by making the write fail (a
``sitecustomize`` that patches ``torch.save``), a read-only folder by a read-only bind mount (skipped, saying so,
where mounting is not allowed), concurrency with two real processes.

These cases spawn ~50 processes, so they carry the ``faults`` marker: ``pytest -m faults`` runs them (CI does,
after the unit suite). ``python tests/test_faults.py docs/reliability.md`` runs them all and regenerates the
table of docs/reliability.md from what they print.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

pytestmark = pytest.mark.faults

TINY_BASE = ("run", "--method", "source-only", "--task", "mnist-mnistm", "--steps", "6", "--eval-every", "3",
             "--checkpoint-every", "2", "--set", "batch_size=8", "--no-progress")
TINY_RUN = (*TINY_BASE, "--out", "runs")


# ------------------------------------------------------------------------------------------------ cases
@dataclass(frozen=True)
class Fault:
    """One case: what a user does, the command, and what must come out.

    ``prepare(tmp)`` lays out what the case needs (a finished run, a damaged file, ...); ``argv`` may name
    ``{run}`` (that run's directory) and ``{tmp}``; ``message`` is a regular expression the single stderr line
    must match (``code`` 0: the command must succeed, and ``message``, if any, is searched in its output);
    ``after(tmp, result)`` checks what is left behind."""

    name: str
    what: str
    argv: tuple[str, ...]
    code: int
    message: str = ""
    prepare: Callable[[Path], None] | None = None
    after: Callable[[Path, subprocess.CompletedProcess], None] | None = None
    needs: tuple[str, ...] = field(default=())  # "mount": a read-only bind mount
    env: tuple[tuple[str, str], ...] = ()  # extra environment of the command
    warning: str = ""  # a regular expression the standard error of a succeeding command must match


def no_run_dir(tmp: Path, _result=None) -> None:
    runs = tmp / "runs"
    assert not runs.exists() or not any(runs.iterdir()), f"a run directory was left: {list(runs.iterdir())}"


def finished_run(tmp: Path) -> None:
    shutil.copytree(TEMPLATE["finished"], tmp / "runs")


def run_dir(tmp: Path) -> Path:
    return next(p for p in (tmp / "runs").iterdir() if p.is_dir() and p.name.startswith("source-only_"))


def flip_middle(path: Path, n: int = 256) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + n] = bytes(b ^ 0xFF for b in data[mid:mid + n])
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damaged(name: str, how: Callable[[Path], None]) -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        finished_run(tmp)
        how(run_dir(tmp) / name)
    return prepare


def interrupted(tmp: Path) -> None:
    """A run stopped at its checkpoint of step 4 (as if killed), from the template."""
    shutil.copytree(TEMPLATE["interrupted"], tmp / "runs")


def interrupted_with(how: Callable[[Path], None]) -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        interrupted(tmp)
        how(run_dir(tmp))
    return prepare


def cut_last_metrics_line(rd: Path) -> None:
    path = rd / "metrics.jsonl"
    path.write_text(path.read_text() + '{"step": 6, "src_val/a')


def stray_tmp(rd: Path) -> None:
    (rd / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")


def resumes_to_the_same_metrics(tmp: Path, result) -> None:
    import json

    got = [json.loads(ln) for ln in (run_dir(tmp) / "metrics.jsonl").read_text().splitlines()]
    want = [json.loads(ln) for ln in (run_dir(TEMPLATE["finished"].parent) / "metrics.jsonl").read_text().splitlines()]
    drop = ("compute/wall_s", "compute/cpu_s")
    assert [{k: v for k, v in ln.items() if k not in drop} for ln in got] == \
        [{k: v for k, v in ln.items() if k not in drop} for ln in want]


def full_disk_after(n_saves: int) -> Callable[[Path], None]:
    """A ``sitecustomize`` on PYTHONPATH that makes the n-th ``torch.save`` fail as a full disk does."""
    def prepare(tmp: Path) -> None:
        (tmp / "site").mkdir()
        (tmp / "site" / "sitecustomize.py").write_text(
            "import errno, torch\n"
            "_save, _calls = torch.save, [0]\n"
            "def save(obj, f, *a, **k):\n"
            "    _calls[0] += 1\n"
            f"    if _calls[0] >= {n_saves}:\n"
            "        raise OSError(errno.ENOSPC, 'No space left on device', str(f))\n"
            "    return _save(obj, f, *a, **k)\n"
            "torch.save = save\n")
    return prepare


def write_file(rel: str, text: str = "x") -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    return prepare


def doubled_step(tmp: Path) -> None:
    finished_run(tmp)
    path = run_dir(tmp) / "metrics.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *lines]) + "\n")


def spec_file(text: str) -> Callable[[Path], None]:
    return write_file("spec.yaml", text)


def committed_report_untouched(tmp: Path, _result) -> None:
    assert (tmp / "leaderboard" / "README.md").read_text() == "committed\n"
    assert (tmp / "leaderboard" / "figures" / "mine.png").exists()
    assert (tmp / "runs" / "leaderboard" / "README.md").exists()


def finished_run_beside_a_committed_report(tmp: Path) -> None:
    finished_run(tmp)
    (tmp / "leaderboard" / "figures").mkdir(parents=True)
    (tmp / "leaderboard" / "README.md").write_text("committed\n")
    (tmp / "leaderboard" / "figures" / "mine.png").write_bytes(b"not ours")


def clone_beside_a_sweep(tmp: Path) -> None:
    """The folder that holds a clone of the repository (a ``dabench/`` folder without __init__.py, with the
    ``runs/`` a ``dabench run`` wrote inside it), and a tiny sweep spec launched from there."""
    (tmp / "dabench" / "runs").mkdir(parents=True)
    (tmp / "dabench" / "README.md").write_text("a clone of the repository")
    spec_file("name: tiny\nout: runs\nmethods: [source-only]\ntasks: [mnist-mnistm]\nseeds: 1\nsteps: 4\n"
              "eval_every: 4\ncheckpoint_every: 2\ndata: embedded\nexecutor: {name: local, time: 10}\n")(tmp)


def committed_performance_report(tmp: Path) -> None:
    (tmp / "leaderboard").mkdir()
    (tmp / "leaderboard" / "performance.md").write_text("committed\n")


def performance_report_untouched(tmp: Path, _result) -> None:
    assert (tmp / "leaderboard" / "performance.md").read_text() == "committed\n"
    assert "generated by `dabench bench" in (tmp / "runs" / "bench" / "performance.md").read_text()


def segments_add_up(tmp: Path, result) -> None:
    """The resumed run's record lists both segments and times the whole run, not the last segment."""
    import json

    resumes_to_the_same_metrics(tmp, result)
    record = json.loads((run_dir(tmp) / "result.json").read_text())
    first, second = record["segments"]
    assert (first["from_step"], first["to_step"], second["from_step"], second["to_step"]) == (0, 4, 4, 6)
    assert record["wall_time_s"] >= round(second["wall_s"], 1) - 0.1 and second["wall_s"] > first["wall_s"] > 0
    assert {"host", "cpu_model", "cpu_capability", "threads", "device"} <= set(second)


def run_with(*extra: str) -> tuple[str, ...]:
    return (*TINY_RUN, *extra)


USAGE = [
    Fault("checkpoint-every-0", "`--checkpoint-every 0`", run_with("--checkpoint-every", "0"), 2,
          r"--checkpoint-every must be a positive integer; got 0", after=no_run_dir),
    Fault("checkpoint-every-negative", "`--checkpoint-every -3`", run_with("--checkpoint-every", "-3"), 2,
          r"--checkpoint-every must be a positive integer; got -3", after=no_run_dir),
    Fault("eval-every-negative", "`--eval-every -5`", run_with("--eval-every", "-5"), 2,
          r"--eval-every must be a positive integer; got -5", after=no_run_dir),
    Fault("steps-0", "`--steps 0`", run_with("--steps", "0"), 2, r"--steps must be a positive integer; got 0",
          after=no_run_dir),
    Fault("seed-negative", "`--seed -1`", run_with("--seed", "-1"), 2, r"--seed must be an integer >= 0",
          after=no_run_dir),
    Fault("steps-not-a-number", "`--steps ten`", run_with("--steps", "ten"), 2, r"invalid int value: 'ten'",
          after=no_run_dir),
    Fault("batch-size-0", "`--set batch_size=0`", run_with("--set", "batch_size=0"), 2,
          r"'batch_size' must be >= 1 .*got 0", after=no_run_dir),
    Fault("batch-size-negative", "`--set batch_size=-4`", run_with("--set", "batch_size=-4"), 2,
          r"'batch_size' must be >= 1 .*got -4", after=no_run_dir),
    Fault("batch-size-fraction", "`--set batch_size=2.5`", run_with("--set", "batch_size=2.5"), 2,
          r"'batch_size' expects a int", after=no_run_dir),
    Fault("lr-nan", "`--set lr=nan`", run_with("--set", "lr=nan"), 2, r"'lr' must be a finite number; got nan",
          after=no_run_dir),
    Fault("lr-inf", "`--set lr=inf`", run_with("--set", "lr=inf"), 2, r"'lr' must be a finite number; got inf",
          after=no_run_dir),
    Fault("lr-negative", "`--set lr=-1`", run_with("--set", "lr=-1"), 2, r"'lr' must be > 0 .*got -1",
          after=no_run_dir),
    Fault("lr-zero", "`--set lr=0`", run_with("--set", "lr=0"), 2, r"'lr' must be > 0 .*got 0", after=no_run_dir),
    Fault("momentum-above-one", "`--set momentum=1.5`", run_with("--set", "momentum=1.5"), 2,
          r"'momentum' must be in \[0, 1\]", after=no_run_dir),
    Fault("lr-text", "`--set lr=fast`", run_with("--set", "lr=fast"), 2, r"'lr' expects a float", after=no_run_dir),
    Fault("unknown-hparam", "`--set lrr=0.1` (a typo)", run_with("--set", "lrr=0.1"), 2,
          r"unknown hyper-parameter 'lrr' .*did you mean 'lr'", after=no_run_dir),
    Fault("set-without-value", "`--set lr`", run_with("--set", "lr"), 2, r"--set expects key=value",
          after=no_run_dir),
    Fault("unknown-method", "`--method danm`", ("run", "--method", "danm", "--task", "mnist-usps"), 2,
          r"unknown method 'danm'", after=no_run_dir),
    Fault("unknown-task", "`--task mnist-svhn`", ("run", "--method", "dann", "--task", "mnist-svhn"), 2,
          r"unknown task 'mnist-svhn'", after=no_run_dir),
    Fault("unknown-preset", "`--preset fast`", run_with("--preset", "fast"), 2, r"unknown preset 'fast'",
          after=no_run_dir),
    Fault("device-unknown", "`--device tpu`", run_with("--device", "tpu"), 2, r"--device must be one of",
          after=no_run_dir),
    Fault("device-cuda-absent", "`--device cuda` without a GPU", run_with("--device", "cuda"), 2,
          r"no CUDA device is available", after=no_run_dir),
    Fault("data-unknown", "`--data half`", run_with("--data", "half"), 2, r"invalid choice: 'half'",
          after=no_run_dir),
    Fault("unknown-flag", "`--frobnicate`", run_with("--frobnicate"), 2, r"unrecognized arguments: --frobnicate",
          after=no_run_dir),
    Fault("no-command", "`dabench` alone", (), 2, r"the following arguments are required"),
    Fault("list-unknown", "`dabench list models`", ("list", "models"), 2, r"invalid choice: 'models'"),
    Fault("data-fetch-nothing", "`dabench data fetch` without names", ("data", "fetch"), 2,
          r"needs at least one dataset name"),
    Fault("data-wrong-action", "`dabench data build mnist` (mnist is fetched)", ("data", "build", "mnist"), 2,
          r"'mnist' is obtained with `dabench data fetch mnist`"),
    Fault("eval-no-run", "`dabench eval --run` a folder that is no run", ("eval", "--run", "{tmp}/nothing"), 2,
          r"is not a finished run"),
    Fault("eval-samples", "`dabench eval --samples 1`", ("eval", "--run", "{run}", "--samples", "1"), 2,
          r"--samples must be at least 3", prepare=finished_run),
    Fault("eval-unknown-protocol", "`dabench eval --protocol fid`", ("eval", "--run", "{run}", "--protocol", "fid"),
          2, r"invalid choice: 'fid'", prepare=finished_run),
]

ENVIRONMENT = [
    Fault("out-is-a-file", "`--out` names a file", (*TINY_BASE, "--out", "{tmp}/afile"), 1,
          r"(Not a directory|File exists).*choose another path", prepare=write_file("afile")),
    Fault("out-under-a-file", "`--out` lies under a file", (*TINY_BASE, "--out", "{tmp}/afile/runs"), 1,
          r"Not a directory.*a part of that path is a file", prepare=write_file("afile")),
    Fault("out-read-only", "`--out` on a read-only file system", (*TINY_BASE, "--out", "{tmp}/ro/runs"), 1,
          r"Read-only file system.*choose a writable place", needs=("mount",)),
    Fault("full-disk-at-checkpoint", "the disk fills up while a checkpoint is written", TINY_RUN, 1,
          r"No space left on device.*free some space, then run the same command again",
          prepare=full_disk_after(2)),
    Fault("cache-read-only", "a read-only `DABENCH_CACHE` while MNIST-M is built",
          ("data", "build", "mnistm", "--data-root", "{data}"), 1, r"Read-only file system.*choose a writable",
          needs=("mount", "cache-ro", "data")),
    Fault("run-without-data", "`dabench run` on full data that is not there (offline)",
          ("run", "--method", "dann", "--task", "mnist-usps", "--data", "full", "--offline", "--out", "runs"), 1,
          r"missing .*mnist_train\.npz.*dabench data fetch mnist", after=no_run_dir),
    Fault("verify-nothing", "`dabench data verify` with no data root and an empty cache", ("data", "verify"), 1,
          r"no dataset file found in .*cache: point DABENCH_DATA or --data-root at a data root"),
]

RUNS = [
    Fault("final-flipped", "`final.pt` with 256 bytes flipped in the middle", ("eval", "--run", "{run}"), 1,
          r"final\.pt does not match the checksum recorded when it was written.*retrain it: rm -r .* && "
          r"dabench run --method source-only --task mnist-mnistm --seed 0 --steps 6 --eval-every 3 "
          r"--checkpoint-every 2 --set batch_size=8 --data embedded --out ",
          prepare=damaged("final.pt", flip_middle)),
    Fault("final-truncated", "a truncated `final.pt`", ("eval", "--run", "{run}"), 1,
          r"final\.pt does not match the checksum", prepare=damaged("final.pt", truncate)),
    Fault("config-corrupt", "a corrupt `config.json` of a finished run", ("eval", "--run", "{run}"), 1,
          r"cannot read .*config\.json", prepare=damaged("config.json", truncate)),
    Fault("checkpoint-truncated", "a truncated `checkpoint.pt`, then the same command", TINY_RUN, 0,
          prepare=interrupted_with(lambda rd: truncate(rd / "checkpoint.pt")), after=resumes_to_the_same_metrics),
    Fault("metrics-cut", "a cut last line in `metrics.jsonl`, then the same command", TINY_RUN, 0,
          prepare=interrupted_with(cut_last_metrics_line), after=resumes_to_the_same_metrics),
    Fault("config-corrupt-resume", "a corrupt `config.json` of an interrupted run, then the same command", TINY_RUN,
          0, prepare=interrupted_with(lambda rd: truncate(rd / "config.json")), after=resumes_to_the_same_metrics),
    Fault("stray-tmp", "a `.tmp` file left by a kill during a checkpoint, then the same command", TINY_RUN, 0,
          prepare=interrupted_with(stray_tmp), after=resumes_to_the_same_metrics),
    Fault("resumed-record", "a resumed run's `result.json`", TINY_RUN, 0, prepare=interrupted,
          after=segments_add_up),
    Fault("finished-again", "the same command once the run is done", TINY_RUN, 0, r"target accuracy",
          prepare=finished_run, after=resumes_to_the_same_metrics),
]

REPORTS = [
    Fault("leaderboard-default-output", "`dabench leaderboard runs` in a clone (the README's command on one's own "
          "runs)", ("leaderboard", "runs"), 0, r"runs/leaderboard/README\.md: 1 finished run",
          prepare=finished_run_beside_a_committed_report, after=committed_report_untouched),
    Fault("leaderboard-doubled-step", "a `metrics.jsonl` with one step written twice", ("leaderboard", "runs"), 2,
          r"metrics\.jsonl.*recorded twice", prepare=doubled_step),
    Fault("leaderboard-out-is-a-file", "`dabench leaderboard -o` naming a file", ("leaderboard", "runs", "-o",
          "{tmp}/afile"), 1, r"cannot write .*afile.*choose another -o",
          prepare=lambda tmp: (finished_run(tmp), write_file("afile")(tmp))),
    Fault("leaderboard-read-only", "`dabench leaderboard -o` on a read-only folder", ("leaderboard", "runs", "-o",
          "{tmp}/ro/lb"), 1, r"cannot write .*Read-only file system", prepare=finished_run, needs=("mount",)),
    Fault("bench-out-is-a-folder", "`dabench bench -o` naming a folder", ("bench", "--methods", "dann", "-o", "{tmp}"),
          2, r"is a folder; name the report file"),
    Fault("bench-read-only", "`dabench bench -o` on a read-only file system", ("bench", "--methods", "dann", "-o",
          "{tmp}/ro/performance.md"), 1, r"cannot write the report to .*(read-only|Read-only file system)",
          needs=("mount",)),
    Fault("bench-default-output", "`dabench bench` in a clone (a trial measurement)",
          ("bench", "--methods", "source-only", "--steps", "2", "--warmup", "1", "--repeats", "1", "--min-seconds",
           "0", "--workers", "0", "--data", "embedded"), 0, r"runs/bench/performance\.md",
          prepare=committed_performance_report, after=performance_report_untouched),
    Fault("bench-unknown-method", "`dabench bench --methods danm`", ("bench", "--methods", "danm"), 2,
          r"unknown method 'danm'"),
    Fault("sweep-no-data", "`dabench sweep launch table1` with no data", ("sweep", "launch", "table1", "--yes"), 1,
          r"5 datasets of this sweep missing or unreadable \(fashion, fashionm, mnist, mnistm, usps\)"),
    Fault("sweep-from-beside-a-clone", "`dabench sweep launch SPEC --yes --wait` (local executor) from the folder "
          "that holds the cloned repository", ("sweep", "launch", "spec.yaml", "--yes", "--wait"), 0,
          r"1 run: 1 done, 0 running, 0 pending, 0 failed", prepare=clone_beside_a_sweep),
    Fault("sweep-steps-0", "a sweep spec with `steps: 0`", ("sweep", "launch", "spec.yaml", "--yes"), 2,
          r"steps", prepare=spec_file("name: s\nmethods: [dann]\ntasks: [mnist-mnistm]\nsteps: 0\n")),
    Fault("sweep-bad-hparam", "a sweep spec with `lr: [-1]`", ("sweep", "launch", "spec.yaml", "--yes"), 2,
          r"'lr' must be > 0",
          prepare=spec_file("name: s\nmethods: [dann]\ntasks: [mnist-mnistm]\nhparams: {dann: {lr: [-1]}}\n")),
    Fault("sweep-malformed-yaml", "a sweep spec that is not YAML", ("sweep", "launch", "spec.yaml", "--yes"), 2,
          r"spec\.yaml", prepare=spec_file("name: [unclosed\n")),
    Fault("resume-other-threads", "a run resumed at another torch thread count", TINY_RUN, 0,
          prepare=interrupted, env=(("OMP_NUM_THREADS", "2"),), warning=r"different threads \(2\).*\(1\)",
          after=lambda tmp, result: None),
]

CASES = USAGE + ENVIRONMENT + RUNS + REPORTS


# --------------------------------------------------------------------------------------------- running
TEMPLATE: dict[str, Path] = {}


def dabench(argv, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DABENCH_DATA": "", "DABENCH_CACHE": str(cwd / "cache"), "OMP_NUM_THREADS": "1",
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "dabench", *argv], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def make_templates(base: Path) -> None:
    """A finished tiny run, and the same run killed right after its checkpoint of step 4 (a ``sitecustomize``
    ends the process there, as a kill would)."""
    finished = base / "finished"
    finished.mkdir(parents=True)
    done = dabench(TINY_RUN, finished)
    assert done.returncode == 0, done.stderr
    TEMPLATE["finished"] = finished / "runs"
    cut = base / "interrupted"
    (cut / "site").mkdir(parents=True)
    (cut / "site" / "sitecustomize.py").write_text(
        "import os\n"
        "from dabench.rundir import RunDir\n"
        "_save = RunDir.save_checkpoint\n"
        "def save(self, state):\n"
        "    _save(self, state)\n"
        "    if state['step'] == 4:\n"
        "        os._exit(137)\n"
        "RunDir.save_checkpoint = save\n")
    killed = dabench(TINY_RUN, cut, env={"PYTHONPATH": str(cut / "site")})
    assert killed.returncode == 137, killed.stderr
    TEMPLATE["interrupted"] = cut / "runs"


def can_mount() -> bool:
    return shutil.which("mount") is not None and os.geteuid() == 0


def read_only_folder(path: Path) -> bool:
    """Make ``path`` a read-only bind mount of itself; False when this machine does not allow it."""
    path.mkdir(parents=True, exist_ok=True)
    ok = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True).returncode == 0
    ok = ok and subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True).returncode == 0
    return ok


def run_case(case: Fault, tmp: Path) -> subprocess.CompletedProcess:
    env = dict(case.env)
    if case.prepare is not None:
        case.prepare(tmp)
    if (tmp / "site").exists():
        env["PYTHONPATH"] = os.pathsep.join([str(tmp / "site"), os.environ.get("PYTHONPATH", "")])
    mounted = None
    real_data = os.environ.get("DABENCH_DATA", "").split(os.pathsep)[0]
    if "data" in case.needs and not (real_data and Path(real_data).is_dir()):
        pytest.skip("needs the real MNIST and BSDS500 files: set DABENCH_DATA to a data root such as ../shared/data")
    if "mount" in case.needs:
        mounted = tmp / "ro"
        if not read_only_folder(mounted):
            pytest.skip("read-only case: this machine does not allow a read-only bind mount (needs root and "
                        "CAP_SYS_ADMIN); CI runs as root and does")
        if "cache-ro" in case.needs:
            env["DABENCH_CACHE"] = str(mounted / "cache")
    try:
        argv = [a.replace("{tmp}", str(tmp)).replace("{data}", real_data) for a in case.argv]
        if any("{run}" in a for a in argv):
            argv = [a.replace("{run}", str(run_dir(tmp))) for a in argv]
        return dabench(argv, tmp, env)
    finally:
        if mounted is not None:
            subprocess.run(["umount", str(mounted)], capture_output=True)


def check(case: Fault, result: subprocess.CompletedProcess, tmp: Path) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == case.code, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    if case.code:
        lines = [ln for ln in result.stderr.splitlines() if re.match(r"dabench: (data )?error: ", ln)]
        assert len(lines) == 1 and lines[-1] == result.stderr.strip().splitlines()[-1], result.stderr
        assert re.search(case.message, lines[0]), (case.message, lines[0])
    elif case.message:
        assert re.search(case.message, result.stdout), result.stdout
    if case.warning:
        assert re.search(case.warning, result.stderr), result.stderr
    leftovers = [p for p in tmp.rglob("*.tmp")]
    assert not leftovers, f"half-written files left: {leftovers}"
    if case.after is not None:
        case.after(tmp, result)


@pytest.fixture(scope="module", autouse=True)
def templates(tmp_path_factory):
    make_templates(tmp_path_factory.mktemp("fault-templates"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case, tmp_path):
    result = run_case(case, tmp_path)
    check(case, result, tmp_path)


# ------------------------------------------------------------------------------------ concurrency, kills
def test_two_identical_runs_started_together_train_once(tmp_path):
    """Exactly one trains; the other stops at once with one line naming the holder; each step is logged once."""
    argv = run_with("--steps", "200", "--eval-every", "50", "--checkpoint-every", "50")
    env = {**os.environ, "DABENCH_DATA": "", "DABENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "dabench", *argv], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "runs").glob("*/lock")):
        time.sleep(0.05)
    time.sleep(0.5)
    second = dabench(argv, tmp_path)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 1 and "Traceback" not in second.stderr
    line = second.stderr.strip().splitlines()[-1]
    assert re.search(r"is being written by another process \(pid \d+, host .+, started .+\)", line), line
    steps = [int(ln.split('"step": ')[1].split(",")[0].rstrip("}")) for ln in
             run_dir(tmp_path).joinpath("metrics.jsonl").read_text().splitlines()]
    assert steps == [50, 100, 150, 200]


def test_a_second_run_with_wait_waits_for_the_first_and_trains_nothing(tmp_path):
    argv = run_with("--steps", "120", "--eval-every", "60", "--checkpoint-every", "60")
    env = {**os.environ, "DABENCH_DATA": "", "DABENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "dabench", *argv], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not list((tmp_path / "runs").glob("*/lock")):
        time.sleep(0.05)
    second = dabench((*argv, "--wait"), tmp_path)
    first.communicate(timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1].startswith("target accuracy")
    assert len(run_dir(tmp_path).joinpath("metrics.jsonl").read_text().splitlines()) == 2


def test_kill_during_a_checkpoint_write_then_resume_is_identical_and_leaves_no_tmp(tmp_path):
    """SIGKILL while ``torch.save`` writes a checkpoint (a save slowed down by a sitecustomize so the kill lands
    inside it), then the same command: identical metrics to the uninterrupted template, no .tmp left."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, time, torch\n"
        "_save = torch.save\n"
        "def save(obj, f, *a, **k):\n"
        "    _save(obj, f, *a, **k)\n"
        "    if str(f).endswith('.tmp') and 'checkpoint' in str(f):\n"
        "        open(os.environ['MARK'], 'w').close(); time.sleep(30)\n"
        "torch.save = save\n")
    env = {**os.environ, "DABENCH_DATA": "", "DABENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(site), "MARK": str(tmp_path / "in-save")}
    proc = subprocess.Popen([sys.executable, "-m", "dabench", *TINY_RUN], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "in-save").exists():
        time.sleep(0.05)
    assert (tmp_path / "in-save").exists(), "the run never reached a checkpoint"
    assert list(run_dir(tmp_path).glob(".checkpoint.pt.*.tmp")), "the kill must land inside the write"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = dabench(TINY_RUN, tmp_path)
    assert again.returncode == 0, again.stderr
    assert not list(tmp_path.rglob("*.tmp"))
    resumes_to_the_same_metrics(tmp_path, again)


# ----------------------------------------------------------------------------------------- the document
def test_the_reliability_page_lists_every_case():
    """docs/reliability.md is regenerated from these cases (``python tests/test_faults.py docs/reliability.md``):
    a case added here and not there means the page is stale."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "reliability.md").read_text()
    missing = [case.name for case in CASES if f"| `{case.name}` |" not in page]
    assert not missing, f"regenerate docs/reliability.md: it lacks {missing}"


def render(results: list[tuple[Fault, subprocess.CompletedProcess | None, Path]]) -> str:
    """docs/reliability.md's table from the cases and what the command line answered."""
    rows = ["| case | what the user does | command | exit | what dabench says |", "|---|---|---|---|---|"]
    for case, result, tmp in results:
        command = "dabench " + " ".join(case.argv).replace("{tmp}", "<tmp>").replace("{run}", "<run dir>").replace(
            "{data}", "<data root>")
        if result is None:
            said, code = "(skipped: needs a read-only bind mount or the real data)", case.code
        else:
            out, err = result.stdout.strip().splitlines(), result.stderr.strip().splitlines()
            warned = [ln for ln in err if case.warning and re.search(case.warning, ln)]
            said = (err or [""])[-1] if result.returncode else "; ".join(warned + (out or [""])[-1:])
            said, code = said.replace(str(tmp), "<tmp>"), result.returncode
        said = re.sub(r"pid \d+, host [^,]+, started [^)]+", "pid …, host …, started …", said)
        rows.append(f"| `{case.name}` | {case.what} | `{command}` | {code} | {said.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def main(out: str) -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dabench-faults-") as base:
        make_templates(Path(base) / "templates")
        results = []
        for case in CASES:
            tmp = Path(base) / case.name
            tmp.mkdir()
            try:
                results.append((case, run_case(case, tmp), tmp))
            except pytest.skip.Exception:
                results.append((case, None, tmp))
        table = render(results)
    path = Path(out)
    text = path.read_text()
    start, end = "<!-- cases: generated by `python tests/test_faults.py docs/reliability.md` -->", "<!-- end of cases -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{start}\n\n{table}\n{end}{tail}")
    print(f"{path}: {len(results)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
