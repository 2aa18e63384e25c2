"""``dabench bench``: throughput and memory of dabench's machinery, method by method, as a markdown report.

The measurements are :mod:`dabench.bench` (each method in a worker process, :mod:`dabench.bench_worker`), the
report :mod:`dabench.bench_report`. The report goes to ``runs/bench/performance.md`` (git-ignored) unless
``-o`` names another file; the project's committed reports are regenerated with an explicit
``-o leaderboard/performance.md``.
"""
from __future__ import annotations

import sys

from dabench.bench_worker import DEFAULT_OUT, DEFAULT_TASK, BenchOptions
from dabench.cli._common import say


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure training / compute / evaluation throughput and memory per method")
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
    p.add_argument("-o", "--out", default=str(DEFAULT_OUT),
                   help=f"markdown report (default {DEFAULT_OUT}, git-ignored; the project's report is "
                   "-o leaderboard/performance.md)")
    p.set_defaults(func=cmd_bench)


def options_from(args) -> BenchOptions:
    return BenchOptions(methods=list(args.methods or []), task=args.task, device=args.device, data=args.data,
                        steps=args.steps, min_seconds=args.min_seconds, warmup=args.warmup, repeats=args.repeats,
                        workers=list(args.workers), conventional=not args.no_conventional)


def cmd_bench(args) -> int:
    from dabench.bench import REFERENCE_METHOD
    from dabench.bench_report import machine, render, write_report
    from dabench.bench_worker import WorkerFailed, check_output, load_data, measure_in_worker, plan_methods

    options = options_from(args)
    plans = plan_methods(options)  # every usage mistake ends here, before any data are loaded
    out = check_output(args.out)
    load_data(next(iter(plans.values())))  # fails here, with the fix, when data are missing
    rows, conventional = [], None
    try:
        for spec, plan in plans.items():
            say(f"bench {spec} on {options.task} ({options.device}) ...")
            row = {**measure_in_worker(spec, options), "batch": plan.resolved.hparams["batch_size"]}
            rows.append(row)
            say(f"  loop {row['loop']:.0f} img/s, compute {row['compute']:.0f} img/s, ratio {row['ratio']:.3f}, "
                f"eval {row['eval']:.0f} img/s, peak RSS {row['peak_rss_mb']:.0f} MiB")
        if REFERENCE_METHOD in plans and options.conventional:
            say(f"bench {REFERENCE_METHOD} fed by a PIL DataLoader pipeline ...")
            conventional = measure_in_worker(REFERENCE_METHOD, options, conventional=True)
            for w, rate in conventional["conventional"].items():
                say(f"  conventional, {w} worker(s) per domain: {rate:.0f} img/s "
                    f"(dabench {conventional['speedup'][w]:.2f}x)")
    except WorkerFailed as err:
        print(f"dabench: error: {err}", file=sys.stderr, flush=True)
        return 1
    write_report(out, render(rows, conventional, options, machine(), _command()))
    say(f"wrote {out}")
    return 0


def _command() -> str:
    """The command line as typed, for the report's header."""
    if sys.argv[1:2] == ["bench"]:
        return ("dabench bench " + " ".join(sys.argv[2:])).strip()
    return "dabench bench"
