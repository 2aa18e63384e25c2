"""Sweeps: spec validation, grid expansion, run hashing, skip-done, resume, failure and retry, and the debug and
local executors on a 2x2 grid of tiny real runs (the embedded MNIST->MNIST-M).
The SLURM executor is tested against a real cluster in test_slurm.py."""
from __future__ import annotations

import io as stdio
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from dabench.errors import UsageError
from dabench.plan import plan_run
from dabench.runs import execute
from dabench.cli import main
from dabench.rundir import RunDir
from dabench.sweep import (NOT_LAUNCHED, RUNNING, expand, load_spec, parse_minutes, preset_names, read_attempts,
                           read_submissions, sweep_states)

# The embedded MNIST->MNIST-M works without any data root, and its evaluation splits (400 source-val and
# 1,000 target-test images) keep a tiny run's evaluation cheap.
TASK, DATA = "mnist-mnistm", "embedded"


def write_spec(folder: Path, **fields) -> Path:
    spec = {
        "name": "tiny", "out": str(folder / "runs"), "methods": ["source-only", "dann"], "tasks": [TASK],
        "seeds": 2, "data": DATA, "steps": 6, "eval_every": 6, "checkpoint_every": 2,
        "executor": {"name": "debug", "array_parallelism": 2, "time": 10},
    }
    spec.update(fields)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def cli(*argv: str) -> SimpleNamespace:
    out, err = stdio.StringIO(), stdio.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


def row(output: str, dirname: str) -> list[str]:
    """The status-table row of a run, split into cells."""
    line = next(ln for ln in output.splitlines() if ln.rstrip().endswith(dirname))
    return line.split()


