"""Build the leaderboard (text and figures), write it, list what it did not write, and export compact runs."""
from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dabench import io
from dabench.errors import UsageError
from dabench.leaderboard import document
from dabench.leaderboard.ablations import ablation_sections
from dabench.leaderboard.context import FIGURES, Context, cannot_write
from dabench.leaderboard.extra_paths import extra_paths_section
from dabench.leaderboard.figures import figures_section
from dabench.leaderboard.compute import compute_section
from dabench.leaderboard.layout import Group, variant_labels
from dabench.leaderboard.pad import pad_section
from dabench.leaderboard.results import Run, find_runs, no_finished_run, runs_dir, walk
from dabench.leaderboard.search import search_runs, search_section
from dabench.leaderboard.selection import DEFAULT_SELECTIONS, check_rules
from dabench.leaderboard.table1 import table1_section
from dabench.leaderboard.translation import translation_section
from dabench.rundir import DONE, RunDir

README = "README.md"
OUT_FOLDER = "leaderboard"  # the default output: a folder of this name in the first RUNS_DIR


@dataclass
class Built:
    """The generated README text, the figure files written and counts for the command's summary line."""

    text: str
    figures: list[Path]
    runs: int
    groups: int
    unfinished: int
    duplicates: int
    unplaced: list[str]
    unused_notes: list[str]


def default_out(roots: list[str]) -> Path:
    """The default output folder: ``<first RUNS_DIR>/leaderboard`` (beside the runs it reads; never a committed
    artefact, which is regenerated only with an explicit ``-o``)."""
    return Path(os.path.normpath(roots[0])) / OUT_FOLDER


def command_line(roots: list[str], out: str, notes: str | None, selections: tuple[str, ...]) -> str:
    """The command that regenerates the leaderboard (arguments shown only when they are not the defaults)."""
    parts = ["dabench", "leaderboard", *(os.path.normpath(r) for r in roots)]
    if os.path.normpath(out) != str(default_out(roots)):
        parts += ["-o", os.path.normpath(out)]
    if notes is not None:
        parts += ["--notes", os.path.normpath(notes)]
    if tuple(selections) != DEFAULT_SELECTIONS:
        for rule in selections:
            parts += ["--selection", rule]
    return " ".join(shlex.quote(p) for p in parts)


def check_writable(out_dir: Path) -> None:
    """Refuse, in one line, an output folder that cannot be created or written."""
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as err:
        raise cannot_write(Path(out_dir), err) from None


def _image_sizes(runs: list[Run]) -> dict[str, int]:
    from dabench.registry import TASKS, UnknownKeyError
    import dabench.tasks  # noqa: F401  (fills TASKS: image sizes)

    sizes = {}
    for run in runs:
        try:
            sizes[run.task] = TASKS.get(run.task).size
        except UnknownKeyError as err:
            raise UsageError(f"{run.path}: {err}") from None
    return sizes


def _group(group: Group, members: list[Run], search: list[Run], ctx: Context, selections: tuple[str, ...],
           sizes: dict[str, int]) -> list[str]:
    """One group's text; ``search``: its searches' runs, which only the preamble and the model-selection
    section see (``members``: the others)."""
    lines = document.group_preamble(group, members + search, sizes)
    for i, rule in enumerate(selections):
        lines += table1_section(ctx, rule, primary=i == 0)
        if i == 0:
            lines += extra_paths_section(ctx, rule)
    return (lines + pad_section(ctx) + translation_section(ctx) + ablation_sections(ctx, members, selections[0])
            + compute_section(ctx) + search_section(ctx, search) + figures_section(ctx))


