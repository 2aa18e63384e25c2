"""CDAN and CDAN+E — Conditional Adversarial Domain Adaptation (Long, Cao, Wang, Jordan; NeurIPS 2018;
arXiv:1705.10667).

Objective (paper Eq. 4–7). A feature extractor F, a classifier G and a domain discriminator D play

    min_G  E(G) − λ · E(D, G),     min_D  E(D, G),
    E(D, G) = − E_{x_s} w(x_s) log D(T(f_s, g_s)) − E_{x_t} w(x_t) log(1 − D(T(f_t, g_t))),

with f = F(x) the feature extractor's output, g = softmax(G(f)) the classifier's prediction, and the conditioning
T(f, g) either the multilinear map f ⊗ g (Eq. 4, flattened outer product, d_f · d_g dims) or, when that is
too large, the randomized multilinear map T⊙(f, g) = (R_f f) ⊙ (R_g g) / √d with fixed Gaussian R_f, R_g
(Eq. 6; its inner products are unbiased estimates of the exact map's). g is detached inside T (thuml/CDAN,
reference/methods.md §5.3): the classifier learns from E(G) only, while F also receives the reversed
adversarial gradient through f. CDAN: w ≡ 1. CDAN+E (Eq. 7): w = 1 + exp(−H(g)), which up-weights
confident (low-entropy) examples.

As in DANN, the min-max is one descent through a gradient-reversal layer with coefficient
λ_p = 2 / (1 + exp(−10 p)) − 1 (the thuml code uses the same schedule), the DANN digit backbone and DANN's
SGD / learning-rate annealing (the :class:`~dabench.methods.dann.DANN` base class). The discriminator is
the paper's digit ``AdversarialNetwork`` (reference/methods.md §5.2): FC500–ReLU–Dropout(0.5)–FC500–ReLU–
Dropout(0.5)–FC1.

Entropy weights (CDAN+E), per reference/methods.md §5.3: **per-domain normalisation** as in the authors'
code: ŵ_i = w_i / Σ_{j ∈ domain(i)} w_j (so each domain's weights sum to 1, the normalisers detached), and the
weighted BCE Σ ŵ_i ℓ_i is divided by Σ ŵ = 2. ``entropy_norm=batch`` selects TLlib's whole-batch
normalisation (ŵ = w · N / Σ w, loss = mean ŵ ℓ) instead. With ``entropy_grad=True`` (default, the authors'
code and Eq. 7, where w is a function of G) the entropy passes through the same gradient-reversal layer so
the backbone also receives the (reversed) gradient through w; ``entropy_grad=False`` detaches w (TLlib).

Deviations:
    * Backbone: the DANN MNIST network shared with DANN/source-only (conv32–conv48–FC100–FC100–FC10, no
      dropout) instead of CDAN's LeNet (conv20–conv50–FC500 with dropout), with DANN's own split into the
      feature extractor G_f (the 768-d conv features, f) and the label predictor G_y (g), so that DANN and
      CDAN differ only in what the discriminator sees (``feature=extractor``). ``feature=penultimate`` takes
      f = the 100-d input of the last linear layer instead (the split of the authors' LeNet, whose classifier
      is a single linear layer).
    * Map choice: ``multilinear_map=auto`` uses the exact map when d_f · d_g ≤ ``random_threshold`` (4096)
      and the randomized one with d = ``random_dim`` (1024) otherwise — the rule of the paper's
      implementation details (not in reference/methods.md, so unverified against the paper's text); the thuml
      digit scripts instead switch with a ``--random`` flag and use d = 500. ``full`` / ``randomized`` force
      either map. On the digit tasks d_f · d_g = 768 · 10 = 7680, so the default is the randomized map.
    * Schedule: DANN's learning-rate annealing μ0 / (1 + 10 p)^0.75 and a fixed step budget instead of the
      thuml digit scripts' step decay over 50 epochs (whose first epoch is source-only; λ_p ≈ 0 plays that
      role here), over a reduced budget of 5,000 steps (``DEFAULT_STEPS``, CPU-sized). Weight decay 5e-4 as in
      the CDAN digit scripts.
    * Batches of ``batch_size`` source + ``batch_size`` target images (64 + 64, the thuml digit batch).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dabench.hparams import AT_LEAST_ONE, HP, NONNEGATIVE, UNIT_OPEN_HIGH, uniform
from dabench.registry import METHODS
from dabench.methods._nets import grad_reverse, mlp
from dabench.methods.dann import DANN, domain_labels


class _RandomizedMultilinear(nn.Module):
    """T⊙(f, g) = (R_f f) ⊙ (R_g g) / √d with fixed R_f ∈ R^{d×d_f}, R_g ∈ R^{d×d_g}, entries ~ N(0, 1).

    The matrices are buffers: never trained, saved with the model (so a reloaded model conditions identically).
    """

    def __init__(self, d_f: int, d_g: int, dim: int):
        super().__init__()
        self.dim = dim
        self.register_buffer("r_f", torch.randn(dim, d_f))
        self.register_buffer("r_g", torch.randn(dim, d_g))

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (f @ self.r_f.t()) * (g @ self.r_g.t()) / math.sqrt(self.dim)


def multilinear_map(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """T⊗(f, g) = vec(g ⊗ f): ``[B, d_f]``, ``[B, d_g]`` → ``[B, d_g · d_f]`` (entry [b, i·d_f + j] = g_i f_j)."""
    return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)


def entropy(probs: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Shannon entropy (nats) of each row of ``probs [B, K]`` → ``[B]``."""
    return -(probs * torch.log(probs + eps)).sum(1)


