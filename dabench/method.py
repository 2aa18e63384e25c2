"""The method contract shared by every domain-adaptation method.

A method owns its networks and optimisers. The training loop owns time, data and devices: it calls
``update`` once per step with a source batch (images and labels), a target batch (images only) and the
progress ``p = step / steps`` in [0, 1), and calls ``predict`` / ``features`` / ``translate`` for evaluation.
Images are float tensors ``[B, C, H, W]`` in [0, 1] (the suite-wide value range); labels are int64 ``[B]``.

Methods never do file I/O, printing or device placement; the loop moves the whole module with ``.to()``.
Target labels never reach ``update`` — the single exception is an *oracle* method (``ORACLE = True``, the
target-only upper bound), which receives ``y_tgt`` and whose results are labelled as using target labels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from dabench.hparams import HP

CAPABILITIES = frozenset({"predict", "features", "translate"})


@dataclass(frozen=True)
class TaskSpec:
    """What a method needs to know about a task to build its networks.

    Attributes:
        channels: image channels after the task's protocol (1 or 3): the larger of the two domains' native
            counts, which both domains are brought to.
        size: image height = width after the protocol.
        num_classes: number of classes (0 on a label-free translation task).
        family: task family (``"digits"``, ``"translation"``, ``"linemod"``), which selects a method's
            per-family ``OVERRIDES``; default ``"digits"``.
    """

    channels: int
    size: int
    num_classes: int
    family: str = "digits"


class Method(nn.Module):
    """Base class. Subclasses set ``HPARAMS``, ``CAPABILITIES`` and implement ``update`` plus capabilities."""

    HPARAMS: ClassVar[dict[str, HP]] = {}
    OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {}
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    CAPABILITIES: ClassVar[frozenset[str]] = frozenset({"predict"})
    ORACLE: ClassVar[bool] = False
    #: the step budget when the user gives none (the reduced CPU budget; presets hold the paper's)
    DEFAULT_STEPS: ClassVar[int] = 1000
    #: set when the method classifies through the source-only classifier of the same task and seed
    NEEDS_SOURCE_CLASSIFIER: ClassVar[bool] = False
    #: the loop keeps this method's parameters and training batches in channels-last memory format (faster
    #: convolutions on CPUs: ``dabench bench`` times every method's update in both formats, columns (h) and (i));
    #: the mathematics is unchanged (tests/test_methods.py compares one update in each format in float64), the
    #: float32 numerics differ by summation order, and dropout masks, drawn in memory order, are other draws
    #: from the same distribution. A method that sets it must not ``view`` a conv map as flat (``reshape`` it)
    CHANNELS_LAST: ClassVar[bool] = False
    #: how outputs name the paths of :meth:`extra_eval` (path key → display name; a missing key shows as itself)
    EXTRA_PATHS: ClassVar[dict[str, str]] = {}
    #: hyper-parameters whose value always names a leaderboard row when a method's runs differ in it (a switch
    #: between readings of the paper): name → value → the words shown; a value not listed shows as name=value
    VARIANT_NAMES: ClassVar[dict[str, dict[Any, str]]] = {}
    #: the method's own end-of-run figures: ``f(method, task_data, run_dir, random_state=seed) -> {name: path}``
    #: on tasks with classes, called by the loop (methods themselves never write files); None for none
    FIGURES: ClassVar[Callable[..., dict] | None] = None
    #: the leaderboard's Table 1 row position (the CDLM paper's row order); ties and undeclared: alphabetical
    ROW_ORDER: ClassVar[int] = 1000
    #: the row of the CDLM paper's Table 1 that stands beside this method's row (None: no paper value)
    PAPER_ROW: ClassVar[str | None] = None
    #: that row's values: task → target test accuracy as a fraction (methods.md §1.5)
    PAPER_TABLE1: ClassVar[dict[str, float]] = {}
    #: the row of the CDLM paper's Table 2 (image translation) beside this method's (None: no paper value)
    PAPER_ROW2: ClassVar[str | None] = None
    #: that row's values: task → (SSIM, MSE, PSNR in dB)
    PAPER_TABLE2: ClassVar[dict[str, tuple[float, float, float]]] = {}
    #: the ablation tables of the method's paper (``dabench.ablation.Ablation`` records), in the paper's order
    ABLATIONS: ClassVar[tuple[Any, ...]] = ()
    #: the paper's Table-1 setting of the ablation switches (runs off it appear only in the ablation tables)
    TABLE1_SETTING: ClassVar[dict[str, Any]] = {}

    def __init__(self, spec: TaskSpec, hparams: dict[str, Any]):
        super().__init__()
        self.spec = spec
        self.hparams = dict(hparams)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    # ----------------------------------------------------------------- training
    def update(
        self, x_src: torch.Tensor, y_src: torch.Tensor, x_tgt: torch.Tensor, progress: float, **oracle: Any
    ) -> dict[str, float]:
        """One training step; returns detached floats for logging."""
        raise NotImplementedError

    # --------------------------------------------------------------- capabilities
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[B, K]`` for images ``[B, C, H, W]`` in [0, 1]."""
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Representation ``[B, D]`` used for the proxy A-distance and t-SNE."""
        raise NotImplementedError

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Target images → source-style images, same shape, values in [0, 1]."""
        raise NotImplementedError

    def attach_source_classifier(self, classifier: "Method") -> None:
        """Give a ``NEEDS_SOURCE_CLASSIFIER`` method the trained source-only model of the same task and seed.

        The classifier is frozen and kept out of this module's parameters and state dict (it is its own run,
        trained once and reused); the loop attaches it after moving the method to its device.
        """
        self.__dict__["source_classifier"] = classifier.eval().requires_grad_(False)

    def extra_eval(self, x_tgt: torch.Tensor) -> dict[str, torch.Tensor]:
        """Optional further predictions to score on the target test split: name → logits ``[B, K]``."""
        return {}

    # ------------------------------------------------------------ checkpointing
    def checkpoint_state(self) -> dict[str, Any]:
        """Networks and optimiser states (everything ``torch.load(weights_only=True)`` can read back)."""
        return {
            "model": self.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
        }

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["model"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every param group's learning rate (schedules are pure functions of progress, see DANN)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
