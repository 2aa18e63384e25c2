"""LineMod on fake crops in the documented layout; the timm backbone of the 64x64 RGB tasks."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dabench.data import DataError, DataSource, to_float
from dabench.datasets.linemod import OBJECTS, LineMod
from dabench.hparams import resolve_hparams
from dabench.registry import METHODS, TASKS
from dabench.tasks import load_task


def write_linemod(root, counts=None, seed=0):
    """A few crops per object: PNG RGB 64x64, PNG RGBA (RGB-D-like 4th channel) 80x80 and JPEG 64x72."""
    rng = np.random.default_rng(seed)
    counts = counts or {("synthetic", "train"): 3, ("real", "train"): 2, ("real", "test"): 2}
    for (domain, split), n in counts.items():
        for obj in ("ape", "can", "phone"):
            folder = root / "linemod" / domain / split / obj
            folder.mkdir(parents=True)
            for i in range(n):
                kind = i % 3
                if kind == 0:
                    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
                elif kind == 1:
                    rgbd = rng.integers(0, 256, (80, 80, 4), dtype=np.uint8)
                    Image.fromarray(rgbd, "RGBA").save(folder / f"{i:04d}.png")
                else:
                    Image.fromarray(rng.integers(0, 256, (72, 64, 3), dtype=np.uint8)).save(folder / f"{i:04d}.jpg")


def test_linemod_loads_the_documented_layout(tmp_path):
    write_linemod(tmp_path / "root")
    source = DataSource(kind="full", roots=(tmp_path / "root",), cache=tmp_path / "cache")
    syn = LineMod("synthetic").load("train", source, 64)
    real = LineMod("real").load("test", source, 64)
    assert syn.x.shape == (9, 3, 64, 64) and syn.x.dtype == torch.uint8 and real.x.shape == (6, 3, 64, 64)
    labels = [OBJECTS.index(o) for o in ("ape", "can", "phone")]
    assert syn.y.tolist() == [labels[0]] * 3 + [labels[1]] * 3 + [labels[2]] * 3
    # a 64x64 RGB crop is kept byte for byte
    original = np.asarray(Image.open(tmp_path / "root/linemod/synthetic/train/ape/0000.png"))
    assert np.array_equal(syn.x[0].permute(1, 2, 0).numpy(), original)
    record = json.loads((tmp_path / "cache/linemod/linemod_synthetic_64_train.json").read_text())
    assert record["input"]["files"] == 9 and record["shape"] == [9, 64, 64, 3]
    assert LineMod().build(source) and (tmp_path / "cache/linemod/linemod_real_64_train.npz").exists()


def test_missing_linemod_says_it_is_not_downloadable_and_where_to_put_it(tmp_path):
    source = DataSource(kind="full", roots=(tmp_path / "empty",), cache=tmp_path / "cache")
    with pytest.raises(DataError) as err:
        LineMod("real").load("test", source, 64)
    message = str(err.value)
    assert "not publicly downloadable" in message and "linemod/real/test/<object>" in message
    assert "benchvise" in message and "DABENCH_DATA" in message and "\n" not in message


def test_unknown_object_folders_are_refused(tmp_path):
    write_linemod(tmp_path / "root", {("real", "test"): 1})
    (tmp_path / "root/linemod/real/test/teapot").mkdir()
    source = DataSource(kind="full", roots=(tmp_path / "root",), cache=tmp_path / "cache")
    with pytest.raises(DataError, match="not LineMod objects: teapot"):
        LineMod("real").load("test", source, 64)


def test_linemod_task_trains_a_timm_backbone_with_dann(tmp_path):
    write_linemod(tmp_path / "root")
    task = TASKS.get("linemod")
    data = load_task(task, DataSource(kind="full", roots=(tmp_path / "root",), cache=tmp_path / "cache"))
    assert (data.spec.channels, data.spec.size, data.spec.num_classes, data.spec.family) == (3, 64, 11, "linemod")
    cls = METHODS.get("dann")  # DANN's domain head on the timm features (source-only is its parent class)
    hparams = resolve_hparams(cls, data.spec.family, {"batch_size": 2})
    assert hparams["backbone"] == "resnet18"
    assert resolve_hparams(METHODS.get("source-only"), "linemod")["backbone"] == "resnet18"
    assert resolve_hparams(cls, "digits")["backbone"] == "digitnet"
    torch.manual_seed(0)
    method = cls(data.spec, hparams)
    x_src, x_tgt = to_float(data.src_train.x[:2], 3), to_float(data.tgt_train.x[:2], 3)
    losses = method.update(x_src, data.src_train.y[:2], x_tgt, 0.5)
    assert all(np.isfinite(v) for v in losses.values())
    missing = [n for n, p in method.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing
    with torch.no_grad():
        method.eval()
        assert method.predict(x_tgt).shape == (2, 11) and method.features(x_tgt).shape == (2, 512)