# ------------------------------------------------------------------------------------- spec and grid
@pytest.mark.parametrize("text, expected", [
    ("methods: [dann\ntasks: [x]", "is not valid YAML"),
    ("- just\n- a list", "must be a YAML mapping"),
    ("methods: [dann]\ntasks: [mnist-usps]\nseed: 3", "unknown key 'seed' in the spec (did you mean 'seeds'?)"),
    ("methods: [dan]\ntasks: [mnist-usps]", "unknown method 'dan' (did you mean 'dann'?)"),
    ("methods: [dann]\ntasks: [mnist-usps]\nseeds: -1", "'seeds' must be a count"),
    ("methods: [dann]\ntasks: [mnist-usps]\nhparams: {gamm: [1, 2]}", "did you mean 'gamma'?"),
    ("methods: [dann]\ntasks: [mnist-usps]\nhparams: {dann: {gamma: [fast]}}",
     "hyper-parameter 'gamma' expects a float"),
    ("methods: [dann]\ntasks: [mnist-usps]\nexecutor: {time: soon}", "'executor.time' (or --time) must be minutes"),
    ("methods: [dann]\ntasks: [mnist-usps]\nexecutor: {mem: lots}", "must be a SLURM memory size"),
    ("methods: [dann]\ntasks: [mnist-usps]\nexecutor: {sbatch: {array: 1-3}}", "which dabench manages itself"),
    ("methods: [dann]\ntasks: [mnist-usps]\nexecutor: {name: kubernetes}", "must be one of debug, local, slurm"),
    ("methods: [dann]\ntasks: [mnist-usps]\nbudgets: {cpu: {steps: 10}}\nbudget: gpu", "unknown budget 'gpu'"),
    ("methods: [dann]\ntasks: [mnist-usps]\nsteps: 0", "'steps' must be an integer >= 1 or null; got 0"),
    ("methods: [dann]\ntasks: [mnist-usps]\nsteps: {dan: 5}", "neither 'default' nor a method of this sweep"),
    ("methods: [dann]\ntasks: [mnist-usps]\nsteps: {dann: -5}", "'steps.dann' must be an integer >= 1"),
    ("methods: [dann]\ntasks: [mnist-usps]\nbudgets: {cpu: {eval_every: 0}}", "'eval_every' must be an integer"),
    ("methods: [dann]\ntasks: [mnist-usps]\ncheckpoint_every: often", "'checkpoint_every' must be an integer"),
    ("methods: [dann]\ntasks: [mnist-usps]\nseeds: [0, one]", "'seeds' must be a count"),
    ("methods: [dann]\ntasks: [mnist-usps]\nseeds: true", "'seeds' must be a count"),
    ("methods: [dann]\ntasks: [mnist-usps]\nrandom: {draws: 0}", "'random.draws' must be an integer >= 1"),
    ("methods: [dann]\ntasks: [mnist-usps]\ndata_root: 5", "'data_root' must be a list of folders"),
    ("methods: [dann]\ntasks: [mnist-usps]\nexecutor: {cpus: 0}", "'executor.cpus' must be an integer >= 1"),
    ("methods: [dann]\ntasks: [mnist-usps]\nbudgets: {cpu: {walltime: 5}}", "unknown key 'walltime' in budgets.cpu"),
])
def test_a_bad_spec_is_one_line_and_exit_code_2(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    res = cli("sweep", "status", str(path))
    assert res.code == 2
    assert res.err.startswith("dabench: error: ") and res.err.count("\n") == 1, res.err
    assert expected in res.err
    assert "Traceback" not in res.err + res.out


def test_a_spec_reference_that_is_no_file_and_no_preset_names_the_presets():
    res = cli("sweep", "launch", "tabel1", "--yes")
    assert res.code == 2 and "did you mean 'table1'?" in res.err and res.err.count("\n") == 1


def test_the_grid_is_methods_by_tasks_by_points_by_draws_by_seeds_without_duplicates(tmp_path):
    grid = {"lr": [0.01, 0.02], "dann": [{"gamma": 5.0}, {"gamma": 10.0, "lambda_max": 0.5}]}
    path = write_spec(tmp_path, hparams=grid, random={"draws": 2}, seeds=[0, 3])
    runs = expand(load_spec(str(path)))
    by_method = {m: [r for r in runs if r.config.method == m] for m in ("source-only", "dann")}
    # a draw whose sampled values are all fixed by the grid is the same run as another draw: one directory
    assert len(by_method["source-only"]) == 2 * 2  # lr x seeds (lr is its only sampled hparam)
    assert len(by_method["dann"]) == 2 * (2 * 2 + 1 * 2)  # lr x (gamma=5: 2 draws of lambda_max + gamma=10) x seeds
    assert {r.config.seed for r in runs} == {0, 3} and {r.config.hparams_seed for r in runs} == {1, 2}
    assert all("gamma" not in r.config.hparams for r in by_method["source-only"])  # only where declared
    assert {r.config.hparams["lr"] for r in by_method["source-only"]} == {0.01, 0.02}
    assert len({r.run_id for r in runs}) == len(runs)
    labels = {r.label for r in by_method["dann"]}
    assert {"gamma=5.0 lr=0.02 draw 2", "gamma=10.0 lambda_max=0.5 lr=0.02 draw 1"} <= labels


def test_random_draws_with_defaults_start_at_draw_0_and_the_hpsearch_preset_is_domainbeds_search(tmp_path):
    path = write_spec(tmp_path, random={"draws": 3, "seed": 10, "defaults": True})
    assert load_spec(str(path)).hparams_seeds == (0, 11, 12)  # N draws, the first being the defaults
    assert load_spec(str(write_spec(tmp_path, random={"draws": 3, "seed": 10}))).hparams_seeds == (11, 12, 13)
    with pytest.raises(UsageError, match="'random.defaults' must be true or false"):
        load_spec(str(write_spec(tmp_path, random={"draws": 3, "defaults": "yes"})))
    search = load_spec("hpsearch")
    assert search.hparams_seeds == (0, 1, 2, 3, 4, 5) and search.seeds == (0, 1)
    assert set(search.methods) >= {"source-only", "dann", "cdan", "cdan-e"} and len(search.tasks) >= 3
    assert len(expand(search)) >= 96


def test_command_line_flags_override_the_spec_and_its_budget(tmp_path):
    path = write_spec(tmp_path, budgets={"cpu": {"steps": 50, "executor": {"cpus": 2, "time": 30}},
                                         "full": {"steps": 900, "executor": {"gpus": 1, "time": "4:00:00"}}},
                      budget="cpu", executor={"name": "slurm", "partition": "cpu", "sbatch": {"qos": "low"}})
    spec = load_spec(str(path))
    assert (spec.budget, spec.steps_for("dann"), spec.executor.cpus, spec.executor.time) == ("cpu", 50, 2, 30)
    full = load_spec(str(path), {"budget": "full"})
    assert (full.steps_for("dann"), full.executor.gpus, full.executor.time) == (900, 1, 240)
    over = load_spec(str(path), {"budget": "full", "steps": 7, "seeds": [4], "executor": {
        "name": "local", "time": "1-00:00:00", "sbatch": {"account": "x"}, "partition": "gpu"}})
    assert (over.steps_for("dann"), over.seeds, over.executor.name, over.executor.time) == (7, (4,), "local", 1440)
    assert over.executor.sbatch == {"qos": "low", "account": "x"} and over.executor.partition == "gpu"
    assert [parse_minutes(v) for v in (90, "90", "90:00", "1:30:00", "0:00:30", "2-0", "1-02:30")] == [
        90, 90, 90, 90, 1, 2880, 1590]


def test_run_ids_are_stable_and_ignore_paths_devices_and_the_executor(tmp_path):
    path = write_spec(tmp_path)
    ids = [r.run_id for r in expand(load_spec(str(path)))]
    moved = load_spec(str(path), {"out": str(tmp_path / "elsewhere"), "device": "cpu", "executor": {
        "name": "slurm", "partition": "gpu", "cpus": 8, "gpus": 2, "time": 999, "array_parallelism": 1}})
    assert [r.run_id for r in expand(moved)] == ids
    # the run directory is the one `dabench run` uses for the same settings
    spec = load_spec(str(path))
    for r in expand(spec):
        assert plan_run(r.config, spec.root).rundir.name == r.dirname
    # key order in the spec does not matter; a setting that changes results does
    raw = yaml.safe_load(path.read_text())
    (tmp_path / "reordered.yaml").write_text(yaml.safe_dump(dict(reversed(list(raw.items())))))
    assert [r.run_id for r in expand(load_spec(str(tmp_path / "reordered.yaml"), {"name": "tiny"}))] == ids
    assert not set(ids) & {r.run_id for r in expand(load_spec(str(path), {"steps": 7}))}
    # the same ids from a fresh interpreter with another hash seed
    code = ("import sys; from dabench.sweep import load_spec, expand; "
            "print(' '.join(r.run_id for r in expand(load_spec(sys.argv[1]))))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.split()
    assert out == ids


@pytest.mark.parametrize("preset", preset_names())
@pytest.mark.parametrize("budget", ["cpu", "full"])
def test_every_preset_loads_and_expands_at_both_budgets(preset, budget):
    spec = load_spec(preset, {"budget": budget, "out": "/nonexistent"})
    runs = expand(spec)
    assert runs and len({r.run_id for r in runs}) == len(runs)
    assert spec.budget == budget and spec.executor.name == "slurm"
    if budget == "full":
        assert spec.executor.gpus >= 1
    else:
        assert spec.executor.gpus == 0


def test_missing_data_fails_fast_with_the_fix_and_submits_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("DABENCH_DATA", raising=False)
    (tmp_path / "empty").mkdir()
    path = write_spec(tmp_path, tasks=["mnist-usps"], data="full", data_root=[str(tmp_path / "empty")])
    res = cli("sweep", "launch", str(path), "--yes")
    assert res.code == 1 and res.err.count("\n") == 1, res.err
    assert "task mnist-usps" in res.err and "dabench data fetch" in res.err
    assert not (tmp_path / "runs" / "tiny" / "_sweep" / "jobs").exists()


def test_missing_data_names_every_missing_dataset_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("DABENCH_DATA", raising=False)
    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "empty-cache"))
    (tmp_path / "empty").mkdir()
    path = write_spec(tmp_path, methods=["source-only"], tasks=["mnist-usps", "usps-mnist", "fashion-fashionm"],
                      data="full", data_root=[str(tmp_path / "empty")])
    res = cli("sweep", "launch", str(path), "--yes")
    assert res.code == 1 and res.err.startswith("dabench: data error: ") and res.err.count("\n") == 1, res.err
    assert "4 datasets of this sweep missing or unreadable (fashion, fashionm, mnist, usps)" in res.err
    for fix in ("dabench data fetch mnist", "dabench data fetch usps", "dabench data fetch fashion",
                "dabench data fetch bsds500"):  # Fashion-M is built from Fashion-MNIST on the BSDS500 photos
        assert fix in res.err
    assert "mnist (tasks mnist-usps, usps-mnist)" in res.err and "fashionm (task fashion-fashionm)" in res.err
    assert not (tmp_path / "runs" / "tiny" / "_sweep" / "jobs").exists()


