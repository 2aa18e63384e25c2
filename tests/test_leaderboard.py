"""``dabench leaderboard``: the golden file, the committed leaderboard, the aggregation rules, methods declaring
their own paper values, and the command's safety (default output, nothing deleted, one-line refusals).

The golden test renders the FAKE runs of ``tests/data/leaderboard/`` (written by ``tests/fake_runs.py``) with the
fake notes ``tests/data/leaderboard_notes.yaml`` and compares the result with ``tests/data/leaderboard_golden.md``.
After an intended change of the output, regenerate the golden file and review its diff::

    python tests/test_leaderboard.py --regenerate
"""
from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

import pytest

from dabench import leaderboard as lb
from dabench.cli import main
from dabench.errors import UsageError
from dabench.leaderboard import declared
from dabench.leaderboard.layout import Stat, aggregate, best_of, paper_line
from dabench.leaderboard.results import load_run
from dabench.leaderboard.selection import select
from dabench.method import Method
from dabench.registry import METHODS
from dabench.rundir import RunDir
from fake_runs import GPU, write_run

REPO = Path(__file__).resolve().parents[1]
FIXTURE = "tests/data/leaderboard"
NOTES = "tests/data/leaderboard_notes.yaml"
GOLDEN = REPO / "tests" / "data" / "leaderboard_golden.md"
REGENERATE = "python tests/test_leaderboard.py --regenerate"


def _mirror(workdir: Path, paths: list[str]) -> None:
    """Link repository paths into ``workdir`` under the same relative names, so that the command (and so the
    file's first line) is exactly the documented one while everything is written inside ``workdir``."""
    for rel in paths:
        link = workdir / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO / rel)


def render_golden(workdir: Path) -> str:
    """Run `dabench leaderboard tests/data/leaderboard -o leaderboard --notes ...` in ``workdir`` (the output
    outside the linked fixture); return the README."""
    _mirror(workdir, [FIXTURE, NOTES])
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        assert main(["leaderboard", FIXTURE, "-o", "leaderboard", "--notes", NOTES]) == 0
    finally:
        os.chdir(cwd)
    return (workdir / "leaderboard" / "README.md").read_text()


def _diff(expected: str, got: str, expected_name: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(True), got.splitlines(True), expected_name, "generated"))


def test_golden_file(tmp_path, capsys):
    got = render_golden(tmp_path)
    expected = GOLDEN.read_text()
    if got != expected:
        pytest.fail(f"the leaderboard of the fake runs differs from {GOLDEN.relative_to(REPO)}:\n"
                    f"{_diff(expected, got, 'golden')}\nIf the change is intended, regenerate it with "
                    f"`{REGENERATE}` and review the diff.")
    out = capsys.readouterr().out
    assert "24 finished run(s) in 3 group(s); 1 unfinished skipped; 2 duplicate(s) merged" in out
    figures = tmp_path / "leaderboard" / "figures"
    for rel in ("full-cpu-x86-64/fig6_pad.png", "full-cpu-x86-64/fig7_mnist-usps.png",
                "full-cpu-x86-64/cdlm_sketch-face_s0_grid.png", "full-cuda-nvidia-h200/fig7_mnist-usps.png"):
        assert (figures / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", rel
        assert f"(figures/{rel})" in got


def test_committed_leaderboard_is_up_to_date(tmp_path):
    data = REPO / "leaderboard" / "data"
    if not data.is_dir():
        pytest.skip("leaderboard/data/ does not exist yet: no real results have been exported "
                    "(`dabench leaderboard runs/ --export leaderboard/data`)")
    rels = ["leaderboard/data"] + (["leaderboard/notes.yaml"] if (REPO / "leaderboard" / "notes.yaml").exists() else [])
    _mirror(tmp_path, rels)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["leaderboard", "leaderboard/data", "-o", "leaderboard"]) == 0
    finally:
        os.chdir(cwd)
    got = (tmp_path / "leaderboard" / "README.md").read_text()
    committed = (REPO / "leaderboard" / "README.md").read_text()
    command = "dabench leaderboard leaderboard/data -o leaderboard"
    assert got == committed, (f"leaderboard/README.md is not what `{command}` generates from the committed "
                              f"results:\n{_diff(committed, got, 'leaderboard/README.md')}\n"
                              f"Regenerate it with `{command}` and commit it.")
    figures = {p.relative_to(tmp_path / "leaderboard").as_posix() for p in (tmp_path / "leaderboard").rglob("*.png")}
    committed_figures = {p.relative_to(REPO / "leaderboard").as_posix()
                         for p in (REPO / "leaderboard" / "figures").rglob("*.png")}
    assert figures == committed_figures, f"regenerate the figures too with `{command}`"


