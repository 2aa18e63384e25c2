"""The method contract, checked for every registered method on tiny data (CPU)."""
from __future__ import annotations

import math

import pytest
import torch

from dabench.data import to_float
from dabench.hparams import resolve_hparams
from dabench.method import CAPABILITIES
from dabench.registry import METHODS

from conftest import toy_domain

ALL = METHODS.names()


def make(name, spec, seed=0, **overrides):
    cls = METHODS.get(name)
    torch.manual_seed(seed)
    method = cls(spec, resolve_hparams(cls, spec.family, {"batch_size": 8, **overrides}))
    if cls.NEEDS_SOURCE_CLASSIFIER:
        torch.manual_seed(1)  # one source classifier for every instance (it is not in the method's state)
        source = METHODS.get("source-only")(spec, resolve_hparams(METHODS.get("source-only"), spec.family))
        method.attach_source_classifier(source.eval())
    return method


def batches(toy_data, n=8):
    x_src = to_float(toy_data.src_train.x[:n], 3)
    x_tgt = to_float(toy_data.tgt_train.x[:n], 3)
    return x_src, toy_data.src_train.y[:n], x_tgt, toy_data.tgt_train.y[:n]


def step(method, x_src, y_src, x_tgt, y_tgt, progress):
    extra = {"y_tgt": y_tgt} if method.ORACLE else {}
    return method.update(x_src, y_src, x_tgt, progress, **extra)


