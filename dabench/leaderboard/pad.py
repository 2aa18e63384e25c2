"""The proxy A-distance section (Fig. 6): a table of d_A per feature set and task, and its bar chart."""
from __future__ import annotations

from dabench.leaderboard.context import Context
from dabench.leaderboard.declared import row_key
from dabench.leaderboard.layout import PAD_DECIMALS, aggregate, markdown_table, task_header, task_sort_key
from dabench.rundir import EVAL_PREFIX, EVAL_SUFFIX

PAD_KINDS = {"features": "features", "translated": "translated images"}
RAW_ORDER = (-1, 0, "", "")  # raw pixels come first


def _records(ctx: Context) -> tuple[list[dict], dict[str, set], set[str]]:
    """One record per run and feature set (raw pixels once per task and random state), the samples per task and
    the classifiers used."""
    records, raw_seen, samples, classifiers = [], set(), {}, set()
    for run in (r for r in ctx.runs if "pad" in r.evals):
        result = run.evals["pad"].get("result", {})
        state = run.evals["pad"].get("random_state")
        for kind, entry in sorted(result.items()):
            if not isinstance(entry, dict) or "d_a" not in entry:
                continue
            classifiers.add(str(entry.get("classifier", "?")))
            samples.setdefault(run.task, set()).add(
                f"{result.get('source_split', '?')} vs {result.get('target_split', '?')}, "
                f"{entry.get('n_per_domain', '?')} per domain")
            if kind == "raw":  # raw pixels do not depend on the method: one value per task and random state
                ident = (run.task, state, result.get("source_split"), result.get("target_split"),
                         entry.get("n_per_domain"))
                if ident in raw_seen:
                    continue
                raw_seen.add(ident)
                row, order = "raw pixels", RAW_ORDER
            else:
                row = f"{ctx.row_name(run)} {PAD_KINDS.get(kind, kind)}"
                order = (*row_key(run.method, run.oracle)[1:], row)
            records.append({"row": row, "order": order, "task": run.task, "seed": state if kind == "raw" else run.seed,
                            "value": float(entry["d_a"])})
    return records, samples, classifiers


def pad_section(ctx: Context) -> list[str]:
    records, samples, classifiers = _records(ctx)
    if not records:
        return []
    stats = aggregate(records, ["row", "task"])
    tasks = sorted({r["task"] for r in records}, key=task_sort_key)
    orders = {r["row"]: r["order"] for r in records}
    row_names = sorted(orders, key=lambda name: orders[name])
    body = [[row] + [stats[(row, t)].text(PAD_DECIMALS) if (row, t) in stats else "–" for t in tasks]
            for row in row_names]
    out = ["### Proxy A-distance (Fig. 6)", "",
           markdown_table(["features"] + [task_header(t) for t in tasks], body), ""]
    out += ["d_A = 2(1 − 2ε), ε the held-out error of a classifier separating source from target samples; 2: the "
            "domains are perfectly separable, 0: indistinguishable. Measured on each run's final model "
            f"(`{EVAL_PREFIX}pad{EVAL_SUFFIX}`), `mean ± std (n)` over seeds (raw pixels depend on the task only). "
            "Samples: " + "; ".join(f"{task}: {' / '.join(sorted(samples[task]))}" for task in tasks if task in samples)
            + f". Classifier: {'; '.join(sorted(classifiers))}. The paper's Fig. 6 gives no numbers, so there is no "
            "paper column.", ""]
    if ctx.figures_dir is not None:
        from dabench import figures as plots

        values: dict[str, dict[str, float]] = {}
        for row in row_names:
            for task in tasks:
                if (row, task) in stats:
                    values.setdefault(task, {})[row] = stats[(row, task)].mean
        title = f"Proxy A-distance ({ctx.group.title})"
        link = ctx.save_figure(f"{ctx.figure_prefix}/fig6_pad.png", lambda path: plots.pad_bars(
            {t: values[t] for t in tasks if t in values}, path, title=title))
        out += [f"![Proxy A-distance, {ctx.group.title}]({link})", ""]
    return out + ctx.section_note("pad")
