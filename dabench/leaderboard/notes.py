"""The hand-written notes file: one honest note per method and one paragraph per table kind, rendered verbatim.

::

    methods:            # one note per method, under the first Table 1 of every group that has the method
      dann: >-
        Ours is below the paper because ...
      cdlm@full-cuda-nvidia-h200: ...   # <method>@<group id>: this group only (it replaces `cdlm` there)
    sections:           # one paragraph under a table kind, in every group that has that table
      table1: ...       # keys: table1, extra, pad, translation, the methods' ablation tables, figures
"""
from __future__ import annotations

from pathlib import Path

from dabench.errors import UsageError
from dabench.leaderboard.declared import ablation_names

NOTES = "notes.yaml"  # the default notes file, in the output folder


def note_sections() -> tuple[str, ...]:
    """The section keys a notes file may use: the fixed tables and every registered method's ablation tables."""
    return ("table1", "extra", "pad", "translation", *ablation_names(), "compute", "selection",
            "figures")


def read_notes(path: Path | None) -> dict:
    """The notes file, validated; ``{}`` when ``path`` is None."""
    if path is None:
        return {}
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as err:
        raise UsageError(f"cannot read the notes file {path}: {err}") from None
    except yaml.YAMLError as err:
        raise UsageError(f"notes file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict) or set(raw) - {"methods", "sections"}:
        raise UsageError(f"notes file {path} must be a mapping with the keys `methods` and/or `sections`; got "
                         f"{sorted(raw) if isinstance(raw, dict) else type(raw).__name__}")
    for key in ("methods", "sections"):
        part = raw.get(key) or {}
        if not isinstance(part, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in part.items()):
            raise UsageError(f"notes file {path}: `{key}` must map names to text (a YAML string per name)")
        raw[key] = part
    valid = note_sections()
    unknown = sorted(set(raw["sections"]) - set(valid))
    if unknown:
        raise UsageError(f"notes file {path}: unknown section(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    return raw
