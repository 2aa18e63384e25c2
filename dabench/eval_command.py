"""``dabench eval --run DIR [--protocol P ...]``: evaluate a finished run with registered protocols.

The run's method is rebuilt from ``final.pt`` (:func:`dabench.train.load_trained`), its task's splits are loaded
from the same data source kind the run used, and each protocol writes ``eval_<protocol>.json`` (plus PNG
figures for ``tsne`` and ``grid``) into the run directory. PAD and t-SNE compare the source dataset's test
split (the source validation split when the dataset has no test split) with the target test split; neither
was trained on.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dabench.errors import DataError, UsageError

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    """Add the ``eval`` subcommand to the CLI's subparsers."""
    from dabench.registry import PROTOCOLS
    import dabench.protocols  # noqa: F401  (fills PROTOCOLS)

    p = sub.add_parser("eval", help="evaluate a finished run with registered protocols (writes eval_<p>.json)")
    p.add_argument("--run", required=True, help="a finished run directory (holds `done` and final.pt)")
    p.add_argument("--protocol", action="append", choices=PROTOCOLS.names(), metavar="PROTOCOL",
                   help=f"repeatable; one of {', '.join(PROTOCOLS.names())} (default: the task's own)")
    p.add_argument("--random-state", type=int, default=0, help="seed of every sample and split (default 0)")
    p.add_argument("--samples", type=int, default=2000, help="samples per domain for pad and tsne (default 2000)")
    p.add_argument("--data-root", action="append", help="read-only data root (repeatable; also $DABENCH_DATA)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(func=cmd_eval)


def source_heldout(task, source):
    """The source dataset's test split at the task's size, or ``None`` when it has none in this copy."""
    try:
        return task.datasets()[0].load("test", source, task.size)
    except DataError as err:
        log.warning("no source test split (%s); using the source validation split", err)
        return None


def cmd_eval(args: argparse.Namespace) -> int:
    from dabench import io
    from dabench.cli import _say
    from dabench.config import RunConfig, resolve
    from dabench.data import resolve_source
    from dabench.evaluate import EvalContext, evaluate_protocols
    from dabench.tasks import load_task
    from dabench.train import load_trained, pick_device, run_dir_for

    run_dir = Path(args.run)
    if not (run_dir / "done").exists() or not (run_dir / "final.pt").exists():
        raise UsageError(f"{run_dir} is not a finished run (no `done` or final.pt); finish it with `dabench run` "
                         f"(the same command resumes it) first")
    if args.samples < 3:
        raise UsageError(f"--samples must be at least 3; got {args.samples}")
    stored = io.read_json(run_dir / "config.json")
    config = RunConfig(**stored["config"])
    resolved = resolve(config, stored["data"])
    task = resolved.task
    source = resolve_source(stored["data"], args.data_root, allow_download=False)
    device = pick_device(args.device)
    data = load_task(task, source).to(device)
    method = load_trained(run_dir).to(device)
    if resolved.method_cls.NEEDS_SOURCE_CLASSIFIER and data.spec.num_classes:
        base_dir = run_dir_for(RunConfig("source-only", config.task, seed=config.seed, data=stored["data"]),
                               run_dir.parent, args.data_root)
        if (base_dir / "done").exists():
            method.attach_source_classifier(load_trained(base_dir).to(device))
        else:
            log.warning("no finished source-only run at %s: protocols that classify will fail", base_dir)
    held = source_heldout(task, source)
    ctx = EvalContext(data, config.method, random_state=args.random_state, out_dir=run_dir,
                      src_heldout=None if held is None else held.to(device), max_per_domain=args.samples,
                      title=f"{config.method} on {task.name}, seed {config.seed}, {stored['steps']} steps")
    names = args.protocol or list(task.protocols)
    # identity as recorded by the run (today's defaults may resolve differently)
    header = {"run_id": stored["run_id"], "method": config.method, "task": task.name, "seed": config.seed,
              "steps": stored["steps"], "data": stored["data"]}
    results = evaluate_protocols(method, ctx, names, header=header)
    for name, result in results.items():
        _say(f"{name}: {summary(name, result)}  -> {run_dir / f'eval_{name}.json'}")
    return 0


def summary(name: str, result: dict) -> str:
    """One line per protocol for the terminal (the JSON file holds everything)."""
    if name == "accuracy":
        return f"target accuracy {result['target_acc']:.4f}"
    if name == "pad":
        parts = [f"{kind} d_A {r['d_a']:.3f} (C={r['C']:g}, test error {r['error']:.3f})"
                 for kind, r in result.items() if kind in ("raw", "features", "translated")]
        return "; ".join(parts) + f" [{result['source_split']} vs {result['target_split']}]"
    if name == "image-quality":
        base = result["input_baseline"]
        return (f"SSIM {result['ssim']:.4f}, MSE {result['mse']:.4f}, PSNR {result['psnr']:.2f} dB on {result['n']} "
                f"pairs (untranslated input: SSIM {base['ssim']:.4f}, MSE {base['mse']:.4f}, PSNR {base['psnr']:.2f})")
    if name == "tsne":
        return f"{result['n_source']} source + {result['n_target']} target points, KL {result['kl_divergence']:.3f}"
    if name == "grid":
        return f"{len(result['examples'])} examples of {result['split']}"
    return "done"


def translation_summary(result: dict) -> str:
    """The last line of ``dabench run`` on a label-free translation task."""
    final = result["final"]
    return (f"target translation quality: SSIM {final['tgt_test/ssim']:.4f}, MSE {final['tgt_test/mse']:.4f}, "
            f"PSNR {final['tgt_test/psnr']:.2f} dB ({result['method']} on {result['task']}, seed {result['seed']}, "
            f"{result['steps']} steps, data {result['data']})")
