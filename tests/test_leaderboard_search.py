"""The leaderboard's model-selection section (``dabench/leaderboard/search.py``) on a FAKE search.

The fabricated search: dann and cdlm on mnist-usps and usps-mnist, draws 0–2 × trial seeds 0–1, three
evaluations each (index i = 0, 1, 2). Every value follows a formula, so each rule's pick is known by hand:

* target test accuracy = base + 0.02·draw + 0.01·i + 0.002·seed (base: dann 0.80, cdlm 0.90): the oracle picks
  (draw 2, i 2), base + 0.06 + 0.002·seed;
* each score peaks at one (draw, i) — source-val (2, 0), IWV (1, 1), DEV (2, 1) on mnist-usps but (2, 0) on
  usps-mnist, entropy (0, 0), IM (0, 2), SND (2, 0) — so that a rule's regret is 100 · (0.06 − 0.02·draw − 0.01·i)
  points: 2, 3, 1 (or 2), 6, 4, 2.
"""
from __future__ import annotations

import pytest

from dabench import leaderboard as lb
from dabench.leaderboard.results import find_runs
from dabench.leaderboard.search import picks, search_runs, trial_lines
from dabench.leaderboard.selection import ORACLE, SELECTION_ORDER, VALIDATOR_RULES, pick
from fake_runs import write_run

BASE = {"dann": 0.80, "cdlm": 0.90}
TASKS = ("mnist-usps", "usps-mnist")
TABLE1 = "### Table 1 — target test accuracy (%), selection: last step"


def _peak(d: int, i: int, at: tuple[int, int]) -> float:
    """A score that is highest (0) at the (draw, evaluation) ``at``."""
    return -float((d - at[0]) ** 2 + (i - at[1]) ** 2)


def _evals(method: str, task: str, d: int, s: int) -> tuple[dict, dict, dict]:
    dev_peak = (2, 1) if task == "mnist-usps" else (2, 0)
    return tuple({"tgt_test/acc": round(BASE[method] + 0.02 * d + 0.01 * i + 0.002 * s, 4),
                  "src_val/acc": round(0.9 + 0.01 * d - 0.01 * i, 4), "valid/iwv": _peak(d, i, (1, 1)),
                  "valid/dev": _peak(d, i, dev_peak), "valid/entropy": _peak(d, i, (0, 0)),
                  "valid/im": _peak(d, i, (0, 2)), "valid/snd": _peak(d, i, (2, 0))} for i in range(3))


def write_search(root) -> None:
    """The fake search of this module's docstring (24 runs)."""
    for method in BASE:
        for task in TASKS:
            for d in range(3):
                for s in range(2):
                    write_run(root, method, task, s, acc=0.5, hparams_seed=d, evals=_evals(method, task, d, s),
                              hparams={"lr": 0.01 * (1 + d)} if d else None)


def _table1_runs(root) -> None:
    for seed, acc in enumerate((0.70, 0.72)):
        write_run(root, "source-only", "mnist-usps", seed, acc=acc)


def _section(text: str, heading: str) -> str:
    """The text from ``heading`` to the next heading of any level."""
    rest = text[text.index(heading) + len(heading):]
    return heading + rest[:rest.find("\n#")] if "\n#" in rest else heading + rest


def _row(table: str, name: str) -> list[str]:
    line = next(ln for ln in table.splitlines() if ln.startswith(f"| {name} "))
    return [c.strip() for c in line.strip("|").split("|")]


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    _table1_runs(root / "table1")
    write_search(root / "search")
    return root


def test_selection_order_puts_the_oracle_last():
    assert SELECTION_ORDER == ("last", "source-val-best", "iwv", "dev", "entropy", "im", "snd", "target-best")
    assert VALIDATOR_RULES == SELECTION_ORDER[1:-1]
    lines = [{"step": 100, "tgt_test/acc": 0.5, "valid/iwv": 1.0}, {"step": 200, "tgt_test/acc": 0.6},
             {"step": 200, "tgt_test/acc": 0.4, "valid/iwv": 1.0}, {"step": 200, "tgt_test/acc": 0.3, "valid/iwv": 1.0}]
    assert pick(lines, "iwv") is lines[2]  # a line without the score is never picked; ties: later step, first line


