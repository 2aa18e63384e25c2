"""Network blocks shared by several methods (never copied between method modules)."""
from __future__ import annotations

import math

import torch
from torch import nn


class _GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``-coeff`` backward (Ganin & Lempitsky, ICML 2015)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Gradient-reversal layer: ``y = x`` forward, ``dL/dx = -coeff · dL/dy`` backward."""
    return _GradientReversal.apply(x, coeff)


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN's adaptation factor λ_p = 2 / (1 + exp(−γ p)) − 1 (Ganin et al., JMLR 2016 §5.2.2)."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def dann_lr(progress: float, lr0: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """DANN's annealing μ_p = μ0 / (1 + α p)^β (Ganin et al., JMLR 2016 §5.2.2)."""
    return lr0 / (1.0 + alpha * progress) ** beta


class DigitNet(nn.Module):
    """The DANN MNIST network (Ganin et al., JMLR 2016; reference/methods.md §4.1).

    Feature extractor G_f: conv5-32, ReLU, maxpool 2 → conv5-48, ReLU, maxpool 2 (valid padding: 48×4×4 =
    768 features at 28×28). Label predictor G_y: FC100, ReLU → FC100, ReLU → FC K. Inputs in [0, 1] are
    centred to [−1, 1] first.
    """

    def __init__(self, channels: int, size: int, num_classes: int):
        super().__init__()
        self.extractor = nn.Sequential(
            nn.Conv2d(channels, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 48, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        side = ((size - 4) // 2 - 4) // 2
        self.feature_dim = 48 * side * side
        self.classifier = nn.Sequential(
            nn.Linear(self.feature_dim, 100), nn.ReLU(),
            nn.Linear(100, 100), nn.ReLU(),
            nn.Linear(100, num_classes),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor(x * 2.0 - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def mlp(dims: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with ReLU (and optional dropout) between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
