"""The evaluator: runs a trained method over a split and hands the arrays to the pure protocols.

Evaluation never disturbs training: the method is put in eval mode, gradients are off
(``torch.inference_mode``), and the global RNG state is forked and restored, so a run that evaluates every
100 steps trains exactly like one that evaluates every 1,000.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dabench.data import DomainData, to_float
from dabench.method import Method
from dabench.protocols.accuracy import accuracy

EVAL_BATCH = 1000


def batched(fn: Callable[[torch.Tensor], torch.Tensor], data: DomainData, channels: int,
            batch: int = EVAL_BATCH) -> torch.Tensor:
    """Apply ``fn`` to every image of ``data`` in large batches (converted on the device), concatenated."""
    outs = []
    for start in range(0, len(data), batch):
        outs.append(fn(to_float(data.x[start:start + batch], channels)))
    return torch.cat(outs)


class evaluation_mode:
    """Context: eval mode, no autograd, global RNG forked; restores the training mode after."""

    def __init__(self, method: Method):
        self.method = method

    def __enter__(self):
        self.was_training = self.method.training
        self.fork = torch.random.fork_rng(devices=[])
        self.fork.__enter__()
        self.inference = torch.inference_mode()
        self.inference.__enter__()
        self.method.eval()
        return self.method

    def __exit__(self, *exc):
        self.inference.__exit__(*exc)
        self.fork.__exit__(*exc)
        self.method.train(self.was_training)
        return False


def predictions(method: Method, data: DomainData, channels: int) -> dict[str, np.ndarray]:
    """Predicted classes of ``data`` by ``predict`` and by each of the method's extra evaluation paths."""
    with evaluation_mode(method):
        out = {"": batched(method.predict, data, channels).argmax(1).cpu().numpy()}
        extras: dict[str, list[torch.Tensor]] = {}
        for start in range(0, len(data), EVAL_BATCH):
            for name, logits in method.extra_eval(to_float(data.x[start:start + EVAL_BATCH], channels)).items():
                extras.setdefault(name, []).append(logits.argmax(1))
        out.update({name: torch.cat(chunks).cpu().numpy() for name, chunks in extras.items()})
    return out


def evaluate_accuracy(method: Method, data: DomainData, channels: int, num_classes: int,
                      prefix: str, per_class: bool = False) -> dict[str, float]:
    """``{"<prefix>/acc": ..., "<prefix>/<extra>/acc": ...}`` (and per-class lists when asked)."""
    labels = data.y.cpu().numpy()
    metrics: dict = {}
    for name, pred in predictions(method, data, channels).items():
        key = f"{prefix}/{name}/" if name else f"{prefix}/"
        scores = accuracy(pred, labels, num_classes)
        metrics[key + "acc"] = scores["acc"]
        if per_class:
            metrics[key + "per_class"] = scores["per_class"]
    return metrics
