"""The translation datasets (edges2shoes, celeba_sketch) on fake files in the real layout, their tasks, and
(when DABENCH_DATA is set) the real files."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dabench.data import DataError, DataSource, resolve_source
from dabench.datasets.celeba_sketch import CelebASketch, pencil_sketch, split_items
from dabench.datasets.edges2shoes import Edges2Shoes, canny_edges
from dabench.registry import TASKS
from dabench.tasks import load_task, task_spec

from conftest import needs_data


def fake_shoe_pair(rng, side: int, photo_left: bool) -> np.ndarray:
    """A coloured blob on white (the photo) beside a black outline on white (the edge map)."""
    yy, xx = np.mgrid[:side, :side]
    cy, cx, r = rng.integers(side // 3, 2 * side // 3, size=2).tolist() + [side // 4]
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    photo = np.full((side, side, 3), 255, np.uint8)
    photo[inside] = rng.integers(0, 200, size=3)
    edge = np.full((side, side, 3), 255, np.uint8)
    edge[np.abs(np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) - r) < 1.0] = 0
    return np.concatenate([photo, edge] if photo_left else [edge, photo], axis=1)


def write_edges2shoes(root, n_train=6, n_val=4, side=64, photo_left=True, seed=0):
    rng = np.random.default_rng(seed)
    for folder, n in (("train", n_train), ("val", n_val)):
        (root / "edges2shoes" / folder).mkdir(parents=True)
        for i in range(1, n + 1):
            Image.fromarray(fake_shoe_pair(rng, side, photo_left)).save(root / "edges2shoes" / folder / f"{i}_AB.jpg",
                                                                        quality=95)


def write_celeba(root, n=20, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "celeba" / "img_align_celeba_89x109"
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        face = rng.integers(0, 256, size=(109, 89, 3), dtype=np.uint8)
        Image.fromarray(face).save(folder / f"{i:06d}.jpg", quality=95)


def source_for(root, tmp_path):
    return DataSource(kind="full", roots=(root,), cache=tmp_path / "cache")


@pytest.mark.parametrize("photo_left", [True, False])
def test_edges2shoes_domains_are_paired_and_the_photo_half_is_found(tmp_path, photo_left):
    root = tmp_path / "root"
    write_edges2shoes(root, photo_left=photo_left)
    source = source_for(root, tmp_path)
    edges = Edges2Shoes("edges").load("test", source, 32)
    photo = Edges2Shoes("photo").load("test", source, 32)
    hed = Edges2Shoes("hed").load("train", source, 32)
    assert edges.x.shape == (4, 1, 32, 32) and photo.x.shape == (4, 3, 32, 32) and hed.x.shape == (6, 1, 32, 32)
    assert edges.y.tolist() == [-1] * 4 and hed.pair is None  # pairs only on test splits
    assert np.array_equal(edges.pair.numpy(), photo.x.numpy())  # row i of both domains is the same shoe
    # the Canny domain is the default operator applied to the photo (deterministic)
    expected = canny_edges(photo.x[0].permute(1, 2, 0).numpy())
    assert np.array_equal(edges.x[0, 0].numpy(), expected)
    assert set(np.unique(expected)) <= {0, 255} and (expected == 0).any()
    record = json.loads((tmp_path / "cache" / "edges2shoes" / "edges2shoes_photo_32_test.json").read_text())
    assert record["recipe"]["photo"].startswith("left" if photo_left else "right")
    assert record["input"]["files"] == 4 and len(record["input"]["files_sha256"]) == 64


def test_edges2shoes_errors_name_the_fix(tmp_path):
    source = source_for(tmp_path / "empty", tmp_path)
    with pytest.raises(DataError, match="edges2shoes/val/\\*_AB.jpg.*pix2pix's edges2shoes.tar.gz"):
        Edges2Shoes("edges").load("test", source, 32)
    with pytest.raises(DataError, match="no domain 'sketch'; valid: photo, edges, hed"):
        Edges2Shoes("sketch")


def test_a_corrupt_built_split_fails_its_checksum(tmp_path):
    root = tmp_path / "root"
    write_edges2shoes(root)
    source = source_for(root, tmp_path)
    Edges2Shoes("photo").load("train", source, 32)
    path = tmp_path / "cache" / "edges2shoes" / "edges2shoes_photo_32_train.npz"
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["images"][0, 0, 0] ^= 1
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="checksum mismatch"):
        Edges2Shoes("photo").load("train", source, 32)


def test_pencil_sketch_is_the_documented_colour_dodge():
    flat = np.full((16, 16, 3), 120, np.uint8)
    assert (pencil_sketch(flat, 2.0) == 255).all()  # no structure: blank paper
    face = np.full((16, 16, 3), 230, np.uint8)
    face[:, 8] = 20  # a dark vertical line
    sketch = pencil_sketch(face, 2.0)
    assert sketch[:, 8].max() < 60 and sketch[:, 0].min() == 255
    assert np.array_equal(sketch, pencil_sketch(face, 2.0))


def test_celeba_sketch_splits_and_pairs(tmp_path):
    root = tmp_path / "root"
    write_celeba(root, n=20)
    source = source_for(root, tmp_path)
    test = CelebASketch("sketch").load("test", source, 32)
    train = CelebASketch("face").load("train", source, 32)
    assert test.x.shape == (4, 1, 32, 32) and test.pair.shape == (4, 3, 32, 32) and train.x.shape == (16, 3, 32, 32)
    faces = CelebASketch("face").load("test", source, 32)
    assert np.array_equal(test.pair.numpy(), faces.x.numpy())
    sketch0 = pencil_sketch(faces.x[0].permute(1, 2, 0).numpy(), 1.0)  # sigma = 2 * 32 / 64
    assert np.array_equal(test.x[0, 0].numpy(), sketch0)
    split = split_items(20)
    assert len(split["test"]) == 4 and not set(split["test"]) & set(split["train"])


def test_translation_tasks_are_label_free_paired_and_translate_only(tmp_path, monkeypatch):
    root = tmp_path / "root"
    write_celeba(root, n=20)
    task = TASKS.get("sketch-face")
    assert (task.source_domain, task.target_domain, task.protocols) == ("face", "sketch", ("image-quality",))
    spec = task_spec(task)
    assert (spec.channels, spec.size, spec.num_classes, spec.family) == (3, 64, 0, "translation")
    data = load_task(task, source_for(root, tmp_path))
    assert data.tgt_test.pair.shape == (4, 3, 64, 64) and data.tgt_train.x.shape == (16, 1, 64, 64)
    assert len(data.src_train) + len(data.src_val) == 16


@needs_data()
def test_real_edges2shoes_and_celeba_test_splits():
    source = resolve_source("full")
    shoes = Edges2Shoes("edges").load("test", source, 64)
    assert shoes.x.shape == (200, 1, 64, 64) and shoes.pair.shape == (200, 3, 64, 64)
    # the photo half: a shoe on a white background (bright border), the Canny map mostly white paper
    assert shoes.pair[:, :, 0, :].float().mean() > 200 and (shoes.x == 255).float().mean() > 0.8
    faces = CelebASketch("sketch").load("test", source, 64)
    assert faces.x.shape == (200, 1, 64, 64) and faces.pair.shape == (200, 3, 64, 64)
