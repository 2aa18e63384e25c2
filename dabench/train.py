"""The training loop, one for all methods.

``run(config)`` trains ``config.method`` on ``config.task`` for a fixed step budget with paired source/target
batches, evaluates every ``eval_every`` steps (source-val accuracy for model selection; target-test accuracy
for reporting and curves only), checkpoints every ``checkpoint_every`` steps and resumes automatically from
the last checkpoint. Every random stream is seeded from the run config, so a run is deterministic on CPU and
a run killed at any point and restarted ends with the same metrics as an uninterrupted one.

Run directory (``<out>/<method>_<task>_s<seed>_<run id>/``): ``config.json``, ``env.json``, ``metrics.jsonl``
(one line per evaluation), ``checkpoint.pt``, ``result.json`` and ``done`` (written last). Every file but the
append-only jsonl is written atomically.
"""
from __future__ import annotations

import json
import logging
import platform
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import dabench
from dabench import io
from dabench.config import ResolvedRun, RunConfig, resolve
from dabench.data import DataSource, resolve_source, to_float
from dabench.evaluate import (EvalContext, evaluate_accuracy, evaluate_image_quality, evaluate_protocols,
                              predictions)
from dabench.errors import UsageError
from dabench.hparams import complete_recorded
from dabench.registry import METHODS, TASKS, UnknownKeyError
from dabench.seeding import seed_hash
from dabench.tasks import TaskData, load_task, task_spec

log = logging.getLogger(__name__)


class PairSampler:
    """Draws paired source/target index batches (with replacement) from one explicit generator.

    Its whole state is the generator's state, so it checkpoints and resumes exactly.
    """

    def __init__(self, n_src: int, n_tgt: int, batch_size: int, seed: int):
        self.n_src, self.n_tgt, self.batch_size = n_src, n_tgt, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx_src = torch.randint(self.n_src, (self.batch_size,), generator=self.generator)
        idx_tgt = torch.randint(self.n_tgt, (self.batch_size,), generator=self.generator)
        return idx_src, idx_tgt


def batch_images(x: torch.Tensor, channels: int, channels_last: bool) -> torch.Tensor:
    """A uint8 batch as the method's ``update`` receives it: float in [0, 1], ``channels`` channels, and in
    channels-last memory format for ``CHANNELS_LAST`` methods (the whole batch converted at once)."""
    out = to_float(x, channels)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be one of auto, cpu, cuda; got '{device}'")
    return torch.device(device)


def data_source_for(config: RunConfig, data_roots: list | None, allow_download: bool) -> DataSource:
    try:
        task = TASKS.get(config.task)
        method_cls = METHODS.get(config.method)
    except UnknownKeyError as err:
        raise UsageError(str(err)) from None
    task.check_method(config.method, method_cls)
    if config.data not in ("auto", "full", "embedded"):
        raise UsageError(f"--data must be one of auto, full, embedded; got '{config.data}'")
    return resolve_source(config.data, data_roots, embedded_ok=task.has_embedded(), allow_download=allow_download)


def run_dir_for(config: RunConfig, out_root: str | Path, data_roots: list | None = None) -> Path:
    """Where ``config``'s run lives (without loading any data)."""
    source = data_source_for(config, data_roots, allow_download=False)
    return Path(out_root) / resolve(config, source.kind).dirname


