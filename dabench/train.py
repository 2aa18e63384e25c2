"""The training loop, one for all methods.

:func:`train` trains a resolved run for its fixed step budget with paired source/target batches, evaluates
every ``eval_every`` steps (source-val accuracy for model selection; target-test accuracy for reporting and
curves only), checkpoints every ``checkpoint_every`` steps and resumes from the last checkpoint. Every random
stream is seeded from the run config, so on one host at one thread count a run is deterministic and a run
killed at any point and restarted ends with the same metrics as an uninterrupted one. :func:`finish` writes
the final weights, the result record, the default protocols and the done marker. The files themselves belong
to :class:`~dabench.rundir.RunDir`; resolving and ordering runs to :mod:`dabench.plan` and
:mod:`dabench.runs`.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import torch
from tqdm import tqdm

from dabench.config import ResolvedRun
from dabench.data import to_float
from dabench.evaluate import (EvalContext, evaluate_accuracy, evaluate_image_quality, evaluate_protocols,
                              evaluate_validators, predictions, validator_sample)
from dabench.rundir import CorruptFile, RunDir
from dabench.seeding import seed_hash
from dabench.tasks import TaskData

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


def train(
    resolved: ResolvedRun,
    data: TaskData,
    rundir: RunDir,
    device: torch.device,
    *,
    progress: bool = True,
    stop_after: int | None = None,
    classifier=None,
    classifier_run: dict[str, Any] | None = None,
    environment: dict[str, Any] | None = None,
    on_step=None,
) -> dict[str, Any]:
    """Train ``resolved`` on ``data`` into ``rundir`` (resuming from its checkpoint) and finish the run.

    The caller holds the run's writer lock (:func:`dabench.runs.execute`). ``environment`` describes this
    segment (:func:`dabench.runs.environment`); ``classifier_run`` names the source-only run ``classifier`` was
    trained by (its id and CPU seconds), recorded in the result so that the compute axis can charge that cost to
    this run wherever the run is read; ``on_step(done_steps, method)``, when given, is called at the
    end of every step (``dabench bench`` times the loop with it, start-up excluded); ``stop_after`` stops as
    if killed after that many steps of this call.
    """
    cfg = resolved.config
    rundir.path.mkdir(parents=True, exist_ok=True)
    rundir.remove_temporaries()
    record = {"config": cfg.to_dict(), **resolved.semantic, "run_id": resolved.run_id}
    if not rundir.config_matches(record):  # new, or damaged: the plan knows what the run is
        rundir.write_config(record)
    env = dict(environment or {})
    rundir.write_env(env)

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
    start, sums, count, spent, segments = _resume(rundir, method, sampler, device, env)

    channels, steps = data.spec.channels, resolved.steps
    bar = tqdm(total=steps, initial=start, disable=not progress, dynamic_ncols=True,
               desc=f"{cfg.method} {cfg.task} s{cfg.seed}")
    clock = ComputeClock(spent, images_per_step=2 * resolved.hparams["batch_size"])
    segment = {**env, "from_step": start}
    sample = validator_sample(data) if data.spec.num_classes else None
    method.train()
    final_preds = None  # the last evaluation's predictions (a run resumed at its last step has none)
    for step in range(start, steps):
        idx_src, idx_tgt = (idx.to(device) for idx in sampler.next())
        x_src = batch_images(data.src_train.x[idx_src], channels, channels_last)
        x_tgt = batch_images(data.tgt_train.x[idx_tgt], channels, channels_last)
        extra = {"y_tgt": data.tgt_train.y[idx_tgt]} if method.ORACLE else {}
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
            final_preds = evaluation(method, data, line, last=done_steps == steps, sample=sample)
            rundir.append_metrics(line)
            sums, count = {}, 0
            shown = ("src_val/acc", "tgt_test/acc", "tgt_test/ssim")
            bar.set_postfix({k: f"{line[k]:.3f}" for k in shown if k in line})
        if done_steps % cfg.checkpoint_every == 0 or done_steps == steps:
            now = clock.totals()
            rundir.save_checkpoint({
                "step": done_steps,
                "method": method.checkpoint_state(),
                "rng": {
                    "torch": torch.get_rng_state(),
                    "sampler": sampler.generator.get_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                },
                "loss_sums": sums,
                "loss_count": count,
                "compute": now,
                "segments": segments + [{**segment, "to_step": done_steps, **_rounded(now)}],
            })
        if on_step is not None:
            on_step(done_steps, method)
        if stop_after is not None and done_steps - start >= stop_after and done_steps < steps:
            bar.close()
            return {"stopped_at": done_steps}
    bar.close()
    totals = clock.totals()
    segments = segments + [{**segment, "to_step": steps, **_rounded(totals)}]
    return finish(resolved, method, rundir, totals, data, final_preds, segments, classifier_run)


def _rounded(times: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in times.items()}


def _resume(rundir: RunDir, method, sampler: PairSampler, device: torch.device, env: dict[str, Any]):
    """Restore the checkpoint's weights, random streams, loss sums, compute and segments, if there is one.

    Returns ``(start step, loss sums, loss count, compute spent, earlier segments)``. The evaluation lines after
    the checkpoint (and a line cut by a kill) are dropped: the resumed run recomputes them identically. A resume
    on another host, device or thread count is allowed but said, since it may change the numbers."""
    fresh = (0, {}, 0, {"wall_s": 0.0, "cpu_s": 0.0}, [])
    if not rundir.has_checkpoint():
        rundir.clear_metrics()
        return fresh
    try:
        state = rundir.load_checkpoint(map_location=device)
    except CorruptFile as err:  # nothing in it can be trusted; the run is deterministic, so start it again
        log.warning("%s; restarting %s from step 0", str(err).split("; ")[0], rundir.name)
        rundir.clear_metrics()
        return fresh
    method.load_checkpoint_state(state["method"])
    sampler.generator.set_state(state["rng"]["sampler"])
    torch.set_rng_state(state["rng"]["torch"])
    if device.type == "cuda" and state["rng"].get("cuda") is not None:
        torch.cuda.set_rng_state(state["rng"]["cuda"], device)
    start = state["step"]
    if rundir.metrics_cut():
        log.warning("the last line of %s's evaluation log was cut short (a kill while writing it); dropping it: "
                    "the checkpoint at step %d says which steps are real", rundir.name, start)
    if rundir.keep_metrics_until(start):
        log.info("dropped the evaluation lines of %s after its checkpoint at step %d (they are recomputed)",
                 rundir.name, start)
    segments = list(state.get("segments", []))
    if segments and env:
        before = segments[-1]
        changed = [k for k in ("host", "cpu_model", "device", "threads") if k in before and before[k] != env.get(k)]
        if changed:
            log.warning("resuming %s on a different %s (%s) from its last segment (%s): results may differ from "
                        "an uninterrupted run", rundir.name, ", ".join(changed),
                        ", ".join(str(env.get(k)) for k in changed), ", ".join(str(before[k]) for k in changed))
    log.info("resuming %s from step %d", rundir.name, start)
    spent = dict(state.get("compute", {"wall_s": 0.0, "cpu_s": 0.0}))
    return start, state["loss_sums"], state["loss_count"], spent, segments


def evaluation(method, data: TaskData, line: dict[str, Any], last: bool, sample: dict | None = None) -> dict | None:
    """Add one evaluation's scores to ``line``: source-val and target-test accuracy (per class at the last step)
    and the label-free validators' scores on ``sample`` (:func:`~dabench.evaluate.validator_sample`; for model
    selection), or, on a label-free translation task, the translations' SSIM/MSE/PSNR against the paired ground
    truth. Returns the predictions per split (the last evaluation's feed the accuracy protocol in
    :func:`finish`)."""
    channels, classes = data.spec.channels, data.spec.num_classes
    if not classes:
        line.update(evaluate_image_quality(method, data.tgt_test, channels, "tgt_test"))
        return None
    preds = {split: predictions(method, getattr(data, split), channels) for split in ("src_val", "tgt_test")}
    line.update(evaluate_accuracy(method, data.src_val, channels, classes, "src_val", preds=preds["src_val"]))
    line.update(evaluate_accuracy(method, data.tgt_test, channels, classes, "tgt_test", per_class=last,
                                  preds=preds["tgt_test"]))
    if sample is not None:
        line.update(evaluate_validators(method, sample, channels))
    return preds


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


def finish(resolved: ResolvedRun, method, rundir: RunDir, compute: dict[str, float], data: TaskData | None = None,
           final_preds: dict | None = None, segments: list[dict] | None = None,
           classifier_run: dict | None = None) -> dict[str, Any]:
    """Write the final weights, the result record, the task's default protocols' results (when
    ``data`` is given) and the ``done`` marker (last). ``compute``: wall and CPU seconds over every segment;
    ``final_preds``: the last evaluation's predictions per split, reused by the accuracy protocol;
    ``classifier_run``: the source-only run the method classifies through (see :func:`train`)."""
    metrics = rundir.read_metrics()
    last = metrics[-1]
    rundir.save_final(method.checkpoint_state())
    result = {
        "run_id": resolved.run_id,
        **resolved.semantic,
        "oracle": resolved.method_cls.ORACLE,
        "final": {k: v for k, v in last.items() if k.startswith("tgt_test/")},
        "wall_time_s": round(compute["wall_s"], 1),
        "cpu_time_s": round(compute["cpu_s"], 1),
        "segments": segments or [],
    }
    if classifier_run is not None:
        result["source_classifier"] = classifier_run
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
        paths = draw(method, data, rundir, random_state=resolved.config.seed)
        result["figures"] = {name: path.name for name, path in sorted(paths.items())}
    rundir.write_result(result)
    if data is not None:
        ctx = EvalContext(data, resolved.config.method, random_state=resolved.config.seed, rundir=rundir,
                          title=f"{resolved.config.method} on {resolved.task.name}, seed {resolved.config.seed}",
                          predictions=final_preds or {})
        evaluate_protocols(method, ctx, resolved.task.protocols,
                           header={"run_id": resolved.run_id, "method": resolved.config.method,
                                   "task": resolved.task.name, "seed": resolved.config.seed,
                                   "steps": resolved.steps, "data": resolved.data})
    rundir.remove_temporaries()
    rundir.mark_done()
    return result