def test_launch_asks_before_submitting(tmp_path):
    res = cli("sweep", "launch", str(write_spec(tmp_path)))
    assert res.code == 2 and "pass --yes" in res.err
    assert not (tmp_path / "runs" / "tiny" / "_sweep" / "jobs").exists()


# ----------------------------------------------------------------------------- debug: run, resume, skip
@pytest.fixture(scope="module")
def debug_sweep(tmp_path_factory):
    """A 2x2 grid run in-process, one of its runs killed at step 3 beforehand (checkpoint at step 2), then
    launched again: status before, the launch, the relaunch, status after."""
    tmp = tmp_path_factory.mktemp("debug-sweep")
    path = write_spec(tmp)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DABENCH_CACHE", str(tmp / "cache"))
        spec = load_spec(str(path))
        runs = expand(spec)
        cut = next(r for r in runs if r.config.method == "dann" and r.config.seed == 0)
        assert execute(plan_run(cut.config, spec.root), progress=False, stop_after=3) == {"stopped_at": 3}
        before = cli("sweep", "status", str(path))
        launch = cli("sweep", "launch", str(path), "--yes")
        relaunch = cli("sweep", "launch", str(path), "--yes")
        after = cli("sweep", "status", str(path))
    return SimpleNamespace(spec=spec, runs=runs, cut=cut, before=before, launch=launch, relaunch=relaunch,
                           after=after)


