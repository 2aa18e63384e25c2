"""The label-free validators: known values and limits of each formula, determinism, and proof that target labels
never reach them (scrambling every target label changes no score)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from dabench.evaluate import evaluate_validators, validator_inputs, validator_sample
from dabench.protocols.validators import (ValidatorInputs, _ranks, dev_risk, entropy, importance_weights, iwv_risk,
                                          score_all, soft_neighbourhood_density, weighted_spearman)
from dabench.registry import METHODS, VALIDATORS

K = 10


def _inputs(probs_val, labels, probs_tgt):
    """Inputs with the given predictions and random 8-d features (what the prediction-only validators ignore)."""
    rng = np.random.default_rng(0)
    return ValidatorInputs(np.asarray(probs_val, float), np.asarray(labels), rng.normal(size=(len(labels), 8)),
                           rng.normal(size=(300, 8)), np.asarray(probs_tgt, float), rng.normal(size=(len(probs_tgt), 8)))


def _one_hot(classes, k=K, confidence=1.0):
    p = np.full((len(classes), k), (1.0 - confidence) / (k - 1))
    p[np.arange(len(classes)), classes] = confidence
    return p


# ------------------------------------------------------------------------------------------ formulas
def test_entropy_of_uniform_predictions_is_log_k_and_of_one_hot_is_zero():
    assert entropy(np.full((5, K), 1.0 / K)) == pytest.approx([math.log(K)] * 5)
    assert entropy(_one_hot([0, 3, 9])) == pytest.approx([0.0] * 3)


def test_entropy_and_im_validators_at_their_limits():
    uniform = np.full((40, K), 1.0 / K)
    confident_balanced = _one_hot(np.arange(40) % K)
    collapsed = _one_hot(np.zeros(40, dtype=int))
    score = lambda name, probs: VALIDATORS.get(name).fn(_inputs(uniform, np.zeros(40, int), probs))  # noqa: E731
    assert score("entropy", uniform) == pytest.approx(-math.log(K))
    assert score("entropy", confident_balanced) == pytest.approx(0.0, abs=1e-9)
    # IM = H(mean p) − mean H(p): 0 for uniform, log K for confident and balanced, 0 for confident but collapsed
    assert score("im", uniform) == pytest.approx(0.0, abs=1e-9)
    assert score("im", confident_balanced) == pytest.approx(math.log(K))
    assert score("im", collapsed) == pytest.approx(0.0, abs=1e-9)


def test_iwv_and_dev_with_unit_weights_are_the_source_val_risk():
    losses = np.array([0.1, 2.0, 0.5, 1.3])
    assert iwv_risk(losses, np.ones(4)) == pytest.approx(losses.mean())
    assert dev_risk(losses, np.ones(4)) == pytest.approx(losses.mean())  # Var(w) = 0: no control variate


def test_dev_control_variate_removes_the_weights_noise_on_a_constant_loss():
    # L = w·ℓ = [1, 5]: mean 3 (IWV); Cov(L, w) = 4, Var(w) = 2, η = −2: 3 − 2·1.5 + 2 = 2, the true loss
    losses, weights = np.array([2.0, 2.0]), np.array([0.5, 2.5])
    assert iwv_risk(losses, weights) == pytest.approx(3.0)
    assert dev_risk(losses, weights) == pytest.approx(2.0)


def test_importance_weights_are_near_one_for_one_distribution_and_follow_the_target_otherwise():
    rng = np.random.default_rng(0)
    same = importance_weights(rng.normal(size=(1000, 40)), rng.normal(size=(1000, 40)), rng.normal(size=(500, 40)),
                              random_state=0)
    assert abs(same.mean() - 1.0) < 0.1 and same.std() < 0.3
    # target shifted along the first axis: source samples further along it look more like the target
    shifted = rng.normal(size=(1000, 40))
    shifted[:, 0] += 1.0
    probe = np.zeros((3, 40))
    probe[:, 0] = [-1.0, 0.0, 1.0]
    w = importance_weights(rng.normal(size=(1000, 40)), shifted, probe, random_state=0)
    assert w[0] < w[1] < w[2]


def test_importance_weights_are_deterministic_given_the_random_state():
    rng = np.random.default_rng(1)
    args = rng.normal(size=(300, 50)), rng.normal(size=(200, 50)) + 0.2, rng.normal(size=(100, 50))
    np.testing.assert_array_equal(importance_weights(*args, random_state=3), importance_weights(*args, random_state=3))


def test_snd_is_higher_for_well_clustered_than_for_scattered_confident_predictions():
    rng = np.random.default_rng(0)
    clustered = _one_hot(np.arange(200) % K, confidence=0.9) + rng.uniform(0, 0.02, size=(200, K))
    scattered = rng.dirichlet(np.full(K, 0.3), size=200)  # confident, but each in its own direction
    assert soft_neighbourhood_density(clustered) > soft_neighbourhood_density(scattered)
    # 10 tight clusters of 20: each sample's mass spreads over its 19 neighbours, entropy ≈ log 19
    assert soft_neighbourhood_density(clustered) == pytest.approx(math.log(19), abs=1e-3)
    # SND's known limit: identical rows (one constant prediction) get the maximum, log(N − 1)
    assert soft_neighbourhood_density(np.tile(clustered[:1], (50, 1))) == pytest.approx(math.log(49))


def test_weighted_spearman_known_values():
    acc = np.array([0.1, 0.4, 0.2, 0.9, 0.5])
    assert weighted_spearman(acc * 3 - 1, acc) == pytest.approx(1.0)
    assert weighted_spearman(-acc, acc) == pytest.approx(-1.0)
    assert math.isnan(weighted_spearman(np.ones(5), acc))
    scores = np.array([0.3, 0.1, 0.5, 0.7, 0.2])
    # power 0: every point weighs the same, the ordinary Spearman correlation 1 − 6Σd²/(n(n²−1)) = 1 − 96/120
    assert weighted_spearman(scores, acc, power=0) == pytest.approx(0.2)  # ranks 31452 vs 13254: Σd² = 16
    # the default weighs the accurate models most: getting the top two in order matters more than the bottom
    top_right = np.array([0.5, 0.1, 0.4, 0.9, 0.8])  # bottom three out of order
    bottom_right = np.array([0.1, 0.4, 0.2, 0.5, 0.9])  # top two swapped
    assert weighted_spearman(top_right, acc) > weighted_spearman(bottom_right, acc)


def test_ranks_share_ties():
    np.testing.assert_array_equal(_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])


def test_score_all_logs_every_validator_but_source_val_under_valid_keys_and_is_deterministic():
    rng = np.random.default_rng(0)
    probs_val = rng.dirichlet(np.ones(K), size=120)
    made = _inputs(probs_val, rng.integers(0, K, 120), rng.dirichlet(np.ones(K), size=80))
    scores = score_all(made)
    assert sorted(scores) == sorted(f"valid/{n}" for n in VALIDATORS if n != "source-val")
    assert all(math.isfinite(v) for v in scores.values())
    assert score_all(replace(made)) == scores  # a fresh copy: the same domain classifier, the same scores
    assert VALIDATORS.get("source-val").metric == "src_val/acc"


# ------------------------------------------------------------------------------------ on a trained method
def _method(toy_data):
    torch.manual_seed(0)
    cls = METHODS.get("dann")
    from dabench.hparams import resolve_hparams
    return cls(toy_data.spec, resolve_hparams(cls, "digits", {"batch_size": 16}))


def test_validators_never_read_target_labels(toy_data):
    """Scramble every target label (train and test): the validators' inputs and scores do not change."""
    method = _method(toy_data)
    sample = validator_sample(toy_data, max_samples=40)
    before = evaluate_validators(method, sample, toy_data.spec.channels)
    g = torch.Generator().manual_seed(0)
    scrambled = replace(toy_data,
                        tgt_train=replace(toy_data.tgt_train, y=toy_data.tgt_train.y[torch.randperm(64, generator=g)]),
                        tgt_test=replace(toy_data.tgt_test, y=torch.full((32,), 7)))
    assert evaluate_validators(method, validator_sample(scrambled, max_samples=40), toy_data.spec.channels) == before


def test_validator_sample_is_fixed_per_split_and_leaves_out_the_target_test_split(toy_data):
    sample = validator_sample(toy_data, max_samples=40)
    assert sorted(sample) == ["src_train", "src_val", "tgt_train"]
    assert [len(v) for v in sample.values()] == [40, 32, 40]  # at most 40; src_val has 32
    again = validator_sample(toy_data, max_samples=40)
    assert all(torch.equal(sample[k].x, again[k].x) for k in sample)


def test_a_method_without_features_is_scored_on_its_class_probabilities(toy_data):
    method = _method(toy_data)
    method.CAPABILITIES = frozenset({"predict"})  # this instance only
    inputs = validator_inputs(method, validator_sample(toy_data, max_samples=40), toy_data.spec.channels)
    np.testing.assert_array_equal(inputs.tgt_feats, inputs.tgt_probs)
    assert inputs.src_train_feats.shape == (40, K)
