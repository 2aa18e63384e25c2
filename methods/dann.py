"""DANN — Domain-Adversarial Neural Networks (Ganin, Ustinova, Ajakan, Germain, Larochelle, Laviolette,
Marchand, Lempitsky; JMLR 17(59), 2016; arXiv:1505.07818).

Objective (JMLR Eq. 9–10, §5.2.2): a feature extractor G_f, a label predictor G_y and a domain classifier G_d
joined by a gradient-reversal layer,

    min_{G_f, G_y} max_{G_d}  L_y(G_y(G_f(x_s)), y_s) − λ_p · L_d(G_d(G_f(x)), d),

implemented as one descent on ``L_y + L_d(G_d(GRL_λp(G_f(x))))``: G_d descends L_d, G_f receives −λ_p times
its gradient. λ_p = 2 / (1 + exp(−10 p)) − 1 and μ_p = μ0 / (1 + 10 p)^0.75 with p = step / steps; SGD with
momentum 0.9, μ0 = 0.01. Network: the paper's MNIST architecture (reference/methods.md §4.1) with the domain
classifier FC100 → ReLU → FC1 on the 768-d features.

Deviations:
    * 28×28 inputs with valid convolutions (features 48×4×4), the CDLM digit protocol; the paper used 28×28
      MNIST against 32×32-looking MNIST-M without stating padding.
    * Batches of ``batch_size`` source + ``batch_size`` target images (default 64 + 64 = the paper's 128).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dabench.hparams import AT_LEAST_ONE, HP, NONNEGATIVE, POSITIVE, uniform
from dabench.registry import METHODS
from dabench.methods._nets import dann_lambda, grad_reverse, mlp
from dabench.methods.source_only import SourceOnly


@METHODS.register("dann")
class DANN(SourceOnly):
    """Domain-adversarial training with a gradient-reversal layer (Ganin et al., JMLR 2016)."""

    HPARAMS = {
        **SourceOnly.HPARAMS,
        "gamma": HP(10.0, uniform(5.0, 20.0), "λ_p schedule steepness γ", valid=POSITIVE),
        "lambda_max": HP(1.0, uniform(0.1, 1.0), "scale of λ_p (the GRL coefficient is lambda_max · λ_p)",
                         valid=NONNEGATIVE),
        "disc_hidden": HP(100, None, "hidden units of the domain classifier G_d", valid=AT_LEAST_ONE),
    }
    ROW_ORDER = 20
    PAPER_ROW = "DANN"
    PAPER_TABLE1 = {"mnist-usps": 0.774, "usps-mnist": 0.833, "mnist-mnistm": 0.766, "mnistm-mnist": 0.851,
                    "fashion-fashionm": 0.765, "fashionm-fashion": 0.822, "linemod": 0.832}

    def build_extra_nets(self) -> None:
        self.discriminator = self.make_discriminator()

    def make_discriminator(self) -> torch.nn.Module:
        return mlp([self.net.feature_dim, self.hparams["disc_hidden"], 1])

    def domain_loss(self, f: torch.Tensor, logits: torch.Tensor, n_src: int, coeff: float) -> torch.Tensor:
        """L_d on source (label 1) and target (label 0) features through the gradient-reversal layer."""
        d = self.discriminator(grad_reverse(f, coeff)).squeeze(1)
        return F.binary_cross_entropy_with_logits(d, domain_labels(n_src, len(f) - n_src, d))

    def update(self, x_src, y_src, x_tgt, progress, **oracle):
        self.anneal(progress)
        n_src = len(x_src)
        f = self.net.forward_features(torch.cat([x_src, x_tgt]))
        logits = self.net.classifier(f)
        loss_cls = F.cross_entropy(logits[:n_src], y_src)
        coeff = self.hparams["lambda_max"] * dann_lambda(progress, self.hparams["gamma"])
        loss_dom = self.domain_loss(f, logits, n_src, coeff)
        self.descend(loss_cls + loss_dom)
        return {"loss_cls": loss_cls.item(), "loss_dom": loss_dom.item(), "grl_coeff": coeff}


def domain_labels(n_src: int, n_tgt: int, like: torch.Tensor) -> torch.Tensor:
    """1 for source, 0 for target (the sign convention is arbitrary; fixed here for all methods)."""
    return torch.cat([like.new_ones(n_src), like.new_zeros(n_tgt)])
