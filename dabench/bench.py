"""``dabench bench``: what dabench's own machinery costs, method by method, on this machine (the measurements).

For each method, in a fresh worker process (:mod:`dabench.bench_worker`, so that its peak memory is its own):

(a) **loop** — training throughput through :func:`dabench.train.train` itself (index sampling, uint8 → float
    batch conversion, the update, loss logging, the progress bookkeeping), start-up, evaluation and
    checkpoints out of the measured window;
(b) **compute** — the same method's ``update`` on batches already in memory (no data path at all), timed in
    the same run: after each loop step of the window a hook times one extra update of the same model, so (a)
    and (b) alternate step by step and a slow spell of a shared machine hits both alike;
(c) **ratio** a / b: 1.0 means the loop costs nothing beyond the network (the median of the per-repeat
    ratios);
(d) **eval** — ``predict`` throughput over the target test split, as the evaluator runs it;
(e) **peak RSS** of the worker (data, model, optimiser states, activations).

Throughputs are images per second counting source and target images (a step of batch B is 2B images);
each is the median of ``repeats`` measurements after a warm-up. For DANN, (f) **conventional** feeds the same
network and batch from a torchvision-style pipeline — a ``Dataset`` that turns each stored image into a PIL
image and then a tensor (``ToTensor``), read through two shuffling ``DataLoader``s — the reference a user
would otherwise have — at each ``--workers`` count, timed in turn with a fresh measurement of (a) inside
every repeat, so a slow spell of a shared machine cannot favour either side. The same repeats time DANN's
update alone on in-memory batches in the loop's memory format and in the default one, so the report can split
each pipeline's step into its update and its data path.

The report (:mod:`dabench.bench_report`) is a markdown table naming the machine. Timings live here, never in
the test suite. Nothing here prints.
"""
from __future__ import annotations

import math
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

#: the method whose step is also fed by the conventional pipeline (f)
REFERENCE_METHOD = "dann"


@dataclass
class BenchData:
    """A task's data loaded once per worker (``task_data``), with the source kind the run ids use (``kind``)."""

    kind: str
    task_data: Any


# ------------------------------------------------------------------------------------------ helpers
def _median_rate(samples: list[float]) -> float:
    return float(statistics.median(samples))


def method_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``METHOD`` or ``METHOD:PRESET`` (e.g. ``cdlm:full``) → the registry name and the run's hyper-parameters."""
    name, _, preset = spec.partition(":")
    return name, ({"preset": preset} if preset else {})


def run_config(spec: str, task: str, **kwargs):
    """The :class:`~dabench.config.RunConfig` of a ``METHOD[:PRESET]`` spec on ``task``."""
    from dabench.config import RunConfig

    name, hparams = method_spec(spec)
    return RunConfig(name, task, hparams=hparams, **kwargs)


def _resolved(spec: str, task: str, data, **kwargs):
    # looked up at call time, so that a test can resolve an unregistered toy task
    from dabench.config import resolve

    return resolve(run_config(spec, task, **kwargs), data.kind)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _premade_update(model, batches: list, k: int, progress: float) -> None:
    """One ``update`` of ``model`` on the ``k``-th (cycled) batch already in memory — the step (b) times."""
    x_s, y_s, x_t, y_t = batches[k % len(batches)]
    model.update(x_s, y_s, x_t, progress, **({"y_tgt": y_t} if model.ORACLE else {}))


def _build(resolved, data, device: torch.device, channels_last: bool | None = None):
    """A freshly initialised network of ``resolved``, placed as the training loop places it (``channels_last``
    None), or in the memory format asked for (True: channels-last; False: PyTorch's default)."""
    from dabench.seeding import seed_hash

    torch.manual_seed(seed_hash(resolved.config.seed, "init", resolved.config.method))
    model = resolved.method_cls(data.task_data.spec, resolved.hparams).to(device)
    if channels_last is None:
        channels_last = model.CHANNELS_LAST  # as the training loop does
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _batches(data, batch: int, device: torch.device, count: int, channels_last: bool):
    """``count`` paired batches as the loop would draw them, already converted and on the device."""
    from dabench.train import PairSampler, batch_images

    td = data.task_data.to(device)
    channels = td.spec.channels
    sampler = PairSampler(len(td.src_train), len(td.tgt_train), batch, seed=0)
    out = []
    for _ in range(count):
        i, j = (idx.to(device) for idx in sampler.next())
        out.append((batch_images(td.src_train.x[i], channels, channels_last), td.src_train.y[i],
                    batch_images(td.tgt_train.x[j], channels, channels_last), td.tgt_train.y[j]))
    return out


