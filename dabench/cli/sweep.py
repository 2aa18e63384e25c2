"""``dabench sweep {launch,status,presets}``: parse, call :mod:`dabench.sweep`, print.

``launch`` submits every run of a spec that is not done (done runs are skipped, incomplete ones resume, failed
ones wait for ``status --retry-failed``); ``status`` prints a table of every run's state; ``presets`` lists the
specs shipped with dabench. Exit codes: 0; 1 when the user declined to submit, or, after ``--wait``, when a job
failed or a run is not done; 2 for a usage mistake (one line, no traceback).
"""
from __future__ import annotations

import functools
import sys
from typing import Any

from dabench.cli._common import parse_sets, say
from dabench.errors import UsageError
from dabench.sweep import (DONE, FAILED, INCOMPLETE, LAUNCHERS, NOT_LAUNCHED, PENDING, RUNNING, TO_SUBMIT, RunStatus,
                           SweepRun, SweepSpec, all_done, as_rows, check_data, counts, expand, get_launcher,
                           load_spec, meta_dir, preset_descriptions, resumable, submit, sweep_states, wait)

#: the flags that change which runs a spec means (repeated in the `status` command printed after a launch)
_RUN_FLAGS = ("budget", "out", "name", "methods", "tasks", "seeds", "steps", "eval_every", "checkpoint_every", "data")
_WHERE = {"slurm": "one SLURM job array", "local": "local processes", "debug": "this process, one by one"}


# ------------------------------------------------------------------------------------------- parsing
def add_parser(subparsers) -> None:
    """Add ``dabench sweep {launch,status,presets}`` to the CLI's subparsers."""
    p = subparsers.add_parser("sweep", help="launch a grid of runs on SLURM (or locally) and follow it")
    sub = p.add_subparsers(dest="sweep_command", required=True, parser_class=type(p))
    lp = sub.add_parser("launch", help="submit every run of SPEC that is not done (done ones are skipped, "
                                       "incomplete ones resume)")
    _add_common(lp)
    lp.add_argument("--wait", action="store_true", help="wait for the jobs to finish, then print the status "
                                                        "(exit code 0 only if every run is done)")
    lp.set_defaults(func=cmd_launch)
    sp = sub.add_parser("status", help="table of done / running / pending / failed runs of SPEC")
    _add_common(sp)
    sp.add_argument("--retry-failed", action="store_true", help="submit the failed runs again")
    sp.add_argument("--wait", action="store_true", help="with --retry-failed: wait for them to finish")
    sp.set_defaults(func=cmd_status)
    pp = sub.add_parser("presets", help="list the sweep presets shipped with dabench")
    pp.set_defaults(func=cmd_presets)


def _add_common(p) -> None:
    p.add_argument("spec", metavar="SPEC", help="a sweep spec (YAML file) or a preset name (`dabench sweep presets`)")
    g = p.add_argument_group("what runs (override the spec)")
    g.add_argument("--budget", help="which of the spec's budgets (e.g. cpu or full)")
    g.add_argument("--out", help="folder of sweep roots (default: the spec's, else ./runs)")
    g.add_argument("--name", help="sweep name: the runs go to OUT/NAME")
    g.add_argument("--methods", type=_csv, help="comma-separated methods instead of the spec's")
    g.add_argument("--tasks", type=_csv, help="comma-separated tasks instead of the spec's")
    g.add_argument("--seeds", type=_seed_list, help="comma-separated seeds instead of the spec's (e.g. 0,1,2)")
    g.add_argument("--steps", type=_integer("--steps", 1), help="step budget of every run")
    g.add_argument("--eval-every", type=_integer("--eval-every", 1), help="evaluate every N steps")
    g.add_argument("--checkpoint-every", type=_integer("--checkpoint-every", 1), help="checkpoint every N steps")
    g.add_argument("--data", choices=["auto", "full", "embedded"], help="data source of every run")
    g.add_argument("--data-root", action="append", help="read-only data root (repeatable; also $DABENCH_DATA)")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device of every run")
    e = p.add_argument_group("where it runs (override the spec's executor)")
    e.add_argument("--executor", choices=LAUNCHERS.names(), help="slurm (default), local or debug (in-process)")
    e.add_argument("--partition", help="SLURM partition")
    e.add_argument("--gpus", type=_integer("--gpus", 0), help="GPUs per job")
    e.add_argument("--cpus", type=_integer("--cpus", 1), help="CPUs per job")
    e.add_argument("--mem", help="memory per job (e.g. 16G)")
    e.add_argument("--time", help="time limit per job: minutes or [D-]HH:MM:SS")
    e.add_argument("--array-parallelism", type=_integer("--array-parallelism", 1), help="jobs running at once")
    e.add_argument("--sbatch", action="append", metavar="KEY=VALUE", help="extra sbatch option (repeatable)")
    e.add_argument("--yes", "-y", action="store_true", help="submit without asking")


