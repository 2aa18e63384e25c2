"""The ablation tables a method declares (``Method.ABLATIONS``, e.g. CDLM's Tables 3–5): one row per task, one
column per setting of the switches, the paper's value beneath ours."""
from __future__ import annotations

from dabench.ablation import Ablation
from dabench.leaderboard.context import Context
from dabench.leaderboard.declared import ablations, row_key, table1_setting
from dabench.leaderboard.layout import (ACC_DECIMALS, aggregate, best_of, bold, budget_text, markdown_table,
                                        paper_line, show, task_sort_key, variant_labels)
from dabench.leaderboard.paper import PAPER_SHORT
from dabench.leaderboard.results import Run
from dabench.leaderboard.selection import SELECTIONS, select


def _body(ablation: Ablation, members: list[Run], rule: str) -> list[list[str]]:
    labels = variant_labels(members, lambda r: (r.task, r.ablation_column(ablation)))
    records = [{"row": (r.task, labels[r.key]), "col": r.ablation_column(ablation), "seed": r.seed,
                "value": 100.0 * select(r, rule)["tgt_test/acc"]} for r in members]
    stats = aggregate(records, ["row", "col"])
    rows = sorted({rec["row"] for rec in records}, key=lambda row: (task_sort_key(row[0]), row[1]))
    body = []
    for row in rows:
        task, label = row
        best = best_of({col: s.mean for (r, col), s in stats.items() if r == row}, ACC_DECIMALS)
        paper = ablation.paper.get(task)
        cells = [f"{task} [{label}]" if label else task,
                 budget_text([r for r in members if (r.task, labels[r.key]) == row])]
        for col in range(len(ablation.columns)):
            stat = stats.get((row, col))
            text = bold(stat.text(ACC_DECIMALS), col in best) if stat else "–"
            cells.append(text + paper_line(paper[col] if paper else None, stat, ACC_DECIMALS, 100.0))
        body.append(cells)
    return body


def _table(ctx: Context, method: str, ablation: Ablation, members: list[Run], rule: str) -> list[str]:
    knobs = ", ".join(ablation.knobs)
    setting = ", ".join(f"{k}={show(v)}" for k, v in table1_setting(method).items() if k not in ablation.knobs)
    who = ablation.method_name
    return [f"### {who} ablation, {ablation.title} — target test accuracy (%), selection: {SELECTIONS[rule].title}",
            "", markdown_table(["task", "steps × batch"] + [label for _, label in ablation.columns],
                               _body(ablation, members, rule)), "",
            f"{who} runs varying `{knobs}` with the other switches at the paper's Table-1 setting ({setting}); "
            f"the column equal to that setting is Table 1's {who} row. Bold: the best column per row. Beneath: "
            f"{PAPER_SHORT} {ablation.title.split(':')[0]} and Δ = ours − paper. Selection rule: "
            f"{SELECTIONS[rule].text}.", ""] + ctx.section_note(ablation.name)


def ablation_sections(ctx: Context, all_runs: list[Run], rule: str) -> list[str]:
    """Every declared ablation table that has a run off the Table-1 setting, methods in Table 1's order."""
    out = []
    methods = sorted({(r.method, r.oracle) for r in all_runs}, key=lambda mo: row_key(*mo))
    for method in dict.fromkeys(m for m, _ in methods):
        for ablation in ablations(method):
            members = [r for r in all_runs if r.method == method and r.ablation_column(ablation) is not None]
            if not any(not r.at_table1_setting() for r in members):
                continue  # only the Table-1 column: nothing beyond Table 1's row
            out += _table(ctx, method, ablation, members, rule)
    return out