# ------------------------------------------------------------------------------------ measurements
def loop_and_compute(method: str, task: str, data, device: torch.device, steps: int,
                     warmup: int) -> tuple[float, float]:
    """(a) and (b), images/s, from one run in which they alternate step by step, so that the noise of a shared
    machine hits both alike.

    The run goes through :func:`dabench.train.train`; at the end of each loop step in the window, the hook times
    one extra ``update`` of the same model on a batch already in memory (b) and restarts the loop's clock when
    it is done, so each loop step (a) is timed from the end of the hook to the end of the step. The window holds
    ``steps`` of each after ``warmup`` loop steps; start-up, evaluation and checkpoints stay outside it, and the
    run directory is scratch (removed afterwards).
    """
    from dabench.rundir import RunDir
    from dabench.train import train

    total = warmup + steps + 1  # never the last step: no final evaluation in the window
    resolved = _resolved(method, task, data, seed=0, steps=total, eval_every=10 * total,
                         checkpoint_every=10 * total)
    batch = resolved.hparams["batch_size"]
    batches = _batches(data, batch, device, min(steps, 16), resolved.method_cls.CHANNELS_LAST)
    spent = {"loop": 0.0, "compute": 0.0}
    clock = {"resumed": 0.0}

    def hook(done_steps: int, model) -> None:
        _sync(device)
        ended = time.perf_counter()
        if done_steps > warmup:
            spent["loop"] += ended - clock["resumed"]
        if warmup <= done_steps < warmup + steps:
            _premade_update(model, batches, done_steps, done_steps / total)
            _sync(device)
            spent["compute"] += time.perf_counter() - ended
        clock["resumed"] = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="dabench-bench-") as tmp:
        train(resolved, data.task_data, RunDir(Path(tmp) / "run"), device, progress=False, stop_after=warmup + steps,
              on_step=hook)
    return 2 * batch * steps / spent["loop"], 2 * batch * steps / spent["compute"]


def compute_throughput(method: str, task: str, data, device: torch.device, steps: int, warmup: int,
                       channels_last: bool | None = None) -> float:
    """(b) images/s of ``update`` alone on batches already in memory (cycled), one measurement after warm-up.

    ``channels_last``: None, network and batches in the method's own memory format (``CHANNELS_LAST``), as the
    training loop places them; False, in PyTorch's default format (as the conventional pipeline feeds them);
    True, in channels-last.
    """
    resolved = _resolved(method, task, data, seed=0)
    fmt = resolved.method_cls.CHANNELS_LAST if channels_last is None else channels_last
    model = _build(resolved, data, device, channels_last=fmt)
    model.train()
    batch = resolved.hparams["batch_size"]
    batches = _batches(data, batch, device, min(steps, 16), fmt)
    total = warmup + steps
    for k in range(warmup):
        _premade_update(model, batches, k, k / total)
    _sync(device)
    t0 = time.perf_counter()
    for k in range(warmup, total):
        _premade_update(model, batches, k, k / total)
    _sync(device)
    return 2 * batch * steps / (time.perf_counter() - t0)


def source_classifier(plan, data, device: torch.device):
    """The classifier ``plan`` says its method predicts through (``plan.source_classifier``; ``None`` when it
    needs none), as a network of that planned source-only run's shape.

    Its weights are left untrained: ``predict`` costs the same with trained ones, and the bench trains nothing
    but its own scratch runs.
    """
    need = plan.source_classifier
    if need is None:
        return None
    return need.resolved.method_cls(data.task_data.spec, need.resolved.hparams).to(device)


def _with_classifier(plan, data, device: torch.device):
    """A freshly initialised network of ``plan`` with the source classifier it needs attached (if any)."""
    model = _build(plan.resolved, data, device)
    classifier = source_classifier(plan, data, device)
    if classifier is not None:
        model.attach_source_classifier(classifier)
    return model


