"""MNIST-M (Ganin et al., JMLR 2016): MNIST digits blended onto BSDS500 colour patches, 32×32 RGB.

* test: Ganin's original 9,001-image test split (``mnist_m/mnist_m_test.npz``, pinned) where a root holds it;
  otherwise rebuilt from MNIST test with the recipe below (``mnist_m_rebuilt_test.npz``, recorded as such).
* train: rebuilt from MNIST train + the 200 BSDS500 train photos with Ganin's recipe (reference/methods.md
  §7.1): pad the digit 28 → 32, binarise it, cut a random 32×32 patch of a random photo, ``|patch − digit|``.
  Deterministic (seeded), not pixel-identical to Ganin's never-released-in-small-files train split.
* protocol: centre crop 32 → 28 (2 pixels a side), which exactly undoes the padding, so MNIST and MNIST-M stay
  geometrically aligned (CDLM §4.1 works at 28×28).
* embedded: built from the embedded MNIST with scikit-image's photos.
"""
from __future__ import annotations

import numpy as np
import torch

from dabench.data import DatasetInfo, to_nchw
from dabench.registry import DATASETS
from dabench.datasets._blend import BlendedDataset
from dabench.datasets.mnist import DIGITS


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    top = (x.shape[-2] - size) // 2
    left = (x.shape[-1] - size) // 2
    return x[..., top:top + size, left:left + size].contiguous()


@DATASETS.register("mnistm")
class MNISTM(BlendedDataset):
    """MNIST-M: digits on BSDS500 colour patches (test: Ganin's split; train: rebuilt), cropped 32->28."""

    info = DatasetInfo(
        name="mnistm",
        folder="mnist_m",
        stem="mnist_m",
        channels=3,
        num_classes=10,
        classes=DIGITS,
        content_sha256={"test": "632bfb30f6be1b8e7b24f6103609231f7aaed4a7e22fee5e4f697c28c783346b"},
        source="test: Ganin & Lempitsky mnist_m.tar.gz; train: dabench build from MNIST + BSDS500",
        license="none stated (derived from MNIST and BSDS500)",
        citation="Ganin et al. Domain-adversarial training of neural networks. JMLR 2016",
    )
    BASE = "mnist"
    BINARIZE = True
    PAD = 2

    def to_protocol(self, images: np.ndarray, size: int) -> torch.Tensor:
        return center_crop(to_nchw(images), size)