def test_status_reads_the_state_of_every_run_from_its_directory(debug_sweep):
    s = debug_sweep
    assert s.before.code == 0
    assert row(s.before.out, s.cut.dirname)[:2] == ["INCOMPLETE", "dann"] and "2/6" in row(s.before.out, s.cut.dirname)
    assert "4 runs: 0 done, 0 running, 0 pending, 0 failed, 1 incomplete, 3 not launched" in s.before.out


def test_debug_executor_runs_the_grid_and_resumes_the_interrupted_run(debug_sweep):
    s = debug_sweep
    assert s.launch.code == 0, s.launch.out + s.launch.err
    assert "to run: 4 (3 new, 1 resuming from a checkpoint)" in s.launch.out
    for r in s.runs:
        run_dir = s.spec.root / r.dirname
        assert RunDir(run_dir).is_done()
        assert [line["step"] for line in RunDir(run_dir).read_metrics()] == [6]
        assert [sub.executor for sub in read_submissions(s.spec.root, r.dirname)] == ["debug"]
    events = read_attempts(s.spec.root, s.cut.dirname)
    assert [e["event"] for e in events] == ["start", "resumed", "end"]
    assert events[0]["checkpoint_step"] == 2 and events[1]["step"] == 2 and events[2]["status"] == "done"
    others = [read_attempts(s.spec.root, r.dirname) for r in s.runs if r is not s.cut]
    assert all([e["event"] for e in ev] == ["start", "end"] and ev[0]["checkpoint_step"] is None for ev in others)
    log_file = Path(read_submissions(s.spec.root, s.cut.dirname)[-1].stdout)
    assert f"resuming {s.cut.dirname} from step 2" in log_file.read_text()


