"""The command line: listing, one-line errors with exit code 2, a real tiny run, and SIGKILL + resume."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dabench.cli import main
from dabench.train import without_timings


def run_cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "dabench", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=600)


def test_list_prints_every_registered_entry(capsys):
    assert main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    assert "dann" in out and "source-only" in out and "target-only" in out
    assert main(["list", "tasks"]) == 0
    assert "mnist-mnistm" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["run", "--method", "dan", "--task", "mnist-usps"], "unknown method 'dan' (did you mean 'dann'?); valid:"),
    (["run", "--method", "dann", "--task", "mnist-usp"], "unknown task 'mnist-usp' (did you mean 'mnist-usps'?)"),
    (["run", "--method", "dann", "--task", "mnist-usps", "--set", "lrr=0.1"], "unknown hyper-parameter 'lrr'"),
    (["run", "--method", "dann", "--task", "mnist-usps", "--set", "batch_size=big"], "expects a int"),
    (["run", "--method", "dann", "--task", "mnist-usps", "--set", "lr"], "--set expects key=value"),
    (["run", "--method", "dann", "--task", "mnist-usps", "--steps", "x"], "invalid int value"),
    (["run", "--method", "dann", "--task", "mnist-usps", "--steps", "0"], "--steps must be a positive"),
    (["run", "--method", "dann", "--task", "mnist-usps", "--preset", "nope"], "unknown preset 'nope'"),
    (["run", "--method", "dann"], "the following arguments are required: --task"),
    (["list", "things"], "invalid choice: 'things'"),
])
def test_usage_errors_are_one_line_with_exit_code_2(args, message, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path)] if args[0] == "run" and "--task" in args else args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_data_names_the_fix_with_exit_code_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DABENCH_DATA", str(tmp_path / "empty"))
    code = main(["run", "--method", "source-only", "--task", "usps-mnist", "--offline", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "missing usps/usps_train.npz" in err and "dabench data fetch usps" in err
    assert err.count("\n") == 1


def test_a_tiny_embedded_run_prints_its_directory_and_ends_with_the_accuracy(tmp_path, monkeypatch):
    env = {"DABENCH_DATA": ""}
    proc = run_cli("run", "--method", "dann", "--task", "mnist-mnistm", "--steps", "20", "--out", str(tmp_path),
                   "--no-progress", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("run directory: ")
    assert "embedded" in lines[1]
    assert lines[-1].startswith("target accuracy: ") and "data embedded" in lines[-1]
    run_dir = Path(lines[0].split(": ", 1)[1])
    assert (run_dir / "done").exists()


def test_sigkill_at_a_random_step_then_rerun_gives_the_same_final_metrics(tmp_path):
    """The acceptance test of the spine: kill -9 mid-run, run the same command again, same numbers."""
    args = ["run", "--method", "dann", "--task", "mnist-mnistm", "--steps", "150", "--eval-every", "50",
            "--checkpoint-every", "10", "--set", "batch_size=16", "--no-progress"]
    env = {"DABENCH_DATA": ""}
    # the uninterrupted reference run goes alongside the one that gets killed (two cores, half the wait)
    whole_proc = subprocess.Popen([sys.executable, "-m", "dabench", *args, "--out", str(tmp_path / "whole")],
                                  env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "dabench", *args, "--out", str(out)],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    target = random.Random().randint(1, 10)  # kill after this many checkpoints, at a random point after it
    while time.time() < deadline and proc.poll() is None:
        ckpts = list(out.glob("*/checkpoint.pt"))
        if ckpts and _checkpoint_step(ckpts[0]) >= 10 * target:
            time.sleep(random.Random().uniform(0.0, 0.1))
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = next(out.iterdir())
    assert not (run_dir / "done").exists()

    whole_out, whole_err = whole_proc.communicate(timeout=300)
    assert whole_proc.returncode == 0, whole_err
    whole = subprocess.CompletedProcess(whole_proc.args, 0, whole_out, whole_err)
    again = run_cli(*args, "--out", str(out), env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == whole.stdout.splitlines()[-1]
    whole_dir = next((tmp_path / "whole").iterdir())
    cut_lines, whole_lines = ([without_timings(json.loads(ln)) for ln in (d / "metrics.jsonl").read_text().splitlines()]
                              for d in (run_dir, whole_dir))
    assert cut_lines == whole_lines
    keep = ("target_acc", "source_val_acc", "final", "selection")
    a, b = (json.loads((d / "result.json").read_text()) for d in (run_dir, whole_dir))
    assert {k: a[k] for k in keep} == {k: b[k] for k in keep}


def _checkpoint_step(path: Path) -> int:
    import torch

    try:
        return int(torch.load(path, weights_only=True, map_location="cpu")["step"])
    except Exception:  # noqa: BLE001 — being replaced at this instant; try again
        return 0