@pytest.mark.parametrize("name", ALL)
def test_updates_return_finite_floats(name, toy_data):
    method = make(name, toy_data.spec)
    data = batches(toy_data)
    for i in range(3):
        losses = step(method, *data, i / 3)
        assert losses and all(isinstance(v, float) and math.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("name", ALL)
def test_every_trainable_parameter_gets_a_gradient(name, toy_data):
    method = make(name, toy_data.spec)
    step(method, *batches(toy_data), 0.5)
    missing = [n for n, p in method.named_parameters()
               if p.requires_grad and (p.grad is None or not torch.any(p.grad != 0))]
    assert not missing, f"no gradient reached: {missing}"


@pytest.mark.parametrize("name", ALL)
def test_outputs_match_the_declared_capabilities(name, toy_data):
    method = make(name, toy_data.spec).eval()
    assert method.CAPABILITIES <= CAPABILITIES and "predict" in method.CAPABILITIES
    x = to_float(toy_data.tgt_test.x[:5], 3)
    with torch.no_grad():
        assert method.predict(x).shape == (5, 10)
        if "features" in method.CAPABILITIES:
            f = method.features(x)
            assert f.ndim == 2 and f.shape[0] == 5
        if "translate" in method.CAPABILITIES:
            t = method.translate(x)
            assert t.shape == x.shape and t.min() >= 0 and t.max() <= 1


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip_reproduces_outputs(name, toy_data, tmp_path):
    method = make(name, toy_data.spec)
    step(method, *batches(toy_data), 0.1)
    torch.save(method.checkpoint_state(), tmp_path / "m.pt")
    other = make(name, toy_data.spec, seed=123)
    other.load_checkpoint_state(torch.load(tmp_path / "m.pt", weights_only=True))
    x = to_float(toy_data.tgt_test.x[:6], 3)
    method.eval(), other.eval()
    with torch.no_grad():
        assert torch.equal(method.predict(x), other.predict(x))
    # the optimiser state travelled too: one more identical step gives identical parameters
    method.train(), other.train()
    torch.manual_seed(7)
    step(method, *batches(toy_data), 0.2)
    torch.manual_seed(7)
    step(other, *batches(toy_data), 0.2)
    for (n, p), (_, q) in zip(method.named_parameters(), other.named_parameters()):
        assert torch.equal(p, q), n


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_losses(name, toy_data):
    runs = []
    for _ in range(2):
        method = make(name, toy_data.spec, seed=3)
        torch.manual_seed(4)
        runs.append([step(method, *batches(toy_data), i / 3) for i in range(3)])
    assert runs[0] == runs[1]


def test_target_only_is_the_only_oracle_and_needs_target_labels(toy_data):
    assert [n for n in ALL if METHODS.get(n).ORACLE] == ["target-only"]
    method = make("target-only", toy_data.spec)
    x_src, y_src, x_tgt, _ = batches(toy_data)
    with pytest.raises(ValueError, match="needs target labels"):
        method.update(x_src, y_src, x_tgt, 0.0)


def test_dann_gradient_reversal_flips_the_feature_gradient():
    from dabench.methods._nets import grad_reverse

    x = torch.randn(4, 3, requires_grad=True)
    (grad_reverse(x, 0.5) * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.5 * torch.arange(3.0).expand(4, 3))


def test_dann_schedules_match_the_paper():
    from dabench.methods._nets import dann_lambda, dann_lr

    assert dann_lambda(0.0) == 0.0 and abs(dann_lambda(1.0) - (2 / (1 + math.exp(-10)) - 1)) < 1e-12
    assert dann_lr(0.0, 0.01) == 0.01 and abs(dann_lr(1.0, 0.01) - 0.01 / 11 ** 0.75) < 1e-12


def test_source_only_learns_the_toy_task(toy_data):
    method = make("source-only", toy_data.spec, lr=0.05)
    x = to_float(toy_data.src_train.x, 3)
    for i in range(60):
        method.update(x, toy_data.src_train.y, x, i / 60)
    test = toy_domain(40, 9, False, "t")
    with torch.no_grad():
        acc = (method.eval().predict(to_float(test.x, 3)).argmax(1) == test.y).float().mean()
    assert acc > 0.9


def test_digit_net_pools_before_relu_with_the_papers_outputs_and_gradients():
    """DigitNet runs conv → max-pool → ReLU (cheaper); it must equal the paper's conv → ReLU → max-pool exactly."""
    from torch import nn

    from dabench.methods._nets import DigitNet

    torch.manual_seed(0)
    net = DigitNet(3, 28, 10)
    conv1, conv2 = net.extractor[0], net.extractor[3]
    paper = nn.Sequential(conv1, nn.ReLU(), nn.MaxPool2d(2), conv2, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    x = torch.rand(16, 3, 28, 28)
    g = torch.randn(16, net.feature_dim)
    ours = net.extractor(x * 2.0 - 1.0)
    grads_ours = torch.autograd.grad((ours * g).sum(), list(paper.parameters()))
    ref = paper(x * 2.0 - 1.0)
    grads_ref = torch.autograd.grad((ref * g).sum(), list(paper.parameters()))
    assert torch.equal(ours, ref)
    assert all(torch.equal(a, b) for a, b in zip(grads_ours, grads_ref))


@pytest.mark.parametrize("name", [n for n in ALL if METHODS.get(n).CHANNELS_LAST])
def test_a_channels_last_update_agrees_with_the_default_format(name, toy_data):
    """The memory format is a speed choice (``CHANNELS_LAST``), not a change of method: from the same weights,
    batch and random state, one update in each format gives the same losses and gradients (which the optimisers
    leave in ``.grad``). In float64, so that the comparison is of the mathematics, not of the float32 kernels
    oneDNN picks per format (whose rounding the generators' deep backward paths amplify); dropout is off, its
    masks being drawn in memory order (the same distribution, other draws in each format)."""
    x_src, y_src, x_tgt, y_tgt = (t.double() if t.is_floating_point() else t for t in batches(toy_data))
    no_dropout = {k: 0.0 for k in METHODS.get(name).HPARAMS if k.endswith("dropout")}
    results = []
    for channels_last in (False, True):
        method = make(name, toy_data.spec, **no_dropout).double()
        if method.NEEDS_SOURCE_CLASSIFIER:  # attached outside the module tree
            method.source_classifier.double()
        if channels_last:
            method.to(memory_format=torch.channels_last)
            x_src, x_tgt = (x.contiguous(memory_format=torch.channels_last) for x in (x_src, x_tgt))
        torch.manual_seed(7)
        losses = step(method, x_src, y_src, x_tgt, y_tgt, 0.5)
        results.append((losses, {k: p.grad.clone() for k, p in method.named_parameters() if p.grad is not None}))
    (loss_a, grad_a), (loss_b, grad_b) = results
    assert loss_a.keys() == loss_b.keys() and grad_a.keys() == grad_b.keys() and grad_a
    for k in loss_a:
        assert loss_b[k] == pytest.approx(loss_a[k], rel=1e-9, abs=1e-12), k
    for k, g in grad_a.items():
        assert torch.allclose(grad_b[k], g, rtol=1e-7, atol=1e-9 * float(g.abs().max()) + 1e-15), k
