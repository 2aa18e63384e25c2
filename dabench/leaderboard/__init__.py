"""The markdown leaderboard, generated from raw run results, the paper's numbers beside ours
(``dabench leaderboard``; the command line is :mod:`dabench.cli.leaderboard`).

Usage::

    dabench leaderboard RUNS_DIR... [-o DIR] [--notes FILE] [--selection RULE ...]
    dabench leaderboard RUNS_DIR... --export DIR [-o DIR]    # copy the compact results, then build from them
    dabench leaderboard leaderboard/data -o leaderboard     # regenerate the committed leaderboard

**Input.** Every run directory under each ``RUNS_DIR`` (searched recursively; ``_sweep/`` job records and hidden
folders are ignored), read through :class:`dabench.rundir.RunDir` (:mod:`.results`). An unfinished run is
skipped and counted; a finished one gives its configuration, environment, result, evaluation lines (from which
the selection rules pick, :mod:`.selection`), protocol evaluations and PNG figures. A run whose evaluation lines
record a step twice is refused. The same run found twice counts once; its copies' evaluations are pooled.

**Output** ``<out>/README.md`` and ``<out>/figures/``; ``<out>`` defaults to ``<first RUNS_DIR>/leaderboard``
(the committed ``leaderboard/`` is written only when named with ``-o``). Nothing is deleted: PNGs under
``<out>/figures`` that a generation did not write are listed (:func:`stale_figures`). The results are split
into groups by data source and hardware, never mixed; each group has Table 1 once per selection rule
(:mod:`.table1`), the other evaluation paths (:mod:`.extra_paths`), the proxy A-distance with Fig. 6
(:mod:`.pad`), image translation in Table 2's layout (:mod:`.translation`), the methods' ablation tables
(:mod:`.ablations`) and the figures (:mod:`.figures`). Cells are ``mean ± std (n)`` over the seeds of one
configuration; configurations differing in anything but the seed are separate rows (:mod:`.layout`).

**Paper values.** Each method declares its row of the paper on its class (``ROW_ORDER``, ``PAPER_ROW``,
``PAPER_TABLE1``, ``PAPER_ROW2``, ``PAPER_TABLE2``, ``ABLATIONS``, ``TABLE1_SETTING``, ``EXTRA_PATHS``; read
through the registry by :mod:`.declared`), so adding a method never edits this package; the rows no dabench
method implements and other published values are in :mod:`.paper`. A method that is not registered gets no
paper value and comes after the registered ones.

**Notes** (``<out>/notes.yaml`` unless ``--notes`` names another file; :mod:`.notes`), written by hand and
rendered verbatim under the tables.

**Determinism.** Everything is sorted; numbers have fixed decimals; the file holds no time stamps, and paths are
shown as given on the command line. Its first line names the command that regenerates it.

**Compact export** (:func:`export_runs`): the compact files of every finished run (``RunDir.compact_files``; never
weights) are copied to ``DIR/<folder>/<run dir>/``, so that the leaderboard regenerates from ``DIR`` alone.
"""
from __future__ import annotations

from dabench.leaderboard.build import (Built, build, check_writable, command_line, default_out, export_runs,
                                       stale_figures, write)
from dabench.leaderboard.context import FIGURES
from dabench.leaderboard.notes import NOTES, read_notes
from dabench.leaderboard.selection import DEFAULT_SELECTIONS, SELECTIONS

__all__ = ["Built", "build", "check_writable", "command_line", "default_out", "export_runs", "stale_figures",
           "write", "FIGURES", "NOTES", "read_notes", "DEFAULT_SELECTIONS", "SELECTIONS"]
