"""An ablation table of a method's paper, declared by the method (``Method.ABLATIONS``) and laid out by the
leaderboard: the switches it varies, one column per setting of them, and the paper's value of each column."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ablation:
    """One ablation table of a method's paper.

    Attributes:
        name: its key (``table3``): the key of its note in the leaderboard's notes file.
        title: its heading (``Table 3: the layer feeding h′``); the part before ``:`` names the paper's table.
        knobs: the hyper-parameters it varies.
        columns: (the knobs' values, the column's label) per column, in the paper's order.
        paper: task → the paper's value (accuracy as a fraction) of each column.
        method_name: how the table names its method (``CDLM``).
    """

    name: str
    title: str
    knobs: tuple[str, ...]
    columns: tuple[tuple[tuple, str], ...]
    paper: dict[str, tuple[float, ...]]
    method_name: str
