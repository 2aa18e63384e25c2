"""Shared fixtures: a tiny synthetic two-domain task made in memory, and the real-data switch."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import dabench.config  # noqa: F401  (fills the registries)
from dabench.data import DomainData
from dabench.method import TaskSpec
from dabench.tasks import Task, TaskData

DATA_ROOT = os.environ.get("DABENCH_DATA")


def needs_data():
    """Skip marker for tests that read the real datasets."""
    return pytest.mark.skipif(
        not DATA_ROOT or not Path(DATA_ROOT.split(os.pathsep)[0]).exists(),
        reason="real-data test: set DABENCH_DATA to a data root such as ../shared/data",
    )


def toy_domain(n: int, seed: int, colour: bool, name: str) -> DomainData:
    """Class c is a bright 6x6 square at one of 10 positions; the target domain adds a random colour field."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randint(0, 40, (n, 3 if colour else 1, 28, 28), generator=g).to(torch.uint8)
    for i, c in enumerate(y.tolist()):
        r, col = 2 + 8 * (c // 4), 2 + 8 * (c % 4)
        x[i, :, r:r + 6, col:col + 6] = 230
    if colour:
        x = (x.int() + torch.randint(0, 25, (n, 3, 1, 1), generator=g)).clamp(0, 255).to(torch.uint8)
    return DomainData(x, y, name)


@pytest.fixture
def toy_data() -> TaskData:
    task = Task("toy-src-toy-tgt", "toy-src", "toy-tgt", "synthetic test task")
    return TaskData(
        task,
        src_train=toy_domain(64, 1, False, "toy-src/train"),
        src_val=toy_domain(32, 2, False, "toy-src/val"),
        tgt_train=toy_domain(64, 3, True, "toy-tgt/train"),
        tgt_test=toy_domain(32, 4, True, "toy-tgt/test"),
        spec=TaskSpec(channels=3, size=28, num_classes=10),
        data_source="embedded",
    )


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never write to the user's cache from a test: built data goes to $DABENCH_CACHE when the caller set one
    (CI does, so a session reuses it), else to a per-session folder."""
    if not os.environ.get("DABENCH_CACHE"):
        monkeypatch.setenv("DABENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