def run(
    config: RunConfig,
    out_root: str | Path = "runs",
    *,
    device: str = "auto",
    data_roots: list | None = None,
    allow_download: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train and evaluate one run (or resume it, or return its result if it is done).

    Args:
        config: what to run.
        out_root: the folder that holds run directories.
        device: ``auto``, ``cpu`` or ``cuda``.
        data_roots: read-only data roots in addition to ``DABENCH_DATA``.
        allow_download: fetch missing official data into the cache.
        progress: show a tqdm bar.
        stop_after: stop (as if killed) after this many steps of this call — for tests of resume.
    Returns:
        the content of ``result.json`` (``None`` values when stopped early).
    """
    source = data_source_for(config, data_roots, allow_download)
    resolved = resolve(config, source.kind)
    run_dir = Path(out_root) / resolved.dirname
    if (run_dir / "done").exists():
        return io.read_json(run_dir / "result.json")
    dev = pick_device(device)
    data = load_task(resolved.task, source)
    classifier = source_classifier_for(resolved, out_root, device, data_roots, allow_download, progress)
    return train(resolved, data, run_dir, dev, progress=progress, stop_after=stop_after, classifier=classifier)


def source_classifier_for(resolved: ResolvedRun, out_root, device, data_roots, allow_download, progress):
    """For methods that classify through the source-only model of the same task and seed: train it once
    (or reuse it, it is an ordinary run in the same output folder) and return the loaded network."""
    if not resolved.method_cls.NEEDS_SOURCE_CLASSIFIER or not task_spec(resolved.task).num_classes:
        return None  # (a label-free translation task has no classes to classify)
    cfg = resolved.config
    base = RunConfig("source-only", cfg.task, seed=cfg.seed, data=resolved.data)
    run(base, out_root, device=device, data_roots=data_roots, allow_download=allow_download, progress=progress)
    base_dir = run_dir_for(base, out_root, data_roots)
    return load_trained(base_dir)


def load_trained(run_dir: Path):
    """Rebuild a finished run's method from its directory (weights loaded with ``weights_only=True``).

    The networks are built from the hyper-parameters the run recorded, so a run stays loadable after a
    method's defaults change."""
    stored = io.read_json(Path(run_dir) / "config.json")
    resolved = resolve(RunConfig(**stored["config"]), stored["data"])
    hparams = complete_recorded(resolved.method_cls, stored.get("hparams", resolved.hparams))
    method = resolved.method_cls(task_spec(resolved.task), hparams)
    state = torch.load(Path(run_dir) / "final.pt", map_location="cpu", weights_only=True)
    method.load_checkpoint_state(state)
    return method.eval()


def environment(device: torch.device) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(dabench.__file__).parent, capture_output=True, text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "dabench": dabench.__version__,
        "commit": commit,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "threads": torch.get_num_threads(),
        "host": socket.gethostname(),
    }


