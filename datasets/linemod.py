"""Cropped LineMod for domain adaptation (Hinterstoisser et al., ACCV 2012; crops of Wohlhart & Lepetit,
CVPR 2015), as used by DSN and PixelDA (Bousmalis et al., CVPR 2017) and CDLM Table 1's last column:
11 objects, 64×64 object-centred crops, source = synthetic renders, target = real photos.

**Not publicly downloadable.** The cropped DA version was never re-released (reference/methods.md §7.4,
``../shared/data/MANIFEST.md``); bring your own copy in this layout under a data root::

    linemod/synthetic/train/<object>/*.png      source: rendered crops (labelled)
    linemod/synthetic/test/<object>/*.png       optional: held-out renders (used for the proxy A-distance)
    linemod/real/train/<object>/*.png           target train (its labels never reach a method)
    linemod/real/test/<object>/*.png            target test

``<object>`` is one of the 11 folder names in :data:`OBJECTS` (the class index is its position there); files
may be PNG or JPEG. Images are read as RGB (a fourth channel — alpha or depth, as in DSN's RGB-D crops — is
dropped: CDLM uses RGB only), centre-cropped to a square when they are not square and resized to the
protocol size (64×64 by default; Pillow bicubic) when they are not already at it. The first load converts a
split into the cache (``linemod/linemod_<domain>_<size>_<split>.npz`` plus a sidecar with the input files'
digest), and every later load is checked against it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dabench.data import DataError, DatasetInfo, DataSource
from dabench.registry import DATASETS
from dabench.datasets._multidomain import MultiDomainDataset, files_digest, image_files

#: the 11 non-symmetric LineMod objects of DSN / PixelDA, in class-index order
OBJECTS = ("ape", "benchvise", "camera", "can", "cat", "driller", "duck", "holepuncher", "iron", "lamp", "phone")


def load_crop(path: Path, size: int) -> np.ndarray:
    """One crop as uint8 RGB ``(size, size, 3)`` (extra channels dropped, centre square, bicubic resize)."""
    with Image.open(path) as im:
        array = np.asarray(im)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.dtype != np.uint8:
        raise DataError(f"{path} has {array.dtype} pixels; LineMod crops must be 8-bit RGB")
    array = array[:, :, :3]
    h, w = array.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = Image.fromarray(np.ascontiguousarray(array[top:top + side, left:left + side]))
    if side != size:
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image)


@DATASETS.register("linemod")
class LineMod(MultiDomainDataset):
    """Cropped LineMod (DSN/PixelDA): 11 objects, synthetic renders and real photos, 64x64 RGB (bring your own)."""

    info = DatasetInfo(
        name="linemod",
        folder="linemod",
        stem="linemod",
        channels=3,
        num_classes=len(OBJECTS),
        classes=OBJECTS,
        source="not publicly downloadable: the cropped LineMod of DSN/PixelDA (Wohlhart & Lepetit crops)",
        license="LineMod: research use (Hinterstoisser et al.)",
        citation="Hinterstoisser et al. Model based training, detection and pose estimation of texture-less 3D "
                 "objects in heavily cluttered scenes. ACCV 2012; Bousmalis et al. Unsupervised pixel-level "
                 "domain adaptation with generative adversarial networks. CVPR 2017",
    )
    DOMAINS = {"synthetic": 3, "real": 3}

    def missing_message(self, domain: str, split: str, source: DataSource) -> str:
        rel = f"{self.info.folder}/{domain}/{split}"
        return (f"missing {rel}/<object>/*.png (looked in: {source.searched(rel)}); the cropped LineMod of "
                f"DSN/PixelDA is not publicly downloadable: put your copy in that layout "
                f"(linemod/{{synthetic/train,real/train,real/test}}/<object>/, objects: {', '.join(OBJECTS)}) "
                f"under a data root and point DABENCH_DATA / --data-root at it")

    def build(self, source: DataSource, splits: tuple[str, ...] | None = None, size: int | None = None) -> list[Path]:
        """``splits`` given: convert them for this domain; otherwise every split of both domains that is present
        (``synthetic/test`` is optional)."""
        if splits is not None:
            return super().build(source, splits, size)
        written = []
        for domain in self.DOMAINS:
            for split in self.info.splits:
                if domain == "synthetic" and split == "test" and source.find("linemod/synthetic/test") is None:
                    continue
                written += LineMod(domain).build(source, (split,), size)
        return written

    def convert(self, split: str, source: DataSource, size: int) -> tuple[dict, dict[str, Any]]:
        # only this instance's domain: the two domains are separate sets of items (not paired)
        domain = self.domain
        rel = f"{self.info.folder}/{domain}/{split}"
        folder = source.find(rel)
        if folder is None or not folder.is_dir():
            raise DataError(self.missing_message(domain, split, source))
        unknown = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in OBJECTS)
        if unknown:
            raise DataError(f"{folder} holds folders that are not LineMod objects: {', '.join(unknown)}; "
                            f"expected some of: {', '.join(OBJECTS)}")
        files, labels = [], []
        for label, name in enumerate(OBJECTS):
            if (folder / name).is_dir():
                found = image_files(folder / name)
                files += found
                labels += [label] * len(found)
        if not files:
            raise DataError(self.missing_message(domain, split, source))
        images = np.stack([load_crop(p, size) for p in files])
        record = {
            "recipe": f"RGB (extra channels dropped), centre square crop, Pillow bicubic resize to {size}x{size} "
                      f"when not already that size; label = index of the object folder in {list(OBJECTS)}",
            "input": {"folder": rel, "files": len(files), "files_sha256": files_digest(files, folder.parents[2])},
        }
        return {domain: (images, np.asarray(labels, dtype=np.int64))}, record