def build(roots: list[str], out_dir: Path | None, *, notes: dict | None = None,
          selections: tuple[str, ...] = DEFAULT_SELECTIONS, command: str | None = None) -> Built:
    """Generate the leaderboard of the finished runs under ``roots``.

    Args:
        roots: RUNS_DIRs, as given on the command line (shown that way in the file).
        out_dir: where figures are written (``out_dir/figures``); ``None`` renders the text only.
        notes: the parsed notes file (:func:`dabench.leaderboard.notes.read_notes`).
        selections: selection rules, one Table 1 each; the first is the primary one (notes, ablations).
        command: the first line's command (default: :func:`command_line` with the default output).
    Raises:
        UsageError: no finished run, an unreadable run, an unknown selection rule, an unwritable ``out_dir``.
    """
    check_rules(selections)
    notes = notes or {}
    found = find_runs(roots)
    if not found.runs:
        raise no_finished_run(roots, len(found.unfinished))
    sizes = _image_sizes(found.runs)
    if out_dir is not None:
        check_writable(out_dir)
    groups: dict[Group, list[Run]] = {}
    for run in found.runs:
        groups.setdefault(Group(run.data, run.device, run.device_name), []).append(run)
    command = command or command_line(roots, str(default_out(roots)), None, selections)
    lines = document.header(command, len(found.runs), len(found.unfinished))
    unplaced, used_notes, written = [], set(), []
    for group in sorted(groups, key=lambda g: g.sort_key):
        search = search_runs(groups[group])
        members = [r for r in groups[group] if r not in search]  # a search's runs have their own section only
        main = [r for r in members if r.at_table1_setting()]
        unplaced += [r.path for r in members if not r.at_table1_setting() and not r.in_an_ablation()]
        ctx = Context(group, main, variant_labels(main, lambda r: (r.method, r.task), lambda r: r.method), notes,
                      None if out_dir is None else Path(out_dir) / FIGURES, used_notes)
        lines += _group(group, members, search, ctx, selections, sizes)
        written += ctx.written
    lines += document.other_published(found.runs) + document.sources()
    text = "\n".join(lines).rstrip("\n") + "\n"
    unused = sorted(set(notes.get("methods", {})) - used_notes)
    return Built(text, written, len(found.runs), len(groups), len(found.unfinished), found.duplicates,
                 sorted(unplaced), unused)


def write(built: Built, out_dir: Path) -> Path:
    """Write ``<out_dir>/README.md`` atomically (the figures were written by :func:`build`); deletes nothing."""
    readme = Path(out_dir) / README
    try:
        io.write_text(readme, built.text)
    except OSError as err:
        raise cannot_write(readme, err) from None
    return readme


def stale_figures(built: Built, out_dir: Path) -> list[str]:
    """PNGs under ``<out_dir>/figures`` that ``built`` did not write (left by an earlier generation or someone
    else), relative to that folder; they are listed, never removed."""
    fig_dir = Path(out_dir) / FIGURES
    if not fig_dir.is_dir():
        return []
    ours = {p.resolve() for p in built.figures}
    return [p.relative_to(fig_dir).as_posix() for p in sorted(fig_dir.rglob("*.png")) if p.resolve() not in ours]


def export_runs(roots: list[str], dest: Path) -> tuple[int, int]:
    """Copy the compact files of every finished run under ``roots`` (:meth:`RunDir.compact_files`: the records,
    evaluations and figures, never weights) to ``dest/<folder>/<run dir>/``, the done marker last.

    A run already exported is refreshed in place; one exported from other hardware under the same name is an
    error. Returns ``(finished runs exported, unfinished runs skipped)``.
    """
    dest = Path(dest)
    exported, skipped = 0, 0
    for given in roots:
        for run_dir in walk(runs_dir(given)):
            source = RunDir(run_dir)
            if not source.is_done():
                skipped += 1
                continue
            if dest.resolve() in (run_dir.resolve(), *run_dir.resolve().parents):
                continue  # already in the export folder
            target = RunDir(dest / run_dir.parent.name / run_dir.name)
            _check_same_hardware(source, target)
            for path in source.compact_files():
                if path != source.file(DONE):
                    io.atomic(target.file(path.name), lambda tmp, src=path: shutil.copyfile(src, tmp))
            target.mark_done()  # last, as in the run itself
            exported += 1
    return exported, skipped


def _check_same_hardware(source: RunDir, target: RunDir) -> None:
    try:
        old = target.read_env()
    except FileNotFoundError:
        return
    new = source.read_env()
    if (old.get("device"), old.get("device_name")) != (new.get("device"), new.get("device_name")):
        raise UsageError(f"{target} was exported from other hardware ({old.get('device')} "
                         f"{old.get('device_name')}); export {source} into another folder")
