"""``dabench bench``: what dabench's own machinery costs, method by method, on this machine.

For each method, in a fresh worker process (so that its peak memory is its own):

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

The report is a markdown table (``leaderboard/performance.md`` by default) naming the machine. Timings live
here, never in the test suite.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from dabench.errors import UsageError

DEFAULT_OUT = Path("leaderboard") / "performance.md"
DEFAULT_TASK = "mnist-mnistm"
#: the method whose step is also fed by the conventional pipeline (f)
REFERENCE_METHOD = "dann"


# ------------------------------------------------------------------------------------ measurements
def _median_rate(samples: list[float]) -> float:
    return float(statistics.median(samples))


def method_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``METHOD`` or ``METHOD:PRESET`` (e.g. ``cdlm:full``) → the registry name and the run's hyper-parameters."""
    name, _, preset = spec.partition(":")
    return name, ({"preset": preset} if preset else {})


def _config(spec: str, task: str, **kwargs):
    from dabench.config import RunConfig

    name, hparams = method_spec(spec)
    return RunConfig(name, task, hparams=hparams, **kwargs)


def _premade_update(model, batches: list, k: int, progress: float) -> None:
    """One ``update`` of ``model`` on the ``k``-th (cycled) batch already in memory — the step (b) times."""
    x_s, y_s, x_t, y_t = batches[k % len(batches)]
    model.update(x_s, y_s, x_t, progress, **({"y_tgt": y_t} if model.ORACLE else {}))


def loop_and_compute(method: str, task: str, data, device: torch.device, steps: int,
                     warmup: int) -> tuple[float, float]:
    """(a) and (b), images/s, from one run in which they alternate step by step, so that the noise of a shared
    machine hits both alike.

    The run goes through :func:`dabench.train.train`; at the end of each loop step in the window, the hook times
    one extra ``update`` of the same model on a batch already in memory (b) and restarts the loop's clock when
    it is done, so each loop step (a) is timed from the end of the hook to the end of the step. The window holds
    ``steps`` of each after ``warmup`` loop steps; start-up, evaluation and checkpoints stay outside it.
    """
    from dabench.config import resolve
    from dabench.rundir import RunDir
    from dabench.train import train

    total = warmup + steps + 1  # never the last step: no final evaluation in the window
    config = _config(method, task, seed=0, steps=total, eval_every=10 * total, checkpoint_every=10 * total)
    resolved = resolve(config, data.kind)
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


def _build(method: str, task: str, data, device: torch.device, with_classifier: bool = False,
           default_format: bool = False):
    from dabench.config import RunConfig, resolve
    from dabench.registry import METHODS
    from dabench.seeding import seed_hash

    resolved = resolve(_config(method, task, seed=0), data.kind)
    torch.manual_seed(seed_hash(0, "init", resolved.config.method))
    model = resolved.method_cls(data.task_data.spec, resolved.hparams).to(device)
    if model.CHANNELS_LAST and not default_format:  # as the training loop does
        model.to(memory_format=torch.channels_last)
    if with_classifier and resolved.method_cls.NEEDS_SOURCE_CLASSIFIER:
        # an untrained source-only network: the predict path costs the same as with a trained one
        so = resolve(RunConfig("source-only", task, seed=0), data.kind)
        model.attach_source_classifier(METHODS.get("source-only")(data.task_data.spec, so.hparams).to(device))
    return model, resolved


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compute_throughput(method: str, task: str, data, device: torch.device, steps: int, warmup: int,
                       default_format: bool = False) -> float:
    """(b) images/s of ``update`` alone on batches already in memory (cycled), one measurement after warm-up.

    ``default_format``: network and batches in PyTorch's default memory format, as the conventional pipeline
    feeds them, instead of channels-last where the method uses it.
    """
    model, resolved = _build(method, task, data, device, default_format=default_format)
    model.train()
    batch = resolved.hparams["batch_size"]
    batches = _batches(data, batch, device, min(steps, 16), model.CHANNELS_LAST and not default_format)
    total = warmup + steps
    for k in range(warmup):
        _premade_update(model, batches, k, k / total)
    _sync(device)
    t0 = time.perf_counter()
    for k in range(warmup, total):
        _premade_update(model, batches, k, k / total)
    _sync(device)
    return 2 * batch * steps / (time.perf_counter() - t0)