# ------------------------------------------------------------------------------------------ unit tests
def _build(roots, **kwargs) -> str:
    return lb.build([str(r) for r in roots], None, **kwargs).text


def _section(text: str, heading: str) -> str:
    """The text from ``heading`` to the next heading of any level."""
    start = text.index(heading)
    rest = text[start + len(heading):]
    ends = [i for i in (rest.find("\n#"),) if i >= 0]
    return text[start:start + len(heading) + (min(ends) if ends else len(rest))]


def _row(table: str, name: str) -> list[str]:
    line = next(ln for ln in table.splitlines() if ln.startswith(f"| {name} "))
    return [c.strip() for c in line.strip("|").split("|")]


def test_stat_text_and_aggregate():
    assert Stat(96.14, 0.25, 3).text(1) == "96.1 ± 0.2 (3)"
    assert Stat(96.14, float("nan"), 1).text(1) == "96.1 (1)"
    records = [{"row": "a", "task": "t", "seed": s, "value": v} for s, v in ((0, 90.0), (1, 92.0), (2, 97.0))]
    stats = aggregate(records + [{"row": "b", "task": "t", "seed": 0, "value": 50.0}], ["row", "task"])
    assert stats[("a", "t")].mean == pytest.approx(93.0) and stats[("a", "t")].n == 3
    assert stats[("a", "t")].std == pytest.approx(3.605551, rel=1e-5)  # sample std (ddof 1)
    assert stats[("b", "t")].text(1) == "50.0 (1)"


def test_table1_cells_bold_best_and_paper(tmp_path):
    for seed, acc in enumerate((0.80, 0.82)):
        write_run(tmp_path / "s", "dann", "mnist-usps", seed, acc=acc)
    write_run(tmp_path / "s", "source-only", "mnist-usps", 0, acc=0.70)
    write_run(tmp_path / "s", "target-only", "mnist-usps", 0, acc=0.99, oracle=True)
    write_run(tmp_path / "s", "cdlm", "usps-mnist", 0, acc=0.95)
    table = _section(_build([tmp_path / "s"]), "### Table 1 — target test accuracy (%), selection: last step")
    methods = [ln.split("|")[1].strip() for ln in table.splitlines() if ln.startswith("| ")][1:]
    assert methods == ["source-only", "dann", "cdlm", "target-only (oracle: target labels)"]
    assert _row(table, "dann")[2] == "**81.0 ± 1.4 (2)**<br>paper 77.4 (Δ +3.6)"
    assert _row(table, "source-only")[2] == "70.0 (1)<br>paper 63.4 (Δ +6.6)"
    assert _row(table, "target-only")[2] == "99.0 (1)<br>paper 98.0 (Δ +1.0)"  # the oracle is never bold
    assert _row(table, "cdlm")[2] == "–<br>paper 96.1"  # no run: the paper's value alone
    assert _row(table, "cdlm")[3] == "**95.0 (1)**<br>paper 98.3 (Δ -3.3)"
    assert _row(table, "dann")[1] == "300 × 64"


def test_bold_ties_and_lower_is_better():
    assert best_of({"a": 90.04, "b": 89.96, "c": 80.0}, 1) == {"a", "b"}  # equal as displayed
    assert best_of({"a": 0.02, "b": 0.01}, 4, higher=False) == {"b"}
    assert best_of({}, 1) == set()


