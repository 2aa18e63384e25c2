"""The baselines' mechanisms, one by one, on tiny CPU data: CDAN(+E), PixelDA-lite and UNIT-lite.

The generic contract (gradients reach every parameter, save/load, determinism, capabilities) is checked for
every registered method in test_methods.py; these tests check what makes each method the paper's method.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dabench.data import to_float
from dabench.hparams import resolve_hparams
from dabench.method import TaskSpec
from dabench.registry import METHODS
from dabench.methods.cdan import _RandomizedMultilinear, entropy_weights, multilinear_map

SPEC = TaskSpec(channels=3, size=28, num_classes=10)


def build(name: str, spec: TaskSpec = SPEC, seed: int = 0, **overrides):
    cls = METHODS.get(name)
    torch.manual_seed(seed)
    return cls(spec, resolve_hparams(cls, spec.family, overrides))


# ----------------------------------------------------------------------------------------------- CDAN


def test_cdan_conditioning_has_the_multilinear_shape_and_follows_the_predictions():
    cdan = build("cdan", feature="penultimate")
    assert not cdan.randomized and cdan.cond_dim == 100 * 10  # penultimate 100-d f, 10 classes: exact map
    f = torch.randn(6, cdan.net.feature_dim)
    logits = torch.randn(6, 10)
    t = cdan.condition(f, logits)
    assert t.shape == (6, 1000)
    # T⊗ = vec(g ⊗ f): row k·100 + j holds g_k · f_j
    f_pen = cdan._penultimate(f)
    expected = F.softmax(logits, 1)[:, :, None] * f_pen[:, None, :]
    assert torch.allclose(t.view(6, 10, 100), expected, atol=1e-6)
    # other predictions, same features → another conditioning tensor (only the changed rows move)
    changed = logits.clone()
    changed[0] = changed[0].flip(0) + 3.0 * F.one_hot(torch.tensor(4), 10)
    t2 = cdan.condition(f, changed)
    assert not torch.allclose(t2[0], t[0]) and torch.equal(t2[1:], t[1:])
    assert cdan.discriminator(t).shape == (6, 1)


@pytest.mark.parametrize("feature", ["extractor", "penultimate"])
def test_cdan_detaches_the_predictions_inside_the_map(feature):
    cdan = build("cdan", feature=feature)
    f = torch.randn(4, cdan.net.feature_dim, requires_grad=True)
    logits = torch.randn(4, 10, requires_grad=True)
    cdan.condition(f, logits).sum().backward()
    assert logits.grad is None and f.grad is not None and f.grad.abs().sum() > 0


def test_cdan_switches_to_the_randomized_map_above_the_threshold():
    auto = build("cdan")  # default f: DANN's 768-d extractor output; 768 · 10 = 7680 > 4096
    assert auto.randomized and auto.cond_dim == 1024 and auto.discriminator[0].in_features == 1024
    forced = build("cdan", feature="penultimate", multilinear_map="randomized", random_dim=64)
    assert forced.randomized and forced.cond_dim == 64
    full = build("cdan", multilinear_map="full")
    assert not full.randomized and full.cond_dim == 7680
    assert not build("cdan", random_threshold=10000).randomized
    f, logits = torch.randn(5, forced.net.feature_dim), torch.randn(5, 10)
    t = forced.condition(f, logits)
    assert t.shape == (5, 64)
    assert not torch.allclose(forced.condition(f, logits.roll(1, dims=1)), t)
    # the random matrices are fixed buffers: saved with the model, never trained
    assert {"random_map.r_f", "random_map.r_g"} <= set(forced.state_dict())
    assert all("random_map" not in n for n, _ in forced.named_parameters())


def test_randomized_multilinear_map_is_unbiased_for_inner_products():
    """E_R <T⊙(f, g), T⊙(f', g')> = <f, f'> <g, g'> = <T⊗(f, g), T⊗(f', g')> (CDAN Theorem 1)."""
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(3, 20, generator=gen)
    g = F.softmax(torch.randn(3, 10, generator=gen) * 2, 1)
    exact = multilinear_map(f, g) @ multilinear_map(f, g).t()  # all pairs, including each with itself
    torch.manual_seed(1)
    draws = []
    for _ in range(400):  # 400 independent maps of dimension 32
        t = _RandomizedMultilinear(20, 10, 32)(f, g)
        draws.append(t @ t.t())
    draws = torch.stack(draws)
    mean, stderr = draws.mean(0), draws.std(0) / len(draws) ** 0.5
    assert torch.all((mean - exact).abs() < 4 * stderr + 1e-6), (mean, exact, stderr)
    assert torch.allclose(mean, exact, rtol=0.1, atol=0.05 * exact.abs().max().item())


def test_entropy_weights_favour_confident_predictions():
    confident = F.softmax(torch.tensor([[8.0] + [0.0] * 9]), 1)
    uncertain = torch.full((1, 10), 0.1)
    probs = torch.cat([confident, uncertain, uncertain, confident])  # 2 source rows, 2 target rows
    for norm in ("domain", "batch"):
        w = entropy_weights(probs, n_src=2, norm=norm)
        assert w[0] > w[1] and w[3] > w[2]
    w = entropy_weights(probs, n_src=2, norm="domain")
    assert torch.allclose(w[:2].sum(), torch.tensor(1.0)) and torch.allclose(w[2:].sum(), torch.tensor(1.0))
    # raw w = 1 + exp(−H): 2 for a one-hot prediction, 1 + 1/K for the uniform one
    assert torch.allclose(w[0] / w[1], (1 + torch.exp(-torch.special.entr(confident).sum())) / 1.1, rtol=1e-3)


def test_cdan_e_weights_the_domain_loss_and_cdan_does_not():
    cdan, cdan_e = build("cdan", disc_dropout=0.0), build("cdan-e", disc_dropout=0.0)
    cdan_e.load_state_dict(cdan.state_dict())
    f = torch.randn(8, cdan.net.feature_dim)
    logits = torch.randn(8, 10) * 3
    plain, weighted = cdan.domain_loss(f, logits, 4, 1.0), cdan_e.domain_loss(f, logits, 4, 1.0)
    assert not torch.allclose(plain, weighted)
    flat = torch.zeros(8, 10)  # equal entropies: every weight equal, so CDAN+E reduces to CDAN
    assert torch.allclose(cdan.domain_loss(f, flat, 4, 1.0), cdan_e.domain_loss(f, flat, 4, 1.0), atol=1e-6)


# --------------------------------------------------------------------------------------------- PixelDA


def test_pixelda_generator_depends_on_the_noise():
    pixelda = build("pixelda-lite").eval()
    x = torch.rand(4, 3, 28, 28)
    z1, z2 = pixelda.sample_noise(4, x), pixelda.sample_noise(4, x)
    with torch.no_grad():
        a, b, a_again = pixelda.generate(x, z1), pixelda.generate(x, z2), pixelda.generate(x, z1)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, a_again) and (a - b).abs().max() > 1e-4


def test_pixelda_generator_is_the_identity_when_the_residual_is_zeroed():
    pixelda = build("pixelda-lite")
    torch.nn.init.zeros_(pixelda.generator.conv_out.weight)
    torch.nn.init.zeros_(pixelda.generator.conv_out.bias)
    x = torch.rand(5, 3, 28, 28)
    out = pixelda.generate(x, pixelda.sample_noise(5, x))
    assert torch.allclose(out, x, atol=1e-6)
    direct = build("pixelda-lite", generator_output="direct")
    torch.nn.init.zeros_(direct.generator.conv_out.weight)
    torch.nn.init.zeros_(direct.generator.conv_out.bias)
    assert torch.allclose(direct.generate(x), torch.full_like(x, 0.5))  # the authors' 'resnet': G = tanh(r)


def test_pixelda_task_classifier_has_private_first_layers_and_predicts_with_the_target_copy(toy_data):
    pixelda = build("pixelda-lite")
    x = to_float(toy_data.tgt_test.x[:3], 3)
    head = pixelda.task
    assert head.private[0] is not head.private[1]
    with torch.no_grad():
        assert torch.equal(pixelda.predict(x), head(x * 2 - 1, 1))
        assert not torch.allclose(pixelda.predict(x), head(x * 2 - 1, 0))
    # the D step trains T (both private copies and the shared layers) and D, the G step only G
    x_s = to_float(toy_data.src_train.x[:8], 3)
    before = {n: p.detach().clone() for n, p in pixelda.named_parameters()}
    pixelda.update(x_s, toy_data.src_train.y[:8], to_float(toy_data.tgt_train.x[:8], 3), 0.0)
    moved = {n.split(".")[0] for n, p in pixelda.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {"generator", "discriminator", "task"}


# ------------------------------------------------------------------------------------------------ UNIT


def test_unit_shared_layers_are_one_module_used_by_both_domains():
    unit = build("unit-lite")
    gen = unit.generator
    names = [n for n, _ in unit.named_parameters()]
    assert len(names) == len(set(id(p) for p in unit.parameters()))  # no parameter registered twice
    shared = {id(p) for m in (gen.enc_shared, gen.mu, gen.sigma, gen.dec_shared) for p in m.parameters()}
    private = [{id(p) for p in m.parameters()} for m in (*gen.enc_private, *gen.dec_private)]
    assert all(not (s & shared) for s in private) and not (private[0] & private[1])
    assert not (private[2] & private[3])
    # a loss on either domain alone reaches the very same shared parameter objects (and not the other domain's
    # private layers)
    x = torch.rand(4, 3, 28, 28) * 2 - 1
    for domain in (0, 1):
        unit.zero_grad(set_to_none=True)
        mu, _ = gen.encode(x if domain == 0 else None, x if domain == 1 else None)
        gen.decode(mu, domain).sum().backward()
        assert all(p.grad is not None for m in (gen.enc_shared, gen.dec_shared) for p in m.parameters())
        assert all(p.grad is None for p in gen.enc_private[1 - domain].parameters())
        assert all(p.grad is None for p in gen.dec_private[1 - domain].parameters())
    dis = unit.discriminator
    assert dis.first[0] is not dis.first[1] and len(dis.core) == 3


def test_unit_class_path_reaches_the_shared_discriminator_layers_and_its_own_first_layer_only():
    """UNIT's classifier C_a = cls_head ∘ core ∘ first[0]: a source-label loss through it moves the shared layers
    (core, the class head) and the source first layer, never the target first layer or the adversarial head."""
    unit = build("unit-lite")
    dis = unit.discriminator
    x, y = torch.rand(6, 3, 28, 28) * 2 - 1, torch.arange(6) % 10
    torch.nn.functional.cross_entropy(dis.classify(x, 0), y).backward()
    assert all(p.grad is not None and float(p.grad.abs().max()) > 0
               for m in (dis.core, dis.cls_head, dis.first[0]) for p in m.parameters())
    assert all(p.grad is None for m in (dis.first[1], dis.adv_head) for p in m.parameters())


@pytest.mark.parametrize("scale", [0.0, 1.0])
def test_unit_dis_dropout_scales_the_released_schedule(scale):
    from dabench.methods.unit_lite import DIS_DROPOUT

    dis = build("unit-lite", dis_dropout=scale).train().discriminator
    assert dis.dropout == tuple(scale * p for p in DIS_DROPOUT)
    x = torch.rand(4, 3, 28, 28)
    same = torch.equal(dis.classify(x, 0), dis.classify(x, 0))
    assert same == (scale == 0.0)  # without dropout the training-mode class path is deterministic
    assert set(unit_paths := build("unit-lite").eval().extra_eval(x)) == {"unit_cls", "unit_cls_src"}
    assert all(v.shape == (4, 10) for v in unit_paths.values())


def test_unit_reconstruction_and_cycle_losses_go_down_on_a_tiny_batch(toy_data):
    # narrow nets and a larger step size keep this fast; the update is the real one (D step, G step, cycle)
    unit = build("unit-lite", gen_ch=4, dis_ch=4, batch_size=8, lr=2e-3)
    x_s, x_t = to_float(toy_data.src_train.x[:8], 3), to_float(toy_data.tgt_train.x[:8], 3)
    y_s = toy_data.src_train.y[:8]
    torch.manual_seed(0)
    history = [unit.update(x_s, y_s, x_t, i / 100) for i in range(100)]

    def mean(key, part):
        return sum(h[key] for h in part) / len(part)

    for key in ("loss_rec", "loss_cyc"):
        assert mean(key, history[-20:]) < 0.6 * mean(key, history[:20]), key


def test_unit_translates_to_the_source_range_and_classifies_through_the_source_classifier(toy_data):
    unit = build("unit-lite").eval()
    source = build("source-only").eval()
    x = to_float(toy_data.tgt_test.x[:5], 3)
    with pytest.raises(RuntimeError, match="attach"):
        unit.predict(x)
    unit.attach_source_classifier(source)
    with torch.no_grad():
        translated = unit.translate(x)
        assert translated.shape == x.shape and translated.min() >= 0 and translated.max() <= 1
        assert torch.equal(unit.predict(x), source.predict(translated))
        extra = unit.extra_eval(x)
    assert set(extra) == {"unit_cls", "unit_cls_src"} and extra["unit_cls"].shape == (5, 10)
    assert "source_classifier" not in dict(unit.named_modules()) and not any(
        k.startswith("source_classifier") for k in unit.state_dict())


def test_unit_nets_work_at_64x64_rgb():
    spec = TaskSpec(channels=3, size=64, num_classes=4, family="translation")
    unit = build("unit-lite", spec, gen_ch=4, dis_ch=4)
    x_s, x_t = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    losses = unit.update(x_s, torch.tensor([0, 3]), x_t, 0.5)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    unit.eval()
    with torch.no_grad():
        assert unit.translate(x_t).shape == x_t.shape
        assert unit.extra_eval(x_t)["unit_cls"].shape == (2, 4)
    with pytest.raises(ValueError, match="divisible by 4"):
        build("unit-lite", TaskSpec(channels=1, size=30, num_classes=10), gen_ch=4, dis_ch=4)


def test_unit_trains_and_translates_on_a_label_free_translation_task():
    spec = TaskSpec(channels=3, size=64, num_classes=0, family="translation")
    unit = build("unit-lite", spec, gen_ch=4, dis_ch=4)
    assert unit.discriminator.cls_head is None
    x_s, x_t = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    losses = unit.update(x_s, torch.zeros(2, dtype=torch.long), x_t, 0.5)
    assert losses["loss_cls"] == 0.0 and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    with torch.no_grad():
        assert unit.eval().translate(x_t).shape == x_t.shape and unit.extra_eval(x_t) == {}


def test_unit_logs_label_free_translation_diagnostics_without_touching_its_batchnorm_statistics(toy_data):
    unit = build("unit-lite", gen_ch=4, dis_ch=4, batch_size=8)
    unit.attach_source_classifier(build("source-only"))
    x_s, x_t = to_float(toy_data.src_train.x[:8], 3), to_float(toy_data.tgt_train.x[:8], 3)
    y_s = toy_data.src_train.y[:8]
    unit.train()
    out = unit.update(x_s, y_s, x_t, 0.0)
    assert 0.0 <= out["cyc_acc"] <= 1.0 and out["rec_px"] > 0.0 and out["meanimg_px"] > 0.0
    assert unit.generator.training  # back in training mode after the test-mode check
    # the check alone leaves BatchNorm's running statistics as they were
    stats = [b.clone() for b in unit.generator.buffers()]
    diag = unit.diagnostics(x_s * 2 - 1, y_s, {"x_aa": x_s * 2 - 1})
    assert diag["rec_px"] == 0.0 and "cyc_acc" in diag
    assert all(torch.equal(a, b) for a, b in zip(stats, unit.generator.buffers()))