def train(
    resolved: ResolvedRun,
    data: TaskData,
    run_dir: Path,
    device: torch.device,
    *,
    progress: bool = True,
    stop_after: int | None = None,
    classifier=None,
    on_step=None,
) -> dict[str, Any]:
    """Train ``resolved`` on ``data`` into ``run_dir`` (resuming from its checkpoint) and finish the run.

    ``on_step(done_steps, method)``, when given, is called at the end of every step (``dabench bench`` times
    the loop with it, start-up excluded); ``stop_after`` stops as if killed after that many steps of this call.
    """
    cfg = resolved.config
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.json").exists():
        io.write_json(run_dir / "config.json", {"config": cfg.to_dict(), **resolved.semantic, "run_id": resolved.run_id})
    io.write_json(run_dir / "env.json", environment(device))

    torch.manual_seed(seed_hash(cfg.seed, "init", cfg.method))
    method = resolved.method_cls(data.spec, resolved.hparams)
    method.to(device)
    channels_last = method.CHANNELS_LAST
    if channels_last:
        method.to(memory_format=torch.channels_last)
    if classifier is not None:
        method.attach_source_classifier(classifier.to(device))
    data = data.to(device)
    sampler = PairSampler(len(data.src_train), len(data.tgt_train), resolved.hparams["batch_size"],
                          seed_hash(cfg.seed, "sampler"))
    torch.manual_seed(seed_hash(cfg.seed, "train", cfg.method))

    start, sums, count = 0, {}, 0
    spent = {"wall_s": 0.0, "cpu_s": 0.0}  # compute of the earlier segments, up to their last checkpoint
    ckpt_path = run_dir / "checkpoint.pt"
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        method.load_checkpoint_state(state["method"])
        sampler.generator.set_state(state["rng"]["sampler"])
        torch.set_rng_state(state["rng"]["torch"])
        if device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        start, sums, count = state["step"], state["loss_sums"], state["loss_count"]
        spent = dict(state.get("compute", spent))
        truncate_metrics(run_dir / "metrics.jsonl", start)
        log.info("resuming %s from step %d", run_dir.name, start)
    elif (run_dir / "metrics.jsonl").exists():
        (run_dir / "metrics.jsonl").unlink()

    channels, steps = data.spec.channels, resolved.steps
    oracle = method.ORACLE
    bar = tqdm(total=steps, initial=start, disable=not progress, dynamic_ncols=True,
               desc=f"{cfg.method} {cfg.task} s{cfg.seed}")
    clock = ComputeClock(spent, images_per_step=2 * resolved.hparams["batch_size"])
    method.train()
    final_preds = None  # the last evaluation's predictions (a run resumed at its last step has none)
    for step in range(start, steps):
        idx_src, idx_tgt = sampler.next()
        idx_src, idx_tgt = idx_src.to(device), idx_tgt.to(device)
        x_src = batch_images(data.src_train.x[idx_src], channels, channels_last)
        x_tgt = batch_images(data.tgt_train.x[idx_tgt], channels, channels_last)
        extra = {"y_tgt": data.tgt_train.y[idx_tgt]} if oracle else {}
        losses = method.update(x_src, data.src_train.y[idx_src], x_tgt, step / steps, **extra)
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        count += 1
        done_steps = step + 1
        bar.update(1)
        if done_steps % 25 == 0 or done_steps == steps:
            bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
        if done_steps % resolved.eval_every == 0 or done_steps == steps:
            line = {"step": done_steps, **{f"train/{k}": v / max(count, 1) for k, v in sums.items()},
                    **clock.read(done_steps)}
            if data.spec.num_classes:
                # the final evaluation's predictions also feed the accuracy protocol in finish()
                final_preds = {split: predictions(method, getattr(data, split), channels)
                               for split in ("src_val", "tgt_test")}
                line.update(evaluate_accuracy(method, data.src_val, channels, data.spec.num_classes, "src_val",
                                              preds=final_preds["src_val"]))
                line.update(evaluate_accuracy(method, data.tgt_test, channels, data.spec.num_classes, "tgt_test",
                                              per_class=done_steps == steps, preds=final_preds["tgt_test"]))
            else:  # label-free translation task: translations scored against the paired ground truth
                line.update(evaluate_image_quality(method, data.tgt_test, channels, "tgt_test"))
            with open(run_dir / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(line, sort_keys=True) + "\n")
            sums, count = {}, 0
            shown = ("src_val/acc", "tgt_test/acc", "tgt_test/ssim")
            bar.set_postfix({k: f"{line[k]:.3f}" for k in shown if k in line})
        if done_steps % cfg.checkpoint_every == 0 or done_steps == steps:
            io.save_torch(ckpt_path, {
                "step": done_steps,
                "method": method.checkpoint_state(),
                "rng": {
                    "torch": torch.get_rng_state(),
                    "sampler": sampler.generator.get_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                },
                "loss_sums": sums,
                "loss_count": count,
                "compute": clock.totals(),
            })
        if on_step is not None:
            on_step(done_steps, method)
        if stop_after is not None and done_steps - start >= stop_after and done_steps < steps:
            bar.close()
            return {"stopped_at": done_steps}
    bar.close()
    return finish(resolved, method, run_dir, clock.totals()["wall_s"], data, final_preds)