def test_paper_values_live_with_the_methods():
    cdlm = METHODS.get("cdlm")
    assert (cdlm.PAPER_ROW, cdlm.PAPER_TABLE1["mnist-usps"]) == ("CDLM(x̃_ts)", 0.961)
    # CDLM's "CDAN" row stands beside both cdan and cdan-e
    assert METHODS.get("cdan-e").PAPER_ROW == METHODS.get("cdan").PAPER_ROW == "CDAN"
    assert METHODS.get("cdan-e").PAPER_TABLE1 is METHODS.get("cdan").PAPER_TABLE1
    assert declared.paper_table1("source-only", "fashionm-fashion") == 0.612
    assert declared.paper_table1("target-only", "mnist-usps") == 0.980  # not inherited from source-only
    assert declared.paper_table2_of("cdlm", "sketch-face") == (0.7961, 0.0140, 19.89)
    assert declared.paper_table1("no-such-method", "mnist-usps") is None
    assert [key for key, _ in declared.registered_in_order()][:2] == ["source-only", "dann"]
    assert declared.registered_in_order()[-1][0] == "target-only"  # the oracle last
    assert paper_line(0.961, Stat(90.0, 1.0, 3), 1, 100.0) == "<br>paper 96.1 (Δ -6.1)"
    assert paper_line(None, Stat(90.0, 1.0, 3), 1, 100.0) == ""
    # every ablation's Table-1 column repeats Table 1's CDLM value, as in the paper
    assert [ab.name for ab in cdlm.ABLATIONS] == ["table3", "table4", "table5"]
    for ablation in cdlm.ABLATIONS:
        col = declared.column_of(ablation, "cdlm", cdlm.TABLE1_SETTING)
        for task, values in ablation.paper.items():
            assert values[col] == cdlm.PAPER_TABLE1[task], (ablation.name, task)


def test_selection_rules(tmp_path):
    run_dir = write_run(tmp_path, "dann", "mnist-usps", 0, acc=0.80)  # even seed: source-val peaks mid-way
    run = load_run(run_dir, "r", ".")
    assert select(run, "last")["step"] == 300
    assert select(run, "source-val-best")["step"] == 200
    assert select(run, "target-best")["tgt_test/acc"] == pytest.approx(0.81)
    text = _build([tmp_path], selections=("target-best",))
    assert "selection: target-test best (oracle: uses target labels)" in text
    assert "ORACLE: the evaluated step with the best target *test* accuracy" in text
    with pytest.raises(UsageError, match="unknown selection rule 'best'"):
        _build([tmp_path], selections=("best",))


def test_unfinished_runs_are_skipped_and_counted(tmp_path):
    write_run(tmp_path / "s", "dann", "mnist-usps", 0, acc=0.80)
    write_run(tmp_path / "s", "dann", "mnist-usps", 1, acc=0.10, done=False)
    built = lb.build([str(tmp_path)], None)
    assert (built.runs, built.unfinished) == (1, 1)
    assert "80.0 (1)" in built.text and "10.0" not in built.text
    assert "1 finished run(s) (1 unfinished run(s) skipped)" in built.text
    empty = tmp_path / "empty"
    write_run(empty, "dann", "mnist-usps", 0, acc=0.5, done=False)
    with pytest.raises(UsageError, match=r"no finished run .*1 unfinished"):
        lb.build([str(empty)], None)


def test_groups_by_data_source_and_hardware(tmp_path):
    write_run(tmp_path, "dann", "mnist-usps", 0, acc=0.80)
    write_run(tmp_path, "dann", "mnist-usps", 0, acc=0.60, data="embedded")
    write_run(tmp_path, "dann", "mnist-usps", 1, acc=0.90, steps=20000, hardware=GPU)
    text = _build([tmp_path])
    headings = [ln for ln in text.splitlines() if ln.startswith("## ")]
    assert headings[:3] == ["## Full data · CPU (x86_64)", "## Full data · GPU (NVIDIA H200)",
                            "## Embedded data · CPU (x86_64)"]
    for heading, cell in zip(headings, ("80.0 (1)", "90.0 (1)", "60.0 (1)")):
        block = _section(text, heading) + text.split(heading, 1)[1].split("\n## ", 1)[0]
        assert cell in block
        assert sum(c in block for c in ("80.0 (1)", "90.0 (1)", "60.0 (1)")) == 1  # never mixed
    assert "20000 × 64" in text and "NOT comparable" in text


def test_configurations_are_never_pooled(tmp_path):
    write_run(tmp_path, "dann", "mnist-usps", 0, acc=0.80)
    write_run(tmp_path, "dann", "mnist-usps", 1, acc=0.82)
    write_run(tmp_path, "dann", "mnist-usps", 0, acc=0.50, steps=30)
    table = _section(_build([tmp_path]), "### Table 1 — target test accuracy (%), selection: last step")
    assert _row(table, "dann [steps=30, eval_every=10]")[2].startswith("50.0 (1)")
    # the configuration most of the method's runs share is its main row, unlabelled
    assert _row(table, "dann")[2].startswith("**81.0 ± 1.4 (2)**")


