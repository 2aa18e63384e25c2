"""A method added from outside the package: declared and registered in this file alone, trained through the
real command line for a few steps, and shown in a generated leaderboard beside the paper value it declares,
with its extra evaluation path named as it says — no file under dabench/ knows it."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dabench.cli import main
from dabench.hparams import HP, POSITIVE
from dabench.method import Method
from dabench.registry import METHODS


class NearestMean(Method):
    """A linear classifier on pixels (softmax regression), plus a nearest-class-mean path: the smallest honest
    method, to show what a new method has to declare."""

    HPARAMS = {
        "batch_size": HP(16, None, "images per domain per step"),
        "lr": HP(0.1, None, "SGD learning rate", valid=POSITIVE),
    }
    DEFAULT_STEPS = 6
    ROW_ORDER = 15  # between source-only (10) and DANN (20)
    PAPER_ROW = "Nearest mean (a made-up paper)"
    PAPER_TABLE1 = {"mnist-mnistm": 0.42}
    EXTRA_PATHS = {"means": "nearest class mean"}

    def __init__(self, spec, hparams):
        super().__init__(spec, hparams)
        size = spec.channels * spec.size * spec.size
        self.linear = nn.Linear(size, spec.num_classes)
        self.register_buffer("means", torch.zeros(spec.num_classes, size))
        self.optimizers["sgd"] = torch.optim.SGD(self.linear.parameters(), lr=self.hparams["lr"])

    def update(self, x_src, y_src, x_tgt, progress, **oracle):
        loss = F.cross_entropy(self.linear(x_src.flatten(1)), y_src)
        self.optimizers["sgd"].zero_grad()
        loss.backward()
        self.optimizers["sgd"].step()
        with torch.no_grad():  # a running class mean of the source images
            for c in y_src.unique():
                self.means[c] = 0.9 * self.means[c] + 0.1 * x_src[y_src == c].flatten(1).mean(0)
        return {"loss": loss.item()}

    def predict(self, x):
        return self.linear(x.flatten(1))

    def extra_eval(self, x):
        return {"means": -torch.cdist(x.flatten(1), self.means)}


@pytest.fixture
def nearest_mean():
    METHODS.register("nearest-mean")(NearestMean)
    try:
        yield "nearest-mean"
    finally:
        METHODS.unregister("nearest-mean")


def test_a_method_from_outside_trains_and_reaches_the_leaderboard(nearest_mean, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DABENCH_DATA", "")  # the embedded data: no download, no data root
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--method", nearest_mean, "--task", "mnist-mnistm", "--steps", "6", "--eval-every", "3",
                 "--no-progress", "--out", "runs"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("target accuracy: ") and "nearest class mean" in last  # its own name for the path
    assert main(["leaderboard", "runs"]) == 0  # the default output: next to the runs
    text = (tmp_path / "runs" / "leaderboard" / "README.md").read_text()
    row = next(ln for ln in text.splitlines() if ln.startswith("| nearest-mean "))
    assert "paper 42.0" in row  # the paper value it declared, beside its own
    assert "nearest-mean ← Nearest mean (a made-up paper)" in text
    assert "| nearest-mean · means |" in text  # its extra evaluation path, in the other-paths table