def _csv(value: str) -> list[str]:
    items = [x.strip() for x in value.split(",") if x.strip()]
    if not items:
        raise UsageError(f"expected a comma-separated list; got '{value}'")
    return items


def _seed_list(value: str) -> list[int]:
    try:
        seeds = [int(x) for x in _csv(value)]
    except ValueError:
        raise UsageError(f"--seeds expects comma-separated integers (e.g. 0,1,2); got '{value}'") from None
    if any(s < 0 for s in seeds):
        raise UsageError(f"--seeds must be >= 0; got '{value}'")
    return seeds


def _integer(flag: str, minimum: int):
    """An argparse type: an integer >= ``minimum``, else one line naming ``flag``."""
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = minimum - 1
        if n < minimum:
            raise UsageError(f"{flag} expects {what}; got '{value}'")
        return n

    return parse


def overrides_from_args(args) -> dict[str, Any]:
    """The command line's overrides of the spec, as :func:`dabench.sweep.load_spec` takes them."""
    ex = {"name": args.executor, "partition": args.partition, "gpus": args.gpus, "cpus": args.cpus,
          "mem": args.mem, "array_parallelism": args.array_parallelism}
    if args.time is not None:
        ex["time"] = args.time if not args.time.isdigit() else int(args.time)
    if args.sbatch:
        try:
            ex["sbatch"] = parse_sets(args.sbatch)
        except UsageError:
            raise UsageError(f"--sbatch expects KEY=VALUE (e.g. --sbatch account=abc); got {args.sbatch}") from None
    return {"budget": args.budget, "out": args.out, "name": args.name, "methods": args.methods, "tasks": args.tasks,
            "seeds": args.seeds, "steps": args.steps, "eval_every": args.eval_every,
            "checkpoint_every": args.checkpoint_every, "data": args.data, "data_root": args.data_root,
            "device": args.device, "executor": {k: x for k, x in ex.items() if x is not None}}


def _one_line_errors(cmd):
    """A file the sweep cannot read or write (permissions, a full disk) ends the command with one line."""
    @functools.wraps(cmd)
    def wrapper(args) -> int:
        try:
            return cmd(args)
        except OSError as err:
            where = f" ({err.filename})" if err.filename else ""
            raise UsageError(f"{err.strerror or err}{where}") from None

    return wrapper


# ------------------------------------------------------------------------------------------- commands
@_one_line_errors
def cmd_launch(args) -> int:
    spec = load_spec(args.spec, overrides_from_args(args))
    runs = expand(spec)
    say(_header(spec, runs))
    statuses, warnings = sweep_states(spec, runs, strict=True)
    for w in warnings:
        say(f"warning: {w}")
    n = counts(statuses)
    to_run = [st for st in statuses if st.state in TO_SUBMIT]
    resuming = len(resumable(to_run))
    say(f"  done: {n[DONE]}, queued or running: {n[RUNNING] + n[PENDING]}, failed: {n[FAILED]}"
        + (f" (not resubmitted: `dabench sweep status {args.spec} --retry-failed`)" if n[FAILED] else ""))
    say(f"  to run: {len(to_run)} ({len(to_run) - resuming} new, {resuming} resuming from a checkpoint)")
    if not to_run:
        say("nothing to submit")
        return 0
    for note in check_data(spec, [st.run for st in to_run]):
        say(f"  {note}")
    return _submit_and_report(spec, [st.run for st in to_run], args, "")


@_one_line_errors
def cmd_status(args) -> int:
    spec = load_spec(args.spec, overrides_from_args(args))
    runs = expand(spec)
    say(_header(spec, runs))
    statuses = _print_status(spec, runs)
    if not args.retry_failed:
        return 0
    statuses, _ = sweep_states(spec, runs, strict=True)
    failed = [st.run for st in statuses if st.state == FAILED]
    if not failed:
        say("no failed runs to retry")
        return 0
    for note in check_data(spec, failed):
        say(f"  {note}")
    return _submit_and_report(spec, failed, args, " for the failed runs (each resumes from its checkpoint)")