def eval_throughput(plan, data, device: torch.device, repeats: int) -> float:
    """(d) images/s of ``predict`` of ``plan``'s method over the target test split through the evaluator, with the
    source classifier the plan needs attached (extra paths excluded)."""
    from dabench.evaluate import EVAL_BATCH, batched, evaluation_mode

    model = _with_classifier(plan, data, device)
    split = data.task_data.tgt_test.to(device)
    channels = data.task_data.spec.channels
    rates = []
    with evaluation_mode(model):
        batched(model.predict, split.subset(torch.arange(min(len(split), EVAL_BATCH))), channels)  # warm-up
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            batched(model.predict, split, channels)
            _sync(device)
            rates.append(len(split) / (time.perf_counter() - t0))
    return _median_rate(rates)


def validator_seconds(plan, data, device: torch.device, repeats: int) -> float:
    """(f) seconds of one evaluation's validators (:func:`dabench.evaluate.evaluate_validators`: the forward
    passes over the validator sample and the scores), the median of ``repeats`` after one warm-up; with the
    source classifier the plan needs attached."""
    from dabench.evaluate import evaluate_validators, validator_sample

    model = _with_classifier(plan, data, device)
    sample = validator_sample(data.task_data.to(device))
    channels = data.task_data.spec.channels
    evaluate_validators(model, sample, channels)  # warm-up (imports, first calls)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        evaluate_validators(model, sample, channels)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def validator_share(*, loop_rate: float, eval_rate: float, validators_s: float, batch: int, default_steps: int,
                    eval_images: int, evaluations: int = 10) -> float:
    """(g) the validators' share of a run at the method's default budget, from measured rates: the validators'
    seconds over the run's seconds (``default_steps`` of 2 × ``batch`` images at the loop's rate (a),
    ``evaluations`` accuracy evaluations of ``eval_images`` source-val and target-test images at rate (d), and the
    validators at every evaluation)."""
    validators = evaluations * validators_s
    run = default_steps * 2 * batch / loop_rate + evaluations * eval_images / eval_rate + validators
    return validators / run


def window_steps(method: str, task: str, data, device: torch.device, steps: int, warmup: int,
                 min_seconds: float) -> int:
    """Steps per measurement: at least ``steps``, and enough that a window lasts ``min_seconds`` at the pace of
    one calibrating measurement of (b) — a fast method's 30 steps take a third of a second, where the noise of a
    shared machine would swamp the few percent the loop may add."""
    batch = _resolved(method, task, data).hparams["batch_size"]
    rate = compute_throughput(method, task, data, device, steps, warmup)  # images per second
    return max(steps, math.ceil(min_seconds * rate / (2 * batch)))


