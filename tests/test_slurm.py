"""`dabench sweep` on a real SLURM cluster (no mocks): a 2 methods x 2 seeds grid goes out through submitit as one
throttled job array; while they train, one job is requeued by the controller (`scontrol requeue`, as a
preemption does) and one gets the signal submitit receives before a time limit (`scancel --signal=USR2`: the
Checkpointable requeues itself); both resume from their run's checkpoint, every run ends with `done`, `status`
follows it all and launching again submits nothing.

Skipped, with the reason, where no SLURM cluster answers. CI starts one on localhost with
`scripts/slurm-local.sh` (which also makes a requeued job restartable after 5 s instead of 120 s).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from dabench.rundir import RunDir
from dabench.sweep import PENDING, RUNNING, expand, load_spec, read_attempts, read_submissions, sweep_states

from test_sweep import DATA, TASK, cli, row, write_spec

# A requeued job gets SIGTERM, which submitit ignores, and SIGKILL 2 s later (KillWait of scripts/slurm-local.sh):
# it trains on in between. A DANN step takes ~30-60 ms on one idle core, so 300 steps leave the job requeued
# at step 5-10 several seconds of work, and it is killed mid-run even on a fast machine.
STEPS_DANN = 300
DEADLINE_S = 600  # generous for a loaded machine; well under a minute on an idle one


def _cluster_problem() -> str | None:
    for tool in ("sbatch", "squeue", "scontrol", "scancel", "sinfo"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s"
    if proc.returncode != 0:
        return f"sinfo failed: {(proc.stderr or proc.stdout).strip()}"
    states = [s.rstrip("*~#$@%!^-") for s in proc.stdout.split()]
    if not any(s in ("idle", "mixed", "allocated", "completing") for s in states):
        return f"no node can run jobs (sinfo: {', '.join(states) or 'no nodes'})"
    return None


PROBLEM = _cluster_problem()
#: CI sets it: there, a missing cluster is a failure, not a skip
REQUIRED = bool(os.environ.get("DABENCH_REQUIRE_SLURM"))
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.integration,
    pytest.mark.skipif(PROBLEM is not None and not REQUIRED,
                       reason=f"no SLURM cluster reachable ({PROBLEM}); start one on this machine with: "
                       "sudo scripts/slurm-local.sh install && sudo scripts/slurm-local.sh start"),
]


def _scontrol(*args: str) -> None:
    subprocess.run(["scontrol", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def slurm_sweep(tmp_path_factory):
    if PROBLEM is not None:
        pytest.fail(f"DABENCH_REQUIRE_SLURM is set but no SLURM cluster is reachable: {PROBLEM}")
    tmp = tmp_path_factory.mktemp("slurm-sweep")
    path = write_spec(tmp, steps={"default": 10, "dann": STEPS_DANN}, eval_every=1000, checkpoint_every=5,
                      executor={"name": "slurm", "cpus": 1, "mem": "1G", "time": 10, "array_parallelism": 2})
    obs = SimpleNamespace(path=path, states_seen={}, interrupted={})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DABENCH_CACHE", str(tmp / "cache"))  # exported to the jobs by sbatch
        spec = load_spec(str(path))
        runs = expand(spec)
        obs.spec, obs.runs = spec, runs
        obs.launch = cli("sweep", "launch", str(path), "--yes")
        assert obs.launch.code == 0, obs.launch.out + obs.launch.err
        subs = {r.dirname: read_submissions(spec.root, r.dirname)[0] for r in runs}
        obs.subs = subs
        array = subs[runs[0].dirname].job_id.split("_")[0]
        try:
            _drive(obs, spec, runs, subs, array)
        except BaseException:
            subprocess.run(["scancel", array], capture_output=True, timeout=30)  # never leave jobs behind
            raise
        obs.final = cli("sweep", "status", str(path))
        obs.relaunch = cli("sweep", "launch", str(path), "--yes")
        obs.queue_after = _queued(array)
    obs.array = array
    return obs


def _queued(array: str) -> list[str]:
    return subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", array], capture_output=True, text=True,
                          timeout=30).stdout.split()


def _drive(obs, spec, runs, subs, array: str) -> None:
    """Interrupt both DANN jobs once each has written a checkpoint, then wait until every run is done and
    every job has left the queue."""
    dann = [r for r in runs if r.config.method == "dann"]
    actions = {dann[0].dirname: ("scontrol", "requeue"), dann[1].dirname: ("scancel", "--signal=USR2")}
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        statuses, _ = sweep_states(spec, runs)
        for st in statuses:
            obs.states_seen.setdefault(st.run.dirname, set()).add(st.state)
        for r in dann:
            if r.dirname in obs.interrupted:
                continue
            run_dir = RunDir(spec.root / r.dirname)
            step = run_dir.checkpoint_step()
            state = next(st.state for st in statuses if st.run is r)
            if state == RUNNING and step and step >= 5 and not run_dir.is_done():
                if not obs.interrupted:
                    obs.mid = cli("sweep", "status", str(obs.path))
                tool, arg = actions[r.dirname]
                subprocess.run([tool, arg, subs[r.dirname].job_id], check=True, capture_output=True, timeout=30)
                obs.interrupted[r.dirname] = step
        if (all(RunDir(spec.root / r.dirname).is_done() for r in runs) and len(obs.interrupted) == 2
                and not _queued(array)):
            return
        time.sleep(0.3)
    pytest.fail(f"the sweep did not finish within {DEADLINE_S} s; states seen: {obs.states_seen}")


def _logs(sub) -> str:
    return "".join(Path(p).read_text() for p in (sub.stdout, sub.stderr) if Path(p).exists())


def test_the_grid_goes_out_as_one_job_array_throttled_by_array_parallelism(slurm_sweep):
    s = slurm_sweep
    assert "submitted 4 jobs as SLURM array" in s.launch.out
    assert [s.subs[r.dirname].job_id for r in s.runs] == [f"{s.array}_{k}" for k in range(4)]
    script = (s.spec.root / "_sweep" / "logs" / f"{s.array}_submission.sh").read_text()
    assert "#SBATCH --array=0-3%2" in script and "#SBATCH --cpus-per-task=1" in script
    assert "#SBATCH --mem=1G" in script and "#SBATCH --time=10" in script
    for r in s.runs:
        run_dir = RunDir(s.spec.root / r.dirname)
        assert run_dir.is_done() and run_dir.read_result()["steps"] == r.config.steps
    assert f"cd {s.spec.root / '_sweep'}" in script  # the jobs start in the sweep's own folder


def test_a_job_requeued_by_slurm_resumes_from_its_checkpoint(slurm_sweep):
    s = slurm_sweep
    run = [r for r in s.runs if r.config.method == "dann"][0]
    seen_step = s.interrupted[run.dirname]
    events = read_attempts(s.spec.root, run.dirname)
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 2, events
    assert starts[0]["restart"] == 0 and starts[0]["checkpoint_step"] is None
    resumed_at = starts[1]["checkpoint_step"]
    # the loop resumed from the checkpoint written before the requeue (or a later one), not from step 0
    assert starts[1]["restart"] >= 1 and 5 <= seen_step <= resumed_at < STEPS_DANN
    assert [e["step"] for e in events if e["event"] == "resumed"] == [resumed_at]
    assert events[-1]["event"] == "end" and events[-1]["status"] == "done"
    assert f"resuming {run.dirname} from step {resumed_at}" in _logs(s.subs[run.dirname])
    assert PENDING in s.states_seen[run.dirname]  # status showed it waiting in the queue after the requeue


def test_a_job_signalled_before_its_time_limit_checkpoints_requeues_itself_and_resumes(slurm_sweep):
    s = slurm_sweep
    run = [r for r in s.runs if r.config.method == "dann"][1]
    seen_step = s.interrupted[run.dirname]
    events = read_attempts(s.spec.root, run.dirname)
    first_end = next(e for e in events if e["event"] == "end")
    assert first_end["status"] == "interrupted"  # submitit's handler exits the job after requeueing it
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 2 and starts[1]["restart"] >= 1
    assert 5 <= seen_step <= starts[1]["checkpoint_step"] < STEPS_DANN
    assert [e["step"] for e in events if e["event"] == "resumed"] == [starts[1]["checkpoint_step"]]
    assert events[-1]["status"] == "done"
    logs = _logs(s.subs[run.dirname])
    assert "Calling checkpoint method" in logs and "Requeued job" in logs  # SweepJob.checkpoint, then requeue


def test_the_other_runs_ran_once_and_status_reported_everything(slurm_sweep):
    s = slurm_sweep
    for r in s.runs:
        if r.config.method == "source-only":
            assert [e["event"] for e in read_attempts(s.spec.root, r.dirname)] == ["start", "end"]
    assert all(RUNNING in s.states_seen[r.dirname] for r in s.runs if r.config.method == "dann")
    assert any(row(s.mid.out, r.dirname)[0] == "RUNNING" for r in s.runs if r.config.method == "dann")
    assert s.final.code == 0 and "4 runs: 4 done, 0 running, 0 pending, 0 failed" in s.final.out
    for r in s.runs:
        cells = row(s.final.out, r.dirname)
        assert cells[0] == "DONE" and s.subs[r.dirname].job_id in cells


def test_launching_again_submits_nothing(slurm_sweep):
    s = slurm_sweep
    assert s.relaunch.code == 0 and "nothing to submit" in s.relaunch.out
    assert "done: 4, queued or running: 0" in s.relaunch.out
    assert all(len(read_submissions(s.spec.root, r.dirname)) == 1 for r in s.runs)
    assert s.queue_after == []
    assert TASK in {r.config.task for r in s.runs} and {r.config.data for r in s.runs} == {DATA}
