"""CDLM's mathematics on tiny data (CPU): the sampler's moments, Eq. 12's gradient routing, the reversal layer,
the shared ε of the consistency terms, the ablation switches, determinism, evaluation and the figures."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from dabench.hparams import resolve_hparams
from dabench.method import TaskSpec
from dabench.methods.cdlm import CDLM, kl_divergence, modulated_sample
from dabench.methods.source_only import SourceOnly
from dabench.rundir import RunDir

SPEC = TaskSpec(channels=3, size=28, num_classes=10)
# the equations as written (label_w = 0, A16 off): the tests of Eq. 1–12 check the paper's terms alone
TINY = {"c": 4, "d_z": 8, "batch_size": 8, "disc_hidden": 16, "label_w": 0.0}


def make(spec=SPEC, seed=0, **overrides):
    torch.manual_seed(seed)
    method = CDLM(spec, resolve_hparams(CDLM, spec.family, {**TINY, **overrides}))
    torch.manual_seed(1)
    method.attach_source_classifier(SourceOnly(spec, resolve_hparams(SourceOnly, spec.family)))
    return method


def images(n=8, seed=0, spec=SPEC):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, spec.channels, spec.size, spec.size, generator=g),
            torch.rand(n, spec.channels, spec.size, spec.size, generator=g))


def grads(params):
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in params]


# ----------------------------------------------------------------------------------------- sampler
def test_modulated_sampler_matches_eq_3_to_5():
    torch.manual_seed(0)
    d, n = 4, 200_000
    mu, logvar = torch.tensor([0.5, -1.0, 0.0, 2.0]), torch.tensor([0.0, -1.0, 1.0, 0.5])
    sigma, g1, g2 = torch.exp(0.5 * logvar), 1.0, 0.1
    # conditional on one h (Eq. 1): mean μ + γ1 σ h, variance γ2² σ²
    h = torch.tensor([0.2, 0.9, 0.5, 0.1])
    z = modulated_sample(mu, logvar, h.expand(n, d), torch.randn(n, d), g1, g2)
    assert torch.allclose(z.mean(0), mu + g1 * sigma * h, atol=5e-3)
    assert torch.allclose(z.var(0), g2 ** 2 * sigma ** 2, rtol=2e-2)
    # h drawn from a batch (Eq. 3–5): mean μ + γ1 σ E[h], variance σ² (γ1² Var[h] + γ2²)
    batch = torch.rand(16, d)
    h = batch[torch.randint(16, (n,))]
    z = modulated_sample(mu, logvar, h, torch.randn(n, d), g1, g2)
    assert torch.allclose(z.mean(0), mu + g1 * sigma * batch.mean(0), atol=1e-2)
    expected_var = sigma ** 2 * (g1 ** 2 * batch.var(0, unbiased=False) + g2 ** 2)
    assert torch.allclose(z.var(0), expected_var, rtol=3e-2)


def test_conditional_kl_is_the_kl_of_the_sampler():
    torch.manual_seed(0)
    n, d, g1, g2 = 100_000, 3, 1.0, 0.5
    mu, logvar, h = torch.tensor([[0.3, -0.2, 0.1]]), torch.tensor([[-0.5, 0.2, 0.0]]), torch.tensor([[0.7, 0.1, 0.4]])
    z = modulated_sample(mu, logvar, h.expand(n, d), torch.randn(n, d), g1, g2)
    m, s = mu + g1 * torch.exp(0.5 * logvar) * h, g2 * torch.exp(0.5 * logvar)
    log_q = torch.distributions.Normal(m, s).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    monte_carlo = float((log_q - log_p).mean())
    assert abs(float(kl_divergence(mu, logvar, h, g1, g2, "conditional")) - monte_carlo) < 0.02
    std = float(kl_divergence(mu, logvar, h, g1, g2, "standard"))
    assert abs(std - 0.5 * float((mu ** 2 + logvar.exp() - 1 - logvar).sum())) < 1e-6


# --------------------------------------------------------------------------------- gradient routing
@pytest.mark.parametrize("lambda2, reduce", [(0.25, "sum"), (1.0, "mean")])
def test_rec_reaches_decoder_with_weight_one_and_encoder_with_lambda2(lambda2, reduce):
    method = make(lambda1=0.0, lambda2=lambda2, consistency="off", adv_weight=0.0, rec_reduce=reduce)
    reference = copy.deepcopy(method)
    x_s, x_t = images()
    torch.manual_seed(5)
    method.update(x_s, torch.zeros(8, dtype=torch.long), x_t, 0.5)
    torch.manual_seed(5)
    t = reference.forward_terms(x_s, x_t)
    err = ((t["x_hat_st"] - t["x_s"]) ** 2).flatten(1)  # the plain loss, written out
    rec = err.sum(1).mean() if reduce == "sum" else err.mean()
    dec = torch.autograd.grad(rec, list(reference.decoder.parameters()), retain_graph=True)
    enc = torch.autograd.grad(rec, list(reference.encoder.parameters()), allow_unused=True)
    for got, want in zip(grads(method.decoder.parameters()), dec):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
    for got, want in zip(grads(method.encoder.parameters()), enc):
        want = torch.zeros_like(got) if want is None else want
        assert torch.allclose(got, lambda2 * want, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("strict", [True, False])
def test_strict_eq12_keeps_lc_out_of_phi(strict):
    method = make(lambda1=0.0, lambda2=0.0, consistency="both", adv_weight=0.0, strict_eq12=strict)
    reference = copy.deepcopy(method)
    x_s, x_t = images()
    torch.manual_seed(5)
    method.update(x_s, torch.zeros(8, dtype=torch.long), x_t, 0.5)
    torch.manual_seed(5)
    terms = reference.losses(reference.forward_terms(x_s, x_t), 0.5)
    enc_lc = torch.autograd.grad(terms["lc"], list(reference.encoder.parameters()), retain_graph=True,
                                 allow_unused=True)
    dec_all = torch.autograd.grad(terms["rec"] + terms["lc"], list(reference.decoder.parameters()))
    for got, want in zip(grads(method.decoder.parameters()), dec_all):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
    enc_got = grads(method.encoder.parameters())
    if strict:
        assert all(float(g.abs().max()) == 0.0 for g in enc_got)
    else:
        assert any(float(g.abs().max()) > 0 for g in enc_got)
        for got, want in zip(enc_got, enc_lc):
            assert torch.allclose(got, torch.zeros_like(got) if want is None else want, rtol=1e-4, atol=1e-7)


def test_gradient_reversal_flips_and_scales_the_discriminator_gradient_into_h():
    method = make(adv_weight=0.7, adv_schedule="constant")
    h_s, h_t = torch.rand(8, 8, requires_grad=True), torch.rand(8, 8, requires_grad=True)
    adv, _, _, coeff = method.adversarial_loss(h_s, h_t, 0.3)
    assert coeff == 0.7
    got = torch.autograd.grad(adv, [h_s, h_t])
    logits = method.discriminator(torch.cat([h_s, h_t])).squeeze(1)
    plain = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.cat([torch.ones(8), torch.zeros(8)]))
    want = torch.autograd.grad(plain, [h_s, h_t])
    for g, w in zip(got, want):
        assert float(w.abs().max()) > 0
        assert torch.allclose(g, -0.7 * w, atol=1e-8)


# ------------------------------------------------------------------------------ A16: the label term
def test_label_term_off_builds_no_head_and_ignores_the_labels_bit_for_bit():
    """label_w = 0 is the equations as written: no head, the same initial weights as with the head (it is built
    last), and labels that never reach the update (any labels give the same trajectory, bit for bit)."""
    plain, labelled = make(label_w=0.0), make(label_w=1.0)
    assert plain.head is None and not any(k.startswith("head.") for k in plain.state_dict())
    shared = plain.state_dict()
    assert all(torch.equal(shared[k], v) for k, v in labelled.state_dict().items() if k in shared)
    a, b = make(label_w=0.0), make(label_w=0.0)
    for step in range(3):
        x_s, x_t = images(seed=step)
        torch.manual_seed(step)
        la = a.update(x_s, torch.zeros(8, dtype=torch.long), x_t, 0.1 * step)
        torch.manual_seed(step)
        lb = b.update(x_s, torch.arange(8) % 10, x_t, 0.1 * step)
        assert la == lb and "loss_cls" not in la
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_label_term_changes_only_phis_loss():
    """θ's gradient is the same with and without L_cls; φ's differs by exactly label_w · ∇_φ CE(C(h_s), y_s)."""
    w = 0.7
    with_label, without = make(label_w=w), make(label_w=0.0)
    x_s, x_t = images()
    y = torch.arange(8) % 10
    torch.manual_seed(5)
    with_label.update(x_s, y, x_t, 0.5)
    torch.manual_seed(5)
    without.update(x_s, y, x_t, 0.5)
    for got, want in zip(grads(with_label.decoder.parameters()), grads(without.decoder.parameters())):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-8)
    reference = make(label_w=w)
    torch.manual_seed(5)
    h_s = reference.encode_pair(x_s, x_t)["h_s"]
    ce = torch.nn.functional.cross_entropy(reference.head(h_s), y)
    enc_ce = torch.autograd.grad(w * ce, list(reference.encoder.parameters()), allow_unused=True,
                                 retain_graph=True)
    for got, base, extra in zip(grads(with_label.encoder.parameters()), grads(without.encoder.parameters()), enc_ce):
        extra = torch.zeros_like(got) if extra is None else extra
        assert torch.allclose(got, base + extra, rtol=1e-4, atol=1e-7)
    head_grad = torch.autograd.grad(w * ce, list(reference.head.parameters()))
    for got, want in zip(grads(with_label.head.parameters()), head_grad):
        assert float(want.abs().max()) > 0 and torch.allclose(got, want, rtol=1e-5, atol=1e-8)


def test_label_term_is_logged_and_adds_the_feature_level_path():
    method = make(label_w=1.0)
    x_s, x_t = images()
    losses = method.update(x_s, torch.arange(8) % 10, x_t, 0.5)
    assert losses["loss_cls"] > 0
    method.eval()
    with torch.no_grad():
        extra = method.extra_eval(x_t)
        assert set(extra) == {"eps0", "source_only", "head"}
        assert torch.equal(extra["head"], method.head(method.features(x_t)))
    assert set(make(label_w=0.0).eval().extra_eval(x_t)) == {"eps0", "source_only"}


def test_runs_recorded_before_the_label_term_load_as_the_equations_as_written():
    from dabench.hparams import complete_recorded

    old = {k: v for k, v in resolve_hparams(CDLM, "digits", TINY).items() if k != "label_w"}
    assert complete_recorded(CDLM, old)["label_w"] == 0.0
    assert CDLM(SPEC, complete_recorded(CDLM, old)).head is None


# ------------------------------------------------------------------------------- ε and the switches
def test_both_consistency_terms_share_their_eps():
    method = make(gamma1=0.8, gamma2=0.3)
    x_s, x_t = images()
    torch.manual_seed(3)
    t = method.forward_terms(x_s, x_t)  # ε drawn by the method itself
    g1, g2 = 0.8, 0.3
    sig_s, sig_t = torch.exp(0.5 * t["logvar_s"]), torch.exp(0.5 * t["logvar_t"])
    eps_in_z_st = (t["z_st"] - t["mu_s"] - g1 * sig_s * t["h_t"]) / (g2 * sig_s)
    eps_in_gen_s = (t["gen_s"] - g1 * t["h_s"]) / g2
    eps_in_z_ts = (t["z_ts"] - t["mu_t"] - g1 * sig_t * t["h_s"]) / (g2 * sig_t)
    eps_in_gen_t = (t["gen_t"] - g1 * t["h_t"]) / g2
    assert torch.allclose(eps_in_z_st, eps_in_gen_s, atol=1e-4)
    assert torch.allclose(eps_in_z_ts, eps_in_gen_t, atol=1e-4)
    assert not torch.allclose(eps_in_gen_s, eps_in_gen_t)  # the two pairs draw their own ε
    # L_c^s compares x̂_st with x̃_s and L_c^t compares x̂_ts with x̃_ts, decoded from those codes
    terms = method.losses(t, 0.5)
    assert torch.allclose(terms["lc_s"], ((t["x_hat_st"] - t["x_tilde_s"]) ** 2).mean())
    assert torch.allclose(terms["lc_t"], ((t["x_hat_ts"] - t["x_tilde_ts"]) ** 2).mean())


@pytest.mark.parametrize("switch, changes", [
    ({"consistency": "off"}, {"lc"}),
    ({"consistency": "source"}, {"lc"}),
    ({"consistency": "target"}, {"lc"}),
    ({"kl": "conditional"}, {"kl"}),
    ({"kl": "moment"}, {"kl"}),
    ({"strict_eq12": True}, set()),
    ({"adv_weight": 0.0}, set()),
])
def test_each_switch_changes_exactly_its_term(switch, changes):
    base, other = make(seed=2), make(seed=2, **switch)
    x_s, x_t = images()
    eps = (torch.randn(8, 8), torch.randn(8, 8))
    a = base.losses(base.forward_terms(x_s, x_t, eps), 0.5)
    b = other.losses(other.forward_terms(x_s, x_t, eps), 0.5)
    for key in ("rec", "kl", "lc_s", "lc_t", "lc", "adv"):
        assert torch.allclose(a[key], b[key]) != (key in changes), key
    hp = other.hparams
    expected_lc = {"both": hp["beta1"] * b["lc_s"] + hp["beta2"] * b["lc_t"], "source": hp["beta1"] * b["lc_s"],
                   "target": hp["beta2"] * b["lc_t"], "off": torch.tensor(0.0)}[hp["consistency"]]
    assert torch.allclose(b["lc"], expected_lc)
    phi_a, theta_a = base.group_losses(a)
    phi_b, theta_b = other.group_losses(b)
    assert torch.allclose(theta_b, b["rec"] + b["lc"])
    lc_in_phi = 0.0 if hp["strict_eq12"] else b["lc"]
    assert torch.allclose(phi_b, b["adv"] + hp["lambda1"] * b["kl"] + hp["lambda2"] * b["rec"] + lc_in_phi)
    if "adv_weight" in switch:
        assert float(b["grl_coeff"]) == 0.0 and float(a["grl_coeff"]) > 0.0


def test_gamma2_zero_removes_eps_and_h_layer_picks_the_trunk_depth():
    method = make(gamma2=0.0)
    x_s, x_t = images()
    t = method.forward_terms(x_s, x_t)
    assert torch.equal(t["gen_s"], t["h_s"]) and torch.equal(t["gen_t"], t["h_t"])
    for layer, depth, dim in (("e2", 2, 2 * 4 * 7 * 7), ("e3", 3, 16), ("e4", 4, 32)):
        m = make(h_layer=layer)
        assert len(m.encoder.trunk) == depth + 1 and m.encoder.h.in_features == dim
        m.update(x_s, torch.zeros(8, dtype=torch.long), x_t, 0.5)


def test_same_seed_same_losses_over_five_steps():
    runs = []
    for _ in range(2):
        method = make(seed=4)
        torch.manual_seed(9)
        x_s, x_t = images()
        runs.append([method.update(x_s, torch.zeros(8, dtype=torch.long), x_t, i / 5) for i in range(5)])
    assert runs[0] == runs[1]


def test_presets_resolve_to_the_documented_readings():
    paper = resolve_hparams(CDLM, "digits", {"preset": "paper"})
    assert (paper["opt_phi"], paper["lambda1"], paper["lambda2"], paper["beta1"], paper["beta2"]) == \
        ("sgd", 1e-4, 1e-4, 0.1, 0.01)
    assert paper["kl"] == "conditional" and paper["lr_theta"] == 2e-4
    for name in ("full", "paper-full"):
        full = resolve_hparams(CDLM, "digits", {"preset": name})
        assert (full["c"], full["d_z"]) == (64, 512)
    method = make(**{k: v for k, v in paper.items() if k not in TINY})
    assert isinstance(method.optimizers["phi"], torch.optim.SGD)


# ------------------------------------------------------------------------------------- evaluation
def test_evaluation_is_reproducible_and_leaves_the_global_rng_alone():
    method = make().eval()
    x, _ = images(5)
    state = torch.get_rng_state()
    with torch.no_grad():
        first, second = method.predict(x), method.predict(x)
        extra = method.extra_eval(x)
        out = method.translate(x)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, second) and set(extra) == {"eps0", "source_only"}
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(extra["source_only"], method.source_classifier.predict(x))


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 64)])
def test_network_shapes(channels, size):
    spec = TaskSpec(channels=channels, size=size, num_classes=10, family="translation")
    method = make(spec=spec)
    x_s, x_t = images(4, spec=spec)
    losses = method.update(x_s, torch.zeros(4, dtype=torch.long), x_t, 0.1)
    assert all(math.isfinite(v) for v in losses.values())
    with torch.no_grad():
        assert method.eval().translate(x_t).shape == x_t.shape
    with pytest.raises(ValueError, match="divisible by 4"):
        CDLM(TaskSpec(channels, 30, 10), resolve_hparams(CDLM, "digits", TINY))


def test_run_figures_from_a_trained_method(toy_data, tmp_path):
    from dabench.methods.cdlm_figures import cdlm_latents, write_cdlm_figures

    method = make(spec=toy_data.spec)
    x = torch.rand(6, 3, 28, 28)
    codes = cdlm_latents(method, x, x, batch=4)
    assert codes["z_st"].shape == codes["z_ts"].shape == (6, 8)
    assert np.array_equal(codes["z_st"], cdlm_latents(method, x, x, batch=4)["z_st"])  # the evaluation ε is fixed
    paths = write_cdlm_figures(method, toy_data, RunDir(tmp_path), grid_images=6, max_per_domain=20)
    for path in paths.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_cdlm_run_ends_with_its_grid_and_tsne_named_in_the_result(toy_data, tmp_path):
    from dabench.cli.run import summary_line
    from dabench.train import train
    from helpers import toy_run

    classifier = SourceOnly(toy_data.spec, resolve_hparams(SourceOnly, "digits", {"batch_size": 8}))
    result = train(toy_run("cdlm", toy_data, steps=4, eval_every=4, **TINY), toy_data, RunDir(tmp_path / "r"),
                   torch.device("cpu"), progress=False, classifier=classifier)
    assert result["figures"] == {"grid": "adaptation_grid.png", "tsne": "tsne_latents.png"}
    for name in result["figures"].values():
        assert (tmp_path / "r" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # CDLM(x̃_ts) first, then the same source-only classifier on the raw target images, side by side
    line = summary_line(result)
    assert line.startswith("target accuracy: ") and ", source-only " in line and ", with ε = 0 " in line