def entropy_weights(probs: torch.Tensor, n_src: int, norm: str = "domain") -> torch.Tensor:
    """CDAN+E weights w = 1 + exp(−H(g)), normalised (reference/methods.md §5.3).

    Args:
        probs: softmax predictions ``[B, K]``, the first ``n_src`` rows from the source batch.
        n_src: number of source rows.
        norm: ``domain`` — each domain's weights divided by their (detached) sum, so each domain sums to 1
            (the authors' code); ``batch`` — w · B / Σ w over the whole batch (TLlib).
    Returns:
        weights ``[B]``; gradients flow through the numerators only (the normalisers are detached).
    """
    w = 1.0 + torch.exp(-entropy(probs))
    if norm == "domain":
        w_src, w_tgt = w[:n_src], w[n_src:]
        return torch.cat([w_src / w_src.sum().detach(), w_tgt / w_tgt.sum().detach()])
    if norm == "batch":
        return w * len(w) / w.sum().detach()
    raise ValueError(f"entropy_norm must be 'domain' or 'batch'; got {norm!r}")


@METHODS.register("cdan")
class CDAN(DANN):
    """Conditional adversarial domain adaptation: D sees the multilinear map of features and predictions."""

    HPARAMS = {
        **DANN.HPARAMS,
        "weight_decay": HP(5e-4, None, "L2 weight decay (CDAN digit scripts)", valid=NONNEGATIVE),
        "disc_hidden": HP(500, None, "hidden units of both hidden layers of the discriminator (paper: 500)",
                          valid=AT_LEAST_ONE),
        "disc_dropout": HP(0.5, uniform(0.0, 0.5), "dropout after each hidden layer of the discriminator",
                           valid=UNIT_OPEN_HIGH),
        "feature": HP("extractor", None, "f: 'extractor' (DANN's G_f output, 768-d on digits) or 'penultimate' "
                      "(the input of the last linear layer, 100-d)", choices=("extractor", "penultimate")),
        "multilinear_map": HP("auto", None, "'full' T⊗, 'randomized' T⊙, or 'auto': T⊙ when d_f·d_g > "
                              "random_threshold", choices=("auto", "full", "randomized")),
        "random_threshold": HP(4096, None, "largest d_f·d_g for which 'auto' uses the exact map", valid=AT_LEAST_ONE),
        "random_dim": HP(1024, None, "output dimension d of the randomized multilinear map", valid=AT_LEAST_ONE),
    }
    #: the reduced CPU budget (DANN's is 10,000); its cost is in docs/measurements.md
    DEFAULT_STEPS = 5000
    ROW_ORDER = 50
    #: CDLM's "CDAN" row holds CDAN+E's numbers on M→U and U→M (methods.md §5.5): it stands beside cdan-e too
    PAPER_ROW = "CDAN"
    PAPER_TABLE1 = {"mnist-usps": 0.956, "usps-mnist": 0.980, "mnist-mnistm": 0.862, "mnistm-mnist": 0.902,
                    "fashion-fashionm": 0.875, "fashionm-fashion": 0.891, "linemod": 0.936}
    #: CDAN+E's entropy conditioning (set by the subclass)
    ENTROPY_CONDITIONING = False

    def build_extra_nets(self) -> None:
        hp = self.hparams
        d_f = self.net.feature_dim if hp["feature"] == "extractor" else self._last_linear().in_features
        d_g = self.spec.num_classes
        mode = hp["multilinear_map"]
        self.randomized = mode == "randomized" or (mode == "auto" and d_f * d_g > hp["random_threshold"])
        if self.randomized:
            self.random_map = _RandomizedMultilinear(d_f, d_g, hp["random_dim"])
        self.cond_dim = hp["random_dim"] if self.randomized else d_f * d_g
        super().build_extra_nets()

    def _last_linear(self) -> nn.Linear:
        head = self.net.classifier
        return head[-1] if isinstance(head, nn.Sequential) else head

    def _penultimate(self, f: torch.Tensor) -> torch.Tensor:
        """The input of the backbone's last linear layer, from its extractor output ``f``."""
        head = self.net.classifier
        return head[:-1](f) if isinstance(head, nn.Sequential) else f

    def make_discriminator(self) -> nn.Module:
        h = self.hparams["disc_hidden"]
        return mlp([self.cond_dim, h, h, 1], dropout=self.hparams["disc_dropout"])

    def condition(self, f: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """The discriminator input T(f, g) ``[B, cond_dim]`` from features and logits (g detached).

        Args:
            f: the backbone's extractor output ``[B, feature_dim]`` (the classifier's hidden layers are applied
                here when ``feature=penultimate``).
            logits: class logits ``[B, K]``.
        """
        if self.hparams["feature"] == "penultimate":
            f = self._penultimate(f)
        g = F.softmax(logits, dim=1).detach()
        return self.random_map(f, g) if self.randomized else multilinear_map(f, g)

    def domain_loss(self, f: torch.Tensor, logits: torch.Tensor, n_src: int, coeff: float) -> torch.Tensor:
        """E(D, G) through the gradient-reversal layer (w ≡ 1 for CDAN, entropy weights for CDAN+E)."""
        d = self.discriminator(grad_reverse(self.condition(f, logits), coeff)).squeeze(1)
        labels = domain_labels(n_src, len(f) - n_src, d)
        if not self.ENTROPY_CONDITIONING:
            return F.binary_cross_entropy_with_logits(d, labels)
        probs = F.softmax(logits, dim=1)
        if self.hparams["entropy_grad"]:
            # Eq. 7: w depends on G; the authors' code reverses its gradient with the same coefficient.
            probs = grad_reverse(probs, coeff)
        else:
            probs = probs.detach()
        w = entropy_weights(probs, n_src, self.hparams["entropy_norm"])
        return (w * F.binary_cross_entropy_with_logits(d, labels, reduction="none")).sum() / w.sum().detach()


@METHODS.register("cdan-e")
class CDANE(CDAN):
    """CDAN+E: CDAN with entropy conditioning w = 1 + exp(−H(g)) (Long et al., NeurIPS 2018, Eq. 7)."""

    HPARAMS = {
        **CDAN.HPARAMS,
        "entropy_norm": HP("domain", None, "weight normalisation: 'domain' (each domain sums to 1, authors' "
                           "code) or 'batch' (w·B/Σw, TLlib)", choices=("domain", "batch")),
        "entropy_grad": HP(True, None, "let the (reversed) adversarial gradient flow through H(g) (authors' "
                           "code); False detaches the weights (TLlib)"),
    }
    ENTROPY_CONDITIONING = True
    ROW_ORDER = 51
    PAPER_ROW = CDAN.PAPER_ROW
    PAPER_TABLE1 = CDAN.PAPER_TABLE1
