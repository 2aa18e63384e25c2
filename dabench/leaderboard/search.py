"""Model selection without target labels: how well each rule picks a model out of a hyper-parameter search.

A *search* is the classification runs of one (method, task, steps, hand-set hyper-parameters) in one group whose ``hparams_seed`` values
number at least two (draw 0: the method's defaults; draw k ≥ 1: the k-th random draw from its samplers). Its
runs are shown in this section only: the build keeps them out of Table 1 and the other sections.

For each method, task and trial seed (a *trial*), a rule (:mod:`.selection`) picks one evaluation line among the
trial's draws and evaluated steps; the cell is that model's target test accuracy, ``mean ± std (n)`` over trial
seeds. Tables: the rules at the defaults (draw 0) and over the whole search, then the validators' quality
(regret against the oracle, weighted Spearman correlation of score and accuracy); one scatter figure per task.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from dabench import io
from dabench.leaderboard.context import Context
from dabench.leaderboard.declared import row_key
from dabench.leaderboard.layout import (ACC_DECIMALS, aggregate, best_of, bold, markdown_table, task_header,
                                        task_sort_key)
from dabench.leaderboard.results import Run
from dabench.leaderboard.selection import ORACLE, SELECTION_ORDER, SELECTIONS, VALIDATOR_RULES, pick, scored
from dabench.protocols.validators import weighted_spearman

MIN_DRAWS = 2  # the distinct draws that make runs a search
RHO_DECIMALS = 2
Trial = tuple[str, str, int]  # (method, task, trial seed)


def _search_key(run: Run) -> tuple:
    """What the runs of one search share: everything but the draw and the trial seed (hyper-parameters set by
    hand, e.g. an ablation's switch, make another search)."""
    return (run.data, run.device, run.device_name, run.method, run.task, run.steps, run.eval_every,
            json.dumps(run.overrides, sort_keys=True))


def search_runs(runs: list[Run]) -> list[Run]:
    """The runs of ``runs`` that belong to a search: the classification runs of a (group, method, task, steps)
    whose ``hparams_seed`` values number at least :data:`MIN_DRAWS`; in the order given."""
    draws: dict[tuple, set[int]] = {}
    for run in runs:
        if run.kind == "classification":
            draws.setdefault(_search_key(run), set()).add(run.hparams_seed)
    return [r for r in runs if r.kind == "classification" and len(draws[_search_key(r)]) >= MIN_DRAWS]


def trial_lines(runs: list[Run], defaults_only: bool = False) -> dict[Trial, list[dict]]:
    """(method, task, trial seed) → the evaluation lines of its runs, draw after draw (``hparams_seed`` order),
    step after step; with ``defaults_only``, the lines of draw 0 alone."""
    trials: dict[Trial, list[dict]] = {}
    for run in sorted(runs, key=lambda r: (r.hparams_seed, r.path)):
        if not defaults_only or run.hparams_seed == 0:
            trials.setdefault((run.method, run.task, run.seed), []).extend(run.metrics)
    return trials


def picks(trials: dict[Trial, list[dict]], rule: str) -> dict[Trial, dict]:
    """Trial → the line ``rule`` picks among the trial's lines (ties: the later step, then the lower draw); a
    trial with no line carrying the rule's score is left out."""
    return {trial: pick(lines, rule) for trial, lines in trials.items() if scored(lines, rule)}


def _intro(runs: list[Run], methods: list[str]) -> list[str]:
    """What was run, and what a cell of the tables below is."""
    tasks = sorted({r.task for r in runs}, key=task_sort_key)
    draws, seeds = sorted({r.hparams_seed for r in runs}), sorted({r.seed for r in runs})
    steps = ", ".join(str(s) for s in sorted({r.steps for r in runs}))
    return ([f"A hyper-parameter search: {', '.join(methods)} on {', '.join(tasks)}; {len(draws)} draws "
             f"(hparams_seed {', '.join(map(str, draws))}; 0 = the method's defaults, k ≥ 1 = the k-th random draw "
             f"from its samplers) × trial seeds {', '.join(map(str, seeds))}; {steps} steps; {len(runs)} run(s), "
             "shown in this section only.", "",
             "For each method, task and trial seed, a rule picks the (draw, evaluated step) with the best score "
             "(ties: the later step, then the lower draw); a cell is that model's target test accuracy (%), "
             "`mean ± std (n)` over trial seeds. The oracle picks by target test accuracy: an upper bound, never a "
             "valid rule. The rules:", ""]
            + [f"- **{SELECTIONS[rule].title}**: {SELECTIONS[rule].text}." for rule in SELECTION_ORDER] + [""])


def _selection_table(trials: dict[Trial, list[dict]], methods: list[str], tasks: list[str]) -> list[str]:
    """Rows method · rule, a column per task: the target accuracy (%) of the model each rule picks."""
    records = [{"method": method, "rule": rule, "task": task, "seed": seed, "value": 100.0 * line["tgt_test/acc"]}
               for rule in SELECTION_ORDER for (method, task, seed), line in picks(trials, rule).items()]
    stats = aggregate(records, ["method", "rule", "task"])
    body = [[f"{method} · {SELECTIONS[rule].title}"] + [stats[(method, rule, t)].text(ACC_DECIMALS)
                                              if (method, rule, t) in stats else "–" for t in tasks]
            for method in methods for rule in SELECTION_ORDER]
    return [markdown_table(["method · selection"] + [task_header(t) for t in tasks], body), ""]


def regrets(trials: dict[Trial, list[dict]]) -> list[dict]:
    """One record per validator rule and trial: the oracle's pick minus the rule's pick, target test accuracy in
    points (``value``), with the trial's ``method``, ``task`` and ``seed``."""
    oracle = picks(trials, ORACLE)
    return [{"rule": rule, "method": method, "task": task, "seed": seed,
             "value": 100.0 * (oracle[(method, task, seed)]["tgt_test/acc"] - line["tgt_test/acc"])}
            for rule in VALIDATOR_RULES for (method, task, seed), line in picks(trials, rule).items()
            if (method, task, seed) in oracle]


def spearman(trials: dict[Trial, list[dict]], rule: str, task: str) -> float | None:
    """The weighted Spearman correlation of the rule's score with target test accuracy over every (draw, step,
    trial seed) line of a method's search on ``task``, averaged over the task's methods (a method whose value is
    undefined, e.g. a constant score, is left out); None when no method has one."""
    metric, by_method = SELECTIONS[rule].metric, {}
    for (method, t, _), lines in trials.items():
        if t == task:
            by_method.setdefault(method, []).extend(scored(lines, rule))
    values = [weighted_spearman([ln[metric] for ln in lines], [ln["tgt_test/acc"] for ln in lines])
              for lines in by_method.values() if len(lines) >= 2]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else None


def _quality(trials: dict[Trial, list[dict]], tasks: list[str]) -> list[str]:
    """The validators' regret and correlation per task, and the rule closest to the oracle on each task."""
    stats = aggregate(regrets(trials), ["rule", "task"])
    lowest = {t: best_of({rule: s.mean for (rule, task), s in stats.items() if task == t}, ACC_DECIMALS,
                         higher=False) for t in tasks}
    body = []
    for rule in VALIDATOR_RULES:
        cells = [SELECTIONS[rule].title]
        for task in tasks:
            stat, rho = stats.get((rule, task)), spearman(trials, rule, task)
            cells.append(bold(stat.text(ACC_DECIMALS), rule in lowest[task]) if stat else "–")
            cells.append("–" if rho is None else f"{rho:.{RHO_DECIMALS}f}")
        body.append(cells)
    headers = ["validator"] + [h for t in tasks for h in (f"{t}<br>regret (points)", f"{t}<br>weighted Spearman")]
    out = [markdown_table(headers, body), "",
           "Regret: the oracle's pick minus the rule's pick over the search, target test accuracy in points, "
           "`mean ± std (n)` over methods × trial seeds (0: the rule finds the best model); bold: the lowest per "
           "task. Weighted Spearman (Musgrave et al. 2022): the rank correlation of the rule's score with target "
           "test accuracy over every (draw, evaluated step, trial seed) of a method's search, the most accurate "
           "models weighted most, averaged over the task's methods (1: the score orders the models as target "
           "accuracy does).", ""]
    for task in tasks:
        closest = [rule for rule in VALIDATOR_RULES if rule in lowest[task]]  # all of them on a tie
        if closest:
            out.append(f"- Closest to the oracle on {task}: {', '.join(SELECTIONS[r].title for r in closest)} "
                       f"(regret {stats[(closest[0], task)].mean:.1f} points).")
    return out + [""]


def _scatter(lines: dict[str, list[dict]], path: Path, title: str) -> None:
    """One subplot per validator rule: every line's score (x) against its target test accuracy in % (y), one
    colour per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = math.ceil(len(VALIDATOR_RULES) / 2)
    fig, axes = plt.subplots(2, cols, figsize=(4.0 * cols, 7.0), layout="constrained", squeeze=False)
    for ax, rule in zip(axes.flat, VALIDATOR_RULES):
        metric = SELECTIONS[rule].metric
        for i, (method, method_lines) in enumerate(lines.items()):
            usable = scored(method_lines, rule)
            ax.scatter([ln[metric] for ln in usable], [100.0 * ln["tgt_test/acc"] for ln in usable], s=14,
                       alpha=0.7, color=f"C{i}", label=method)
        ax.set(title=SELECTIONS[rule].title, xlabel=metric, ylabel="target test accuracy (%)")
    for ax in axes.flat[len(VALIDATOR_RULES):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    try:
        io.atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


def _figures(ctx: Context, trials: dict[Trial, list[dict]], methods: list[str], tasks: list[str]) -> list[str]:
    """One scatter figure per task (every method, in the same colour on every task), linked in one line."""
    links = []
    for task in tasks:
        lines = {m: [ln for (method, t, _), ls in trials.items() if (method, t) == (m, task) for ln in ls]
                 for m in methods}
        title = f"{task} ({ctx.group.title})\nvalidator score against target test accuracy, every model searched"
        link = ctx.save_figure(f"{ctx.figure_prefix}/selection_{task}.png",
                               lambda path, lines=lines: _scatter(lines, path, title))
        links.append(f"[{task}]({link})")
    return ["- Validator score against target test accuracy, one point per (draw, evaluated step, trial seed) of "
            "the search, one colour per method, one panel per validator: " + " · ".join(links), ""]


def search_section(ctx: Context, runs: list[Run]) -> list[str]:
    """The model-selection section of the group's search runs (none: no section)."""
    if not runs:
        return []
    oracle = {r.method: r.oracle for r in runs}
    methods = sorted(oracle, key=lambda m: row_key(m, oracle[m]))
    tasks = sorted({r.task for r in runs}, key=task_sort_key)
    everything, defaults = trial_lines(runs), trial_lines(runs, defaults_only=True)
    out = (["### Model selection", ""] + _intro(runs, methods)
           + ["#### At the default hyper-parameters (draw 0)", ""]
           + (_selection_table(defaults, methods, tasks) if defaults else ["No run of the search is at draw 0.", ""])
           + ["#### Over the search (every draw × every evaluated step)", ""]
           + _selection_table(everything, methods, tasks)
           + ["#### Validator quality", ""] + _quality(everything, tasks))
    if ctx.figures_dir is not None:
        out += _figures(ctx, everything, methods, tasks)
    return out + ctx.section_note("selection")
