"""SSIM / MSE / PSNR known values and conventions (per image, [0, 1], Wang et al. settings)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dabench.protocols.image_quality import PSNR_CAP_DB, image_quality, psnr_from_mse


def images(n=4, c=3, size=24, seed=0, low=0.2, high=0.7):
    return np.random.default_rng(seed).uniform(low, high, size=(n, c, size, size))


def test_identical_images_give_ssim_one_mse_zero_and_the_psnr_cap():
    x = images()
    out = image_quality(x, x.copy())
    assert out["ssim"] == pytest.approx(1.0) and out["mse"] == 0.0 and out["psnr"] == PSNR_CAP_DB
    assert out["n"] == 4 and "scikit-image" in out["library"]


@pytest.mark.parametrize("c", [0.01, 0.1, 0.25])
def test_a_constant_offset_c_gives_mse_c2_and_psnr_minus_10_log10_c2(c):
    x = images(low=0.2, high=0.7)
    out = image_quality(x + c, x)
    assert out["mse"] == pytest.approx(c * c, rel=1e-9)
    assert out["psnr"] == pytest.approx(-10 * math.log10(c * c), rel=1e-9)
    assert out["ssim"] < 1.0


def test_metrics_are_per_image_then_averaged():
    x = images(n=2)
    y = x.copy()
    y[1] += 0.1  # image 0 identical, image 1 offset by 0.1
    out = image_quality(y, x, per_image=True)
    assert out["per_image"]["mse"] == pytest.approx([0.0, 0.01])
    assert out["psnr"] == pytest.approx((PSNR_CAP_DB + 20.0) / 2)  # not 10 log10(1 / mean MSE)
    assert out["ssim"] == pytest.approx(np.mean(out["per_image"]["ssim"]))


def test_ssim_uses_wang_settings_of_scikit_image():
    from skimage.metrics import structural_similarity

    x, y = images(n=1, seed=1), images(n=1, seed=2)
    expected = structural_similarity(x[0].transpose(1, 2, 0), y[0].transpose(1, 2, 0), gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1)
    assert image_quality(x, y)["ssim"] == pytest.approx(expected)


def test_tensors_and_grey_images_are_accepted():
    x = torch.rand(3, 1, 16, 16)
    assert image_quality(x, x)["ssim"] == pytest.approx(1.0)


def test_psnr_cap_only_for_zero_mse():
    assert psnr_from_mse([0.0, 0.01]).tolist() == [PSNR_CAP_DB, pytest.approx(20.0)]


@pytest.mark.parametrize("pred, true, message", [
    (np.zeros((2, 3, 16, 16)), np.zeros((2, 3, 16, 17)), "differ in shape"),
    (np.full((1, 3, 16, 16), 2.0), np.zeros((1, 3, 16, 16)), r"values in \[0, 1\]"),
    (np.zeros((1, 3, 8, 8)), np.zeros((1, 3, 8, 8)), "at least that size"),
    (np.zeros((0, 3, 16, 16)), np.zeros((0, 3, 16, 16)), "empty"),
    (np.zeros((3, 16, 16)), np.zeros((3, 16, 16)), r"\[N, C, H, W\]"),
])
def test_bad_input_is_a_one_line_error(pred, true, message):
    with pytest.raises(ValueError, match=message):
        image_quality(pred, true)
