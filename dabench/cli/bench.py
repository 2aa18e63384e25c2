"""``dabench bench``: the command-line layer (parsing and printing) of :mod:`dabench.bench`."""
from __future__ import annotations

from dabench import bench as _impl


def add_parser(sub) -> None:
    _impl.add_parser(sub)
