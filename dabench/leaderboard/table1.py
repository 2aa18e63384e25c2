"""Table 1: methods × tasks, target test accuracy in %, the paper's value beneath each of ours (one table per
selection rule)."""
from __future__ import annotations

from dabench.leaderboard.context import Context
from dabench.leaderboard.declared import paper_table1
from dabench.leaderboard.layout import (ACC_DECIMALS, aggregate, best_of, bold, budget_text, markdown_table,
                                        paper_line, task_header, task_sort_key)
from dabench.leaderboard.paper import PAPER_SHORT
from dabench.leaderboard.selection import SELECTIONS, select


def table1_section(ctx: Context, rule: str, primary: bool) -> list[str]:
    """Table 1 under selection ``rule``; the primary table carries the method notes and the section note."""
    runs = [r for r in ctx.runs if r.kind == "classification"]
    if not runs:
        return []
    records = [{"row": ctx.row_name(r), "task": r.task, "seed": r.seed,
                "value": 100.0 * select(r, rule)["tgt_test/acc"]} for r in runs]
    stats = aggregate(records, ["row", "task"])
    tasks = sorted({r.task for r in runs}, key=task_sort_key)
    rows = ctx.rows_of(runs)
    oracle_rows = {name for name, members in rows if members[0].oracle}
    best = {t: best_of({name: s.mean for (name, task), s in stats.items() if task == t and name not in oracle_rows},
                       ACC_DECIMALS) for t in tasks}
    body = []
    for name, members in rows:
        method = members[0].method
        label = f"{name} (oracle: target labels)" if members[0].oracle else name
        cells = [label, budget_text(members)]
        for task in tasks:
            stat = stats.get((name, task))
            ours = bold(stat.text(ACC_DECIMALS), name in best[task]) if stat else "–"
            cells.append(ours + paper_line(paper_table1(method, task), stat, ACC_DECIMALS, 100.0))
        body.append(cells)
    selection = SELECTIONS[rule]
    out = [f"### Table 1 — target test accuracy (%), selection: {selection.title}", "",
           markdown_table(["method", "steps × batch"] + [task_header(t) for t in tasks], body), "",
           f"Selection rule: {selection.text}. Bold: the best mean per column among the domain-adaptation rows "
           f"(the oracle row, trained on target labels, is never bold). Beneath each cell: {PAPER_SHORT} Table 1 "
           f"value for the same cell and Δ = ours − paper, in points.", ""]
    if primary:
        out += ctx.method_notes([members[0].method for _, members in rows])
        out += ctx.section_note("table1")
    return out
