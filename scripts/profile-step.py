#!/usr/bin/env python3
"""Where one training step of a method goes: ``torch.profiler`` over its ``update`` on batches already in memory.

    DABENCH_DATA=../shared/data python scripts/profile-step.py cdlm [--task mnist-mnistm] [--steps 20]
        [--format own|default|channels-last] [--threads 1] [--top 12]

Prints the process CPU milliseconds per step and a markdown table of the operators with the most self time
(the time inside the operator itself, not its children), each as a share of the profiled total. The model and
batches are built as ``dabench bench`` builds them (seed 0, the method's defaults); ``--format`` places them in
the method's own memory format (``CHANNELS_LAST``), PyTorch's default, or channels-last. It writes no files.
The shares say what a step is made of; for speeds to compare, use ``dabench bench``, which interleaves its
measurements against a noisy machine.
"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method")
    parser.add_argument("--task", default="mnist-mnistm")
    parser.add_argument("--steps", type=int, default=20, help="profiled steps (after 5 warm-up steps)")
    parser.add_argument("--format", choices=("own", "default", "channels-last"), default="own")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=12, help="operators listed")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.threads < 1 or args.top < 1:
        parser.error(f"--steps, --threads and --top must be at least 1; got {args.steps}, {args.threads}, {args.top}")

    import torch
    from torch.profiler import ProfilerActivity, profile

    from dabench import bench
    from dabench.bench_worker import load_data
    from dabench.errors import DataError, UsageError
    from dabench.plan import plan_run

    torch.set_num_threads(args.threads)
    try:
        plan = plan_run(bench.run_config(args.method, args.task, seed=0), "runs")
        data = load_data(plan)
    except (UsageError, DataError) as err:
        print(f"profile-step: {err}", file=sys.stderr)
        return 2
    device = torch.device("cpu")
    resolved = bench._resolved(args.method, args.task, data, seed=0)
    channels_last = {"own": None, "default": False, "channels-last": True}[args.format]
    fmt = resolved.method_cls.CHANNELS_LAST if channels_last is None else channels_last
    model = bench._build(resolved, data, device, channels_last=fmt)
    model.train()
    batches = bench._batches(data, resolved.hparams["batch_size"], device, 8, fmt)
    warmup, total = 5, 5 + args.steps
    for k in range(warmup):
        bench._premade_update(model, batches, k, k / total)
    cpu0 = time.process_time()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for k in range(warmup, total):
            bench._premade_update(model, batches, k, k / total)
    per_step = 1000 * (time.process_time() - cpu0) / args.steps
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    whole = sum(e.self_cpu_time_total for e in events) or 1.0
    print(f"{args.method} on {args.task}, {'channels-last' if fmt else 'default'} memory format, "
          f"{args.threads} thread(s): {per_step:.1f} CPU-ms per step under the profiler ({args.steps} steps)\n")
    print("| operator | share of self time | self ms per step (wall clock) | calls per step |")
    print("|---|---|---|---|")
    for e in events[:args.top]:
        print(f"| `{e.key}` | {100 * e.self_cpu_time_total / whole:.1f} % | "
              f"{e.self_cpu_time_total / 1000 / args.steps:.1f} | {e.count / args.steps:g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
