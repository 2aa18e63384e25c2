"""The MNIST-M recipe (Ganin et al., JMLR 2016 §5.1.1; reference/methods.md §7.1), shared by mnistm and fashionm.

Each image is blended with a patch cut at a random position from a random colour photo:
``out(i, j, k) = |patch(i, j, k) − image(i, j, k)|`` per pixel and channel, the grey image replicated to RGB.
Randomness comes from one ``numpy.random.Generator`` seeded by the caller; the background id and the patch's
top-left corner of every image are returned so that a build can be recorded and audited.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np

from dabench.data import Dataset, DataSource, content_sha256, read_split, write_split
from dabench.registry import DATASETS
from dabench.seeding import seed_hash
from dabench.datasets import bsds500

log = logging.getLogger(__name__)


def blend_on_photos(
    images: np.ndarray,
    photos: list[np.ndarray],
    rng: np.random.Generator,
    *,
    binarize: bool,
    pad: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend grey images onto random photo patches.

    Args:
        images: uint8 ``(N, h, w)`` grey images.
        photos: RGB uint8 photos ``(H_i, W_i, 3)``, each at least as large as the padded image.
        rng: the generator every random choice comes from.
        binarize: map the image to {0, 255} first (``x > 0``), as the reference MNIST-M script does for
            digits; Fashion-M keeps the grey levels (reference/methods.md A13).
        pad: zero padding added on each side before blending (Ganin's MNIST-M pads 28 → 32).
    Returns:
        ``(out uint8 (N, h + 2 pad, w + 2 pad, 3), background ids int64 (N,), patch corners int64 (N, 2))``.
    """
    digits = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    if binarize:
        digits = np.where(digits > 0, 255, 0).astype(np.uint8)
    n, h, w = digits.shape
    ids = rng.integers(len(photos), size=n)
    corner_u = rng.random((n, 2))
    corners = np.zeros((n, 2), dtype=np.int64)
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    rows, cols = np.arange(h), np.arange(w)
    for pid, photo in enumerate(photos):
        members = np.flatnonzero(ids == pid)
        if members.size == 0:
            continue
        span = np.array([photo.shape[0] - h + 1, photo.shape[1] - w + 1])
        top_left = np.floor(corner_u[members] * span).astype(np.int64)
        corners[members] = top_left
        patches = photo[top_left[:, 0, None, None] + rows[None, :, None], top_left[:, 1, None, None] + cols[None, None, :]]
        out[members] = np.abs(patches.astype(np.int16) - digits[members, :, :, None]).astype(np.uint8)
    return out, ids.astype(np.int64), corners


class BlendedDataset(Dataset):
    """A dataset derived from a grey dataset by :func:`blend_on_photos` (MNIST-M, Fashion-M).

    Built splits go to the cache with a sidecar recording the seed, the inputs' content hashes, the photos
    used and the output hash; background ids and patch corners are stored in the ``.npz``. A split listed in
    ``info.content_sha256`` (MNIST-M's original test split) is read from a root when present; otherwise it is
    rebuilt under ``<stem>_rebuilt_<split>.npz`` so that the two are never confused.
    """

    obtain: ClassVar[str] = "build"
    BASE: ClassVar[str]
    BINARIZE: ClassVar[bool]
    PAD: ClassVar[int]

    def built_relpath(self, split: str) -> str:
        if split in self.info.content_sha256:
            return f"{self.info.folder}/{self.info.stem}_rebuilt_{split}.npz"
        return self.info.relpath(split)

    def blend(self, images: np.ndarray, photos: list[np.ndarray], split: str):
        rng = np.random.default_rng(seed_hash(self.info.name, split))
        return blend_on_photos(images, photos, rng, binarize=self.BINARIZE, pad=self.PAD)

    def build(self, source: DataSource, splits: tuple[str, ...] | None = None) -> list[Path]:
        if splits is None:  # a pinned original split present in a root needs no rebuild
            splits = tuple(s for s in self.info.splits
                           if s not in self.info.content_sha256 or source.find(self.info.relpath(s)) is None)
        base = DATASETS.get(self.BASE)()
        photo_arrays, photo_names = bsds500.photos(source)
        written = []
        for split in splits:
            images, labels = base.load_arrays(split, source)
            out, ids, corners = self.blend(images, photo_arrays, split)
            path = Path(source.cache) / self.built_relpath(split)
            record = {
                "recipe": f"|photo patch - {self.BASE}| (binarize={self.BINARIZE}, pad={self.PAD})",
                "seed": seed_hash(self.info.name, split),
                "input": {"dataset": self.BASE, "split": split, "content_sha256": content_sha256(images, labels)},
                "photos": photo_names,
            }
            write_split(path, out, labels, record, compress=False, background_ids=ids, patch_corners=corners)
            written.append(path)
        return written

    def embedded(self, split: str):
        images, labels = DATASETS.get(self.BASE)().embedded(split)
        photo_arrays, _ = bsds500.photos(DataSource(kind="embedded"))
        return self.blend(images, photo_arrays, split)[0], labels

    def has_embedded(self) -> bool:
        return DATASETS.get(self.BASE)().has_embedded()

    def load_arrays(self, split: str, source: DataSource):
        if source.kind == "embedded":
            return super().load_arrays(split, source)
        pinned = self.info.content_sha256.get(split)
        if pinned is not None:
            path = source.find(self.info.relpath(split))
            if path is not None:
                return read_split(path, pinned, fix=f"replace {path} with the original file")
        relpath = self.built_relpath(split)
        path = source.find(relpath)
        if path is None:
            log.warning("%s is missing: building it into %s", relpath, source.cache)
            self.build(source, (split,))
            path = Path(source.cache) / relpath
        return read_split(path, None, fix=f"delete {path} and run `dabench data build {self.info.name}`")
