"""Carrying out a :class:`~dabench.plan.RunPlan`: train it (its dependencies first), reload it, evaluate it.

:func:`execute` is what ``dabench run`` and every sweep job call: each run is trained by one process at a
time (the run directory's writer lock), a finished run is returned without training, and an interrupted one
resumes from its checkpoint. :func:`evaluate_run` serves ``dabench eval`` and the sweep jobs alike.
"""
from __future__ import annotations

import logging
import platform
import shlex
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

import dabench
from dabench.config import RunConfig, resolve
from dabench.data import resolve_source
from dabench.errors import DataError, UsageError
from dabench.evaluate import EvalContext, evaluate_protocols
from dabench.hparams import complete_recorded
from dabench.plan import RunPlan, pick_device, source_classifier_config
from dabench.rundir import CorruptFile, RunDir
from dabench.tasks import load_task, task_spec
from dabench.train import train

log = logging.getLogger(__name__)


def execute(plan: RunPlan, *, device: str = "auto", progress: bool = True, stop_after: int | None = None,
            wait: bool = False, on_step=None) -> dict[str, Any]:
    """Train ``plan`` (or resume it, or return its result if it is done) after the runs it needs.

    Args:
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: show a tqdm bar.
        stop_after: stop (as if killed) after this many steps of this call — for tests of resume.
        wait: when another process is writing a run, wait for it instead of raising
            :class:`~dabench.rundir.RunLocked`.
    Returns:
        the run's result record (``{"stopped_at": step}`` when stopped early).
    """
    for need in plan.needs:
        execute(need, device=device, progress=progress, wait=True)
    if plan.rundir.is_done():
        return plan.rundir.read_result()
    dev = pick_device(device)
    # everything that can fail for want of data comes before the lock, which makes the run directory: a run
    # that cannot start leaves nothing behind
    data = load_task(plan.resolved.task, plan.source)
    classifier, classifier_run = None, None
    if plan.source_classifier is not None:
        base = plan.source_classifier.rundir
        classifier, done = load_trained(base), base.read_result()
        classifier_run = {"run_id": done["run_id"], "cpu_time_s": done.get("cpu_time_s")}
    with plan.rundir.lock(wait=wait):
        if plan.rundir.is_done():  # finished by the process we waited for
            return plan.rundir.read_result()
        return train(plan.resolved, data, plan.rundir, dev, progress=progress, stop_after=stop_after,
                     classifier=classifier, classifier_run=classifier_run, environment=environment(dev),
                     on_step=on_step)


def load_trained(rundir: RunDir):
    """Rebuild a finished run's method from its directory (weights checked against their recorded sha256 and
    loaded with ``weights_only=True``). The networks are built from the hyper-parameters the run recorded, so a
    run stays loadable after a method's defaults change."""
    stored = rundir.read_config()
    resolved = resolve(RunConfig(**stored["config"]), stored["data"])
    hparams = complete_recorded(resolved.method_cls, stored.get("hparams", resolved.hparams))
    method = resolved.method_cls(task_spec(resolved.task), hparams)
    try:
        state = rundir.load_final()
    except CorruptFile as err:
        raise CorruptFile(f"{str(err).split('; ')[0]}; retrain it: rm -r {rundir} && "
                          f"{command_of(stored, rundir.path.parent)}") from None
    method.load_checkpoint_state(state)
    return method.eval()


def command_of(stored: dict[str, Any], out_root: Path) -> str:
    """The ``dabench run`` command line that retrains a recorded run (its ``config.json`` record) into
    ``out_root``; a sweep's random hyper-parameter draw has none, and the answer says to relaunch the sweep."""
    config = stored["config"]
    if config.get("hparams_seed"):
        return f"relaunch the sweep that made it (hyper-parameter draw {config['hparams_seed']})"
    parts = ["dabench", "run", "--method", config["method"], "--task", config["task"], "--seed", str(config["seed"])]
    for flag, key in (("--steps", "steps"), ("--eval-every", "eval_every")):
        if config.get(key) is not None:
            parts += [flag, str(config[key])]
    if config.get("checkpoint_every", 500) != 500:
        parts += ["--checkpoint-every", str(config["checkpoint_every"])]
    for key, value in sorted((config.get("hparams") or {}).items()):
        parts += ["--preset", str(value)] if key == "preset" else ["--set", f"{key}={value}"]
    parts += ["--data", str(stored.get("data", config.get("data", "auto")))]
    return " ".join(shlex.quote(p) for p in [*parts, "--out", str(out_root)])


def evaluate_run(rundir: RunDir, protocols: list[str] | None = None, *, data_roots: list | None = None,
                 device: str = "auto", random_state: int = 0, samples: int = 2000) -> dict[str, dict]:
    """Evaluate a finished run with registered protocols (the task's own when ``protocols`` is None); each
    writes its result (and its figures) into the run directory. Returns protocol → result.

    PAD and t-SNE compare the source dataset's test split (its validation split when it has none) with the
    target test split; neither was trained on."""
    if not rundir.is_done() or not rundir.has_final():
        raise UsageError(f"{rundir} is not a finished run (no `done` or final weights); finish it with "
                         f"`dabench run` (the same command resumes it) first")
    if samples < 3:
        raise UsageError(f"--samples must be at least 3; got {samples}")
    stored = rundir.read_config()
    config = RunConfig(**stored["config"])
    resolved = resolve(config, stored["data"])
    task = resolved.task
    source = resolve_source(stored["data"], data_roots, allow_download=False)
    dev = pick_device(device)
    data = load_task(task, source).to(dev)
    method = load_trained(rundir).to(dev)
    base_config = source_classifier_config(resolved)
    if base_config is not None:  # the source-only run beside it, as the plan names it
        base = RunDir(rundir.path.parent / resolve(base_config, stored["data"]).dirname)
        if base.is_done():
            method.attach_source_classifier(load_trained(base).to(dev))
        else:
            log.warning("no finished source-only run at %s: protocols that classify will fail", base)
    held = _source_heldout(task, source)
    ctx = EvalContext(data, config.method, random_state=random_state, rundir=rundir,
                      src_heldout=None if held is None else held.to(dev), max_per_domain=samples,
                      title=f"{config.method} on {task.name}, seed {config.seed}, {stored['steps']} steps")
    # identity as recorded by the run (today's defaults may resolve differently)
    header = {"run_id": stored["run_id"], "method": config.method, "task": task.name, "seed": config.seed,
              "steps": stored["steps"], "data": stored["data"]}
    return evaluate_protocols(method, ctx, protocols or list(task.protocols), header=header)


def _source_heldout(task, source):
    """The source dataset's test split at the task's size, or ``None`` when it has none in this copy."""
    try:
        return task.datasets()[0].load("test", source, task.size)
    except DataError as err:
        log.warning("no source test split (%s); using the source validation split", err)
        return None


def environment(device: torch.device) -> dict[str, Any]:
    """What a run segment ran on: package versions, the repository's commit when known, device, CPU, threads."""
    try:
        version = metadata.version("dabench")
    except metadata.PackageNotFoundError:
        version = dabench.__version__
    return {
        "dabench": version,
        "commit": _commit(),
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a plain str: TorchVersion does not load with weights_only
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "cpu_model": _cpu_model(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "threads": torch.get_num_threads(),
        "host": socket.gethostname(),
    }


def _commit() -> str:
    """The git commit of the checkout this module was imported from ('' outside a repository)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
