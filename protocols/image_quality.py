"""Image quality of translations against their ground truth: SSIM, MSE and PSNR (CDLM Table 2).

Conventions (reference/methods.md §9.3), fixed for every method:

* **Values.** Images are floats in [0, 1] (a method's ``translate`` output and the true source-domain image,
  converted from uint8 by ``/ 255``), RGB or grey, compared at the task's protocol size. The dynamic range
  is therefore L = 1 (``data_range=1.0``); values outside [0, 1] are an error, not silently rescaled.
* **Per image, then averaged.** Each metric is computed per image pair; the reported number is the mean over
  the pairs (the standard deviation is reported beside it).
* **SSIM** (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004): scikit-image ``structural_similarity`` with the
  paper's settings — Gaussian window σ = 1.5 (11 taps), population (1/N) statistics, K1 = 0.01,
  K2 = 0.03, ``data_range=1.0`` — per channel, averaged over channels (``channel_axis=-1``); the SSIM map is
  averaged over the valid region (a border of 5 pixels is cropped).
* **MSE** per image: mean of the squared difference over pixels and channels.
* **PSNR** per image from that image's MSE: 10 · log10(1 / MSE), capped at :data:`PSNR_CAP_DB` = 100 dB
  (identical images, MSE = 0, would give +∞; 100 dB = 10 · log10(1 / 1e-10), above any non-zero MSE of
  8-bit images at 64×64, whose smallest is (1/255)² / (64·64·3) ≈ 1.25e-9, i.e. 89 dB). PSNR is averaged
  over images, so it is *not* 10 · log10(1 / mean MSE) (by Jensen's inequality it is larger; CDLM's
  Table 2 numbers are consistent with this per-image averaging, methods.md §9.4).
"""
from __future__ import annotations

import numpy as np

from dabench.registry import PROTOCOLS

PSNR_CAP_DB = 100.0
#: the settings that make scikit-image's SSIM match Wang et al. 2004
SSIM_SETTINGS = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 1.0,
                 "K1": 0.01, "K2": 0.03}
#: the Gaussian window's width in scikit-image for σ = 1.5 (``2 · int(3.5 σ + 0.5) + 1``)
SSIM_WINDOW = 11
RANGE_TOLERANCE = 1e-6


def _images(name: str, images) -> np.ndarray:
    """``[N, C, H, W]`` (tensor or array) in [0, 1] → float64 ``[N, H, W, C]``."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"{name} must be [N, C, H, W] images; got shape {x.shape}")
    if x.size and (not np.all(np.isfinite(x)) or x.min() < -RANGE_TOLERANCE or x.max() > 1 + RANGE_TOLERANCE):
        raise ValueError(f"{name} must hold values in [0, 1] (data_range 1.0); got [{np.nanmin(x):.4g}, "
                         f"{np.nanmax(x):.4g}]")
    return np.clip(x, 0.0, 1.0).transpose(0, 2, 3, 1)


def psnr_from_mse(mse) -> np.ndarray:
    """Per-image PSNR in dB for images in [0, 1]: 10 · log10(1 / MSE), capped at :data:`PSNR_CAP_DB`."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(1.0 / mse)
    return np.minimum(psnr, PSNR_CAP_DB)


@PROTOCOLS.register("image-quality")
def image_quality(predictions, targets, *, per_image: bool = False) -> dict:
    """SSIM, MSE and PSNR of ``predictions`` against ``targets``, per image pair, averaged.

    Args:
        predictions: ``[N, C, H, W]`` images in [0, 1] (e.g. translated target images).
        targets: ``[N, C, H, W]`` ground-truth images in [0, 1], paired with ``predictions`` row by row.
            H and W must be at least 11 (the SSIM window).
        per_image: also return the per-image values (lists of N floats).
    Returns:
        ``{"ssim", "mse", "psnr", "ssim_std", "mse_std", "psnr_std", "n", "psnr_cap_db", "ssim_settings",
        "library"}`` (plus ``"per_image": {"ssim": [...], "mse": [...], "psnr": [...]}`` when asked).
    Raises:
        ValueError: on mismatched shapes, an empty set, images smaller than the window or values outside [0, 1].
    """
    import skimage
    from skimage.metrics import structural_similarity

    pred, true = _images("predictions", predictions), _images("targets", targets)
    if pred.shape != true.shape:
        nchw = (0, 3, 1, 2)
        raise ValueError(f"predictions {pred.transpose(nchw).shape} and targets {true.transpose(nchw).shape} "
                         f"differ in shape")
    if len(pred) == 0:
        raise ValueError("image quality of an empty set is undefined")
    if min(pred.shape[1:3]) < SSIM_WINDOW:
        raise ValueError(f"SSIM with an {SSIM_WINDOW}x{SSIM_WINDOW} window needs images of at least that size; "
                         f"got {pred.shape[1]}x{pred.shape[2]}")
    ssim = np.array([structural_similarity(p, t, channel_axis=-1, **SSIM_SETTINGS) for p, t in zip(pred, true)])
    mse = np.mean((pred - true) ** 2, axis=(1, 2, 3))
    psnr = psnr_from_mse(mse)
    out = {
        "ssim": float(ssim.mean()),
        "mse": float(mse.mean()),
        "psnr": float(psnr.mean()),
        "ssim_std": float(ssim.std()),
        "mse_std": float(mse.std()),
        "psnr_std": float(psnr.std()),
        "n": int(len(pred)),
        "psnr_cap_db": PSNR_CAP_DB,
        "ssim_settings": {**SSIM_SETTINGS, "win_size": SSIM_WINDOW, "channel_axis": -1},
        "library": f"scikit-image {skimage.__version__} (skimage.metrics.structural_similarity)",
    }
    if per_image:
        out["per_image"] = {"ssim": ssim.tolist(), "mse": mse.tolist(), "psnr": psnr.tolist()}
    return out