def method_rates(method: str, task: str, data, device: torch.device, steps: int, warmup: int,
                 repeats: int) -> dict[str, Any]:
    """(a), (b) and (c) of ``method``: the medians of ``repeats`` measurements of :func:`loop_and_compute`; and
    (h), (i): each repeat also times the update in the *other* memory format (channels-last for a method that
    trains in PyTorch's default one, and the reverse), so that every method's choice of format is measured
    against the alternative in the same minutes."""
    channels_last = _resolved(method, task, data).method_cls.CHANNELS_LAST
    loop, compute, other = [], [], []
    for _ in range(repeats):
        a, b = loop_and_compute(method, task, data, device, steps, warmup)
        loop.append(a)
        compute.append(b)
        other.append(compute_throughput(method, task, data, device, steps, warmup, channels_last=not channels_last))
    return {"compute": _median_rate(compute), "loop": _median_rate(loop),
            "ratio": _median_rate([a / b for a, b in zip(loop, compute)]),
            "format": "channels-last" if channels_last else "default", "other_format": _median_rate(other),
            "format_speedup": _median_rate([b / h for b, h in zip(compute, other)])}


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------- (f) conventional pipeline
class PILDigits(torch.utils.data.Dataset):
    """A torchvision-style dataset: each item is decoded into a PIL image, then ``ToTensor`` (like
    ``torchvision.datasets.MNIST`` with ``transforms.ToTensor()``), grey replicated to RGB when asked."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, channels: int):
        # stored as files would hold them: [N, H, W] grey or [N, H, W, 3] colour uint8
        hwc = images.cpu().permute(0, 2, 3, 1)
        self.images = (hwc[..., 0] if hwc.shape[-1] == 1 else hwc).contiguous().numpy()
        self.labels, self.channels = labels.cpu().numpy(), channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from PIL import Image
        from torchvision.transforms import functional as TF

        image = Image.fromarray(self.images[index])
        if self.channels == 3 and image.mode != "RGB":
            image = image.convert("RGB")
        return TF.to_tensor(image), int(self.labels[index])


def _pil_loaders(data, batch: int, workers: int, device: torch.device):
    """Two endless shuffling PIL ``DataLoader`` iterators (source, target) with ``workers`` workers each."""
    td = data.task_data

    def forever(loader):
        while True:
            yield from loader

    return [forever(torch.utils.data.DataLoader(
        PILDigits(split.x, split.y, td.spec.channels), batch_size=batch, shuffle=True, drop_last=True,
        num_workers=workers, persistent_workers=workers > 0, pin_memory=device.type == "cuda"))
        for split in (td.src_train, td.tgt_train)]


class _ConventionalFeed:
    """The reference method's network, in PyTorch's default memory format, fed by PIL ``DataLoader``s at each
    worker count; :meth:`run` times ``n`` of its steps from one of them."""

    def __init__(self, task: str, data, device: torch.device, workers: list[int], total: int):
        resolved = _resolved(REFERENCE_METHOD, task, data, seed=0)
        self.model = _build(resolved, data, device, channels_last=False)
        self.model.train()
        self.batch, self.device, self.total, self.done = resolved.hparams["batch_size"], device, total, 0
        self.feeds = {w: _pil_loaders(data, self.batch, w, device) for w in workers}

    def run(self, workers: int, n: int) -> float:
        src, tgt = self.feeds[workers]
        _sync(self.device)
        t0 = time.perf_counter()
        for _ in range(n):
            (x_s, y_s), (x_t, _) = next(src), next(tgt)
            dev = self.device
            self.model.update(x_s.to(dev), y_s.to(dev), x_t.to(dev), self.done / self.total)
            self.done += 1
        _sync(self.device)
        return 2 * self.batch * n / (time.perf_counter() - t0)


def conventional_comparison(task: str, data, device: torch.device, steps: int, warmup: int, repeats: int,
                            workers: list[int]) -> dict[str, Any]:
    """(f) DANN's update fed by PIL ``DataLoader``s with each worker count, against dabench's loop (a).

    The measurements are interleaved — each repeat times the loop, then every conventional variant — so
    that a slow spell of a shared machine hits all of them alike; the speed-up is the median of the
    per-repeat ratios. Each repeat also times the update alone on batches in memory, in the loop's memory
    format and in the default one, which splits each pipeline's step into update and data path. Returns
    ``{"batch": B, "loop": img/s, "compute": {"loop_format" | "default_format": img/s},
    "conventional": {workers: img/s}, "speedup": {workers: x}}``.
    """
    feed = _ConventionalFeed(task, data, device, workers, total=(warmup + steps * repeats) * len(workers))
    for w in workers:  # starts the workers and fills their queues
        feed.run(w, warmup)
    loop, conv = [], {w: [] for w in workers}
    compute = {"loop_format": [], "default_format": []}
    for _ in range(repeats):
        a, b = loop_and_compute(REFERENCE_METHOD, task, data, device, steps, warmup)
        loop.append(a)
        compute["loop_format"].append(b)
        compute["default_format"].append(compute_throughput(REFERENCE_METHOD, task, data, device, steps, warmup,
                                                            channels_last=False))
        for w in workers:
            conv[w].append(feed.run(w, steps))
    return {"batch": feed.batch, "loop": _median_rate(loop),
            "compute": {fmt: _median_rate(r) for fmt, r in compute.items()},
            "conventional": {w: _median_rate(r) for w, r in conv.items()},
            "speedup": {w: _median_rate([a / b for a, b in zip(loop, r)]) for w, r in conv.items()}}