def test_a_tasks_extra_configuration_leaves_its_main_runs_in_the_methods_main_row(tmp_path):
    for task, acc in (("mnist-usps", 0.80), ("usps-mnist", 0.70), ("mnist-mnistm", 0.60)):
        write_run(tmp_path, "cdlm", task, 0, acc=acc)
    write_run(tmp_path, "cdlm", "mnist-mnistm", 0, acc=0.65, steps=600)
    table = _section(_build([tmp_path]), "### Table 1 — target test accuracy (%), selection: last step")
    main = _row(table, "cdlm")
    assert [c.split("<br>")[0] for c in main[2:5]] == ["**80.0 (1)**", "**70.0 (1)**", "60.0 (1)"]
    longer = _row(table, "cdlm [steps=600, eval_every=200]")
    assert longer[2].startswith("–") and longer[4].startswith("**65.0 (1)**")


def test_a_variant_is_one_row_on_every_task_whatever_else_its_cell_holds(tmp_path):
    # the main configuration on two tasks, a variant (lr=0.5) on both, and on the second task a longer run too: the
    # variant is named by what sets it apart from the main configuration only, so both its runs share a row
    for task in ("mnist-usps", "usps-mnist"):
        for seed in (0, 1):
            write_run(tmp_path, "dann", task, seed, acc=0.80)
        write_run(tmp_path, "dann", task, 0, acc=0.70, hparams={"lr": 0.5})
    write_run(tmp_path, "dann", "usps-mnist", 0, acc=0.60, steps=600)
    table = _section(_build([tmp_path]), "### Table 1 — target test accuracy (%), selection: last step")
    variant = _row(table, "dann [lr=0.5]")
    assert variant[2].startswith("70.0 (1)") and variant[3].startswith("70.0 (1)")
    assert _row(table, "dann [steps=600, eval_every=200]")[3].startswith("60.0 (1)")


def test_duplicate_runs_count_once_and_pool_their_evals(tmp_path):
    write_run(tmp_path / "table1", "dann", "mnist-usps", 0, acc=0.80)
    write_run(tmp_path / "pad", "dann", "mnist-usps", 0, acc=0.80, pad={"raw": 1.9, "features": 1.5})
    built = lb.build([str(tmp_path)], None)
    assert (built.runs, built.duplicates) == (1, 1)
    pad = _section(built.text, "### Proxy A-distance (Fig. 6)")
    assert _row(pad, "raw pixels")[1] == "1.900 (1)" and _row(pad, "dann features")[1] == "1.500 (1)"


def test_cdlm_ablation_runs_stay_out_of_table1(tmp_path):
    write_run(tmp_path, "cdlm", "mnist-usps", 0, acc=0.90)
    write_run(tmp_path, "cdlm", "mnist-usps", 0, acc=0.30, hparams={"gamma1": 0.1, "gamma2": 1.0})
    write_run(tmp_path, "cdlm", "mnist-usps", 0, acc=0.11, hparams={"h_layer": "e3", "consistency": "off"})
    built = lb.build([str(tmp_path)], None)
    table1 = _section(built.text, "### Table 1 — target test accuracy (%), selection: last step")
    assert _row(table1, "cdlm")[2].startswith("**90.0 (1)**")
    table4 = _section(built.text, "### CDLM ablation, Table 4")
    assert _row(table4, "mnist-usps")[2:] == ["30.0 (1)<br>paper 32.0 (Δ -2.0)", "–<br>paper 72.3",
                                              "–<br>paper 96.1", "**90.0 (1)**<br>paper 96.1 (Δ -6.1)",
                                              "–<br>paper 96.1"]
    assert "Table 3" not in built.text and "Table 5:" not in built.text
    assert len(built.unplaced) == 1 and "11.0" not in built.text  # two switches off the paper's setting


