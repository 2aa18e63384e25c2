"""``dabench eval --run DIR [--protocol P ...]``: evaluate a finished run with registered protocols.

The run's method is rebuilt from its final weights (:func:`dabench.runs.load_trained`), its task's splits are loaded
from the same data source kind the run used, and each protocol writes its result (plus PNG
figures for ``tsne`` and ``grid``) into the run directory. PAD and t-SNE compare the source dataset's test
split (the source validation split when the dataset has no test split) with the target test split; neither
was trained on.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import dabench.protocols  # noqa: F401  (fills PROTOCOLS)
from dabench.cli._common import say
from dabench.registry import PROTOCOLS
from dabench.rundir import RunDir


def add_parser(sub) -> None:
    """Add the ``eval`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("eval", help="evaluate a finished run with registered protocols (results go into the run directory)")
    p.add_argument("--run", required=True, help="a finished run directory")
    p.add_argument("--protocol", action="append", choices=PROTOCOLS.names(), metavar="PROTOCOL",
                   help=f"repeatable; one of {', '.join(PROTOCOLS.names())} (default: the task's own)")
    p.add_argument("--random-state", type=int, default=0, help="seed of every sample and split (default 0)")
    p.add_argument("--samples", type=int, default=2000, help="samples per domain for pad and tsne (default 2000)")
    p.add_argument("--data-root", action="append", help="read-only data root (repeatable; also $DABENCH_DATA)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from dabench.runs import evaluate_run

    rundir = RunDir(Path(args.run))
    results = evaluate_run(rundir, args.protocol, data_roots=args.data_root, device=args.device,
                           random_state=args.random_state, samples=args.samples)
    for name, result in results.items():
        say(f"{name}: {summary(name, result)}  -> {rundir.eval_path(name)}")
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
