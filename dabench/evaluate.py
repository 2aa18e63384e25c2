"""The evaluator: runs a trained method over a split and hands the arrays to the pure protocols.

:func:`evaluate_protocols` runs registered protocols (``accuracy``, ``pad``, ``image-quality``, ``tsne``,
``grid``) on a trained method and writes their results (and PNG figures) into its run directory;
``dabench run`` calls it with the task's default protocols and ``dabench eval`` on any finished run.

Evaluation never disturbs training: the method is put in eval mode, gradients are off
(``torch.inference_mode``), and the global RNG state is forked and restored, so a run that evaluates every
100 steps trains exactly like one that evaluates every 1,000.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from dabench.data import DomainData, to_float
from dabench.errors import UsageError
from dabench.method import Method
from dabench.protocols.accuracy import accuracy
from dabench.protocols.grid import grid_examples
from dabench.protocols.image_quality import image_quality
from dabench.protocols.pad import proxy_a_distance
from dabench.protocols.tsne import tsne_embedding
from dabench.protocols.validators import MAX_SAMPLES, ValidatorInputs, score_all
from dabench.registry import PROTOCOLS, UnknownKeyError
from dabench.rundir import RunDir
from dabench.seeding import seed_hash
from dabench.tasks import TaskData

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
                      prefix: str, per_class: bool = False, preds: dict[str, np.ndarray] | None = None
                      ) -> dict[str, float]:
    """``{"<prefix>/acc": ..., "<prefix>/<extra>/acc": ...}`` (and per-class lists when asked), from ``preds``
    (:func:`predictions` of ``data``) when the caller already has them."""
    labels = data.y.cpu().numpy()
    metrics: dict = {}
    for name, pred in (preds if preds is not None else predictions(method, data, channels)).items():
        key = f"{prefix}/{name}/" if name else f"{prefix}/"
        scores = accuracy(pred, labels, num_classes)
        metrics[key + "acc"] = scores["acc"]
        if per_class:
            metrics[key + "per_class"] = scores["per_class"]
    return metrics


# ----------------------------------------------------------------------------------- feature extraction
def translations(method: Method, data: DomainData, channels: int) -> torch.Tensor:
    """``method.translate`` of every image of ``data`` (float ``[N, C, H, W]``, on the CPU), clipped to [0, 1]
    (reference/methods.md §9.3: a tanh decoder's rounding can leave values a hair outside)."""
    with evaluation_mode(method):
        out = batched(method.translate, data, channels).float().cpu().clamp(0.0, 1.0)
    if out.shape[0] != len(data) or out.shape[2:] != data.x.shape[2:]:
        raise ValueError(f"{type(method).__name__}.translate returned {tuple(out.shape)} for {tuple(data.x.shape)}")
    return out.clone()  # a normal tensor (not an inference tensor) for the caller


def domain_features(method: Method | None, data: DomainData, channels: int, kind: str) -> np.ndarray:
    """The representation of ``data`` a protocol compares across domains, as float32 ``[N, D]``.

    ``kind``: ``"raw"`` (the pixels in [0, 1] at the task's protocol size and channels, flattened; no model),
    ``"features"`` (``method.features``) or ``"translated"`` (the pixels of ``method.translate``, flattened).
    """
    if kind == "raw":
        return to_float(data.x.cpu(), channels).reshape(len(data), -1).numpy()
    if kind == "features":
        with evaluation_mode(method):
            return batched(method.features, data, channels).float().cpu().reshape(len(data), -1).numpy()
    if kind == "translated":
        return translations(method, data, channels).reshape(len(data), -1).numpy()
    raise ValueError(f"unknown feature kind '{kind}'; valid: raw, features, translated")


def evaluate_image_quality(method: Method, data: DomainData, channels: int, prefix: str) -> dict[str, float]:
    """``{"<prefix>/ssim", "<prefix>/mse", "<prefix>/psnr"}`` of ``method.translate(data.x)`` against
    ``data.pair`` (the loop's periodic evaluation of translation tasks)."""
    scores = image_quality(translations(method, data, channels), to_float(paired(data).cpu(), channels))
    return {f"{prefix}/{k}": scores[k] for k in ("ssim", "mse", "psnr")}


def paired(data: DomainData) -> torch.Tensor:
    if data.pair is None:
        raise UsageError(f"{data.name} is not paired: image quality needs ground-truth images (the paired test "
                         f"split of a translation task such as sketch-face or edges-shoes)")
    return data.pair


# ------------------------------------------------------------------------------------------ validators
VALIDATOR_SPLITS = ("src_train", "src_val", "tgt_train")


def validator_sample(data: TaskData, max_samples: int = MAX_SAMPLES) -> dict[str, DomainData]:
    """The images the validators read: at most ``max_samples`` of the source-train, source-val and target-train
    splits, drawn without replacement from a seed of the split's name alone, so that every run of a task (every
    method, draw and seed) is scored on the same images; gathered once per run. The target test split is never
    among them."""
    sample = {}
    for split in VALIDATOR_SPLITS:
        domain = getattr(data, split)
        order = np.random.default_rng(seed_hash(domain.name, "validators")).permutation(len(domain))
        sample[split] = domain.subset(torch.as_tensor(np.sort(order[:max_samples])).to(domain.x.device))
    return sample


def validator_inputs(method: Method, sample: dict[str, DomainData], channels: int,
                     random_state: int = 0) -> ValidatorInputs:
    """The arrays the validators score (:class:`~dabench.protocols.validators.ValidatorInputs`): softmax outputs
    of ``predict`` on the source-val and target-train samples, the source-val labels, and features of the three
    samples — ``method.features`` where the method has them, else its class probabilities. Target labels are
    not read (the inputs have no field for them)."""
    def probs(split: str) -> np.ndarray:
        return batched(method.predict, sample[split], channels).float().softmax(1).cpu().numpy()

    def features(split: str) -> np.ndarray:
        out = batched(method.features, sample[split], channels).float().cpu()
        return out.reshape(len(sample[split]), -1).numpy()

    with evaluation_mode(method):
        p = {split: probs(split) for split in ("src_val", "tgt_train")}
        if "features" in method.CAPABILITIES:
            f = {split: features(split) for split in VALIDATOR_SPLITS}
        else:
            f = {**p, "src_train": probs("src_train")}
    return ValidatorInputs(p["src_val"], sample["src_val"].y.cpu().numpy(), f["src_val"], f["src_train"],
                           p["tgt_train"], f["tgt_train"], random_state)


def evaluate_validators(method: Method, sample: dict[str, DomainData], channels: int,
                        random_state: int = 0) -> dict[str, float]:
    """``{"valid/<name>": score}`` of every registered validator (higher is better) on ``sample``."""
    return score_all(validator_inputs(method, sample, channels, random_state))


# ------------------------------------------------------------------------------------------ protocols
@dataclass
class EvalContext:
    """What the protocol runners evaluate on.

    Attributes:
        data: the task's splits (the method was trained on ``src_train`` and ``tgt_train``).
        method_name: registry key, for titles.
        random_state: seeds every sample and split of the protocols (pure functions get it explicitly).
        src_heldout: the source split that PAD and t-SNE compare with the target test split: the source
            dataset's test split when there is one, else ``data.src_val``; never a split the method trained on.
        rundir: the run directory that receives the results and figures (``None``: nothing written).
        max_per_domain: samples per domain for PAD and t-SNE.
        grid_examples: columns of the adaptation grid.
        title: e.g. ``"dann on mnist-usps, seed 0, 3000 steps"``.
    """

    data: TaskData
    method_name: str
    random_state: int = 0
    src_heldout: DomainData | None = None
    rundir: RunDir | None = None
    max_per_domain: int = 2000
    grid_examples: int = 8
    title: str = ""
    #: :func:`predictions` of the final model per split name (``tgt_test``, ``src_val``), when the training
    #: loop has just computed them: the accuracy protocol reuses them instead of predicting again
    predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def source(self) -> DomainData:
        return self.src_heldout if self.src_heldout is not None else self.data.src_val


def _needs(method: Method, capability: str, protocol: str) -> None:
    if capability not in method.CAPABILITIES:
        raise UsageError(f"protocol '{protocol}' needs a method that can {capability}; "
                         f"{type(method).__name__} can: {', '.join(sorted(method.CAPABILITIES))}")


def _run_accuracy(method: Method, ctx: EvalContext) -> tuple[dict, list[str]]:
    spec = ctx.data.spec
    if spec.num_classes < 1:
        raise UsageError(f"protocol 'accuracy' needs class labels; task '{ctx.data.task.name}' has none "
                         f"(use image-quality)")
    out = {}
    for split in ("tgt_test", "src_val"):
        data = getattr(ctx.data, split)
        labels = data.y.cpu().numpy()
        preds = ctx.predictions.get(split) or predictions(method, data, spec.channels)
        out[split] = {(name or "predict"): accuracy(pred, labels, spec.num_classes) for name, pred in preds.items()}
    out["target_acc"] = out["tgt_test"]["predict"]["acc"]
    return out, []


def _run_pad(method: Method, ctx: EvalContext) -> tuple[dict, list[str]]:
    channels = ctx.data.spec.channels
    src, tgt = ctx.source, ctx.data.tgt_test
    out = {"source_split": src.name, "target_split": tgt.name}
    kinds = ["raw"] + [k for k, cap in (("features", "features"), ("translated", "translate"))
                       if cap in method.CAPABILITIES]
    for kind in kinds:
        # translated: the source images against the target images rendered in the source style
        f_src = domain_features(method, src, channels, "raw" if kind == "translated" else kind)
        f_tgt = domain_features(method, tgt, channels, kind)
        out[kind] = proxy_a_distance(f_src, f_tgt, random_state=ctx.random_state,
                                     max_per_domain=ctx.max_per_domain)
    return out, []


def _run_image_quality(method: Method, ctx: EvalContext) -> tuple[dict, list[str]]:
    _needs(method, "translate", "image-quality")
    data, channels = ctx.data.tgt_test, ctx.data.spec.channels
    truth = to_float(paired(data).cpu(), channels)
    out = image_quality(translations(method, data, channels), truth)
    # the untranslated input scored the same way: what a method has to beat
    out["input_baseline"] = {k: v for k, v in image_quality(to_float(data.x.cpu(), channels), truth).items()
                             if k in ("ssim", "mse", "psnr", "ssim_std", "mse_std", "psnr_std")}
    out["split"] = data.name
    return out, []


def _run_tsne(method: Method, ctx: EvalContext) -> tuple[dict, list[str]]:
    _needs(method, "features", "tsne")
    channels = ctx.data.spec.channels
    src, tgt = ctx.source, ctx.data.tgt_test
    emb = tsne_embedding(domain_features(method, src, channels, "features"),
                         domain_features(method, tgt, channels, "features"),
                         random_state=ctx.random_state, max_per_domain=ctx.max_per_domain)
    figures = []
    if ctx.rundir is not None:
        from dabench import figures as fig

        path = ctx.rundir.figure_path("tsne.png")
        fig.tsne_plot(emb["embedding"], emb["domain"], path, title=f"t-SNE of features: {ctx.title}",
                      labels=(f"source ({src.name})", f"target ({tgt.name})"))
        figures.append(path.name)
    out = {k: v for k, v in emb.items() if k not in ("embedding", "domain", "rows_source", "rows_target")}
    out.update({"source_split": src.name, "target_split": tgt.name, "n_source": int(len(emb["rows_source"])),
                "n_target": int(len(emb["rows_target"])),
                "embedding": np.round(emb["embedding"], 3).tolist(), "domain": emb["domain"].tolist()})
    return out, figures


def _run_grid(method: Method, ctx: EvalContext) -> tuple[dict, list[str]]:
    _needs(method, "translate", "grid")
    data, channels = ctx.data.tgt_test, ctx.data.spec.channels
    index = grid_examples(len(data), ctx.grid_examples, random_state=ctx.random_state)
    shown = data.subset(index)
    rows = [to_float(shown.x.cpu(), channels), translations(method, shown, channels)]
    labels = ["target\n(input)", "translated\n(source style)"]
    if shown.pair is not None:
        rows.append(to_float(shown.pair.cpu(), channels))
        labels.append("ground truth\n(source)")
    figures = []
    if ctx.rundir is not None:
        from dabench import figures as fig

        path = ctx.rundir.figure_path("grid.png")
        fig.adaptation_grid(rows, labels, path, title=f"Adaptation grid: {ctx.title}")
        figures.append(path.name)
    return {"split": data.name, "examples": index.tolist(), "rows": [ln.replace("\n", " ") for ln in labels]}, figures


#: protocol key → runner(method, context) -> (result, figure file names); the keys are PROTOCOLS' keys
RUNNERS: dict[str, Callable[[Method, EvalContext], tuple[dict, list[str]]]] = {
    "accuracy": _run_accuracy,
    "pad": _run_pad,
    "image-quality": _run_image_quality,
    "tsne": _run_tsne,
    "grid": _run_grid,
}


def evaluate_protocols(method: Method, ctx: EvalContext, names: list[str] | tuple[str, ...],
                       header: dict | None = None) -> dict[str, dict]:
    """Run the protocols ``names`` on ``method``; with ``ctx.rundir`` also write each result there.

    Each file holds ``header`` (run id, method, task, ...), the protocol's result, the random state, the
    figures written and the evaluation's wall time. Raises :class:`UsageError` for an unknown protocol or
    one the method or task cannot support.
    """
    results = {}
    for name in names:
        try:
            PROTOCOLS.get(name)
        except UnknownKeyError as err:
            raise UsageError(str(err)) from None
        t0 = time.time()
        result, figures = RUNNERS[name](method, ctx)
        results[name] = result
        if ctx.rundir is not None:
            ctx.rundir.write_eval(name, {
                **(header or {}), "protocol": name, "random_state": ctx.random_state, "result": result,
                "figures": figures, "eval_time_s": round(time.time() - t0, 1),
            })
    return results
