"""The data layer on fake files written in the real formats (no real data needed)."""
from __future__ import annotations

import dataclasses
import gzip
import struct

import numpy as np
import pytest
import torch

from dabench.data import DataSource, content_sha256, read_split, resolve_source, to_float, write_split
from dabench.errors import DataError
from dabench.datasets._blend import blend_on_photos
from dabench.datasets.mnist import MNIST, embedded_split
from dabench.datasets.mnistm import MNISTM
from dabench.datasets.usps import USPS, read_zip_text, resize_uint8


def write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def sha256_of(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_mnist_mirror(tmp_path, monkeypatch):
    """Fake official MNIST files served from a file:// mirror, with their sha256 pinned and content pins
    replaced by the fake content's."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rng = np.random.default_rng(0)
    resources, pins = {}, {}
    for split, n in (("train", 20), ("test", 8)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        prefix = "train" if split == "train" else "t10k"
        write_idx(mirror / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(mirror / f"{prefix}-labels-idx1-ubyte.gz", labels)
        resources[split] = tuple(
            (name, sha256_of(mirror / name))
            for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz")
        )
        pins[split] = content_sha256(images, labels.astype(np.int64))
    monkeypatch.setattr(MNIST, "MIRRORS", (mirror.as_uri() + "/",))
    monkeypatch.setattr(MNIST, "RESOURCES", resources)
    monkeypatch.setattr(MNIST, "info", dataclasses.replace(MNIST.info, content_sha256=pins))
    return mirror


def test_fetch_downloads_checks_and_converts(fake_mnist_mirror, tmp_path):
    cache = tmp_path / "cache"
    MNIST().fetch(cache)
    source = DataSource(kind="full", cache=cache)
    data = MNIST().load("train", source)
    assert data.x.shape == (20, 1, 28, 28) and data.x.dtype == torch.uint8
    assert data.y.dtype == torch.int64
    assert MNIST().verify(source) == [(str(cache / "mnist/mnist_train.npz"), "ok"),
                                      (str(cache / "mnist/mnist_test.npz"), "ok")]


def test_fetch_refuses_a_download_with_the_wrong_sha256(fake_mnist_mirror, tmp_path, monkeypatch):
    bad = {split: ((img[0], "0" * 64), lbl) for split, (img, lbl) in MNIST.RESOURCES.items()}
    monkeypatch.setattr(MNIST, "RESOURCES", bad)
    with pytest.raises(DataError, match="checksum mismatch for train-images-idx3-ubyte.gz: expected sha256 0000"):
        MNIST().fetch(tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.npz"))


def test_offline_fetch_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(MNIST, "MIRRORS", ((tmp_path / "nowhere").as_uri() + "/",))
    with pytest.raises(DataError, match="could not download .* \\(offline\\?"):
        MNIST().fetch(tmp_path / "cache")


def test_corrupt_file_is_reported_with_the_fix(tmp_path):
    images = np.zeros((4, 28, 28), np.uint8)
    labels = np.arange(4)
    path = tmp_path / "mnist" / "mnist_train.npz"
    write_split(path, images, labels, {})
    with pytest.raises(DataError) as err:
        MNIST().load("train", DataSource(kind="full", roots=(tmp_path,), cache=tmp_path / "c"))
    msg = str(err.value)
    assert "checksum mismatch" in msg and str(path) in msg and "dabench data fetch mnist" in msg


def test_sidecar_checks_built_files(tmp_path):
    path = tmp_path / "x" / "x_train.npz"
    write_split(path, np.ones((3, 28, 28), np.uint8), np.arange(3), {"seed": 1})
    images, labels = read_split(path, None, fix="rebuild")
    assert images.shape == (3, 28, 28) and labels.tolist() == [0, 1, 2]
    np.savez_compressed(path, images=np.zeros((3, 28, 28), np.uint8), labels=np.arange(3))
    with pytest.raises(DataError, match="checksum mismatch .* to fix: rebuild"):
        read_split(path, None, fix="rebuild")


def test_missing_file_names_where_it_looked_and_the_command(tmp_path):
    source = DataSource(kind="full", roots=(tmp_path / "root",), cache=tmp_path / "cache")
    with pytest.raises(DataError) as err:
        USPS().load("train", source)
    msg = str(err.value)
    assert "missing usps/usps_train.npz" in msg and str(tmp_path / "root") in msg and "dabench data fetch usps" in msg


def test_usps_zip_text_and_protocol_resize(tmp_path):
    rows = ["3 " + " ".join(["-1.000"] * 255 + ["1.000"]), "7 " + " ".join(["0.000"] * 256)]
    path = tmp_path / "zip.train.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(rows) + "\n")
    images, labels = read_zip_text(path)
    assert labels.tolist() == [3, 7]
    assert images.shape == (2, 16, 16) and images[0, 0, 0] == 0 and images[0, 15, 15] == 255
    assert images[1, 5, 5] == 127  # (0 + 1) / 2 * 255 = 127.5, truncated
    x = USPS().to_protocol(images, 28)
    assert x.shape == (2, 1, 28, 28) and x.dtype == torch.uint8
    constant = resize_uint8(torch.full((1, 1, 16, 16), 90, dtype=torch.uint8), 28)
    assert torch.all(constant == 90)


def test_mnistm_crop_undoes_the_padding():
    digits = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    photos = [np.zeros((40, 50, 3), np.uint8)]
    out, _, _ = blend_on_photos(digits, photos, np.random.default_rng(0), binarize=False, pad=2)
    assert out.shape == (5, 32, 32, 3)
    cropped = MNISTM().to_protocol(out, 28)
    assert torch.equal(cropped[:, 0], torch.from_numpy(digits))  # |0 - d| = d, and the crop is aligned


def test_blend_recipe_and_determinism():
    digits = np.zeros((50, 4, 4), np.uint8)
    digits[:, 1, 1] = 7
    photos = [np.full((6, 6, 3), 200, np.uint8), np.arange(8 * 9 * 3, dtype=np.uint8).reshape(8, 9, 3)]
    a = blend_on_photos(digits, photos, np.random.default_rng(5), binarize=True)
    b = blend_on_photos(digits, photos, np.random.default_rng(5), binarize=True)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    out, ids, corners = a
    first = np.flatnonzero(ids == 0)[0]
    assert out[first, 1, 1].tolist() == [55, 55, 55]  # |200 - 255| for the binarised stroke
    assert out[first, 0, 0].tolist() == [200, 200, 200]
    second = np.flatnonzero(ids == 1)[0]
    r, c = corners[second]
    assert np.array_equal(out[second, 0, 0], photos[1][r, c])
    assert (corners[ids == 1] <= [4, 5]).all()


def test_embedded_split_is_fixed_and_disjoint():
    index = np.arange(200)
    images = np.stack([index // 256, index % 256], axis=1).astype(np.uint8).reshape(200, 2, 1)
    labels = np.repeat(np.arange(10), 20)
    tr, te = embedded_split(images, labels, "train", 5), embedded_split(images, labels, "test", 5)
    assert len(te[1]) == 50 and len(tr[1]) == 150
    assert np.bincount(te[1]).tolist() == [5] * 10
    assert not set(map(bytes, tr[0])) & set(map(bytes, te[0]))
    assert np.array_equal(te[0], embedded_split(images, labels, "test", 5)[0])


def test_to_float_replicates_grey_and_scales():
    x = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    out = to_float(x, 3)
    assert out.shape == (1, 3, 1, 2) and out.dtype == torch.float32
    assert out[0, :, 0, 1].tolist() == [1.0, 1.0, 1.0]


def test_auto_source_prefers_roots_then_embedded(tmp_path, monkeypatch):
    monkeypatch.delenv("DABENCH_DATA", raising=False)
    assert resolve_source("auto", None).kind == "embedded"
    assert resolve_source("auto", None, embedded_ok=False).kind == "full"
    assert resolve_source("auto", [tmp_path]).kind == "full"
    monkeypatch.setenv("DABENCH_DATA", str(tmp_path))
    assert resolve_source("auto", None).roots == (tmp_path,)


def test_embedded_mnist_and_mnistm_are_real_and_shaped():
    source = DataSource(kind="embedded")
    mnist = MNIST().load("test", source)
    mnistm = MNISTM().load("test", source)
    assert mnist.x.shape == (1000, 1, 28, 28) and mnistm.x.shape == (1000, 3, 28, 28)
    assert torch.equal(mnist.y, mnistm.y)
    assert np.bincount(mnist.y.numpy()).tolist() == [100] * 10
