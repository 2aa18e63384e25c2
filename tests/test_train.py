"""The training loop on the in-memory toy task: run directory, determinism, resume, honesty."""
from __future__ import annotations

import json

import pytest
import torch

from dabench.rundir import RunDir
from dabench.train import PairSampler, train, without_timings

from helpers import toy_run


def metrics(run_dir):
    return [without_timings(ln) for ln in RunDir(run_dir).read_metrics()]


def test_run_directory_holds_every_file_and_done_last(toy_data, tmp_path):
    resolved = toy_run("dann", toy_data, steps=20)
    result = train(resolved, toy_data, RunDir(tmp_path / "r"), torch.device("cpu"), progress=False)
    names = {p.name for p in (tmp_path / "r").iterdir()}
    assert {"config.json", "env.json", "metrics.jsonl", "checkpoint.pt", "final.pt", "result.json", "done"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    lines = metrics(tmp_path / "r")
    assert [ln["step"] for ln in lines] == [10, 20]
    assert {"src_val/acc", "tgt_test/acc", "train/loss_cls", "train/loss_dom"} <= set(lines[0])
    assert result["target_acc"] == lines[-1]["tgt_test/acc"]
    assert result["selection"]["source_val_best"]["step"] in (10, 20)
    assert len(result["final"]["tgt_test/per_class"]) == 10
    assert (tmp_path / "r" / "done").stat().st_mtime >= (tmp_path / "r" / "result.json").stat().st_mtime


def test_same_config_same_metrics(toy_data, tmp_path):
    a = train(toy_run("dann", toy_data), toy_data, RunDir(tmp_path / "a"), torch.device("cpu"), progress=False)
    b = train(toy_run("dann", toy_data), toy_data, RunDir(tmp_path / "b"), torch.device("cpu"), progress=False)
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    assert a["target_acc"] == b["target_acc"]


@pytest.mark.parametrize("stop_after", [3, 7, 10, 13])
def test_resume_after_interruption_gives_the_same_final_metrics(toy_data, tmp_path, stop_after):
    train(toy_run("dann", toy_data), toy_data, RunDir(tmp_path / "full"), torch.device("cpu"), progress=False)
    out = train(toy_run("dann", toy_data), toy_data, RunDir(tmp_path / "cut"), torch.device("cpu"), progress=False,
                stop_after=stop_after)
    assert out == {"stopped_at": stop_after}
    # a kill between checkpoints loses the steps since the last one; they are replayed identically
    train(toy_run("dann", toy_data), toy_data, RunDir(tmp_path / "cut"), torch.device("cpu"), progress=False)
    assert metrics(tmp_path / "cut") == metrics(tmp_path / "full")


def test_on_step_sees_every_step_of_this_call_in_order_and_changes_nothing(toy_data, tmp_path):
    seen = []
    train(toy_run("dann", toy_data), toy_data, RunDir(tmp_path / "hooked"), torch.device("cpu"), progress=False,
          stop_after=7, on_step=lambda k, method: seen.append(k))
    assert seen == list(range(1, 8))
    seen.clear()  # resumed from the checkpoint at step 5 (a kill loses steps 6 and 7): the hook counts on from 6
    train(toy_run("dann", toy_data), toy_data, RunDir(tmp_path / "hooked"), torch.device("cpu"), progress=False,
          on_step=lambda k, method: seen.append(k))
    train(toy_run("dann", toy_data), toy_data, RunDir(tmp_path / "plain"), torch.device("cpu"), progress=False)
    assert seen == list(range(6, 21))
    assert metrics(tmp_path / "hooked") == metrics(tmp_path / "plain")


def test_evaluation_frequency_does_not_change_training(toy_data, tmp_path):
    a = train(toy_run("dann", toy_data, eval_every=2), toy_data, RunDir(tmp_path / "a"), torch.device("cpu"), progress=False)
    b = train(toy_run("dann", toy_data, eval_every=20), toy_data, RunDir(tmp_path / "b"), torch.device("cpu"), progress=False)
    assert metrics(tmp_path / "a")[-1]["tgt_test/acc"] == metrics(tmp_path / "b")[-1]["tgt_test/acc"]
    assert a["target_acc"] == b["target_acc"]


def test_target_labels_reach_only_oracle_methods(toy_data, tmp_path, monkeypatch):
    from dabench.methods.dann import DANN
    from dabench.methods.target_only import TargetOnly

    seen = {}
    for cls in (DANN, TargetOnly):
        original = cls.update

        def spy(self, *args, _orig=original, _name=cls.__name__, **kwargs):
            seen.setdefault(_name, set()).update(kwargs)
            return _orig(self, *args, **kwargs)

        monkeypatch.setattr(cls, "update", spy)
    train(toy_run("dann", toy_data, steps=4), toy_data, RunDir(tmp_path / "d"), torch.device("cpu"), progress=False)
    train(toy_run("target-only", toy_data, steps=4), toy_data, RunDir(tmp_path / "t"), torch.device("cpu"), progress=False)
    assert seen["DANN"] == set() and seen["TargetOnly"] == {"y_tgt"}


def test_pair_sampler_is_resumable():
    a = PairSampler(100, 50, 8, seed=1)
    a.next()
    state = a.generator.get_state()
    expected = a.next()
    b = PairSampler(100, 50, 8, seed=99)
    b.generator.set_state(state)
    got = b.next()
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])



def test_a_run_through_the_source_only_model_records_that_run_in_its_result(toy_data, tmp_path):
    # the equal-compute table charges the source-only run's CPU time to this run, wherever it is read from
    from dabench.hparams import resolve_hparams
    from dabench.methods.source_only import SourceOnly

    source = SourceOnly(toy_data.spec, resolve_hparams(SourceOnly, "digits"))
    record = {"run_id": "0123456789ab", "cpu_time_s": 12.5}
    result = train(toy_run("unit-lite", toy_data, steps=2, eval_every=2), toy_data, RunDir(tmp_path / "r"),
                   torch.device("cpu"), progress=False, classifier=source, classifier_run=record)
    assert result["source_classifier"] == record == RunDir(tmp_path / "r").read_result()["source_classifier"]
    plain = train(toy_run("dann", toy_data, steps=2, eval_every=2), toy_data, RunDir(tmp_path / "d"),
                  torch.device("cpu"), progress=False)
    assert "source_classifier" not in plain


def test_execute_hands_train_the_finished_source_only_runs_id_and_cpu_time(tmp_path, monkeypatch):
    import dabench.runs as runs
    from dabench.config import RunConfig
    from dabench.plan import plan_run

    plan = plan_run(RunConfig("unit-lite", "mnist-mnistm", steps=2, data="embedded"), tmp_path / "runs")
    base = plan.source_classifier.rundir
    base.path.mkdir(parents=True)
    base.write_result({"run_id": "0123456789ab", "cpu_time_s": 321.0, "target_acc": 0.5})
    base.mark_done()  # finished: execute does not train it again
    handed = {}
    monkeypatch.setattr(runs, "load_trained", lambda rundir: "the source-only model")
    monkeypatch.setattr(runs, "train", lambda *args, **kwargs: handed.update(kwargs) or {})
    runs.execute(plan, progress=False)
    assert handed["classifier"] == "the source-only model"
    assert handed["classifier_run"] == {"run_id": "0123456789ab", "cpu_time_s": 321.0}
