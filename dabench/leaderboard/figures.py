"""The figures section: convergence curves rendered from the runs' evaluation lines (Fig. 7) and links to the
runs' own figures (adaptation grids, t-SNE), copied into the output folder."""
from __future__ import annotations

import shutil

from dabench import io
from dabench.leaderboard.context import Context
from dabench.leaderboard.layout import slug, task_sort_key
from dabench.leaderboard.results import Run

#: PNG figures a run may hold, by kind
FIGURE_KINDS = {"grid.png": "adaptation grid", "adaptation_grid.png": "adaptation grid", "tsne.png": "t-SNE",
                "tsne_latents.png": "t-SNE"}
TITLES = {"adaptation grid": "Adaptation grids (Fig. 2)", "t-SNE": "t-SNE (Fig. 4)"}


def _mean_curve(runs: list[Run]) -> list[dict]:
    """The mean target test accuracy of ``runs`` at every step they all evaluated."""
    per_step: dict[int, list[float]] = {}
    for run in runs:
        for line in run.metrics:
            if "tgt_test/acc" in line:
                per_step.setdefault(line["step"], []).append(line["tgt_test/acc"])
    return [{"step": s, "tgt_test/acc": sum(v) / len(v)} for s, v in sorted(per_step.items()) if len(v) == len(runs)]


def _curves(ctx: Context) -> list[str]:
    """Fig. 7 per task: the mean target test error of each row against the step."""
    from dabench import figures as plots

    runs = [r for r in ctx.runs if r.kind == "classification"]
    links = []
    for task in sorted({r.task for r in runs}, key=task_sort_key):
        series = {}
        for name, members in ctx.rows_of([r for r in runs if r.task == task]):
            curve = _mean_curve(members)
            if curve:
                series[name] = curve
        if not series:
            continue
        title = f"Target test error, {task} ({ctx.group.title}); mean over seeds"
        link = ctx.save_figure(f"{ctx.figure_prefix}/fig7_{task}.png",
                               lambda path: plots.error_curves(series, path, title=title))
        links.append(f"[{task}]({link})")
    if not links:
        return []
    return ["- Convergence (Fig. 7; target test error against the training step, the mean over seeds of each row; "
            "never used for selection): " + " · ".join(links)]


def _copies(ctx: Context) -> list[str]:
    """The runs' own figures (one seed's per row and task: the lowest seed that has any), copied and linked."""
    by_kind: dict[str, list[str]] = {}
    for task in sorted({r.task for r in ctx.runs}, key=task_sort_key):
        for name, members in ctx.rows_of([r for r in ctx.runs if r.task == task]):
            with_pngs = [r for r in members if r.pngs]
            if not with_pngs:
                continue
            run = min(with_pngs, key=lambda r: (r.seed, r.path))
            for png in sorted(run.pngs):
                target = f"{ctx.figure_prefix}/{slug(name)}_{task}_s{run.seed}_{png}"
                link = ctx.save_figure(target, lambda path, src=run.pngs[png]: io.atomic(
                    path, lambda tmp: shutil.copyfile(src, tmp)))
                by_kind.setdefault(FIGURE_KINDS.get(png, "other figures"), []).append(
                    f"[{name} on {task}, seed {run.seed}]({link})")
    return [f"- {TITLES.get(kind, kind.capitalize())}: " + " · ".join(by_kind[kind])
            for kind in sorted(by_kind, key=lambda k: (k not in TITLES, k))]


def figures_section(ctx: Context) -> list[str]:
    if ctx.figures_dir is None:
        return []
    lines = _curves(ctx) + _copies(ctx)
    if not lines:
        return []
    return ["### Figures", ""] + lines + [""] + ctx.section_note("figures")
