"""The evaluator and `dabench eval`: protocols run on trained methods, label-free translation tasks in the
loop, and the refusal of methods that cannot translate. Translating methods are stood in for by a tiny fake."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dabench.cli import main
from dabench.config import ResolvedRun, RunConfig
from dabench.data import DomainData, to_float
from dabench.evaluate import EvalContext, evaluate_protocols, translations
from dabench.errors import UsageError
from dabench.hparams import HP
from dabench.method import Method, TaskSpec
from dabench.protocols.image_quality import image_quality
from dabench.tasks import Task, TaskData
from dabench.rundir import RunDir
from dabench.train import train

from helpers import toy_run


class FakeTranslator(Method):
    """Translates by a learned per-channel affine map of the grey input, squashed to [0, 1]."""

    HPARAMS = {"batch_size": HP(8, None, "images per domain per step"), "lr": HP(0.5, None, "SGD step")}
    CAPABILITIES = frozenset({"features", "translate"})

    def __init__(self, spec: TaskSpec, hparams: dict):
        super().__init__(spec, hparams)
        self.scale = torch.nn.Parameter(torch.ones(1, spec.channels, 1, 1))
        self.shift = torch.nn.Parameter(torch.zeros(1, spec.channels, 1, 1))
        self.optimizers["sgd"] = torch.optim.SGD(self.parameters(), lr=hparams["lr"])

    def update(self, x_src, y_src, x_tgt, progress, **oracle):
        loss = (self.translate(x_tgt).mean((0, 2, 3)) - x_src.mean((0, 2, 3))).pow(2).sum()
        self.optimizers["sgd"].zero_grad()
        loss.backward()
        self.optimizers["sgd"].step()
        return {"loss_stats": loss.item()}

    def translate(self, x):
        return torch.sigmoid(self.scale * (x - 0.5) * 4 + self.shift)

    def features(self, x):
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


def blobs(n: int, seed: int) -> torch.Tensor:
    """Coloured squares on white, uint8 [n, 3, 16, 16]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((n, 3, 16, 16), 255, dtype=torch.uint8)
    for i in range(n):
        r, c = torch.randint(0, 8, (2,), generator=g).tolist()
        x[i, :, r:r + 8, c:c + 8] = torch.randint(0, 200, (3, 1, 1), generator=g).to(torch.uint8)
    return x


def grey(x: torch.Tensor) -> torch.Tensor:
    return x.float().mean(1, keepdim=True).round().to(torch.uint8)


@pytest.fixture
def translation_data() -> TaskData:
    task = Task("toy-translation", "toy", "toy", "paired toy translation", family="translation", size=16,
                source_domain="photo", target_domain="grey", protocols=("image-quality",),
                requires=frozenset({"translate"}))
    photos = blobs(48, 0)
    test_photos = blobs(12, 1)
    no_label = lambda n: torch.full((n,), -1, dtype=torch.long)  # noqa: E731
    return TaskData(
        task,
        src_train=DomainData(photos[:40], no_label(40), "toy:photo/train"),
        src_val=DomainData(photos[40:], no_label(8), "toy:photo/train[val]"),
        tgt_train=DomainData(grey(blobs(40, 2)), no_label(40), "toy:grey/train"),
        tgt_test=DomainData(grey(test_photos), no_label(12), "toy:grey/test", pair=test_photos),
        spec=TaskSpec(channels=3, size=16, num_classes=0, family="translation"),
        data_source="embedded",
    )


def fake_run(data: TaskData, steps: int = 6) -> ResolvedRun:
    hparams = {"batch_size": 8, "lr": 0.5}
    return ResolvedRun(RunConfig("fake", data.task.name, steps=steps, eval_every=3), FakeTranslator, data.task,
                       hparams, steps, 3, "embedded")