def test_translation_table(tmp_path):
    write_run(tmp_path, "cdlm", "sketch-face", 0, quality=(0.80, 0.0130, 20.00))
    write_run(tmp_path, "unit-lite", "sketch-face", 0, quality=(0.70, 0.0120, 19.00))
    table = _section(_build([tmp_path]), "#### sketch-face (Sketch→Face)")
    assert _row(table, "cdlm")[2:] == ["**0.8000 (1)**<br>paper 0.7961 (Δ +0.0039)",
                                       "0.0130 (1)<br>paper 0.0140 (Δ -0.0010)",
                                       "**20.00 (1)**<br>paper 19.89 (Δ +0.11)"]
    assert _row(table, "unit-lite")[3] == "**0.0120 (1)**"  # MSE: lower is better
    assert _row(table, "untranslated input")[2:] == ["0.5000", "0.2700", "5.99"]


def test_notes_file(tmp_path):
    write_run(tmp_path / "runs", "dann", "mnist-usps", 0, acc=0.80)
    notes = tmp_path / "notes.yaml"
    notes.write_text("methods:\n  dann: Short of the paper.\n  cdan: unused\nsections:\n  table1: Under Table 1.\n")
    built = lb.build([str(tmp_path / "runs")], None, notes=lb.read_notes(notes))
    assert "- **dann**: Short of the paper.\n" in built.text and "Under Table 1.\n" in built.text
    assert built.unused_notes == ["cdan"]
    notes.write_text("sections:\n  tabel1: typo\n")
    with pytest.raises(UsageError, match="unknown section"):
        lb.read_notes(notes)
    notes.write_text("- a list\n")
    with pytest.raises(UsageError, match="must be a mapping"):
        lb.read_notes(notes)


def test_export_is_compact_and_regenerates_byte_for_byte(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run_dir = write_run(tmp_path / "runs" / "table1", "dann", "mnist-usps", 0, acc=0.80, pad={"raw": 1.9},
                        pngs=("tsne.png",))
    write_run(tmp_path / "runs" / "table1", "dann", "mnist-usps", 1, acc=0.70, done=False)
    (run_dir / "final.pt").write_bytes(b"weights")
    (run_dir / "checkpoint.pt").write_bytes(b"state")
    assert main(["leaderboard", "runs", "--export", "data"]) == 0
    assert "exported 1 finished run(s) to data (1 unfinished skipped)" in capsys.readouterr().out
    copied = tmp_path / "data" / "table1" / run_dir.name
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in RunDir(run_dir).compact_files())
    assert not list(copied.glob("*.pt")) and RunDir(copied).is_done()
    # the output lies beside the runs given (never in the export folder); the header names the command exactly
    readme = tmp_path / "runs" / "leaderboard" / "README.md"
    exported = readme.read_text()
    assert exported.startswith("> Generated by `dabench leaderboard data -o runs/leaderboard` ")
    readme.unlink()
    assert main(["leaderboard", "data", "-o", "runs/leaderboard"]) == 0
    assert readme.read_text() == exported
    assert lb.export_runs(["runs"], Path("data")) == (1, 1)  # exporting again refreshes in place


def test_export_refuses_other_hardware(tmp_path):
    write_run(tmp_path / "cpu" / "table1", "dann", "mnist-usps", 0, acc=0.80)
    write_run(tmp_path / "gpu" / "table1", "dann", "mnist-usps", 0, acc=0.90, hardware=GPU)
    lb.export_runs([str(tmp_path / "cpu")], tmp_path / "data")
    with pytest.raises(UsageError, match="other hardware"):
        lb.export_runs([str(tmp_path / "gpu")], tmp_path / "data")


def test_default_output_is_beside_the_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_run(tmp_path / "runs" / "table1", "dann", "mnist-usps", 0, acc=0.80)
    committed = tmp_path / "leaderboard" / "README.md"  # a committed leaderboard in the working directory
    committed.parent.mkdir()
    committed.write_text("committed\n")
    assert main(["leaderboard", "runs/"]) == 0
    assert committed.read_text() == "committed\n"
    readme = tmp_path / "runs" / "leaderboard" / "README.md"
    assert readme.read_text().startswith("> Generated by `dabench leaderboard runs` ")
    assert f"{Path('runs') / 'leaderboard' / 'README.md'}: 1 finished run(s)" in capsys.readouterr().out
    assert main(["leaderboard", "runs"]) == 0  # its own output folder is not taken for runs


