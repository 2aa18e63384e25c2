"""edges2shoes (Isola et al., pix2pix, CVPR 2017; photos from UT-Zap50K, Yu & Grauman, CVPR 2014): shoe photos
and their edge maps, the Edges→Shoes translation task of CDLM §4.3.

Raw layout (a data root): ``edges2shoes/train/*_AB.jpg`` and ``edges2shoes/val/*_AB.jpg``, each a 512×256
side-by-side pair of a 256×256 shoe photo and its edge map. Official pix2pix files have the edges (A) on the
left and the photo (B) on the right; the repack in ``../shared/data`` has them swapped (photo left,
MANIFEST.md). Which half is the edge map is decided per folder from the pixels — edge maps are nearly grey
and mostly white, photos are not — and recorded in the built split's sidecar.

Splits: ``train`` ← ``train/``; ``test`` ← ``val/`` (pix2pix's 200-pair val set is the set everyone tests on).

Domains (all at the protocol size, 64×64 by default):

* ``photo``: the photo half, RGB, resized with Pillow's bicubic filter (antialiased when shrinking);
* ``edges``: **Canny edges of the photo, the default** (CDLM: "edges produced by canny detector"):
  scikit-image ``canny`` on the resized photo's luma (Pillow ``"L"``, in [0, 1]) with σ = 1.0 and hysteresis
  thresholds 0.1 / 0.2, drawn black (0) on white (255) like pix2pix's maps; grey, 1 channel;
* ``hed``: the edge half as given (pix2pix's HED edges), converted to luma and resized like the photo.

Row i of every domain of a split is the same shoe, so test splits are paired (``pair`` = the photo).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dabench.data import DataError, DatasetInfo, DataSource
from dabench.registry import DATASETS
from dabench.datasets._multidomain import NO_LABEL, MultiDomainDataset, files_digest, image_files

CANNY = {"sigma": 1.0, "low_threshold": 0.1, "high_threshold": 0.2}
RAW_FOLDERS = {"train": "train", "test": "val"}


def canny_edges(photo: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` → uint8 ``(H, W)`` Canny edge map, edges 0 on a 255 background (see module doc)."""
    from skimage.feature import canny

    luma = np.asarray(Image.fromarray(photo).convert("L"), dtype=np.float64) / 255.0
    edges = canny(luma, **CANNY)
    return np.where(edges, 0, 255).astype(np.uint8)


def resize(image: Image.Image, size: int) -> np.ndarray:
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC))


def photo_half(halves: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """``"left"`` or ``"right"``: which half of the pairs is the photo, judged over the whole folder.

    An edge map is nearly grey (channels equal) and mostly white; the photo half is the one with the larger
    mean channel spread plus fraction of non-white pixels.
    """
    def photo_score(half: np.ndarray) -> float:
        h = half.astype(np.int16)
        spread = np.abs(h - h.mean(axis=2, keepdims=True)).mean() / 255.0
        return float(spread + np.mean(h.min(axis=2) < 200))

    left = np.mean([photo_score(a) for a, _ in halves])
    right = np.mean([photo_score(b) for _, b in halves])
    return "left" if left >= right else "right"


@DATASETS.register("edges2shoes")
class Edges2Shoes(MultiDomainDataset):
    """edges2shoes (pix2pix): shoe photos, Canny edges (default) and HED edges, paired; 64x64."""

    info = DatasetInfo(
        name="edges2shoes",
        folder="edges2shoes",
        stem="edges2shoes",
        channels=3,
        num_classes=0,
        classes=(),
        source="pix2pix edges2shoes (http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz); "
               "../shared/data holds a 300 train + 200 val repack",
        license="academic, non-commercial (UT-Zap50K)",
        citation="Isola, Zhu, Zhou, Efros. Image-to-image translation with conditional adversarial networks. "
                 "CVPR 2017; Yu, Grauman. Fine-grained visual comparisons with local learning. CVPR 2014",
    )
    DOMAINS = {"photo": 3, "edges": 1, "hed": 1}
    PAIRS = {"edges": "photo", "hed": "photo", "photo": "edges"}

    def missing_message(self, split: str, source: DataSource) -> str:
        rel = f"{self.info.folder}/{RAW_FOLDERS[split]}"
        return (f"missing {rel}/*_AB.jpg (looked in: {source.searched(rel)}); to fix: download pix2pix's "
                f"edges2shoes.tar.gz, extract it so that a data root holds edges2shoes/train and edges2shoes/val, "
                f"and point DABENCH_DATA / --data-root at that root")

    def convert(self, split: str, source: DataSource, size: int) -> tuple[dict, dict[str, Any]]:
        rel = f"{self.info.folder}/{RAW_FOLDERS[split]}"
        folder = source.find(rel)
        files = image_files(folder) if folder is not None and folder.is_dir() else []
        if not files:
            raise DataError(self.missing_message(split, source))
        halves = []
        for path in files:
            with Image.open(path) as im:
                pair = np.asarray(im.convert("RGB"))
            if pair.shape[1] != 2 * pair.shape[0]:
                raise DataError(f"{path} is {pair.shape[1]}x{pair.shape[0]}; an edges2shoes pair is twice as wide "
                                f"as high (two square halves); to fix: replace it with the original file")
            w = pair.shape[1] // 2
            halves.append((pair[:, :w], pair[:, w:]))
        side = photo_half(halves)
        photos, hed = [], []
        for left, right in halves:
            photo, edge = (left, right) if side == "left" else (right, left)
            photos.append(resize(Image.fromarray(photo), size))
            hed.append(resize(Image.fromarray(edge).convert("L"), size))
        photos = np.stack(photos)
        edges = np.stack([canny_edges(p) for p in photos])
        labels = np.full(len(files), NO_LABEL, dtype=np.int64)
        record = {
            "recipe": {
                "photo": f"{side} half, Pillow bicubic resize to {size}x{size}",
                "edges": f"skimage.feature.canny({CANNY}) of the resized photo's luma, edges 0 on 255",
                "hed": f"{'right' if side == 'left' else 'left'} half (given HED edges), luma, bicubic resize",
            },
            "input": {"folder": rel, "files": len(files), "files_sha256": files_digest(files, folder.parent.parent)},
        }
        return {"photo": (photos, labels), "edges": (edges, labels), "hed": (np.stack(hed), labels)}, record