def test_a_translation_run_is_scored_by_image_quality_not_accuracy(translation_data, tmp_path):
    result = train(fake_run(translation_data), translation_data, RunDir(tmp_path / "r"), torch.device("cpu"), progress=False)
    lines = [json.loads(ln) for ln in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == [3, 6]
    assert {"tgt_test/ssim", "tgt_test/mse", "tgt_test/psnr"} <= set(lines[-1]) and "tgt_test/acc" not in lines[-1]
    assert result["target_acc"] is None and result["final"]["tgt_test/ssim"] == lines[-1]["tgt_test/ssim"]
    evaluation = json.loads((tmp_path / "r" / "eval_image-quality.json").read_text())
    assert evaluation["protocol"] == "image-quality" and evaluation["run_id"] == result["run_id"]
    assert evaluation["result"]["ssim"] == pytest.approx(lines[-1]["tgt_test/ssim"])
    assert "input_baseline" in evaluation["result"] and evaluation["result"]["n"] == 12
    done = (tmp_path / "r" / "done").stat().st_mtime
    assert done >= (tmp_path / "r" / "eval_image-quality.json").stat().st_mtime


def test_the_evaluator_hands_translations_and_ground_truth_to_the_pure_function(translation_data):
    torch.manual_seed(0)
    method = FakeTranslator(translation_data.spec, {"batch_size": 8, "lr": 0.5})
    ctx = EvalContext(translation_data, "fake")
    out = evaluate_protocols(method, ctx, ["image-quality"])["image-quality"]
    data = translation_data.tgt_test
    expected = image_quality(method.translate(to_float(data.x, 3)).detach(), to_float(data.pair, 3))
    assert out["ssim"] == pytest.approx(expected["ssim"]) and out["mse"] == pytest.approx(expected["mse"])
    assert translations(method, data, 3).shape == (12, 3, 16, 16)


def test_pad_tsne_and_grid_write_json_and_figures(translation_data, tmp_path):
    method = FakeTranslator(translation_data.spec, {"batch_size": 8, "lr": 0.5})
    ctx = EvalContext(translation_data, "fake", random_state=1, rundir=RunDir(tmp_path), max_per_domain=8, title="fake")
    results = evaluate_protocols(method, ctx, ["pad", "tsne", "grid"], header={"run_id": "x"})
    assert set(results["pad"]) >= {"raw", "features", "translated"}
    assert all(0.0 <= results["pad"][k]["d_a"] <= 2.0 for k in ("raw", "features", "translated"))
    assert results["pad"]["raw"]["n_per_domain"] == 8
    assert results["tsne"]["n_source"] == results["tsne"]["n_target"] == 8
    assert results["grid"]["rows"][-1].startswith("ground truth") and len(results["grid"]["examples"]) == 8
    for name in ("pad", "tsne", "grid"):
        assert json.loads((tmp_path / f"eval_{name}.json").read_text())["run_id"] == "x"
    assert (tmp_path / "tsne.png").stat().st_size > 1000 and (tmp_path / "grid.png").stat().st_size > 1000


def test_protocols_the_method_or_task_cannot_support_are_usage_errors(translation_data, toy_data):
    method = FakeTranslator(translation_data.spec, {"batch_size": 8, "lr": 0.5})
    with pytest.raises(UsageError, match="needs class labels"):
        evaluate_protocols(method, EvalContext(translation_data, "fake"), ["accuracy"])
    with pytest.raises(UsageError, match="unknown protocol 'ssim'"):
        evaluate_protocols(method, EvalContext(translation_data, "fake"), ["ssim"])
    from dabench.methods.dann import DANN
    from dabench.hparams import resolve_hparams

    dann = DANN(toy_data.spec, resolve_hparams(DANN, "digits"))
    with pytest.raises(UsageError, match="needs a method that can translate"):
        evaluate_protocols(dann, EvalContext(toy_data, "dann"), ["grid"])
    with pytest.raises(UsageError, match="not paired"):
        evaluate_protocols(method, EvalContext(toy_data, "fake"), ["image-quality"])


def test_methods_that_cannot_translate_are_refused_on_translation_tasks(tmp_path, capsys):
    assert main(["run", "--method", "dann", "--task", "sketch-face", "--out", str(tmp_path), "--offline"]) == 2
    err = capsys.readouterr().err
    assert "method 'dann' cannot translate, which task 'sketch-face' needs; methods that can:" in err
    assert err.count("\n") == 1 and not list(tmp_path.iterdir())


def test_a_digit_run_writes_its_default_accuracy_protocol(toy_data, tmp_path):
    result = train(toy_run("source-only", toy_data, steps=10), toy_data, RunDir(tmp_path / "r"), torch.device("cpu"),
                   progress=False)
    evaluation = json.loads((tmp_path / "r" / "eval_accuracy.json").read_text())["result"]
    assert evaluation["target_acc"] == result["target_acc"]
    assert len(evaluation["tgt_test"]["predict"]["per_class"]) == 10


def test_dabench_eval_on_a_finished_embedded_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DABENCH_DATA", "")
    out = tmp_path / "runs"
    assert main(["run", "--method", "source-only", "--task", "mnist-mnistm", "--steps", "4", "--eval-every", "4",
                 "--out", str(out), "--no-progress"]) == 0
    run_dir = next(out.iterdir())
    assert (run_dir / "eval_accuracy.json").exists()
    capsys.readouterr()
    assert main(["eval", "--run", str(run_dir), "--protocol", "pad", "--samples", "60"]) == 0
    said = capsys.readouterr().out
    assert "raw d_A" in said and "features d_A" in said
    pad = json.loads((run_dir / "eval_pad.json").read_text())
    assert pad["task"] == "mnist-mnistm" and pad["result"]["raw"]["n_per_domain"] == 60
    assert pad["result"]["source_split"] == "mnist/test" and 0.0 <= pad["result"]["features"]["d_a"] <= 2.0
    # a finished run is rebuilt from the hyper-parameters it recorded, not from today's defaults
    from dabench.runs import load_trained

    stored = json.loads((run_dir / "config.json").read_text())
    stored["hparams"]["lr"] = 0.123
    (run_dir / "config.json").write_text(json.dumps(stored))
    assert load_trained(RunDir(run_dir)).hparams["lr"] == 0.123
    (run_dir / "done").unlink()
    assert main(["eval", "--run", str(run_dir)]) == 2
    assert "is not a finished run" in capsys.readouterr().err