class ComputeClock:
    """The compute a run has spent, summed over its segments (a resumed run counts its earlier segments up to
    the checkpoint it resumed from; the steps replayed after a kill are counted once, when they are replayed).

    ``read(step)`` gives the evaluation line's compute axis: ``compute/images`` (training images drawn, source
    and target), ``compute/wall_s`` and ``compute/cpu_s`` (process CPU time, all threads) since the run began.
    The two times are measurements, not results: they differ between two runs of the same config, and
    :func:`without_timings` drops them where lines are compared.
    """

    def __init__(self, spent: dict[str, float], images_per_step: int):
        self.spent, self.images_per_step = spent, images_per_step
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def totals(self) -> dict[str, float]:
        return {"wall_s": self.spent["wall_s"] + time.perf_counter() - self.wall0,
                "cpu_s": self.spent["cpu_s"] + time.process_time() - self.cpu0}

    def read(self, step: int) -> dict[str, float]:
        now = self.totals()
        return {"compute/images": step * self.images_per_step, "compute/wall_s": round(now["wall_s"], 2),
                "compute/cpu_s": round(now["cpu_s"], 2)}


TIMING_KEYS = ("compute/wall_s", "compute/cpu_s")


def without_timings(line: dict) -> dict:
    """An evaluation line without its wall and CPU seconds (what two runs of one config must agree on)."""
    return {k: v for k, v in line.items() if k not in TIMING_KEYS}


def truncate_metrics(path: Path, step: int) -> None:
    """Drop evaluation lines after ``step`` (they are recomputed identically when the run resumes)."""
    if not path.exists():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    io.write_text(path, "".join(ln + "\n" for ln in lines))


def finish(resolved: ResolvedRun, method, run_dir: Path, wall_time: float, data: TaskData | None = None,
           final_preds: dict | None = None) -> dict[str, Any]:
    """Write the final weights, ``result.json``, the task's default protocols' ``eval_<protocol>.json`` (when
    ``data`` is given) and the ``done`` marker (last). ``final_preds``: the last evaluation's predictions per
    split, reused by the accuracy protocol."""
    metrics = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    last = metrics[-1]
    io.save_torch(run_dir / "final.pt", method.checkpoint_state())
    result = {
        "run_id": resolved.run_id,
        **resolved.semantic,
        "oracle": resolved.method_cls.ORACLE,
        "final": {k: v for k, v in last.items() if k.startswith("tgt_test/")},
        "wall_time_s": round(wall_time, 1),
    }
    if "src_val/acc" in last:
        best = max(metrics, key=lambda m: (m["src_val/acc"], m["step"]))
        result.update({
            "target_acc": last["tgt_test/acc"],
            "source_val_acc": last["src_val/acc"],
            "selection": {
                "last": {"step": last["step"], "target_acc": last["tgt_test/acc"]},
                "source_val_best": {"step": best["step"], "target_acc": best["tgt_test/acc"],
                                    "source_val_acc": best["src_val/acc"]},
            },
        })
    else:  # label-free translation task: no accuracy and no model selection, the last iterate is reported
        result.update({"target_acc": None, "source_val_acc": None,
                       "selection": {"last": {"step": last["step"], **result["final"]}}})
    draw = type(method).FIGURES
    if draw is not None and data is not None and data.spec.num_classes:
        paths = draw(method, data, run_dir, random_state=resolved.config.seed)
        result["figures"] = {name: Path(path).name for name, path in sorted(paths.items())}
    io.write_json(run_dir / "result.json", result)
    if data is not None:
        ctx = EvalContext(data, resolved.config.method, random_state=resolved.config.seed, out_dir=run_dir,
                          title=f"{resolved.config.method} on {resolved.task.name}, seed {resolved.config.seed}",
                          predictions=final_preds or {})
        evaluate_protocols(method, ctx, resolved.task.protocols,
                           header={"run_id": resolved.run_id, "method": resolved.config.method,
                                   "task": resolved.task.name, "seed": resolved.config.seed,
                                   "steps": resolved.steps, "data": resolved.data})
    io.write_text(run_dir / "done", "")
    return result