def eval_throughput(method: str, task: str, data, device: torch.device, repeats: int) -> float:
    """(d) images/s of ``predict`` over the target test split through the evaluator (extra paths excluded)."""
    from dabench.evaluate import EVAL_BATCH, batched, evaluation_mode

    model, _ = _build(method, task, data, device, with_classifier=True)
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
    model, resolved = _build(REFERENCE_METHOD, task, data, device, default_format=True)
    model.train()
    batch = resolved.hparams["batch_size"]
    feeds = {w: _pil_loaders(data, batch, w, device) for w in workers}
    total = (warmup + steps * repeats) * len(workers)
    done = 0

    def run(w: int, n: int) -> float:
        nonlocal done
        src, tgt = feeds[w]
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(n):
            (x_s, y_s), (x_t, _) = next(src), next(tgt)
            model.update(x_s.to(device), y_s.to(device), x_t.to(device), done / total)
            done += 1
        _sync(device)
        return 2 * batch * n / (time.perf_counter() - t0)

    for w in workers:  # starts the workers and fills their queues
        run(w, warmup)
    loop, conv = [], {w: [] for w in workers}
    compute = {"loop_format": [], "default_format": []}
    for _ in range(repeats):
        a, b = loop_and_compute(REFERENCE_METHOD, task, data, device, steps, warmup)
        loop.append(a)
        compute["loop_format"].append(b)
        compute["default_format"].append(compute_throughput(REFERENCE_METHOD, task, data, device, steps, warmup,
                                                            default_format=True))
        for w in workers:
            conv[w].append(run(w, steps))
    return {"batch": batch, "loop": _median_rate(loop),
            "compute": {fmt: _median_rate(r) for fmt, r in compute.items()},
            "conventional": {w: _median_rate(r) for w, r in conv.items()},
            "speedup": {w: _median_rate([a / b for a, b in zip(loop, r)]) for w, r in conv.items()}}


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------------------- worker
class _LoadedData:
    """The task's data loaded once per worker, with the source kind the run ids use."""

    def __init__(self, task: str, data: str):
        from dabench.config import RunConfig
        from dabench.registry import TASKS
        from dabench.tasks import load_task
        from dabench.plan import data_source_for

        source = data_source_for(RunConfig(REFERENCE_METHOD, task, data=data), None, allow_download=False)
        self.kind = source.kind
        self.task_data = load_task(TASKS.get(task), source)


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one method (or the conventional pipeline) in this process; returns the row."""
    from dabench.plan import pick_device

    device = pick_device(args.device)
    data = _LoadedData(args.task, args.data)
    if device.type == "cuda":
        data.task_data = data.task_data.to(device)
    row: dict[str, Any] = {"method": args.method, "device": str(device), "data": data.kind}
    steps = window_steps(args.method, args.task, data, device, args.steps, args.warmup, args.min_seconds)
    row["steps"] = steps
    if args.conventional:
        row.update(conventional_comparison(args.task, data, device, steps, args.warmup, args.repeats,
                                           args.workers))
    else:
        loop, compute = [], []
        for _ in range(args.repeats):
            a, b = loop_and_compute(args.method, args.task, data, device, steps, args.warmup)
            loop.append(a)
            compute.append(b)
        row["compute"], row["loop"] = _median_rate(compute), _median_rate(loop)
        row["ratio"] = _median_rate([a / b for a, b in zip(loop, compute)])
        row["eval"] = eval_throughput(args.method, args.task, data, device, args.repeats)
    row["peak_rss_mb"] = peak_rss_mb()
    if device.type == "cuda":
        row["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return row


def window_steps(method: str, task: str, data, device: torch.device, steps: int, warmup: int,
                 min_seconds: float) -> int:
    """Steps per measurement: at least ``steps``, and enough that a window lasts ``min_seconds`` at the pace of
    one calibrating measurement of (b) — a fast method's 30 steps take a third of a second, where the noise of a
    shared machine would swamp the few percent the loop may add."""
    from dabench.config import resolve

    batch = resolve(_config(method, task), data.kind).hparams["batch_size"]
    rate = compute_throughput(method, task, data, device, steps, warmup)  # images per second
    return max(steps, math.ceil(min_seconds * rate / (2 * batch)))


def _run_worker(method: str, args, conventional: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "dabench.bench", "--worker", "--method", method, "--task", args.task,
           "--device", args.device, "--data", args.data, "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--min-seconds", str(args.min_seconds), "--repeats", str(args.repeats),
           "--workers", *map(str, args.workers)]
    if conventional:
        cmd.append("--conventional")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"benchmark worker for {method} failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ report
def machine() -> dict[str, Any]:
    """The machine, in words: CPU model, cores, threads torch uses, GPU, versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def render(rows: list[dict[str, Any]], conventional: dict[str, Any] | None, args, info: dict[str, Any],
           command: str) -> str:
    """The markdown report (deterministic given the measurements)."""
    dev = rows[0]["device"] if rows else args.device
    lines = [
        f"<!-- generated by `{command}`; do not edit -->",
        "",
        f"# dabench performance ({dev})",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores (torch uses {info['torch_threads']} threads)"
        + (f", GPU {info['gpu']}" if "gpu" in info and dev.startswith("cuda") else "")
        + f"; torch {info['torch']}, Python {info['python']}.",
        f"Task `{args.task}` ({rows[0]['data'] if rows else args.data} data); each throughput is the median of "
        f"{args.repeats} measurements after {args.warmup} warm-up steps, each of at least {args.steps} steps and "
        f"at least {args.min_seconds:g} s (the steps column), in images per second counting source and target "
        "images (a step of batch B is 2B images).",
        "",
        "| method | batch | steps | (a) loop img/s | (b) compute img/s | (c) ratio a/b | (d) eval img/s | "
        "(e) peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {r['batch']} | {r['steps']} | {r['loop']:.0f} | {r['compute']:.0f} | "
                     f"{r['ratio']:.3f} | {r['eval']:.0f} | {r['peak_rss_mb']:.0f} MiB |")
    lines += ["", "(a) through `dabench.train.train` (sampling, uint8 → float conversion of whole batches, the "
              "update, logging), start-up, evaluation and checkpoints outside the window; (b) the same `update` "
              "of the same model on batches already in memory, timed in the same run, one extra update after each "
              "loop step (so (a) and (b) alternate step by step); (c) the median of the per-repeat ratios; "
              "(d) `predict` over the target test split in batches of 1,000 under "
              "`torch.inference_mode` (pixel-level methods include their source classifier); (e) the peak "
              "resident memory of the worker process that measured the method."]
    if conventional is not None:
        conv = {int(w): rate for w, rate in conventional["conventional"].items()}
        speedup = {int(w): x for w, x in conventional["speedup"].items()}
        best = max(conv, key=conv.get)
        lines += ["", f"## {REFERENCE_METHOD.upper()}: dabench's loop against a conventional input pipeline", "",
                  "| pipeline | img/s | dabench's speed-up over it |", "|---|---|---|",
                  f"| dabench loop (a) | {conventional['loop']:.0f} | – |"]
        for w in sorted(conv):
            feeder = "main process (0 workers)" if w == 0 else f"{w} worker{'s' if w > 1 else ''} per domain"
            lines.append(f"| PIL `Dataset` + `DataLoader`, {feeder} | {conv[w]:.0f} | {speedup[w]:.2f}× |")
        lines += ["", f"Against the fastest conventional setting ({best} workers per domain): "
                  f"**{speedup[best]:.2f}×**.",
                  "", "Same network, hyper-parameters and batch; the conventional pipeline decodes every image "
                  "into a PIL image and converts it with `ToTensor`, as a torchvision dataset does, and collates "
                  "batches with a `DataLoader`; it feeds the network in PyTorch's default memory format. The "
                  f"loop and the conventional variants are timed in turn within each of the {args.repeats} "
                  "repeats (one process, so a slow spell of a shared machine hits them alike); a speed-up is "
                  "the median of the per-repeat ratios."]
        lines += _time_split(conventional, conv[best], best)
    return "\n".join(lines) + "\n"


