"""Classification accuracy, overall and per class (a pure function: arrays in, numbers out)."""
from __future__ import annotations

import numpy as np

from dabench.registry import PROTOCOLS


@PROTOCOLS.register("accuracy")
def accuracy(predictions, labels, num_classes: int | None = None) -> dict:
    """Overall and per-class accuracy.

    Args:
        predictions: int ``[N]`` predicted classes (or ``[N, K]`` scores, arg-maxed).
        labels: int ``[N]`` true classes.
        num_classes: K; defaults to ``max(labels) + 1``.
    Returns:
        ``{"acc": float, "per_class": [float | None] * K, "n": N}``; a class absent from ``labels`` has
        ``None`` (not 0) so that it is not mistaken for a failure.
    """
    pred = np.asarray(predictions)
    if pred.ndim == 2:
        pred = pred.argmax(axis=1)
    y = np.asarray(labels).reshape(-1)
    if pred.shape != y.shape:
        raise ValueError(f"predictions {pred.shape} and labels {y.shape} differ in shape")
    if y.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    k = int(num_classes if num_classes is not None else y.max() + 1)
    correct = pred == y
    per_class = [float(correct[y == c].mean()) if np.any(y == c) else None for c in range(k)]
    return {"acc": float(correct.mean()), "per_class": per_class, "n": int(y.size)}
