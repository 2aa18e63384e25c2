"""UNIT-lite — Unsupervised Image-to-Image Translation Networks (Liu, Breuel, Kautz; NeurIPS 2017;
arXiv:1703.00848), in the configuration of the authors' released domain-adaptation trainer.

Shared-latent assumption: a source image x_a and a target image x_b of the same content map to one code z.
Two VAE-GANs are coupled by weight sharing (reference/methods.md §2.2–2.4):

    encoders   E_a = S_E ∘ E1_a,  E_b = S_E ∘ E1_b   (domain-specific first layer, shared high-level layers S_E
                                                      and shared Gaussian head: μ, σ = softplus(·))
    decoders   G_a = T_a ∘ S_G,   G_b = T_b ∘ S_G    (shared low-resolution layers S_G, domain-specific tails)
    z = μ + σ ⊙ ε;   x_aa = G_a(z_a), x_ab = G_b(z_a), x_ba = G_a(z_b), x_bb = G_b(z_b).

A coupled discriminator (domain-specific first conv, shared rest) has an adversarial head (2-way, fake/real)
and a class head trained on labelled source images. One ``update`` = one D step then one G step:

    D:  gan_w [CE(D(x_a, x_b), real) + ½ (CE(D(x_aa, x_bb), fake) + CE(D(x_ba, x_ab), fake))]
        + cls_w CE(C_a(x_a), y_a) + feature_w [‖h(x_ab) − h(x_aa)‖² + ‖h(x_ba) − h(x_bb)‖²]
    G:  gan_w [CE(D(x_aa, x_bb), real) + CE(D(x_ba, x_ab), real)] + kl_w KL + ll_w [‖x_aa − x_a‖² + ‖x_bb − x_b‖²]
        + cyc_kl_w KL_cyc + cyc_w [‖x_aba − x_a‖² + ‖x_bab − x_b‖²]

with squared errors summed over pixels and averaged over the batch, KL = Σ(μ² + σ² − log σ²) / B over both
domains' codes (the released trainer's form), h the discriminator's last conv features (without dropout), and
the weights of the released SVHN→MNIST config: gan_w 1, kl_w 1e-4, ll_w 1e-3, cls_w 10, feature_w 1e-4;
Adam 2e-4, β (0.5, 0.999), weight decay 5e-4 — except ``ll_w`` 0.1 and ``lr`` 1e-3 (deviations below).
Images are in [−1, 1] with two coordinate channels appended for the encoders (the released "context" trainer).

Cycle reconstruction (Eq. 5 of the paper): x_aba = G_a(E_b(x_ab)), x_bab = G_b(E_a(x_ba)), with its own KL on
the re-encoded codes. The released digit trainer has no cycle term (reference/methods.md §2.4); the suite's
specification asks for it, so it is on by default with the paper's weighting rule λ4 = λ2 and λ3 = λ1 —
``cyc_w`` = ``ll_w`` = 0.1 and ``cyc_kl_w`` = ``kl_w`` = 1e-4 — and ``cyc_w=0 cyc_kl_w=0`` gives the released
trainer.

Prediction (the suite's pixel-level protocol, reference/methods.md A2): a target image is translated to the
source domain, x_ba = G_a(μ_b(x_b)), and classified by the source-only classifier of the same task and seed
(``NEEDS_SOURCE_CLASSIFIER``). UNIT's own number — the discriminator's class head through the *target* first
layer, C_b(x_b) (§2.6) — is recorded as the second evaluation path ``unit_cls``. :meth:`diagnostics` logs
label-free checks of the translation (``rec_px``, ``meanimg_px``, ``cyc_acc``).

Deviations:
    * 28×28 inputs (suite protocol, A11): the encoder's third conv is a 7×7 valid conv and the decoder starts
      with a 7×7 transposed conv (``unit_encoder_layers`` / ``unit_decoder_layers`` of ``_nets``); of the
      decoder's five layers the first three (to 2c × 28 × 28) are shared and the last two (conv3 to c, conv1
      + tanh) domain-specific — the same 3 + 2 split as UNIT's 32×32 decoder. The discriminator pools with
      ``ceil_mode`` (28 → 14 → 7 → 4 → 2, UNIT's 2×2 head); any size divisible by 4 works (64×64 for the
      translation tasks).
    * Widths: ``gen_ch`` = 16 (code 128-d) and ``dis_ch`` = 8 instead of 64, batch 32 instead of 64 per domain,
      and a ``DEFAULT_STEPS`` budget of 1,000 instead of 200,000 (CPU budget; "lite"). A longer budget is
      not the default because it costs proportionally more without closing the gap to source only.
    * For that budget, Adam at ``lr`` 1e-3 instead of 2e-4 and ``ll_w`` = ``cyc_w`` = 0.1 instead of 1e-3,
      chosen on the label-free diagnostics alone: at the released values the reconstruction does not beat the
      batch's mean image within the budget and the class is lost in translation, and neither change alone
      fixes both. ``--set lr=2e-4 --set ll_w=1e-3 --set cyc_w=1e-3`` restores the released values.
    * One generator forward per step serves both the D step (detached) and the G step (the released trainer
      runs the generator twice; the outputs differ only by the ε sample).
    * The last iterate is reported (no selection on the target test set, unlike the released evaluation).
    * Grey domains are replicated to 3 channels when the other is RGB (suite protocol), so both domains have
      the task's channel count.

The class head (UNIT's own classifier, trained on source labels through the shared discriminator layers)
sits behind the released discriminator dropout (0.1, 0.3, 0.5, 0.5, ``DIS_DROPOUT``); ``dis_dropout`` scales
it (1 = released, 0 = none), and ``dis_ch`` sets the width it has to learn with. Both paths of the head are
scored: ``unit_cls`` (C_b, UNIT's reported number) and ``unit_cls_src`` (C_a, whose source-validation accuracy
says, without target labels, whether the head learns at all). The label-free probes behind the
lite defaults and the longer-budget runs are in docs/measurements.md.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dabench.hparams import AT_LEAST_ONE, HP, NONNEGATIVE, POSITIVE, UNIT, UNIT_OPEN_HIGH, log_uniform
from dabench.method import Method, TaskSpec
from dabench.registry import METHODS
from dabench.methods._nets import pixel_mse, unit_decoder_layers, unit_encoder_layers

#: decoder layers shared between the two domains (the rest are each domain's tail)
SHARED_DECODER_LAYERS = 3
#: dropout after each of the discriminator's four conv blocks (adversarial and class paths)
DIS_DROPOUT = (0.1, 0.3, 0.5, 0.5)


def coordinate_channels(size: int) -> torch.Tensor:
    """UNIT's "context": two ``[size, size]`` maps holding the row and column coordinate, (i − size/2)/(size/2)."""
    r = (torch.arange(size, dtype=torch.float32) - size / 2) / (size / 2)
    return torch.stack([r.view(-1, 1).expand(size, size), r.view(1, -1).expand(size, size)])