def test_foreign_figures_survive_and_are_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_run(tmp_path / "runs", "dann", "mnist-usps", 0, acc=0.80)
    foreign = tmp_path / "lb" / "figures" / "old" / "gone.png"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"x")
    assert main(["leaderboard", "runs", "-o", "lb"]) == 0
    assert foreign.read_bytes() == b"x"
    out = capsys.readouterr().out
    assert (f"1 figure(s) in {Path('lb') / 'figures'} were not written by this call (stale?): old/gone.png\n"
            in out)
    first = lb.build(["runs"], Path("lb"))
    assert lb.stale_figures(first, Path("lb")) == ["old/gone.png"]
    lb.write(first, Path("lb"))
    assert (tmp_path / "lb" / "README.md").read_text() == lb.build(["runs"], Path("lb")).text
    assert first.text.startswith("> Generated by `dabench leaderboard runs` (dabench/leaderboard/) ")


def test_command_line_names_only_non_defaults():
    assert lb.command_line(["runs/"], "runs/leaderboard", None, lb.DEFAULT_SELECTIONS) == "dabench leaderboard runs"
    assert (lb.command_line(["leaderboard/data"], "leaderboard", None, lb.DEFAULT_SELECTIONS)
            == "dabench leaderboard leaderboard/data -o leaderboard")
    assert (lb.command_line(["a", "b c"], "out/", "n.yaml", ("last",))
            == "dabench leaderboard a 'b c' -o out --notes n.yaml --selection last")
    assert lb.default_out(["runs/x/"]) == Path("runs/x/leaderboard")


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a folder" in err
    assert not (tmp_path / "nope").exists()  # nothing created for a RUNS_DIR that is not there
    broken = write_run(tmp_path / "runs", "dann", "mnist-usps", 0, acc=0.8)
    (broken / "metrics.jsonl").write_text("{not json\n")
    assert main(["leaderboard", str(tmp_path / "runs"), "-o", str(tmp_path / "o")]) != 0  # a damaged run file
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.jsonl line 1 is not JSON" in err