def test_relaunch_skips_done_runs_and_status_reports_them(debug_sweep):
    s = debug_sweep
    assert s.relaunch.code == 0 and "nothing to submit" in s.relaunch.out
    assert "done: 4, queued or running: 0, failed: 0" in s.relaunch.out
    assert all(len(read_submissions(s.spec.root, r.dirname)) == 1 for r in s.runs)
    assert s.after.code == 0 and "4 runs: 4 done, 0 running" in s.after.out
    assert all(row(s.after.out, r.dirname)[0] == "DONE" and "6/6" in row(s.after.out, r.dirname) for r in s.runs)


# ------------------------------------------------------------------------------------------------ local
@pytest.mark.integration
def test_local_executor_runs_a_2x2_grid_two_at_a_time_and_a_failed_run_is_retried_on_request(tmp_path):
    path = write_spec(tmp_path)
    spec = load_spec(str(path))
    runs = expand(spec)
    broken = runs[1]  # a file where its run directory should be makes this run fail
    spec.root.mkdir(parents=True)
    (spec.root / broken.dirname).write_text("in the way")

    res = cli("sweep", "launch", str(path), "--executor", "local", "--yes", "--wait")
    assert res.code == 1, res.out + res.err  # --wait reports: a job failed, not everything is done
    assert "4 runs: 3 done, 0 running, 0 pending, 1 failed" in res.out
    assert row(res.out, broken.dirname)[0] == "FAILED"
    failed_line = next(ln for ln in res.out.splitlines() if ln.startswith("failed run "))
    assert broken.dirname in failed_line and "FileExistsError" in failed_line
    (sub,) = read_submissions(spec.root, broken.dirname)
    assert f"  log: {sub.stderr}" in res.out and "FileExistsError" in Path(sub.stderr).read_text()
    assert f"1 job ended with an error: {sub.job_id}" in res.out

    attempts = []
    for r in runs:
        (sub,) = read_submissions(spec.root, r.dirname)
        assert sub.executor == "local" and Path(sub.stdout).exists()
        events = read_attempts(spec.root, r.dirname)
        assert [e["event"] for e in events] == ["start", "end"] and events[0]["pid"] != os.getpid()
        assert events[1]["status"] == ("error" if r is broken else "done")
        assert RunDir(spec.root / r.dirname).is_done() == (r is not broken)
        attempts.append((events[0]["time"], events[1]["time"]))
    for t, _ in attempts:  # the array parallelism (2) holds: never more than two runs at once
        assert sum(1 for a, b in attempts if a <= t < b) <= 2
    # ... and only two processes were started (each worker runs its share in turn; a process per run would
    # start every run's PyTorch at once)
    workers = [read_submissions(spec.root, r.dirname)[0].job_id for r in runs]
    assert len(set(workers)) == 2 and workers[0] == workers[2] and workers[1] == workers[3]

    again = cli("sweep", "launch", str(path), "--executor", "local", "--yes")  # launch leaves failed runs alone
    assert "failed: 1 (not resubmitted" in again.out and "nothing to submit" in again.out
    (spec.root / broken.dirname).unlink()  # "fix the bug"
    retry = cli("sweep", "status", str(path), "--retry-failed", "--executor", "debug", "--yes")
    assert retry.code == 0, retry.out + retry.err
    assert "4 runs: 4 done" in retry.out and RunDir(spec.root / broken.dirname).is_done()
    assert [s.executor for s in read_submissions(spec.root, broken.dirname)] == ["local", "debug"]


