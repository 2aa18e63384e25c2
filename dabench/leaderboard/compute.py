"""The compute axis: target accuracy against the training images seen (one figure per task, every row, source
only and the oracle as reference lines), and an equal-compute table (each row's accuracy at fixed CPU budgets,
read from the last evaluation inside the budget), so that methods are compared at the same cost as well as at
their own default budgets.

Only runs whose evaluation lines carry the compute axis (``compute/images``, ``compute/cpu_s``) take part; runs
recorded before it existed are left out and counted. A method that classifies through the source-only model
(``NEEDS_SOURCE_CLASSIFIER``) is charged that model's CPU time too: as the run recorded it (``source_classifier``
in its result), else from the source-only run of the same task and seed in the same group; without either, the
method's row is left out of the table.
"""
from __future__ import annotations

from dabench.leaderboard.context import Context
from dabench.leaderboard.declared import method_class
from dabench.leaderboard.layout import ACC_DECIMALS, aggregate, markdown_table, task_header, task_sort_key
from dabench.leaderboard.results import Run

#: the CPU budgets of the equal-compute table, in CPU-minutes (process time, all threads)
BUDGETS_MIN = (5, 15, 45)


def _tracked(run: Run) -> bool:
    return run.kind == "classification" and all("compute/cpu_s" in line for line in run.metrics)


def _setup_cpu(run: Run, by_key: dict[tuple, Run]) -> float | None:
    """CPU seconds of what ``run`` needs first (its source-only classifier): as the run recorded it, else from
    the source-only run of its task and seed in the group; 0 when it needs nothing, None when neither says."""
    cls = method_class(run.method)
    if cls is None or not cls.NEEDS_SOURCE_CLASSIFIER:
        return 0.0
    if run.classifier_cpu_s is not None:
        return float(run.classifier_cpu_s)
    base = by_key.get((run.task, run.seed))
    return None if base is None else base.metrics[-1]["compute/cpu_s"]


def _at_budget(run: Run, setup: float, budget_s: float) -> float | None:
    """Target accuracy (%) of the last evaluation whose CPU time, with ``setup``, is inside ``budget_s``."""
    inside = [ln for ln in run.metrics if setup + ln["compute/cpu_s"] <= budget_s]
    return 100.0 * inside[-1]["tgt_test/acc"] if inside else None


def _table(ctx: Context, runs: list[Run]) -> list[str]:
    sources = {(r.task, r.seed): r for r in runs if r.method == "source-only"}
    records, left_out, borrowed = [], set(), set()
    for run in runs:
        setup = _setup_cpu(run, sources)
        if setup is None:
            left_out.add(f"{ctx.row_name(run)} on {run.task}")
            continue
        if setup and run.classifier_cpu_s is None:
            borrowed.add(f"{ctx.row_name(run)} on {run.task}")
        for budget in BUDGETS_MIN:
            value = _at_budget(run, setup, 60.0 * budget)
            if value is not None:
                records.append({"row": f"{ctx.row_name(run)} · ≤ {budget} CPU-min", "task": run.task,
                                "seed": run.seed, "value": value})
    if not records:
        return ([f"Equal compute: no row yet (left out, their source-only run's CPU time being neither recorded "
                 f"nor here: {', '.join(sorted(left_out))}).", ""] if left_out else [])
    stats = aggregate(records, ["row", "task"])
    tasks = sorted({r["task"] for r in records}, key=task_sort_key)
    order = {name: i for i, (name, _) in enumerate(ctx.rows_of(runs))}
    rows = sorted({r["row"] for r in records},
                  key=lambda row: (order.get(row.split(" · ")[0], len(order)), int(row.split("≤ ")[1].split()[0])))
    body = [[row] + [stats[(row, t)].text(ACC_DECIMALS) if (row, t) in stats else "–" for t in tasks] for row in rows]
    note = ("Each cell: the target test accuracy (%) of the last evaluation whose process CPU time since the start "
            "of the run (all threads, summed over resumed segments"
            + (", plus the source-only classifier the method classifies through" if any(
                (c := method_class(r.method)) is not None and c.NEEDS_SOURCE_CLASSIFIER for r in runs) else "")
            + ") is inside the budget, `mean ± std (n)` over the seeds that reached an evaluation by then; – none did.")
    if borrowed:
        note += (" Charged the source-only run of the same task and seed shown here, having been trained before "
                 "runs recorded their own classifier (it may be another run of that configuration, from another "
                 f"host): {', '.join(sorted(borrowed))}.")
    if left_out:
        note += (f" Left out, their source-only run's CPU time being neither recorded nor here: "
                 f"{', '.join(sorted(left_out))}.")
    return ["#### Equal compute — target test accuracy (%) at fixed CPU budgets", "",
            markdown_table(["method · budget"] + [task_header(t) for t in tasks], body), "", note, ""]


def _reference(runs: list[Run], oracle: bool) -> dict[str, float]:
    """task → the mean final target accuracy (%) of the source-only (or the oracle) runs."""
    values: dict[str, list[float]] = {}
    for run in runs:
        is_ref = run.oracle if oracle else run.method == "source-only"
        if is_ref:
            values.setdefault(run.task, []).append(100.0 * run.metrics[-1]["tgt_test/acc"])
    return {task: sum(v) / len(v) for task, v in values.items()}


def _mean_curve(runs: list[Run]) -> list[tuple[float, float]]:
    """(images seen, mean target accuracy %) at every evaluation all of ``runs`` made."""
    per_step: dict[int, list[tuple[float, float]]] = {}
    for run in runs:
        for line in run.metrics:
            per_step.setdefault(line["step"], []).append((line["compute/images"], 100.0 * line["tgt_test/acc"]))
    return [(points[0][0], sum(p[1] for p in points) / len(points))
            for _, points in sorted(per_step.items()) if len(points) == len(runs)]


def _figures(ctx: Context, runs: list[Run]) -> list[str]:
    from dabench import figures as plots

    references = {"source only": _reference(ctx.runs, oracle=False), "oracle": _reference(ctx.runs, oracle=True)}
    links = []
    for task in sorted({r.task for r in runs}, key=task_sort_key):
        series = {name: _mean_curve(members) for name, members in ctx.rows_of([r for r in runs if r.task == task])}
        refs = {label: values[task] for label, values in references.items() if task in values}
        title = f"{task} ({ctx.group.title})\ntarget accuracy against training images, mean over seeds"
        link = ctx.save_figure(f"{ctx.figure_prefix}/compute_{task}.png", lambda path: plots.accuracy_vs_images(
            series, refs, path, title=title))
        links.append(f"[{task}]({link})")
    return ["- Target accuracy against the training images seen (source and target images drawn by the method's own "
            "updates, log scale; a method that classifies through the source-only model also relies on that "
            "model's images), every row's mean over seeds, with source only and the oracle as reference lines: "
            + " · ".join(links), ""]


def compute_section(ctx: Context) -> list[str]:
    runs = [r for r in ctx.runs if _tracked(r)]
    if not runs:
        return []
    untracked = sum(1 for r in ctx.runs if r.kind == "classification" and not _tracked(r))
    out = ["### Compute", "",
           f"{len(runs)} run(s) record the compute axis"
           + (f"; {untracked} run(s) recorded before it existed are not in this section" if untracked else "")
           + ".", ""]
    out += _table(ctx, runs)
    if ctx.figures_dir is not None:
        out += _figures(ctx, runs)
    return out + ctx.section_note("compute")
