"""Adaptation grid (CDLM Fig. 2): target images with their translations beneath, as one image array.

Pure functions: which examples to show (from ``random_state``) and the mosaic of image rows; drawing and
saving the figure (row labels, title) is :func:`dabench.figures.adaptation_grid`.
"""
from __future__ import annotations

import numpy as np

from dabench.registry import PROTOCOLS


def grid_examples(n_available: int, n: int, *, random_state: int) -> np.ndarray:
    """``min(n, n_available)`` distinct example indices, sorted, drawn from ``random_state``."""
    if n_available < 1 or n < 1:
        raise ValueError(f"a grid needs at least one example; got {n} of {n_available}")
    return np.sort(np.random.default_rng(random_state).choice(n_available, min(n, n_available), replace=False))


@PROTOCOLS.register("grid")
def adaptation_grid(rows, *, pad: int = 2, background: float = 1.0) -> np.ndarray:
    """Tile rows of images into one RGB mosaic.

    Args:
        rows: a list of R arrays ``[N, C, H, W]`` in [0, 1] with the same N, H, W (C = 1 or 3; grey is
            replicated to RGB), e.g. [target images, their translations, the true source images].
        pad: pixels of ``background`` between and around the tiles.
        background: the separator's grey level in [0, 1].
    Returns:
        float ``[R·(H + pad) + pad, N·(W + pad) + pad, 3]`` in [0, 1]; tile (r, i) holds ``rows[r][i]``.
    """
    arrays = []
    for r, row in enumerate(rows):
        if hasattr(row, "detach"):
            row = row.detach().cpu().numpy()
        row = np.asarray(row, dtype=np.float64)
        if row.ndim != 4 or row.shape[1] not in (1, 3):
            raise ValueError(f"grid row {r} must be [N, 1 or 3, H, W]; got shape {row.shape}")
        arrays.append(np.repeat(row, 3, axis=1) if row.shape[1] == 1 else row)
    if not arrays:
        raise ValueError("a grid needs at least one row")
    n, _, h, w = arrays[0].shape
    if any(a.shape != (n, 3, h, w) for a in arrays):
        raise ValueError(f"grid rows differ in shape: {[a.shape for a in arrays]}")
    out = np.full((len(arrays) * (h + pad) + pad, n * (w + pad) + pad, 3), float(background))
    for r, row in enumerate(arrays):
        for i in range(n):
            top, left = pad + r * (h + pad), pad + i * (w + pad)
            out[top:top + h, left:left + w] = np.clip(row[i].transpose(1, 2, 0), 0.0, 1.0)
    return out
