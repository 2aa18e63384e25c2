"""Find and load finished runs: every run directory under the RUNS_DIRs, read through :class:`RunDir` into
:class:`Run` records (this package never spells a run file's name; :mod:`dabench.rundir` alone knows them)."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from dabench.errors import UsageError
from dabench.hparams import complete_recorded
from dabench.leaderboard import declared
from dabench.rundir import DONE, METRICS, RunDir


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
    classifier_cpu_s: float | None = None  # CPU seconds of the source-only run it classifies through, as recorded
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
        """Whether its method's ablation switches (but ``skip``) are at the paper's Table-1 setting."""
        return declared.at_table1_setting(self.method, self.hparams, skip)

    def ablation_column(self, ablation) -> int | None:
        """The column of ``ablation`` this run belongs to: a classification run of the ablation's method at the
        Table-1 setting of the other switches, whose switches select a column; else None."""
        if self.kind != "classification" or ablation not in declared.ablations(self.method):
            return None
        if not self.at_table1_setting(skip=ablation.knobs):
            return None
        return declared.column_of(ablation, self.method, self.hparams)

    def in_an_ablation(self) -> bool:
        return any(self.ablation_column(ab) is not None for ab in declared.ablations(self.method))


def _metric_lines(rundir: RunDir, shown: str) -> list[dict]:
    """The run's evaluation lines sorted by step; a step recorded twice is refused."""
    lines = rundir.read_metrics()
    path = rundir.file(METRICS)
    if not lines:
        raise UsageError(f"{path} has no evaluation line although the run is finished ({shown})")
    twice = sorted(step for step, n in Counter(m["step"] for m in lines).items() if n > 1)
    if twice:
        raise UsageError(f"{path}: step {', '.join(map(str, twice))} recorded twice (an evaluation written again "
                         f"after a resume?); keep one line per step, or rerun the run")
    lines.sort(key=lambda m: m["step"])
    if not {"tgt_test/acc", "tgt_test/ssim"} & set(lines[-1]):
        raise UsageError(f"{path}: the last evaluation has neither tgt_test/acc nor tgt_test/ssim")
    return lines


def load_run(run_dir: Path, shown: str, folder: str) -> Run:
    """Read one finished run directory (``shown`` / ``folder``: how its path and its folder are displayed)."""
    rundir = RunDir(run_dir)
    try:
        cfg, result, env = rundir.read_config(), rundir.read_result(), rundir.read_env()
    except FileNotFoundError as err:
        raise UsageError(f"{shown} is marked done but has no {Path(err.filename).name}: it is not a complete "
                         f"dabench run directory") from None
    for what, content in (("configuration", cfg), ("result", result), ("environment record", env)):
        if not isinstance(content, dict):
            raise UsageError(f"{shown}: its {what} is not a JSON object")
    lines = _metric_lines(rundir, shown)
    try:
        run = Run(
            path=shown, folder=folder, run_id=str(cfg["run_id"]), method=str(cfg["method"]), task=str(cfg["task"]),
            seed=int(cfg["seed"]), steps=int(cfg["steps"]), eval_every=int(cfg["eval_every"]),
            protocol_version=int(cfg["protocol_version"]), data=str(cfg["data"]),
            hparams=_recorded_hparams(str(cfg["method"]), dict(cfg["hparams"])),
            overrides=dict(cfg.get("config", {}).get("hparams") or {}),
            hparams_seed=int(cfg.get("config", {}).get("hparams_seed", 0)), oracle=bool(result.get("oracle", False)),
            env=env, metrics=lines, classifier_cpu_s=(result.get("source_classifier") or {}).get("cpu_time_s"),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise UsageError(f"{shown}: its configuration lacks or mangles {err}: not a dabench run "
                         f"configuration") from None
    run.evals = rundir.read_evals()
    run.pngs = rundir.figures()
    return run


def _recorded_hparams(method: str, hparams: dict) -> dict:
    """A run's hyper-parameters, with switches added since it ran at their equivalent value (see ``HP.absent``)."""
    cls = declared.method_class(method)
    return complete_recorded(cls, hparams) if cls is not None else hparams


def walk(root: Path) -> Iterator[Path]:
    """Run directories under ``root``, sorted; not below a run directory; ``_sweep/`` and hidden folders skipped."""
    if RunDir(root).exists():
        yield root
        return
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if child.name.startswith((".", "_")):
            continue  # _sweep/ job records, hidden folders
        yield from walk(child)


def runs_dir(given: str) -> Path:
    """A RUNS_DIR as given on the command line, checked to be a folder."""
    root = Path(given)
    if not root.is_dir():
        raise UsageError(f"RUNS_DIR '{given}' is not a folder (give folders holding run directories)")
    return root


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
    """Every finished run under ``roots`` (as given on the command line), deduplicated by :attr:`Run.key`.

    The same run found twice (a ``pad`` sweep and a ``table1`` sweep share their runs' ids) counts once; the
    copies' evaluations and figures are pooled."""
    by_key: dict[tuple, Run] = {}
    unfinished, duplicates = [], 0
    for given in roots:
        root = runs_dir(given)
        shown_root = os.path.normpath(given)
        for run_dir in walk(root):
            shown = _display(shown_root, root, run_dir)
            if not RunDir(run_dir).is_done():
                unfinished.append(shown)
                continue
            folder = _display(shown_root, root, run_dir.parent) if run_dir != root else os.path.dirname(shown) or "."
            run = load_run(run_dir, shown, folder)
            first = by_key.get(run.key)
            if first is None:
                by_key[run.key] = run
                continue
            duplicates += 1
            for name, content in run.evals.items():
                first.evals.setdefault(name, content)
            for name, path in run.pngs.items():
                first.pngs.setdefault(name, path)
    return Found(sorted(by_key.values(), key=lambda r: r.path), sorted(unfinished), duplicates)


def no_finished_run(roots: list[str], unfinished: int) -> UsageError:
    return UsageError(f"no finished run under {', '.join(roots)} ({unfinished} unfinished run(s) skipped); a run "
                      f"is finished when its directory holds `{DONE}`")
