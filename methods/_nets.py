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
            # max-pool before ReLU: the two commute (ReLU is monotone), so the outputs and gradients are the
            # paper's conv → ReLU → pool exactly, while ReLU and its backward touch a quarter of the values
            nn.Conv2d(channels, 32, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(32, 48, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
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


#: ``backbone`` hyper-parameter values: the DANN digit net, or a timm architecture built without weights
BACKBONES = ("digitnet", "resnet18", "resnet10t")


class TimmNet(nn.Module):
    """A timm architecture (randomly initialised, ``pretrained=False``) as a classifier for small RGB images.

    Adapted to 64×64 inputs by replacing the stem's 3×3/2 max-pool with the identity, so a ResNet's last stage
    sees a 4×4 map instead of 2×2 (the stride-2 stem convolution is kept, which keeps the cost CPU-sized).
    Same interface as :class:`DigitNet`: ``forward_features`` (global-average-pooled, ``feature_dim``
    values), ``classifier`` (one linear layer) and ``forward``. Inputs in [0, 1] are centred to [−1, 1].
    """

    def __init__(self, arch: str, channels: int, size: int, num_classes: int):
        super().__init__()
        import timm  # imported here: the digit tasks never need it

        # zero_init_last=False: torchvision's init, so every parameter gets a gradient from the first step
        self.body = timm.create_model(arch, pretrained=False, num_classes=0, in_chans=channels,
                                      zero_init_last=False)
        if size <= 64 and isinstance(getattr(self.body, "maxpool", None), nn.MaxPool2d):
            self.body.maxpool = nn.Identity()
        self.feature_dim = self.body.num_features
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * 2.0 - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def classifier_net(backbone: str, channels: int, size: int, num_classes: int) -> nn.Module:
    """The classifier network named by a method's ``backbone`` hyper-parameter (one of :data:`BACKBONES`)."""
    if backbone == "digitnet":
        return DigitNet(channels, size, num_classes)
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone '{backbone}'; valid: {', '.join(BACKBONES)}")
    return TimmNet(backbone, channels, size, num_classes)


def pixel_mse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Per-pixel squared error of two image batches in [−1, 1], on the [0, 1] scale (a logged diagnostic)."""
    return float(((a - b) / 2.0).pow(2).mean())


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


class UnitBlock(nn.Module):
    """UNIT's CoVAE building block: (transposed) convolution → BatchNorm(affine=False) → learned per-channel
    bias → LeakyReLU(0.01) (Liu et al., NeurIPS 2017; reference/methods.md §2.2). Conv weights ~ N(0, 0.02)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0,
                 transposed: bool = False, activation: bool = True):
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv(c_in, c_out, kernel, stride, padding, bias=False)
        nn.init.normal_(self.conv.weight, 0.0, 0.02)
        self.norm = nn.BatchNorm2d(c_out, affine=False)
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.act = nn.LeakyReLU(0.01) if activation else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)) + self.bias)


def unit_encoder_layers(c_in: int, c: int, size: int) -> list[nn.Module]:
    """UNIT's digit encoder trunk adapted to ``size``×``size`` inputs (reference/methods.md §1.3.4, A11).

    E1 conv5/s2 (c) → E2 conv5/s2 (2c) → E3 valid conv over the remaining map (4c, 1×1; 7×7 at 28×28 where
    UNIT has 8×8 at 32×32) → E4 conv1 (8c). Returned as separate layers so that a method can make any of
    them domain-specific (UNIT's first layer) or read an intermediate layer (CDLM Table 3).
    """
    side = (size + 1) // 2
    side = (side + 1) // 2
    return [
        UnitBlock(c_in, c, 5, 2, 2),
        UnitBlock(c, 2 * c, 5, 2, 2),
        UnitBlock(2 * c, 4 * c, side, 1, 0),
        UnitBlock(4 * c, 8 * c, 1),
    ]


def unit_decoder_layers(d_z: int, c: int, c_out: int, size: int) -> list[nn.Module]:
    """The mirrored decoder (reference/methods.md §1.3.4) from a ``d_z``×1×1 code to ``c_out``×size×size.

    D1 convT over the quarter-size map (8c) → D2 convT4/s2 (4c) → D3 convT4/s2 (2c) → D4 conv3 (c) →
    D5 conv1 to ``c_out`` with tanh (outputs in [−1, 1]). ``size`` must be divisible by 4.
    """
    if size % 4:
        raise ValueError(f"the UNIT-style decoder needs a size divisible by 4; got {size}")
    return [
        UnitBlock(d_z, 8 * c, size // 4, 1, 0, transposed=True),
        UnitBlock(8 * c, 4 * c, 4, 2, 1, transposed=True),
        UnitBlock(4 * c, 2 * c, 4, 2, 1, transposed=True),
        UnitBlock(2 * c, c, 3, 1, 1),
        nn.Sequential(nn.Conv2d(c, c_out, 1), nn.Tanh()),
    ]
