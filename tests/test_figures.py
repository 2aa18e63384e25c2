"""Each figure function writes a non-empty PNG of exactly figsize x dpi pixels."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dabench import figures
from dabench.rundir import RunDir


def check_png(path, size):
    assert path.exists() and path.stat().st_size > 1000
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == size
        assert len(np.unique(np.asarray(im.convert("L")))) > 2  # something was drawn
    assert not list(path.parent.glob("*.tmp"))


def test_adaptation_grid(tmp_path):
    rng = np.random.default_rng(0)
    rows = [rng.random((6, 1, 16, 16)), rng.random((6, 3, 16, 16)), rng.random((6, 3, 16, 16))]
    out = figures.adaptation_grid(rows, ["target", "translated", "truth"], tmp_path / "grid.png",
                                  figsize=(6, 3), dpi=50)
    check_png(out, (300, 150))
    with pytest.raises(ValueError, match="row labels"):
        figures.adaptation_grid(rows, ["a"], tmp_path / "x.png")


def test_tsne_plot(tmp_path):
    rng = np.random.default_rng(0)
    out = figures.tsne_plot(rng.normal(size=(40, 2)), np.r_[np.ones(20), np.zeros(20)], tmp_path / "t.png",
                            figsize=(4, 4), dpi=50)
    check_png(out, (200, 200))


def test_pad_bars(tmp_path):
    values = {"M→U": {"raw": 1.95, "DANN": 1.78, "CDLM": 1.2}, "U→M": {"raw": 1.9, "DANN": 1.6},
              "F→FM": {"raw": 2.0, "DANN": 1.9, "CDLM": 1.5}, "FM→F": {"raw": 2.0, "DANN": 1.8, "CDLM": 1.4}}
    out = figures.pad_bars(values, tmp_path / "pad.png", figsize=(7, 4), dpi=60)
    check_png(out, (420, 240))


def test_error_curves_from_run_directories(tmp_path):
    for name, accs in (("a", [0.5, 0.7, 0.8]), ("b", [0.6, 0.65, 0.9])):
        run = RunDir(tmp_path / name)
        run.path.mkdir()
        for i, acc in enumerate(accs):
            run.append_metrics({"step": 100 * (i + 1), "tgt_test/acc": acc})
    out = figures.error_curves({"DANN": tmp_path / "a", "CDLM": str(tmp_path / "b")},
                               tmp_path / "curves.png", figsize=(5, 3), dpi=80)
    check_png(out, (400, 240))
    with pytest.raises(ValueError, match="no 'tgt_test/acc'"):
        figures.error_curves({"x": [{"step": 1}]}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="is not a run directory"):
        figures.error_curves({"x": tmp_path / "curves.png"}, tmp_path / "bad.png")


def test_accuracy_vs_images_sizes_itself_to_its_legend(tmp_path):
    series = {f"row {i}": [(1e3, 10.0 + i), (1e4, 20.0 + i)] for i in range(6)}
    out = figures.accuracy_vs_images(series, {"oracle": 95.0}, tmp_path / "c.png", figsize=(6, 4), dpi=50)
    check_png(out, (300, 200))
    # without figsize: 8 inches wide, 4 + 0.18 per legend entry (six rows and one reference)
    out = figures.accuracy_vs_images(series, {"oracle": 95.0}, tmp_path / "auto.png", dpi=50)
    check_png(out, (400, round(50 * (4.0 + 0.18 * 7))))
    with pytest.raises(ValueError, match="at least one series"):
        figures.accuracy_vs_images({"empty": []}, {}, tmp_path / "none.png")


def test_a_failed_save_leaves_nothing_behind(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        figures.pad_bars({"t": {"raw": 1.0}}, tmp_path / "file" / "pad.png")
    assert not list(tmp_path.rglob("*.tmp")) and not figures.plt.get_fignums()  # no temporary, figure closed


def test_pad_values_reads_eval_files(tmp_path):
    for run, raw, feat in (("r1", 1.9, 1.5), ("r2", 1.8, 1.1)):
        RunDir(tmp_path / run).write_eval("pad", {"result": {"raw": {"d_a": raw}, "features": {"d_a": feat}}})
    values = figures.pad_values({"M→U": {"raw": tmp_path / "r1", "DANN": tmp_path / "r1", "CDLM": tmp_path / "r2"}})
    assert values == {"M→U": {"raw": 1.9, "DANN": 1.5, "CDLM": 1.1}}


def test_curves_script_tables_finished_and_unfinished_runs_and_never_overwrites(tmp_path, capsys):
    import runpy
    from pathlib import Path

    from fake_runs import write_run

    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "curves.py"))["main"]
    done = write_run(tmp_path, "dann", "mnist-usps", 0, acc=0.80, cpu_s=(60.0, 120.0, 600.0))
    going = write_run(tmp_path, "cdlm", "mnist-usps", 0, acc=0.70, cpu_s=(30.0, 90.0, 150.0), done=False)
    out = tmp_path / "curves.png"

    def run(*args):
        try:
            return main([str(a) for a in args])
        except SystemExit as stop:  # argparse's usage errors
            return stop.code

    assert run(done, going, "-o", out) == 0
    table = capsys.readouterr().out
    assert "| dann 300 steps (seed 0) | mnist-usps | 300 / 300 (done) | 10.0 | 80.0 | 95.0 |" in table
    assert "| cdlm 300 steps (seed 0) | mnist-usps | 300 / 300 (unfinished) | 2.5 | 70.0 | 95.0 |" in table
    check_png(out, (800, 436))  # two rows, no reference: two legend lines
    before = out.read_bytes()
    assert run(done, "-o", out) == 2 and out.read_bytes() == before  # exists: refused, untouched
    assert "pass --force" in capsys.readouterr().err
    assert run(tmp_path, "-o", tmp_path / "other.png") == 2 and not (tmp_path / "other.png").exists()