def test_a_step_recorded_twice_is_refused(tmp_path, capsys):
    run_dir = write_run(tmp_path / "runs", "dann", "mnist-usps", 0, acc=0.8)
    rundir = RunDir(run_dir)
    rundir.append_metrics(rundir.read_metrics()[1])  # the step-200 evaluation written again
    assert main(["leaderboard", str(tmp_path / "runs"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dabench: error: ")
    assert str(run_dir / "metrics.jsonl") in err and "step 200 recorded twice" in err
    assert not (tmp_path / "o").exists()


def test_an_unwritable_output_is_one_line(tmp_path, capsys):
    write_run(tmp_path / "runs", "dann", "mnist-usps", 0, acc=0.8)
    (tmp_path / "file").write_text("not a folder")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        assert main(["leaderboard", str(tmp_path / "runs"), "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(f"dabench: error: cannot write {out}: ") and err.endswith("; choose another -o\n")
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders: the permission case needs an ordinary user")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        assert main(["leaderboard", str(tmp_path / "runs"), "-o", str(readonly)]) == 1
        assert capsys.readouterr().err.startswith(f"dabench: error: cannot write {readonly}: Permission denied")
    finally:
        readonly.chmod(0o755)


# ------------------------------------------------------------------------- methods declare their paper values
class ToyMethod(Method):
    """A method known only to this test: its paper row and values are declared here, nowhere under dabench/."""

    ROW_ORDER = 15  # between source-only (10) and DANN (20)
    PAPER_ROW = "Toy (paper)"
    PAPER_TABLE1 = {"mnist-usps": 0.5}


@pytest.fixture
def toy_method():
    METHODS.register("toy-method")(ToyMethod)
    try:
        yield "toy-method"
    finally:
        METHODS.unregister("toy-method")


def test_a_method_registered_elsewhere_gets_its_row_and_paper_value(tmp_path, toy_method):
    for method, acc in (("source-only", 0.70), ("dann", 0.80), (toy_method, 0.60), ("target-only", 0.99)):
        write_run(tmp_path, method, "mnist-usps", 0, acc=acc, oracle=method == "target-only")
    text = _build([tmp_path])
    table = _section(text, "### Table 1 — target test accuracy (%), selection: last step")
    methods = [ln.split("|")[1].strip() for ln in table.splitlines() if ln.startswith("| ")][1:]
    assert methods == ["source-only", "toy-method", "dann", "target-only (oracle: target labels)"]
    assert _row(table, "toy-method")[2] == "60.0 (1)<br>paper 50.0 (Δ +10.0)"
    assert "toy-method ← Toy (paper)" in _section(text, "## Where the paper's values come from")


def test_an_unregistered_method_has_no_paper_value_and_comes_after_the_registered_ones(tmp_path):
    for method, acc in (("zeta-method", 0.65), ("alpha-method", 0.60), ("dann", 0.80), ("target-only", 0.99)):
        write_run(tmp_path, method, "mnist-usps", 0, acc=acc, oracle=method == "target-only")
    table = _section(_build([tmp_path]), "### Table 1 — target test accuracy (%), selection: last step")
    methods = [ln.split("|")[1].strip() for ln in table.splitlines() if ln.startswith("| ")][1:]
    assert methods == ["dann", "alpha-method", "zeta-method", "target-only (oracle: target labels)"]
    assert _row(table, "alpha-method")[2] == "60.0 (1)"


# ------------------------------------------------------------------------------------------- compute axis
def test_equal_compute_reads_the_last_evaluation_inside_each_budget_and_charges_the_source_classifier(tmp_path):
    # source only: 60, 120, 600 s of CPU; CDLM: 100, 500, 2,000 s of its own, plus the source-only run's 600 s
    write_run(tmp_path, "source-only", "mnist-usps", 0, acc=0.80, cpu_s=(60.0, 120.0, 600.0))
    write_run(tmp_path, "cdlm", "mnist-usps", 0, acc=0.90, cpu_s=(100.0, 500.0, 2000.0))
    write_run(tmp_path, "dann", "mnist-usps", 0, acc=0.85)  # recorded before the compute axis: left out
    text = _build([tmp_path])
    section = _section(text, "#### Equal compute")
    assert _row(section, "source-only · ≤ 5 CPU-min")[1] == "81.0 (1)"  # 120 s: the second evaluation
    assert _row(section, "source-only · ≤ 15 CPU-min")[1] == "80.0 (1)"  # 600 s: the last
    assert not any(ln.startswith("| cdlm · ≤ 5 ") for ln in section.splitlines())  # 600 + 100 s > 300 s
    assert _row(section, "cdlm · ≤ 15 CPU-min")[1] == "80.0 (1)"  # 700 s: its first evaluation
    assert _row(section, "cdlm · ≤ 45 CPU-min")[1] == "90.0 (1)"  # 2,600 s: its last
    assert not any(ln.startswith("| dann") for ln in section.splitlines())
    assert "2 run(s) record the compute axis; 1 run(s) recorded before it existed are not in this section" in text
    assert "Charged the source-only run of the same task and seed shown here" in section  # no record: borrowed
    assert "from another host): cdlm on mnist-usps." in section



def test_equal_compute_charges_the_source_classifier_cpu_time_the_run_recorded(tmp_path):
    # no source-only run beside it: the 600 s its result records are charged (not 0, and the row is not dropped)
    write_run(tmp_path, "cdlm", "mnist-usps", 0, acc=0.90, cpu_s=(100.0, 500.0, 2000.0), classifier_cpu_s=600.0)
    write_run(tmp_path, "cdlm", "usps-mnist", 0, acc=0.90, cpu_s=(100.0, 500.0, 2000.0))  # neither: left out
    section = _section(_build([tmp_path]), "#### Equal compute")
    assert not any(ln.startswith("| cdlm · ≤ 5 ") for ln in section.splitlines())  # 600 + 100 s > 300 s
    assert _row(section, "cdlm · ≤ 15 CPU-min")[1] == "80.0 (1)"  # 700 s: its first evaluation
    assert _row(section, "cdlm · ≤ 45 CPU-min")[1] == "90.0 (1)"
    assert "usps-mnist" not in section.split("\n\n")[1].splitlines()[0]  # no column for the task left out
    assert "neither recorded nor here: cdlm on usps-mnist" in section
    assert "Charged the source-only run" not in section  # the recorded time was used, nothing borrowed


# ------------------------------------------------------------------------------------- regeneration
if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit(f"usage: {REGENERATE}")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        text = render_golden(Path(tmp))
    GOLDEN.write_text(text)
    print(f"wrote {GOLDEN.relative_to(REPO)} ({len(text.splitlines())} lines); review `git diff` before committing")
