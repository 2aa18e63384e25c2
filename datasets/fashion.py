"""Fashion-MNIST (Xiao, Rasul, Vollgraf, 2017): 60,000 / 10,000 Zalando article images, 28×28 grey, 10 classes."""
from __future__ import annotations

from dabench.data import DatasetInfo
from dabench.registry import DATASETS
from dabench.datasets._fetch import IdxDataset


@DATASETS.register("fashion")
class FashionMNIST(IdxDataset):
    """Fashion-MNIST clothing images, 60k/10k, 28x28 grey."""

    info = DatasetInfo(
        name="fashion",
        folder="fashion_mnist",
        stem="fashion_mnist",
        channels=1,
        num_classes=10,
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
        content_sha256={
            "train": "1f243a60b4b748a44c48b9a6f6907be2a08bee3e4e226f0e86fbde8e147b745a",
            "test": "9a494dc49efeb996f4076c469b31cd058152067b1594ba6ab85dd739fce3775e",
        },
        source="https://github.com/zalandoresearch/fashion-mnist (via torchvision's mirror)",
        license="MIT, (c) 2017 Zalando SE",
        citation="Xiao, Rasul, Vollgraf. Fashion-MNIST. arXiv:1708.07747, 2017",
    )
    MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    RESOURCES = {
        "train": (
            ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        ),
        "test": (
            ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        ),
    }
