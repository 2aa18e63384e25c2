#!/usr/bin/env python3
"""How far runs got, finished or not: their target-accuracy curves against training images, and a table.

    python scripts/curves.py RUN_DIR [RUN_DIR ...] -o curves.png [--title TEXT]

The leaderboard reads finished runs only; a long run still training (or stopped by the end of a session) is
shown here instead. For every run directory it prints a markdown row — steps reached of the planned steps, CPU
minutes so far, the last evaluation's target test accuracy and source-validation accuracy — and draws every
run's curve (``compute/images`` against ``tgt_test/acc``) into ``-o``, which must not exist yet unless
``--force`` is given. Target accuracy is printed for reading only; nothing here selects a model.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _row(rundir) -> tuple[str, list[tuple[float, float]], list[str]]:
    """A run's label, its curve and its table cells."""
    cfg, lines = rundir.read_config(), rundir.read_metrics()
    overrides = cfg.get("config", {}).get("hparams") or {}
    label = " ".join([cfg["method"], *(f"{k}={v}" for k, v in sorted(overrides.items())), f"{cfg['steps']} steps"])
    curve = [(ln["compute/images"], 100.0 * ln["tgt_test/acc"]) for ln in lines
             if "compute/images" in ln and "tgt_test/acc" in ln]
    last = lines[-1] if lines else {}
    state = "done" if rundir.is_done() else "unfinished"
    cells = [f"{label} (seed {cfg['seed']})", cfg["task"], f"{last.get('step', 0)} / {cfg['steps']} ({state})",
             f"{last['compute/cpu_s'] / 60:.1f}" if "compute/cpu_s" in last else "–",
             f"{100 * last['tgt_test/acc']:.1f}" if "tgt_test/acc" in last else "–",
             f"{100 * last['src_val/acc']:.1f}" if "src_val/acc" in last else "–"]
    return label, curve, cells


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("-o", "--out", required=True, help="the figure to write (.png)")
    parser.add_argument("--title", default="target accuracy against training images")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".png":
        parser.error(f"-o must name a .png file; got '{out}'")
    if out.exists() and not args.force:
        parser.error(f"{out} exists; pass --force to overwrite it, or choose another -o")

    from dabench import figures
    from dabench.rundir import RunDir

    series, table = {}, []
    for given in args.runs:
        rundir = RunDir(Path(given))
        if not rundir.exists():
            parser.error(f"{given} is not a run directory (no run configuration); give the folders `dabench run` "
                         f"made")
        label, curve, cells = _row(rundir)
        series[f"{label} · {cells[1]}"] = curve
        table.append(cells)
    print("| run | task | steps reached | CPU-min | target test acc (%) | source val acc (%) |")
    print("|---|---|---|---|---|---|")
    for cells in table:
        print("| " + " | ".join(cells) + " |")
    if not any(series.values()):
        print("no evaluation with the compute axis yet: no figure written", file=sys.stderr)
        return 1
    figures.accuracy_vs_images(series, {}, out, title=args.title)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