@_one_line_errors
def cmd_presets(args) -> int:
    for name, description in preset_descriptions():
        say(f"{name:12s} {description}")
    return 0


# ------------------------------------------------------------------------------------------- helpers
def _submit_and_report(spec: SweepSpec, to_run: list[SweepRun], args, what: str) -> int:
    ex = spec.executor
    get_launcher(ex.name).check()
    say(f"executor {ex.name} ({_WHERE.get(ex.name, ex.name)}): {ex.describe()}")
    say(f"logs: {meta_dir(spec.root, 'logs')}")
    if not _confirm(f"Submit {_plural(len(to_run), 'job')}{what}?", args.yes):
        say("nothing submitted")
        return 1
    subs = submit(spec, to_run)
    if ex.name == "slurm":
        arrays = sorted({s.job_id.split("_")[0] for s in subs})
        say(f"submitted {_plural(len(subs), 'job')} as SLURM array {', '.join(arrays)}")
    elif ex.name == "local":
        workers = list(dict.fromkeys(s.job_id for s in subs))  # each worker's pid once, in launch order
        say(f"started {_plural(len(workers), 'local worker')} (pids {', '.join(workers)}) for "
            f"{_plural(len(subs), 'run')}, each running its share one after the other")
    else:
        say(f"ran {_plural(len(subs), 'run')} in this process")
    if not (getattr(args, "wait", False) or ex.name == "debug"):
        say(f"follow them with: dabench sweep status {args.spec}" + _repeat_flags(args))
        return 0
    if ex.name != "debug":
        say("waiting for them to finish...")
    failed = wait(subs)
    statuses = _print_status(spec, expand(spec))
    failed_jobs = list(dict.fromkeys(s.job_id for s in failed))  # a local worker holds several runs
    if failed_jobs:
        say(f"{_plural(len(failed_jobs), 'job')} ended with an error: {', '.join(failed_jobs)}")
    return 0 if all_done(statuses) and not failed else 1


def _print_status(spec: SweepSpec, runs: list[SweepRun]) -> list[RunStatus]:
    statuses, warnings = sweep_states(spec, runs)
    for w in warnings:
        say(f"warning: {w}")
    say(status_table(statuses))
    say(summary_line(statuses))
    for st in statuses:
        if st.state == FAILED:
            say(f"failed run {st.run.dirname} (job {st.job.job_id if st.job else '-'}): {st.error or 'see the log'}")
            if st.log:
                say(f"  log: {st.log}")
    return statuses


def status_table(statuses: list[RunStatus]) -> str:
    from tabulate import tabulate

    rows = [[r["state"], r["method"], r["task"], r["seed"], r["hparams"],
             f"{'-' if r['step'] is None else r['step']}/{'-' if r['total'] is None else r['total']}",
             r["job"] or "-", r["run"]] for r in as_rows(statuses)]
    return tabulate(rows, headers=["state", "method", "task", "seed", "hparams", "step", "job", "run"],
                    tablefmt="simple", disable_numparse=True)


def summary_line(statuses: list[RunStatus]) -> str:
    n = counts(statuses)
    return (f"{_plural(len(statuses), 'run')}: {n[DONE]} done, {n[RUNNING]} running, {n[PENDING]} pending, "
            f"{n[FAILED]} failed, {n[INCOMPLETE]} incomplete, {n[NOT_LAUNCHED]} not launched")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _header(spec: SweepSpec, runs: list[SweepRun]) -> str:
    budget = f", budget {spec.budget}" if spec.budget else ""
    return f"sweep {spec.name} ({spec.origin}{budget}): {_plural(len(runs), 'run')} in {spec.root}"


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: no terminal to ask on; pass --yes to submit without asking")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _repeat_flags(args) -> str:
    """The flags that change which runs a spec means (so that `status` looks at the same runs)."""
    parts = []
    for flag in _RUN_FLAGS:
        value = getattr(args, flag, None)
        if value is None:
            continue
        value = ",".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"--{flag.replace('_', '-')} {value}")
    return (" " + " ".join(parts)) if parts else ""
