"""``dabench leaderboard``: generate the markdown leaderboard (:mod:`dabench.leaderboard`) from finished runs.

The default output is ``<first RUNS_DIR>/leaderboard/``; the project's committed leaderboard is regenerated with
``dabench leaderboard leaderboard/data -o leaderboard``. Nothing is deleted: figures in the output folder that
this call did not write are listed.
"""
from __future__ import annotations

from pathlib import Path

from dabench.cli._common import say
from dabench.leaderboard import (DEFAULT_SELECTIONS, FIGURES, NOTES, SELECTIONS, build, command_line, default_out,
                                 export_runs, read_notes, stale_figures, write)


def add_parser(sub) -> None:
    """Add the ``leaderboard`` subcommand to the CLI's subparsers."""
    p = sub.add_parser(
        "leaderboard", help="generate the markdown leaderboard (README.md + figures) from finished runs",
        description="Generate <out>/README.md and <out>/figures/ from the finished runs under RUNS_DIR (searched "
                    "recursively), with the paper's values beside ours. Deterministic: the same runs give the same "
                    "file byte for byte. Deletes nothing.")
    p.add_argument("runs", nargs="+", metavar="RUNS_DIR", help="folder(s) holding run directories (or sweeps)")
    p.add_argument("-o", "--out", default=None,
                   help="output folder (default: <first RUNS_DIR>/leaderboard; the committed leaderboard is "
                        "`-o leaderboard`)")
    p.add_argument("--notes", default=None,
                   help=f"YAML of honest notes per method / section (default: <out>/{NOTES} when it exists)")
    p.add_argument("--selection", action="append", choices=list(SELECTIONS), metavar="RULE",
                   help=f"one Table 1 per rule, in order (repeatable; {', '.join(SELECTIONS)}; default: "
                        f"{' '.join(DEFAULT_SELECTIONS)}; target-best uses target labels and is labelled so)")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="first copy the compact results of the finished runs (configs, metrics, evals, figures; no "
                        "checkpoints) to DIR/<sweep>/<run>/, then generate the leaderboard from DIR alone")
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args) -> int:
    roots = list(args.runs)
    out = Path(args.out) if args.out else default_out(roots)  # beside the runs given, also with --export
    if args.export:
        exported, skipped = export_runs(roots, Path(args.export))
        say(f"exported {exported} finished run(s) to {args.export} ({skipped} unfinished skipped)")
        roots = [args.export]
    notes_path = Path(args.notes) if args.notes else (out / NOTES if (out / NOTES).is_file() else None)
    selections = tuple(args.selection or DEFAULT_SELECTIONS)
    command = command_line(roots, str(out), args.notes, selections)
    built = build(roots, out, notes=read_notes(notes_path), selections=selections, command=command)
    readme = write(built, out)
    say(f"{readme}: {built.runs} finished run(s) in {built.groups} group(s); {built.unfinished} unfinished "
        f"skipped; {built.duplicates} duplicate(s) merged; {len(built.figures)} figure(s)")
    stale = stale_figures(built, out)
    if stale:
        say(f"{len(stale)} figure(s) in {out / FIGURES} were not written by this call (stale?): "
            + ", ".join(stale))
    if built.unplaced:
        say(f"{len(built.unplaced)} run(s) fit no table (ablation switches off the paper's Table-1 setting and "
            f"outside the method's ablation tables): " + ", ".join(built.unplaced))
    if built.unused_notes:
        say(f"notes for method(s) not in any Table 1: {', '.join(built.unused_notes)}")
    return 0
