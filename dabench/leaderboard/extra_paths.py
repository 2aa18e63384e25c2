"""The other evaluation paths a method records (``tgt_test/<path>/acc``), at the selected step, described by the
names the methods give them (``Method.EXTRA_PATHS``)."""
from __future__ import annotations

from dabench.leaderboard.context import Context
from dabench.leaderboard.declared import extra_path_names, row_key
from dabench.leaderboard.layout import ACC_DECIMALS, aggregate, markdown_table, task_header, task_sort_key
from dabench.leaderboard.selection import SELECTIONS, select
from dabench.rundir import METRICS


def _records(ctx: Context, rule: str) -> list[dict]:
    records = []
    for run in ctx.runs:
        if run.kind != "classification":
            continue
        line = select(run, rule)
        for key in sorted(line):
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == "tgt_test" and parts[2] == "acc":
                records.append({"row": f"{ctx.row_name(run)} · {parts[1]}", "method": run.method, "path": parts[1],
                                "oracle": run.oracle, "task": run.task, "seed": run.seed,
                                "value": 100.0 * line[key]})
    return records


def _described(records: list[dict]) -> str:
    """``; the methods' names for them: cdlm `eps0` = with ε = 0, ...`` for the paths the table shows."""
    methods = sorted({(r["method"], r["oracle"]) for r in records}, key=lambda mo: row_key(*mo))
    parts = []
    for method, _ in dict.fromkeys(methods):
        names = extra_path_names(method)
        shown = {r["path"] for r in records if r["method"] == method}
        named = [f"`{path}` = {name}" for path, name in names.items() if path in shown]
        if named:
            parts.append(f"{method} {', '.join(named)}")
    return f"; the methods' names for them: {'; '.join(parts)}" if parts else ""


def extra_paths_section(ctx: Context, rule: str) -> list[str]:
    """Accuracies of a method's other evaluation paths at the step ``rule`` selects."""
    records = _records(ctx, rule)
    if not records:
        return []
    stats = aggregate(records, ["row", "task"])
    tasks = sorted({r["task"] for r in records}, key=task_sort_key)
    order = {r["row"]: (*row_key(r["method"], r["oracle"]), r["row"]) for r in records}
    body = [[row] + [stats[(row, t)].text(ACC_DECIMALS) if (row, t) in stats else "–" for t in tasks]
            for row in sorted(order, key=order.get)]
    return ["### Other evaluation paths — target test accuracy (%), selection: "
            f"{SELECTIONS[rule].title}", "",
            markdown_table(["method · path"] + [task_header(t) for t in tasks], body), "",
            f"Paths a method evaluates besides its reported prediction (`tgt_test/<path>/acc` in {METRICS}), at the "
            f"same selected step{_described(records)}.", ""] + ctx.section_note("extra")
