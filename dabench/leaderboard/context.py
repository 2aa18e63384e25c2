"""What the section writers share for one group: its runs, row names, notes and the figures it writes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dabench.errors import UsageError, WriteError
from dabench.leaderboard.declared import row_key
from dabench.leaderboard.layout import Group
from dabench.leaderboard.results import Run

FIGURES = "figures"  # the output's figure folder (README links are relative to the output folder)


def cannot_write(path: Path, err: OSError) -> WriteError:
    """The one-line refusal of an output the user cannot write."""
    return WriteError(f"cannot write {path}: {err.strerror or err}; choose another -o")


@dataclass
class Context:
    """One group's shared state while its sections are written."""

    group: Group
    runs: list[Run]  # the group's runs at the Table-1 setting
    labels: dict[tuple, str]
    notes: dict
    figures_dir: Path | None
    used_notes: set[str]
    written: list[Path] = field(default_factory=list)

    @property
    def figure_prefix(self) -> str:
        return self.group.slug

    def row_name(self, run: Run) -> str:
        label = self.labels.get(run.key, "")
        return f"{run.method} [{label}]" if label else run.method

    def rows_of(self, runs: list[Run]) -> list[tuple[str, list[Run]]]:
        """(row name, its runs) in Table-1 order."""
        rows: dict[str, list[Run]] = {}
        for run in runs:
            rows.setdefault(self.row_name(run), []).append(run)
        return sorted(rows.items(), key=lambda kv: (*row_key(kv[1][0].method, kv[1][0].oracle), kv[0]))

    def save_figure(self, name: str, write: Callable[[Path], object]) -> str:
        """Write the figure ``<figures>/<name>`` with ``write(path)``; returns its link from the README."""
        assert self.figures_dir is not None
        dest = self.figures_dir / name
        try:
            write(dest)
        except OSError as err:
            where = Path(err.filename).resolve() if err.filename else dest.resolve()
            out = self.figures_dir.resolve()
            if where != out and out not in where.parents and where not in out.parents:
                raise UsageError(f"cannot read {err.filename}: {err.strerror or err}") from None  # a run's file
            raise cannot_write(dest, err) from None
        self.written.append(dest)
        return f"{FIGURES}/{name}"

    def method_notes(self, methods: list[str]) -> list[str]:
        """The notes of ``methods``: ``<method>@<group id>`` when the file has one for this group, else
        ``<method>``."""
        notes, lines = self.notes.get("methods", {}), []
        for method in dict.fromkeys(methods):
            key = next((k for k in (f"{method}@{self.group.slug}", method) if k in notes), None)
            if key is not None:
                self.used_notes.add(key)
                lines.append(f"- **{method}**: {_indent(notes[key])}")
        return (["Notes:", ""] + lines + [""]) if lines else []

    def section_note(self, name: str) -> list[str]:
        text = self.notes.get("sections", {}).get(name)
        return [text.strip(), ""] if text else []


def _indent(text: str) -> str:
    return "\n  ".join(line.rstrip() for line in text.strip().splitlines())
