"""USPS handwritten digits (Hull, 1994): 7,291 / 2,007 images, 16×16 grey, resized to the digit protocol.

Protocol: 16×16 → 28×28 by bilinear interpolation (``align_corners=False``, as PIL's default ``Resize`` that
CDAN uses), rounded back to uint8, so that USPS matches MNIST's 28×28 "the same as MNIST" (CDLM §4.1).

Fetch: the "ZIP code" files of *The Elements of Statistical Learning* (text, values in [−1, 1]) — the source of
``../shared/data/usps`` — converted with ``uint8((v + 1) / 2 · 255)`` in float32 (truncating, as torchvision's
``USPS`` does). These files have a published sha256; torchvision's LIBSVM copy only an md5.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dabench.data import Dataset, DatasetInfo, to_nchw, write_split
from dabench.registry import DATASETS
from dabench.datasets._fetch import download
from dabench.datasets.mnist import DIGITS

ESL = "https://hastie.su.domains/ElemStatLearn/datasets/"


def read_zip_text(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse an ESL ``zip.*.gz`` file: each line is a label then 256 values in [−1, 1]."""
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, dtype=np.float32)
    labels = table[:, 0].astype(np.int64)
    images = ((table[:, 1:] + 1.0) / 2.0 * 255.0).astype(np.uint8).reshape(-1, 16, 16)
    return images, labels


def resize_uint8(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of a uint8 ``[N, C, h, w]`` batch to ``size``×``size``, rounded back to uint8."""
    out = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


@DATASETS.register("usps")
class USPS(Dataset):
    """USPS handwritten digits, 7291/2007, 16x16 grey resized to 28x28 (bilinear)."""

    info = DatasetInfo(
        name="usps",
        folder="usps",
        stem="usps",
        channels=1,
        num_classes=10,
        classes=DIGITS,
        content_sha256={
            "train": "e045f47382e85c74060f789c6a37f25f0ad18452e51dc9e7fa31e12c19a23f26",
            "test": "c6329cfd934c72598ad4c14a04a6ece260ad89727cbe125a8b96098e17ddd9d1",
        },
        source=ESL + "zip.train.gz, zip.test.gz",
        license="none stated (AT&T / ESL website; free for research use)",
        citation="Hull. A database for handwritten text recognition research. TPAMI 1994",
    )
    RESOURCES = {
        "train": ("zip.train.gz", "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16"),
        "test": ("zip.test.gz", "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f"),
    }

    def fetch(self, cache: Path, roots: tuple[Path, ...] = ()) -> None:
        for split, (name, sha) in self.RESOURCES.items():
            raw = download([ESL + name], Path(cache) / "raw" / "usps" / name, sha)
            images, labels = read_zip_text(raw)
            write_split(Path(cache) / self.info.relpath(split), images, labels, {"source": ESL + name, "raw_sha256": sha})

    def to_protocol(self, images: np.ndarray, size: int) -> torch.Tensor:
        return resize_uint8(to_nchw(images), size)
