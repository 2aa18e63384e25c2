"""The layering of docs/architecture.md holds for the real code, and the checker catches each broken rule."""
from __future__ import annotations

from pathlib import Path

import pytest

from architecture import violations

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"dabench": ROOT / "dabench", "dabench.methods": ROOT / "methods", "dabench.datasets": ROOT / "datasets",
            "dabench.protocols": ROOT / "protocols"}


def test_the_code_follows_every_layering_rule():
    assert violations(PACKAGES) == []


def write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return {"dabench": root / "dabench", "dabench.protocols": root / "protocols", "dabench.methods": root / "methods"}


CLEAN = {
    "dabench/__init__.py": "",
    "dabench/__main__.py": "from dabench.cli import main\n",
    "dabench/registry.py": "import json\n",
    "dabench/rundir.py": "CONFIG = 'config.json'\n",
    "dabench/cli/__init__.py": "from dabench.cli import run\n",
    "dabench/cli/run.py": "from dabench import registry\n",
    "protocols/__init__.py": "from dabench.protocols import acc as acc\n",
    "protocols/acc.py": "import numpy as np\nfrom dabench.registry import X\n",
    "methods/__init__.py": "from dabench.methods import m as m\n",
    "methods/m.py": '"""Writes config.json? No: a docstring may name it."""\nfrom dabench.registry import X\n',
}


def test_a_clean_tree_passes(tmp_path):
    assert violations(write(tmp_path, CLEAN)) == []


@pytest.mark.parametrize("rel, text, expected", [
    ("dabench/registry.py", "import json\nfrom dabench import rundir\n", "import cycle"),
    ("dabench/rundir.py", "from dabench.registry import X\nCONFIG = 'config.json'\n", None),
    ("dabench/registry.py", "def f():\n    from dabench.cli import run\n", "imports the command line"),
    ("protocols/acc.py", "import pandas\n", "protocols may import only"),
    ("protocols/acc.py", "from dabench.rundir import CONFIG\n", "protocols may import only"),
    ("methods/m.py", "from dabench.leaderboard import x\n", "methods never import"),
    ("methods/m.py", "def f():\n    from dabench.datasets import mnist\n", "methods never import"),
    ("methods/m.py", "PATH = 'out/metrics.jsonl'\n", "spells the run file"),
])
def test_each_broken_rule_is_reported(tmp_path, rel, text, expected):
    files = dict(CLEAN)
    if rel == "dabench/registry.py" and "rundir" in text:  # make the cycle: rundir imports registry back
        files["dabench/rundir.py"] = "from dabench import registry\nCONFIG = 'config.json'\n"
    files[rel] = text
    found = violations(write(tmp_path, files))
    if expected is None:
        assert found == []
    else:
        assert any(expected in line for line in found), found
