"""What a method declares for the leaderboard, read through the method registry (:data:`METHODS`).

A method's class says where its row goes (``ROW_ORDER``), which row of the paper stands beside it and with
which values (``PAPER_ROW``/``PAPER_TABLE1``, ``PAPER_ROW2``/``PAPER_TABLE2``), its ablation tables and the
paper's Table-1 setting of their switches (``ABLATIONS``, ``TABLE1_SETTING``) and the names of its extra
evaluation paths (``EXTRA_PATHS``). A method that is not registered (runs of a method since removed or renamed)
has no paper value, no ablation and comes after the registered ones, alphabetically.
"""
from __future__ import annotations

from typing import Any, Iterable

import dabench.methods  # noqa: F401  (registers every method)
from dabench.ablation import Ablation
from dabench.registry import METHODS


def method_class(method: str) -> type | None:
    """The registered class of ``method``, or None when no such method is registered."""
    return METHODS.get(method) if method in METHODS else None


def row_key(method: str, oracle: bool) -> tuple:
    """Table 1's row order: domain-adaptation methods by ``ROW_ORDER``, unregistered ones after them
    (alphabetically), oracle methods last."""
    cls = method_class(method)
    return oracle, cls is None, cls.ROW_ORDER if cls is not None else 0, method


def registered_in_order() -> list[tuple[str, type]]:
    """(key, class) of every registered method, in Table 1's row order."""
    return sorted(METHODS.items(), key=lambda item: row_key(item[0], item[1].ORACLE))


def paper_row(method: str) -> str | None:
    cls = method_class(method)
    return cls.PAPER_ROW if cls is not None else None


def paper_table1(method: str, task: str) -> float | None:
    """The paper's Table 1 accuracy (a fraction) beside ``method`` on ``task``."""
    cls = method_class(method)
    return cls.PAPER_TABLE1.get(task) if cls is not None else None


def paper_table2(task: str) -> dict[str, tuple[float, float, float]]:
    """The paper's Table 2 rows of ``task`` that dabench methods declare: row → (SSIM, MSE, PSNR)."""
    return {cls.PAPER_ROW2: cls.PAPER_TABLE2[task] for _, cls in registered_in_order()
            if cls.PAPER_ROW2 and task in cls.PAPER_TABLE2}


def paper_table2_of(method: str, task: str) -> tuple[float, float, float] | None:
    cls = method_class(method)
    return cls.PAPER_TABLE2.get(task) if cls is not None else None


def extra_path_names(method: str) -> dict[str, str]:
    cls = method_class(method)
    return dict(cls.EXTRA_PATHS) if cls is not None else {}


def variant_names(method: str) -> dict[str, dict[Any, str]]:
    cls = method_class(method)
    return dict(cls.VARIANT_NAMES) if cls is not None else {}


def ablations(method: str) -> tuple[Ablation, ...]:
    cls = method_class(method)
    return tuple(cls.ABLATIONS) if cls is not None else ()


def table1_setting(method: str) -> dict[str, Any]:
    cls = method_class(method)
    return dict(cls.TABLE1_SETTING) if cls is not None else {}


def ablation_names() -> list[str]:
    """The keys of every registered method's ablation tables (notes sections), in row order."""
    return [ab.name for _, cls in registered_in_order() for ab in cls.ABLATIONS]


def same(a: Any, b: Any) -> bool:
    """Equal as hyper-parameter values (1 == 1.0; a bool is never a number)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def at_table1_setting(method: str, hparams: dict, skip: Iterable[str] = ()) -> bool:
    """Whether a run's ablation switches (but ``skip``) are at the paper's Table-1 setting."""
    skip = set(skip)
    return all(same(hparams.get(k, v), v) for k, v in table1_setting(method).items() if k not in skip)


def column_of(ablation: Ablation, method: str, hparams: dict) -> int | None:
    """The column of ``ablation`` a run's switches select, or None when they match none."""
    setting = table1_setting(method)
    values = tuple(hparams.get(k, setting.get(k)) for k in ablation.knobs)
    for i, (col, _) in enumerate(ablation.columns):
        if all(same(a, b) for a, b in zip(values, col)):
            return i
    return None