@pytest.mark.integration
def test_local_jobs_import_the_installed_package_from_a_folder_holding_a_dabench_directory(tmp_path, monkeypatch):
    """A job process puts the folder it starts in first on sys.path. A `dabench/` folder there without
    __init__.py (the top of a clone of the repository, an output folder) becomes a namespace package `dabench`,
    and its sub-folders (here the `runs/` that `dabench run` wrote) shadow the installed modules of the same
    name (with an editable install, every one): the jobs must start elsewhere."""
    monkeypatch.delenv("DABENCH_DATA", raising=False)
    work = tmp_path / "work"
    (work / "dabench" / "runs").mkdir(parents=True)  # would be `dabench.runs` in a job started in `work`
    (work / "dabench" / "README.md").write_text("a clone of the repository")
    monkeypatch.chdir(work)
    monkeypatch.setenv("DABENCH_CACHE", "cache")  # relative: the job, started elsewhere, must still find it
    write_spec(work, out="runs", methods=["source-only"], seeds=1, steps=4, eval_every=4, checkpoint_every=2,
               executor={"name": "local", "time": 10})
    res = cli("sweep", "launch", "tiny.yaml", "--executor", "local", "--data", "embedded", "--yes", "--wait")
    assert res.code == 0, res.out + res.err
    assert "1 run: 1 done, 0 running, 0 pending, 0 failed" in res.out
    (run,) = expand(load_spec("tiny.yaml", {"data": "embedded"}))
    assert RunDir(work / "runs" / "tiny" / run.dirname).is_done()
    assert not (work / "runs" / "tiny" / "_sweep" / "cache").exists()


def test_relative_path_variables_reach_jobs_as_absolute_paths(tmp_path, monkeypatch):
    from dabench.sweep.job import absolute_path_variables

    monkeypatch.chdir(tmp_path)
    env = {"DABENCH_CACHE": "cache", "DABENCH_DATA": os.pathsep.join(["/shared/data", "data"])}
    assert absolute_path_variables(env) == {
        "DABENCH_CACHE": ["cache", str(tmp_path / "cache")],
        "DABENCH_DATA": [env["DABENCH_DATA"], os.pathsep.join(["/shared/data", str(tmp_path / "data")])]}
    assert absolute_path_variables({"DABENCH_CACHE": "/abs/cache"}) == {}


def test_a_run_whose_directory_is_locked_is_running_even_without_a_queued_job(tmp_path):
    path = write_spec(tmp_path)
    spec = load_spec(str(path))
    runs = expand(spec)
    held = runs[0]
    with RunDir(spec.root / held.dirname).lock():  # e.g. a `dabench run` of the same run, or a forgotten job
        statuses, _ = sweep_states(spec, runs, strict=True)
        status = cli("sweep", "status", str(path))
    assert [st.state for st in statuses] == [RUNNING] + [NOT_LAUNCHED] * 3
    assert status.code == 0 and row(status.out, held.dirname)[0] == "RUNNING"
    assert "4 runs: 0 done, 1 running, 0 pending" in status.out
    statuses, _ = sweep_states(spec, runs)  # the writer is gone, and it wrote nothing: launch submits it
    assert statuses[0].state == NOT_LAUNCHED


def test_the_sweep_package_neither_prints_nor_imports_the_command_line_nor_names_run_files():
    import ast

    import dabench.sweep

    folder = Path(dabench.sweep.__file__).parent
    for source in sorted(folder.glob("*.py")):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", f"{source.name}:{node.lineno} prints"
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("dabench.cli"), f"{source.name} imports {node.module}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                spelled = [n for n in ("config.json", "metrics.jsonl", "checkpoint.pt", "final.pt", "result.json")
                           if n in node.value] + re.findall(r"eval_(?!every)\w*", node.value)
                assert not spelled, f"{source.name}:{node.lineno} spells the run file(s) {spelled}"
        assert len(source.read_text().splitlines()) <= 420, f"{source.name} is too long"