class _CoupledVAE(nn.Module):
    """The coupled generator: per-domain first encoder layer and decoder tail around shared layers."""

    def __init__(self, channels: int, size: int, ch: int, coords: bool):
        super().__init__()
        c_in = channels + 2 if coords else channels
        enc = unit_encoder_layers(c_in, ch, size)
        dec = unit_decoder_layers(8 * ch, ch, channels, size)
        self.enc_private = nn.ModuleList([enc[0], unit_encoder_layers(c_in, ch, size)[0]])
        self.enc_shared = nn.Sequential(*enc[1:])
        self.mu = nn.Conv2d(8 * ch, 8 * ch, 1)
        self.sigma = nn.Conv2d(8 * ch, 8 * ch, 1)
        self.dec_shared = nn.Sequential(*dec[:SHARED_DECODER_LAYERS])
        tail_b = unit_decoder_layers(8 * ch, ch, channels, size)[SHARED_DECODER_LAYERS:]
        self.dec_private = nn.ModuleList([nn.Sequential(*dec[SHARED_DECODER_LAYERS:]), nn.Sequential(*tail_b)])
        # The released trainer re-initialises every generator conv weight ~ N(0, 0.02) after construction
        # (gen.apply(gaussian_weights_init)), the Gaussian heads included; their biases keep N(0, 0.002).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
        for head in (self.mu, self.sigma):
            nn.init.normal_(head.bias, 0.0, 0.002)
        if coords:
            self.register_buffer("coords", coordinate_channels(size), persistent=False)
        else:
            self.coords = None

    def encode(self, x_a: torch.Tensor | None, x_b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, σ), each ``[B_a + B_b, 8ch, 1, 1]``, of source images x_a then target images x_b (one may be None).

        Both domains pass through the shared layers as one batch, as in UNIT (shared batch statistics).
        """
        hs = []
        for domain, x in enumerate((x_a, x_b)):
            if x is None:
                continue
            if self.coords is not None:
                x = torch.cat([x, self.coords.expand(len(x), -1, -1, -1)], 1)
            hs.append(self.enc_private[domain](x))
        h = self.enc_shared(torch.cat(hs))
        return self.mu(h), F.softplus(self.sigma(h))

    def decode(self, z: torch.Tensor, domain: int) -> torch.Tensor:
        """Codes ``[B, 8ch, 1, 1]`` → images of ``domain`` (0 source, 1 target) in [−1, 1]."""
        return self.dec_private[domain](self.dec_shared(z))


class _CoupledDiscriminator(nn.Module):
    """UNIT's CoDis: per-domain conv5 + pool, shared conv5 + pool ×3, a 2-way adversarial and a class head."""

    def __init__(self, channels: int, size: int, ch: int, num_classes: int, dropout_scale: float = 1.0):
        super().__init__()
        self.dropout = tuple(dropout_scale * p for p in DIS_DROPOUT)

        def block(c_in: int, c_out: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True))

        self.first = nn.ModuleList([block(channels, ch), block(channels, ch)])
        self.core = nn.ModuleList([block(ch, 2 * ch), block(2 * ch, 4 * ch), block(4 * ch, 8 * ch)])
        side = size
        for _ in range(4):
            side = (side + 1) // 2
        self.adv_head = nn.Conv2d(8 * ch, 2, side)
        # a label-free translation task (num_classes 0) has no source labels and no class head
        self.cls_head = nn.Conv2d(8 * ch, num_classes, side) if num_classes else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight, gain=2 ** 0.5)
                nn.init.constant_(m.bias, 0.1)

    def trunk(self, x: torch.Tensor, domain: int, dropout: bool) -> torch.Tensor:
        """The last conv block's features ``[B, 8ch, s, s]`` (with UNIT's dropout schedule when asked)."""
        h = self.first[domain](x)
        for block, p in zip((None, *self.core), self.dropout):
            if block is not None:
                h = block(h)
            if dropout:
                h = F.dropout(h, p, self.training)
        return h

    def adversarial(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        """Fake (0) / real (1) logits ``[B, 2]``."""
        return self.adv_head(self.trunk(x, domain, dropout=True)).flatten(1)

    def classify(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        """Class logits ``[B, K]`` through ``domain``'s first layer."""
        return self.cls_head(self.trunk(x, domain, dropout=True)).flatten(1)


def _kl(mu: torch.Tensor, sigma: torch.Tensor, batch: int) -> torch.Tensor:
    """The released trainer's KL: Σ (μ² + σ² − log σ²) / batch (over every code and latent dimension)."""
    var = sigma.pow(2)
    return (mu.pow(2) + var - torch.log(var + 1e-12)).sum() / batch


def _sq_err(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared error summed over C·H·W, averaged over the batch (UNIT's ``_compute_ll_loss``)."""
    return (x - y).pow(2).flatten(1).sum(1).mean()


def _ce(logits: torch.Tensor, label: int) -> torch.Tensor:
    return F.cross_entropy(logits, torch.full((len(logits),), label, dtype=torch.long, device=logits.device))


@METHODS.register("unit-lite")
class UNITLite(Method):
    """Coupled VAE-GANs with a shared latent space; target images are translated to the source and classified."""

    HPARAMS = {
        "lr": HP(1e-3, log_uniform(1e-4, 2e-3), "Adam learning rate, G and D (released: 2e-4; see docstring)",
                 valid=POSITIVE),
        "beta1": HP(0.5, None, "Adam β1", valid=UNIT_OPEN_HIGH),
        "weight_decay": HP(5e-4, None, "Adam L2 weight decay", valid=NONNEGATIVE),
        "batch_size": HP(32, None, "images per domain per step (released config: 64)", valid=AT_LEAST_ONE),
        "gen_ch": HP(16, None, "generator width c (released config: 64 / 96); the code has 8c dims",
                     valid=AT_LEAST_ONE),
        "dis_ch": HP(8, None, "discriminator width (released config: 64)", valid=AT_LEAST_ONE),
        "coord_channels": HP(True, None, "append the two coordinate channels to the encoder input"),
        "gan_w": HP(1.0, None, "adversarial weight", valid=NONNEGATIVE),
        "kl_w": HP(1e-4, None, "KL weight (kl_normalized_direct_w)", valid=NONNEGATIVE),
        "ll_w": HP(0.1, None, "reconstruction weight (released ll_normalized_direct_w: 1e-3; see docstring)",
                   valid=NONNEGATIVE),
        "cls_w": HP(10.0, None, "weight of the discriminator's source classification loss", valid=NONNEGATIVE),
        "feature_w": HP(1e-4, None, "weight of the discriminator's feature-matching term", valid=NONNEGATIVE),
        "cyc_w": HP(0.1, None, "cycle-reconstruction weight (paper: λ4 = λ2; 0 = released DA trainer)",
                    valid=NONNEGATIVE),
        "cyc_kl_w": HP(1e-4, None, "KL weight of the cycle codes (paper: λ3 = λ1; 0 = released DA trainer)",
                       valid=NONNEGATIVE),
        "dis_dropout": HP(1.0, None, "scale of the released discriminator dropout (0.1, 0.3, 0.5, 0.5); 0: none",
                          valid=UNIT, absent=1.0),
    }
    CAPABILITIES = frozenset({"predict", "translate"})
    EXTRA_PATHS = {"unit_cls": "UNIT's classifier C_b", "unit_cls_src": "UNIT's classifier C_a"}
    NEEDS_SOURCE_CLASSIFIER = True
    CHANNELS_LAST = True  # see Method.CHANNELS_LAST
    DEFAULT_STEPS = 1000
    ROW_ORDER = 70
    PAPER_ROW = "UNIT"
    PAPER_TABLE1 = {"mnist-usps": 0.960, "usps-mnist": 0.951, "mnist-mnistm": 0.920, "mnistm-mnist": 0.932,
                    "fashion-fashionm": 0.796, "fashionm-fashion": 0.805, "linemod": 0.964}

    def __init__(self, spec: TaskSpec, hparams: dict):
        super().__init__(spec, hparams)
        hp = self.hparams
        self.generator = _CoupledVAE(spec.channels, spec.size, hp["gen_ch"], hp["coord_channels"])
        self.discriminator = _CoupledDiscriminator(spec.channels, spec.size, hp["dis_ch"], spec.num_classes,
                                                   hp["dis_dropout"])
        adam = dict(lr=hp["lr"], betas=(hp["beta1"], 0.999), weight_decay=hp["weight_decay"])
        self.optimizers["dis"] = torch.optim.Adam(self.discriminator.parameters(), **adam)
        self.optimizers["gen"] = torch.optim.Adam(self.generator.parameters(), **adam)

    # ------------------------------------------------------------------ training
    def forward_pair(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Codes and the four decodings of a source batch x_a and a target batch x_b (both in [−1, 1])."""
        n = len(x_a)
        mu, sigma = self.generator.encode(x_a, x_b)
        z = mu + sigma * torch.randn_like(mu)
        h = self.generator.dec_shared(z)
        out_a, out_b = self.generator.dec_private[0](h), self.generator.dec_private[1](h)
        return {"mu": mu, "sigma": sigma, "x_aa": out_a[:n], "x_ba": out_a[n:], "x_ab": out_b[:n],
                "x_bb": out_b[n:]}

    def update(self, x_src, y_src, x_tgt, progress, **oracle):
        hp = self.hparams
        dis, n = self.discriminator, len(x_src)
        x_a, x_b = x_src * 2.0 - 1.0, x_tgt * 2.0 - 1.0
        out = self.forward_pair(x_a, x_b)
        fake = {k: out[k].detach() for k in ("x_aa", "x_ba", "x_ab", "x_bb")}

        # D step: real pairs vs reconstructions and translations; source labels through the class head; the
        # translated images' features are pulled towards those of the same code's reconstruction.
        real = torch.cat([dis.adversarial(x_a, 0), dis.adversarial(x_b, 1)])
        recon = torch.cat([dis.adversarial(fake["x_aa"], 0), dis.adversarial(fake["x_bb"], 1)])
        trans = torch.cat([dis.adversarial(fake["x_ba"], 0), dis.adversarial(fake["x_ab"], 1)])
        loss_dis_adv = _ce(real, 1) + 0.5 * (_ce(recon, 0) + _ce(trans, 0))
        if dis.cls_head is not None:
            loss_cls = F.cross_entropy(dis.classify(x_a, 0), y_src)
        else:  # a label-free translation task
            loss_cls = x_a.new_zeros(())
        loss_feat = (_sq_err(dis.trunk(fake["x_ab"], 1, False), dis.trunk(fake["x_aa"], 0, False))
                     + _sq_err(dis.trunk(fake["x_ba"], 0, False), dis.trunk(fake["x_bb"], 1, False)))
        loss_d = hp["gan_w"] * loss_dis_adv + hp["cls_w"] * loss_cls + hp["feature_w"] * loss_feat
        self._descend("dis", loss_d, list(dis.parameters()))

        # G step against the updated discriminator: all four decodings should pass as real.
        loss_gan = (_ce(torch.cat([dis.adversarial(out["x_aa"], 0), dis.adversarial(out["x_bb"], 1)]), 1)
                    + _ce(torch.cat([dis.adversarial(out["x_ba"], 0), dis.adversarial(out["x_ab"], 1)]), 1))
        loss_kl = _kl(out["mu"], out["sigma"], n)
        loss_rec = _sq_err(out["x_aa"], x_a) + _sq_err(out["x_bb"], x_b)
        loss_g = hp["gan_w"] * loss_gan + hp["kl_w"] * loss_kl + hp["ll_w"] * loss_rec
        losses = {"loss_dis_adv": loss_dis_adv.item(), "loss_cls": loss_cls.item(), "loss_feat": loss_feat.item(),
                  "loss_gan": loss_gan.item(), "loss_kl": loss_kl.item(), "loss_rec": loss_rec.item()}
        if hp["cyc_w"] or hp["cyc_kl_w"]:
            loss_cyc, loss_cyc_kl = self.cycle_losses(x_a, x_b, out)
            loss_g = loss_g + hp["cyc_w"] * loss_cyc + hp["cyc_kl_w"] * loss_cyc_kl
            losses.update(loss_cyc=loss_cyc.item(), loss_cyc_kl=loss_cyc_kl.item())
        self._descend("gen", loss_g, list(self.generator.parameters()))
        losses.update(self.diagnostics(x_a, y_src, out))
        return losses

    @torch.no_grad()
    def diagnostics(self, x_a: torch.Tensor, y_a: torch.Tensor, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """Label-free checks of the translation (no target label is used), logged with each evaluation:

        * ``rec_px`` / ``meanimg_px``: per-pixel squared error on the [0, 1] scale of the source reconstruction
          x_aa and of the batch's mean image (reconstruction has learnt something once the first is below the
          second);
        * ``cyc_acc``: the source classifier's accuracy on x_a → G_b(μ_a) → G_a(μ_b(·)), i.e. the prediction
          path E_b → G_a applied to translated *source* images, in test mode, scored with source labels (only
          when the source classifier is attached, as in training).
        """
        diag = {"rec_px": pixel_mse(out["x_aa"], x_a), "meanimg_px": pixel_mse(x_a.mean(0, keepdim=True), x_a)}
        classifier = self.__dict__.get("source_classifier")
        if classifier is not None and y_a is not None and self.discriminator.cls_head is not None:
            was_training = self.generator.training
            self.generator.eval()  # the test-time path (BatchNorm running statistics, left untouched)
            mu_a, _ = self.generator.encode(x_a, None)
            x_ab = (self.generator.decode(mu_a, 1) + 1.0) / 2.0
            diag["cyc_acc"] = float((classifier.predict(self.translate(x_ab)).argmax(1) == y_a).float().mean())
            self.generator.train(was_training)
        return diag

    def cycle_losses(self, x_a: torch.Tensor, x_b: torch.Tensor,
                     out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Cycle reconstruction x_a → x_ab → x_aba and x_b → x_ba → x_bab, and the KL of the re-encoded codes."""
        n = len(x_a)
        # E_a encodes x_ba (a source-domain image), E_b encodes x_ab: rows [0, n) come from x_b, [n, 2n) from x_a
        mu, sigma = self.generator.encode(out["x_ba"], out["x_ab"])
        h = self.generator.dec_shared(mu + sigma * torch.randn_like(mu))
        x_bab = self.generator.dec_private[1](h[:n])
        x_aba = self.generator.dec_private[0](h[n:])
        return _sq_err(x_aba, x_a) + _sq_err(x_bab, x_b), _kl(mu, sigma, n)

    def _descend(self, name: str, loss: torch.Tensor, params: list[nn.Parameter]) -> None:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=params)
        opt.step()

    # -------------------------------------------------------------- capabilities
    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Target images → source-domain images G_a(μ_b(x)), ``[B, C, H, W]`` in [0, 1] (deterministic: the mean
        code, no ε)."""
        mu, _ = self.generator.encode(None, x * 2.0 - 1.0)
        return ((self.generator.decode(mu, 0) + 1.0) / 2.0).clamp(0.0, 1.0)

    def predict(self, x):
        classifier = self.__dict__.get("source_classifier")
        if classifier is None:
            raise RuntimeError("unit-lite classifies translated images with the source-only model of the same "
                               "task and seed; attach it first with attach_source_classifier()")
        return classifier.predict(self.translate(x))

    def extra_eval(self, x):
        """UNIT's own classifier: the discriminator's class head through the target first layer (``unit_cls``,
        C_b, the path UNIT's paper reports on target images) and through the source first layer
        (``unit_cls_src``, C_a; on the source validation split, the label-free check that the head learns)."""
        if self.discriminator.cls_head is None:
            return {}
        x = x * 2.0 - 1.0
        return {"unit_cls": self.discriminator.classify(x, 1), "unit_cls_src": self.discriminator.classify(x, 0)}
