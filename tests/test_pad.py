"""Proxy A-distance: known limits, determinism, and that C is chosen without the test part."""
from __future__ import annotations

import numpy as np
import pytest

from dabench.protocols.pad import pad_partition, proxy_a_distance


def gaussian(n, shift, seed, dim=20):
    return np.random.default_rng(seed).normal(size=(n, dim)) + shift


def test_two_samples_of_one_distribution_give_d_a_near_zero():
    out = proxy_a_distance(gaussian(600, 0.0, 1), gaussian(600, 0.0, 2), random_state=0)
    assert out["d_a"] < 0.3
    assert 0.4 < out["error"] <= 0.6


def test_separable_domains_give_d_a_near_two():
    out = proxy_a_distance(gaussian(600, 0.0, 1), gaussian(600, 6.0, 2), random_state=0)
    assert out["d_a"] == pytest.approx(2.0, abs=0.02)
    assert out["error"] <= 0.005


def test_d_a_is_clipped_and_counts_are_reported():
    out = proxy_a_distance(gaussian(500, 0.0, 1), gaussian(300, 0.3, 2), random_state=3, max_per_domain=200)
    assert 0.0 <= out["d_a"] <= 2.0
    assert out["d_a"] == pytest.approx(max(0.0, min(2.0, 2 * (1 - 2 * out["error"]))))
    assert out["n_per_domain"] == 200 and out["n_source"] == 500 and out["n_target"] == 300
    assert (out["n_train"], out["n_val"], out["n_test"]) == (200, 100, 100)
    assert out["C"] in out["c_grid"] and len(out["val_errors"]) == len(out["c_grid"])
    assert out["val_error"] == min(out["val_errors"])


def test_same_random_state_same_result_and_another_differs():
    a, b = gaussian(400, 0.0, 1), gaussian(400, 0.4, 2)
    first, again = proxy_a_distance(a, b, random_state=7), proxy_a_distance(a, b, random_state=7)
    assert first == again
    other = pad_partition(400, 400, random_state=8)
    assert not np.array_equal(pad_partition(400, 400, random_state=7)["source"][0], other["source"][0])


def test_partition_is_balanced_disjoint_and_within_bounds():
    parts = pad_partition(1000, 250, random_state=0)
    for domain, total in (("source", 1000), ("target", 250)):
        train, val, test = parts[domain]
        rows = np.concatenate([train, val, test])
        assert len(rows) == 250 and len(np.unique(rows)) == 250 and rows.max() < total
    assert [len(p) for p in parts["source"]] == [len(p) for p in parts["target"]] == [125, 62, 63]


def test_the_chosen_c_never_uses_the_test_part():
    a, b = gaussian(400, 0.0, 1), gaussian(400, 0.5, 2)
    base = proxy_a_distance(a, b, random_state=5)
    parts = pad_partition(400, 400, random_state=5)
    a2, b2 = a.copy(), b.copy()
    # make the test part trivially separable: selection must not notice, only the test error changes
    a2[parts["source"][2]] = 50.0
    b2[parts["target"][2]] = -50.0
    changed = proxy_a_distance(a2, b2, random_state=5)
    assert changed["C"] == base["C"] and changed["val_errors"] == base["val_errors"]
    assert changed["train_error"] == base["train_error"]
    assert changed["error"] != base["error"]


def test_bad_input_is_a_one_line_error():
    with pytest.raises(ValueError, match="differ in dimension"):
        proxy_a_distance(np.zeros((10, 3)), np.zeros((10, 4)), random_state=0)
    with pytest.raises(ValueError, match="at least 3 samples"):
        proxy_a_distance(np.zeros((2, 3)), np.zeros((10, 3)), random_state=0)
    with pytest.raises(ValueError, match="non-finite"):
        proxy_a_distance(np.full((10, 3), np.nan), np.zeros((10, 3)), random_state=0)
