"""Target only: the same classifier trained on *labelled target* images (an oracle upper bound).

It is the only method that receives target labels (``ORACLE = True``); its numbers are reported as an upper
bound and labelled as using target labels. Everything else matches :class:`SourceOnly`.
"""
from __future__ import annotations

from dabench.registry import METHODS
from dabench.methods.source_only import SourceOnly


@METHODS.register("target-only")
class TargetOnly(SourceOnly):
    """Oracle upper bound: the same classifier trained on labelled target images."""

    ORACLE = True
    ROW_ORDER = 90
    PAPER_ROW = "Target only"
    PAPER_TABLE1 = {"mnist-usps": 0.980, "usps-mnist": 0.985, "mnist-mnistm": 0.983, "mnistm-mnist": 0.985,
                    "fashion-fashionm": 0.920, "fashionm-fashion": 0.942, "linemod": 0.998}

    def training_batch(self, x_src, y_src, x_tgt, *, y_tgt=None, **oracle):
        if y_tgt is None:
            raise ValueError("target-only needs target labels: the loop passes y_tgt to ORACLE methods only")
        return x_tgt, y_tgt
