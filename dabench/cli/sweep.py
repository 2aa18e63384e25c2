"""``dabench sweep``: the command-line layer (parsing and printing) of :mod:`dabench.sweep`."""
from __future__ import annotations

from dabench import sweep as _impl


def add_parser(sub) -> None:
    _impl.add_parser(sub)