def _time_split(conventional: dict[str, Any], conv_rate: float, best: int) -> list[str]:
    """Milliseconds per step of the reference method: each pipeline as its update plus its data path."""
    batch = conventional["batch"]

    def ms(rate: float) -> float:  # rounded as printed, so the sentence's differences match the table
        return round(2 * batch / rate * 1000.0, 1)

    loop, conv = ms(conventional["loop"]), ms(conv_rate)
    update_loop = ms(conventional["compute"]["loop_format"])
    update_default = ms(conventional["compute"]["default_format"])
    return ["", f"### Where a step goes ({batch} + {batch} images, milliseconds)", "",
            "| | ms per step |", "|---|---|",
            f"| dabench loop (a) | {loop:.1f} |",
            f"| its update alone on batches in memory, in the loop's memory format | {update_loop:.1f} |",
            f"| the same update in PyTorch's default memory format | {update_default:.1f} |",
            f"| conventional pipeline, {best} workers per domain | {conv:.1f} |",
            "", f"The loop adds {loop - update_loop:.1f} ms to its update; the conventional pipeline adds "
            f"{conv - update_default:.1f} ms of data path to an update that takes {update_default:.1f} ms in the "
            "default memory format. Each figure is the median of its own measurements."]


def cmd_bench(args) -> int:
    from dabench import io
    from dabench.cli._common import say as _say
    from dabench.hparams import resolve_hparams
    from dabench.registry import METHODS, TASKS, UnknownKeyError

    try:
        task = TASKS.get(args.task)
        methods = args.methods or [m for m in METHODS.names()]
        batches = {}  # each method's batch; an unknown method or preset ends here, before any data are loaded
        for m in methods:
            name, hparams = method_spec(m)
            batches[m] = resolve_hparams(METHODS.get(name), task.family, hparams)["batch_size"]
    except UnknownKeyError as err:
        raise UsageError(str(err)) from None
    if not args.min_seconds >= 0:
        raise UsageError(f"--min-seconds takes a duration >= 0 in seconds; got {args.min_seconds}")
    for name, value in (("--steps", args.steps), ("--repeats", args.repeats), ("--warmup", args.warmup)):
        if value < 1:
            raise UsageError(f"{name} must be a positive integer; got {value}")
    if any(w < 0 for w in args.workers):
        raise UsageError(f"--workers takes worker counts >= 0; got {' '.join(map(str, args.workers))}")
    _LoadedData(args.task, args.data)  # fails here, with the fix, when data are missing
    rows = []
    for m in methods:
        _say(f"bench {m} on {args.task} ({args.device}) ...")
        row = _run_worker(m, args)
        row["batch"] = batches[m]
        rows.append(row)
        _say(f"  loop {row['loop']:.0f} img/s, compute {row['compute']:.0f} img/s, ratio {row['ratio']:.3f}, "
             f"eval {row['eval']:.0f} img/s, peak RSS {row['peak_rss_mb']:.0f} MiB")
    conventional = None
    if REFERENCE_METHOD in methods and not args.no_conventional:
        _say(f"bench {REFERENCE_METHOD} fed by a PIL DataLoader pipeline ...")
        conventional = _run_worker(REFERENCE_METHOD, args, conventional=True)
        for w, rate in conventional["conventional"].items():
            _say(f"  conventional, {w} worker(s) per domain: {rate:.0f} img/s "
                 f"(dabench {conventional['speedup'][w]:.2f}x)")
    command = "dabench bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "dabench bench"
    text = render(rows, conventional, args, machine(), command.strip())
    io.write_text(Path(args.out), text)
    _say(f"wrote {args.out}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", nargs="+", help="methods to measure, each METHOD or METHOD:PRESET (e.g. cdlm:full; "
                   "default: every registered method at its defaults)")
    p.add_argument("--task", default=DEFAULT_TASK, help=f"task whose data feed the runs (default {DEFAULT_TASK})")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device (default cpu)")
    p.add_argument("--data", default="auto", help="auto, full or embedded (as for dabench run)")
    p.add_argument("--steps", type=int, default=30, help="fewest steps per measurement (default 30)")
    p.add_argument("--min-seconds", type=float, default=2.0,
                   help="more steps for fast methods, so that each measurement lasts this long (default 2)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up steps before measuring (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="measurements per quantity; the median is kept")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                   help="DataLoader worker counts per domain to measure for (f) (default 0 1 2)")
    p.add_argument("--no-conventional", action="store_true", help="skip the conventional-pipeline reference (f)")
    p.add_argument("-o", "--out", default=str(DEFAULT_OUT), help=f"markdown report (default {DEFAULT_OUT})")


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure training / compute / evaluation throughput and memory per method")
    add_arguments(p)
    p.set_defaults(func=cmd_bench)


def _worker_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m dabench.bench --worker")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--method", required=True)
    p.add_argument("--conventional", action="store_true")
    add_arguments(p)
    args = p.parse_args(argv)
    print(json.dumps(worker(args), sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
