"""Image translation (the paper's Table 2 layout): SSIM / MSE / PSNR per method on each label-free task, the
paper's values beneath ours and the untranslated input as the floor to beat."""
from __future__ import annotations

from dabench.leaderboard.context import Context
from dabench.leaderboard.declared import paper_table2, paper_table2_of
from dabench.leaderboard.layout import aggregate, best_of, bold, budget_text, markdown_table, paper_line, \
    task_sort_key
from dabench.leaderboard.paper import OTHER_TABLE2, PAPER_SHORT, TASK_NAMES
from dabench.leaderboard.results import Run

#: translation metrics: (evaluation-line key, label, decimals, higher is better)
QUALITY = (("ssim", "SSIM", 4, True), ("mse", "MSE", 4, False), ("psnr", "PSNR (dB)", 2, True))


def _body(ctx: Context, task: str, members: list[Run]) -> tuple[list[list[str]], dict | None]:
    """The table rows of one task (the untranslated input last, when recorded) and that baseline."""
    stats = {key: aggregate([{"row": ctx.row_name(r), "seed": r.seed, "value": r.metrics[-1][f"tgt_test/{key}"]}
                             for r in members], ["row"]) for key, *_ in QUALITY}
    best = {key: best_of({row: s.mean for (row,), s in stats[key].items()}, decimals, higher)
            for key, _, decimals, higher in QUALITY}
    body = []
    for name, rmembers in ctx.rows_of(members):
        paper_row = paper_table2_of(rmembers[0].method, task)
        cells = [name, budget_text(rmembers)]
        for i, (key, _, decimals, _) in enumerate(QUALITY):
            stat = stats[key].get((name,))
            text = bold(stat.text(decimals), name in best[key]) if stat else "–"
            cells.append(text + paper_line(paper_row[i] if paper_row else None, stat, decimals))
        body.append(cells)
    baseline = next((r.evals["image-quality"]["result"]["input_baseline"] for r in members
                     if "input_baseline" in r.evals.get("image-quality", {}).get("result", {})), None)
    if baseline is not None:
        body.append(["untranslated input", "–"] + [f"{baseline[key]:.{decimals}f}" for key, _, decimals, _ in QUALITY])
    return body, baseline


def _caption(task: str, members: list[Run], baseline: dict | None) -> str:
    pairs = sorted({str(r.evals["image-quality"]["result"].get("n", "?")) for r in members
                    if "image-quality" in r.evals})
    text = (f"Translations of the target test images scored against their paired ground truth "
            f"({' / '.join(pairs) if pairs else '?'} pairs; per-image SSIM/MSE/PSNR in [0, 1] units, averaged; "
            f"PSNR from per-image MSE), at the last step (a label-free task has no model selection). Bold: best "
            f"per column (SSIM, PSNR higher; MSE lower).")
    if baseline is not None:
        text += " `untranslated input`: the input image itself scored the same way, what a method has to beat."
    others = OTHER_TABLE2.get(task, {})
    if paper_table2(task) or others:
        text += f" Beneath: {PAPER_SHORT} Table 2 (SSIM / MSE / PSNR)"
        if others:
            text += "; its other rows, not implemented in dabench: " + "; ".join(
                f"{row} {v[0]:.4f} / {v[1]:.4f} / {v[2]:.2f}" for row, v in others.items())
        text += "."
    else:
        text += " The paper reports no SSIM/MSE/PSNR for this task."
    return text


def translation_section(ctx: Context) -> list[str]:
    runs = [r for r in ctx.runs if r.kind == "translation"]
    if not runs:
        return []
    out = ["### Image translation (Table 2 layout), selection: last step", ""]
    for task in sorted({r.task for r in runs}, key=task_sort_key):
        members = [r for r in runs if r.task == task]
        body, baseline = _body(ctx, task, members)
        out += [f"#### {task} ({TASK_NAMES.get(task, task)})", "",
                markdown_table(["method", "steps × batch"] + [label for _, label, _, _ in QUALITY], body), "",
                _caption(task, members, baseline), ""]
    return out + ctx.section_note("translation")