def test_without_a_search_there_is_no_section_and_table1_is_unchanged(tmp_path, search_dir):
    _table1_runs(tmp_path)
    alone = lb.build([str(tmp_path)], None).text
    assert "Model selection" not in alone
    both = lb.build([str(search_dir)], None).text
    assert _section(both, TABLE1) == _section(alone, TABLE1)  # the search's 24 runs are not in Table 1
    assert "- Runs: 26 finished" in both


def test_search_tables_cells_are_the_hand_computed_picks(search_dir):
    text = lb.build([str(search_dir)], None).text
    section = _section(text, "### Model selection")
    assert "2 draws" not in section and "3 draws (hparams_seed 0, 1, 2;" in section and "24 run(s)" in section
    defaults = _section(text, "#### At the default hyper-parameters (draw 0)")
    assert _row(defaults, "dann · IWV")[1:] == ["81.1 ± 0.1 (2)"] * 2  # draw 0, i = 1
    assert _row(defaults, "dann · target-test best (oracle: uses target labels)")[1] == "82.1 ± 0.1 (2)"  # i = 2
    over = _section(text, "#### Over the search (every draw × every evaluated step)")
    assert _row(over, "dann · IWV")[1] == "83.1 ± 0.1 (2)"  # draw 1, i = 1
    assert _row(over, "cdlm · entropy")[1] == "90.1 ± 0.1 (2)"  # draw 0, i = 0
    assert _row(over, "dann · last step")[1] == "82.1 ± 0.1 (2)"  # ties on the last step: draw 0
    assert _row(over, "cdlm · target-test best (oracle: uses target labels)")[2] == "96.1 ± 0.1 (2)"
    rows = [ln.split("|")[1].strip() for ln in over.splitlines() if ln.startswith("| ")][1:]
    assert len(rows) == 2 * len(SELECTION_ORDER) and rows[0] == "dann · last step"


def test_validator_quality_regret_and_the_closest_rule(search_dir):
    quality = _section(lb.build([str(search_dir)], None).text, "#### Validator quality")
    regret = {name: [_row(quality, name)[1], _row(quality, name)[3]]
              for name in ("source-val best", "IWV", "DEV", "entropy",
                           "IM", "SND")}
    assert regret == {"source-val best": ["2.0 ± 0.0 (4)", "**2.0 ± 0.0 (4)**"],
                      "IWV": ["3.0 ± 0.0 (4)"] * 2,
                      "DEV": ["**1.0 ± 0.0 (4)**", "**2.0 ± 0.0 (4)**"],
                      "entropy": ["6.0 ± 0.0 (4)"] * 2, "IM": ["4.0 ± 0.0 (4)"] * 2,
                      "SND": ["2.0 ± 0.0 (4)", "**2.0 ± 0.0 (4)**"]}
    assert "oracle" not in quality.split("\n\n")[1] and "last step" not in quality  # neither is a validator row
    assert "- Closest to the oracle on mnist-usps: DEV (regret 1.0 points)." in quality
    assert ("- Closest to the oracle on usps-mnist: source-val best, DEV, SND "
            "(regret 2.0 points).") in quality
    assert -1.0 <= float(_row(quality, "IWV")[2]) <= 1.0  # a weighted Spearman correlation


def test_selection_never_reads_target_accuracy_but_for_the_oracle(search_dir):
    runs = search_runs(find_runs([str(search_dir)]).runs)
    assert len(runs) == 24
    where = {id(line): (run.path, line["step"]) for run in runs for line in run.metrics}
    lines = [line for run in runs for line in run.metrics]
    for defaults_only in (False, True):
        trials = trial_lines(runs, defaults_only)
        before = {rule: {t: where[id(ln)] for t, ln in picks(trials, rule).items()} for rule in SELECTION_ORDER}
        accuracies = [line["tgt_test/acc"] for line in lines]
        for line, acc in zip(lines, accuracies[7:] + accuracies[:7]):  # a permutation of every line's accuracy
            line["tgt_test/acc"] = acc
        after = {rule: {t: where[id(ln)] for t, ln in picks(trials, rule).items()} for rule in SELECTION_ORDER}
        for rule in SELECTION_ORDER:
            assert (after[rule] == before[rule]) is (rule != ORACLE), rule


def test_the_figure_is_written_and_linked(tmp_path, search_dir):
    built = lb.build([str(search_dir / "search")], tmp_path / "out")
    link = "figures/full-cpu-x86-64/selection_mnist-usps.png"
    assert f"one panel per validator: [mnist-usps]({link}) · [usps-mnist](" in built.text
    assert (tmp_path / "out" / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
