"""How results are grouped, labelled, reduced and printed: groups, sort keys, row labels, ``mean ± std (n)``
cells, the paper's value beneath ours, markdown tables."""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from dabench.leaderboard.declared import variant_names
from dabench.leaderboard.paper import TASK_NAMES
from dabench.leaderboard.results import Run

DATA_ORDER = ("full", "embedded")
DEVICE_ORDER = ("cpu", "cuda")
ACC_DECIMALS, PAD_DECIMALS = 1, 3


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
        return "-".join(p for p in (self.data, self.device, slug(self.device_name)) if p)

    @property
    def hardware(self) -> str:
        kind = {"cpu": "CPU", "cuda": "GPU"}.get(self.device, self.device)
        return f"{kind} ({self.device_name})" if self.device_name else kind

    @property
    def title(self) -> str:
        return f"{self.data.capitalize()} data · {self.hardware}"


def _index(order: tuple, value: str) -> int:
    return order.index(value) if value in order else len(order)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def task_sort_key(task: str) -> tuple:
    return (_index(tuple(TASK_NAMES), task), task)


def task_header(task: str) -> str:
    return f"{task}<br>{TASK_NAMES[task]}" if task in TASK_NAMES else task


def budget_text(runs: list[Run]) -> str:
    """``steps × batch`` of some runs, the distinct values joined."""
    values = sorted({(r.steps, str(r.batch)) for r in runs}, key=lambda v: (v[0], v[1]))
    return ", ".join(f"{steps} × {batch}" for steps, batch in values)


# ------------------------------------------------------------------------------------------ row labels
def variant_labels(runs: list[Run], cell: Callable[[Run], tuple],
                   scope: Callable[[Run], Any] | None = None) -> dict[tuple, str]:
    """Run key → a label of what sets its configuration apart from the other runs of the same cell ('' when the
    cell holds one configuration).

    With ``scope`` (e.g. the method), the configuration most runs of a scope share is its main one: in a cell
    with several configurations, the main one keeps the empty label, so its runs stay in the scope's main row
    beside the other tasks' runs of the same configuration (ties: the first canonical signature in sort order);
    another configuration is named only by the keys in which it differs from the main one, so that it too is one
    row across tasks, whatever else its cell holds on one task. A switch the method declares in
    ``VARIANT_NAMES`` that its runs in the scope differ in names every row of the scope, the main one included,
    in the method's words (e.g. CDLM's ``label_w``).
    """
    main: dict[Any, dict] = {}  # per scope, the signature of its main configuration
    switched: dict[Any, list[str]] = {}  # per scope, the declared switches its runs differ in
    if scope is not None:
        counts: dict[Any, Counter] = {}
        for run in runs:
            counts.setdefault(scope(run), Counter())[_canon(run.signature)] += 1
        main = {k: json.loads(min(c, key=lambda sig: (-c[sig], sig))) for k, c in counts.items()}
        for run in runs:
            values = switched.setdefault(scope(run), {})
            for key in variant_names(run.method):
                values.setdefault(key, set()).add(_canon(run.signature.get(key)))
        switched = {k: sorted(key for key, seen in v.items() if len(seen) > 1) for k, v in switched.items()}
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
            named = variant_names(run.method)
            if scope is None:
                shown = differ
            else:
                # the declared switches, then what sets the run apart from the scope's main configuration (not
                # every key its cell varies in), so that one configuration is one row on every task
                switches, base = switched.get(scope(run), []), main[scope(run)]
                shown = switches + [k for k in differ
                                    if k not in switches and _canon(sig.get(k)) != _canon(base.get(k))]
            parts = [_part(k, sig, named) for k in shown[:3]]
            if len(shown) > 3:
                parts.append(f"+{len(shown) - 3} more")
            labels[run.key] = ", ".join(parts)
    return labels


def _part(key: str, sig: dict, named: dict[str, dict[Any, str]]) -> str:
    """How a row label shows one setting: the method's words for it, else ``key=value``."""
    if key not in sig:
        return f"{key}=(unset)"
    words = next((text for value, text in named.get(key, {}).items() if _canon(value) == _canon(sig[key])), None)
    return words or f"{key}={show(sig[key])}"


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def show(value: Any) -> str:
    """A hyper-parameter value as a label shows it."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ------------------------------------------------------------------------------------------------ cells
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


def best_of(values: dict[Any, float], decimals: int, higher: bool = True) -> set:
    """The keys whose value, as displayed, is the best (all of them on a tie)."""
    shown = {k: round(v, decimals) for k, v in values.items()}
    if not shown:
        return set()
    target = max(shown.values()) if higher else min(shown.values())
    return {k for k, v in shown.items() if v == target}


def bold(text: str, on: bool) -> str:
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
