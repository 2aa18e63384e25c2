"""``dabench leaderboard``: the command-line layer (parsing and printing) of :mod:`dabench.leaderboard`."""
from __future__ import annotations

from dabench import leaderboard as _impl


def add_parser(sub) -> None:
    _impl.add_parser(sub)
