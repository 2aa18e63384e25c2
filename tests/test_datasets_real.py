"""Every dataset and task on the real data root (DABENCH_DATA, e.g. ../shared/data); skipped without it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dabench.data import content_sha256, read_split, resolve_source
from dabench.registry import DATASETS, TASKS
from dabench.tasks import load_task

from conftest import needs_data

pytestmark = [needs_data(), pytest.mark.data]

EXPECTED = {  # split sizes and channels at the 28x28 protocol
    "mnist": ({"train": 60000, "test": 10000}, 1),
    "usps": ({"train": 7291, "test": 2007}, 1),
    "mnistm": ({"train": 60000, "test": 9001}, 3),
    "fashion": ({"train": 60000, "test": 10000}, 1),
    "fashionm": ({"train": 60000, "test": 10000}, 3),
}


@pytest.fixture(scope="module")
def source():
    return resolve_source("full", allow_download=False)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dataset_shapes_ranges_and_labels(name, source):
    sizes, channels = EXPECTED[name]
    dataset = DATASETS.get(name)()
    for split, n in sizes.items():
        data = dataset.load(split, source)
        assert data.x.shape == (n, channels, 28, 28) and data.x.dtype == torch.uint8
        assert data.y.shape == (n,) and data.y.dtype == torch.int64
        assert sorted(data.y.unique().tolist()) == list(range(10))
        assert data.x.max() > 200 and data.x.min() == 0  # full uint8 range in use, not [0, 1]


def test_mnistm_test_is_ganins_split_and_aligned_with_mnist(source):
    mnistm = DATASETS.get("mnistm")().load("test", source)
    mnist = DATASETS.get("mnist")().load("test", source)
    assert torch.equal(mnistm.y, mnist.y[:9001])  # Ganin's test split is MNIST test[0:9001]
    # after the 32 -> 28 centre crop the strokes sit where MNIST's do: colour distance correlates with ink
    x = mnistm.x[:200].float()
    dist = (x - x.flatten(2).median(2).values[..., None, None]).abs().sum(1).flatten(1)
    ink = mnist.x[:200, 0].float().flatten(1)
    corr = torch.stack([torch.corrcoef(torch.stack([d, i]))[0, 1] for d, i in zip(dist, ink)])
    assert corr.nanmean() > 0.4


def test_usps_is_resized_to_28(source):
    data = DATASETS.get("usps")().load("test", source)
    assert data.x.shape[-2:] == (28, 28)


def test_builder_is_deterministic(source, tmp_path):
    """Two builds of Fashion-M test into fresh caches give the same content hash."""
    from dataclasses import replace

    hashes = []
    for i in range(2):
        fresh = replace(source, cache=tmp_path / f"c{i}")
        (path,) = DATASETS.get("fashionm")().build(fresh, ("test",))
        images, labels = read_split(path, None, fix="-")
        hashes.append(content_sha256(images, labels))
        with np.load(path) as npz:
            assert npz["background_ids"].shape == (10000,) and npz["patch_corners"].shape == (10000, 2)
    assert hashes[0] == hashes[1]


def test_every_present_file_verifies(source):
    for name, cls in DATASETS.items():
        for path, status in cls().verify(source):
            assert status in ("ok", "missing"), f"{name}: {path}: {status}"


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_loads_with_disjoint_source_splits(name, source):
    task = TASKS.get(name)
    if task.family != "digits":
        pytest.skip("non-digit tasks have their own tests")
    data = load_task(task, source)
    assert data.spec.size == 28 and data.spec.num_classes == 10
    assert data.spec.channels == max(d.info.channels for d in task.datasets())
    n = len(data.src_train) + len(data.src_val)
    assert n == EXPECTED[task.source][0]["train"]
    assert abs(len(data.src_val) - 0.1 * n) <= 1
