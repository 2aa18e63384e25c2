"""Source only: the classifier trained on labelled source images alone, tested on the target (lower bound).

The network is the DANN digit network (reference/methods.md §4.1) on the digit tasks and a randomly
initialised timm ResNet-18 (stem max-pool removed for 64×64 inputs) on the 64×64 RGB tasks (``backbone``,
chosen per task family by ``OVERRIDES``), with DANN's optimiser and learning-rate annealing (SGD, momentum
0.9, μ_p = μ0 / (1 + 10 p)^0.75), so that the source-only, target-only and DANN rows differ only in what they
train on. This model is also *the source classifier* that pixel-level methods
(UNIT-lite, CDLM) use to classify their translated target images.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dabench.hparams import AT_LEAST_ONE, HP, NONNEGATIVE, POSITIVE, UNIT, log_uniform
from dabench.method import Method, TaskSpec, set_lr
from dabench.registry import METHODS
from dabench.methods._nets import BACKBONES, classifier_net, dann_lr


@METHODS.register("source-only")
class SourceOnly(Method):
    """Classifier trained on labelled source only (DANN digit net, DANN lr schedule)."""

    HPARAMS = {
        "lr": HP(0.01, log_uniform(1e-3, 1e-1), "initial SGD learning rate μ0", valid=POSITIVE),
        "momentum": HP(0.9, None, "SGD momentum", valid=UNIT),
        "weight_decay": HP(0.0, None, "L2 weight decay", valid=NONNEGATIVE),
        "lr_alpha": HP(10.0, None, "annealing α in μ0 / (1 + α p)^β", valid=NONNEGATIVE),
        "lr_beta": HP(0.75, None, "annealing β in μ0 / (1 + α p)^β", valid=NONNEGATIVE),
        "batch_size": HP(64, None, "images per domain per step", valid=AT_LEAST_ONE),
        "backbone": HP("digitnet", None, "classifier network: the DANN digit net or a timm architecture",
                       choices=BACKBONES),
    }
    #: digits keep the DANN digit net; the 64x64 RGB families use a timm ResNet-18 (pretrained=False)
    OVERRIDES = {"linemod": {"backbone": "resnet18"}, "translation": {"backbone": "resnet18"}}
    CAPABILITIES = frozenset({"predict", "features"})
    DEFAULT_STEPS = 10000
    CHANNELS_LAST = True  # faster DANN-family steps on CPU (`dabench bench`; timing in docs/measurements.md)
    ROW_ORDER = 10
    PAPER_ROW = "Source only"
    PAPER_TABLE1 = {"mnist-usps": 0.634, "usps-mnist": 0.625, "mnist-mnistm": 0.561, "mnistm-mnist": 0.633,
                    "fashion-fashionm": 0.527, "fashionm-fashion": 0.612, "linemod": 0.632}

    def __init__(self, spec: TaskSpec, hparams: dict):
        super().__init__(spec, hparams)
        self.net = classifier_net(hparams["backbone"], spec.channels, spec.size, spec.num_classes)
        self.build_extra_nets()
        self.optimizers["sgd"] = torch.optim.SGD(
            self.parameters(), lr=hparams["lr"], momentum=hparams["momentum"], weight_decay=hparams["weight_decay"]
        )

    def build_extra_nets(self) -> None:
        """Hook for subclasses to add networks before the optimiser is built over all parameters."""

    def anneal(self, progress: float) -> None:
        hp = self.hparams
        set_lr(self.optimizers["sgd"], dann_lr(progress, hp["lr"], hp["lr_alpha"], hp["lr_beta"]))

    def descend(self, loss: torch.Tensor) -> None:
        opt = self.optimizers["sgd"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def training_batch(self, x_src, y_src, x_tgt, **oracle):
        """The labelled batch this classifier learns from: the source batch."""
        return x_src, y_src

    def update(self, x_src, y_src, x_tgt, progress, **oracle):
        x, y = self.training_batch(x_src, y_src, x_tgt, **oracle)
        self.anneal(progress)
        loss = F.cross_entropy(self.net(x), y)
        self.descend(loss)
        return {"loss_cls": loss.item()}

    def predict(self, x):
        return self.net(x)

    def features(self, x):
        return self.net.forward_features(x)
