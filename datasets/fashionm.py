"""Fashion-M (CDLM §4.1): Fashion-MNIST blended onto BSDS500 colour patches with the MNIST-M recipe, 28×28 RGB.

CDLM: "following the protocol in [7], we add random noise to the Fashion images ... with random RGB background
cropped from BSDS". Built here as MNIST-M but **without binarising** the garment (binarising destroys its
texture; reference/methods.md A13) and without padding. Both splits are built deterministically.
"""
from __future__ import annotations

from dabench.data import DatasetInfo
from dabench.registry import DATASETS
from dabench.datasets._blend import BlendedDataset
from dabench.datasets.fashion import FashionMNIST


@DATASETS.register("fashionm")
class FashionM(BlendedDataset):
    """Fashion-M: Fashion-MNIST on BSDS500 colour patches (built, not binarised), 28x28 RGB."""

    info = DatasetInfo(
        name="fashionm",
        folder="fashion_m",
        stem="fashion_m",
        channels=3,
        num_classes=10,
        classes=FashionMNIST.info.classes,
        source="dabench build from Fashion-MNIST + BSDS500 (CDLM §4.1, reference/methods.md §7.2)",
        license="MIT (Fashion-MNIST) + research use (BSDS500)",
        citation="Hou, Deng, Cranefield, Ding. Cross-domain latent modulation for variational transfer learning. WACV 2021",
    )
    BASE = "fashion"
    BINARIZE = False
    PAD = 0
