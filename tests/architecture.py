"""The layering rules of docs/architecture.md, checked on source files (AST only; nothing is imported).

:func:`violations` reads every module under the given package folders, resolves its ``dabench`` imports (module
level and inside functions alike) to module names, and returns one line per broken rule:

* no import cycle between modules;
* nothing outside ``dabench.cli`` imports ``dabench.cli`` (``dabench.__main__``, the entry point, excepted);
* ``dabench.protocols`` imports only numpy, scikit-learn, scikit-image, torch, the standard library and
  ``dabench.registry`` (and itself);
* ``dabench.methods`` imports no datasets, sweeps, leaderboard, command line, run plan or training loop;
* no run-file name (config.json, metrics.jsonl, ...) is spelled in a string outside ``dabench.rundir``.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

RUN_FILES = ("config.json", "env.json", "metrics.jsonl", "checkpoint.pt", "final.pt", "result.json",
             "checksums.json")
PROTOCOL_ALLOWED = ("numpy", "sklearn", "skimage", "torch", "dabench.registry", "dabench.protocols")
METHOD_FORBIDDEN = ("dabench.datasets", "dabench.sweep", "dabench.leaderboard", "dabench.cli", "dabench.plan",
                    "dabench.runs", "dabench.train", "dabench.bench")


def module_files(packages: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` under each package folder (``{"dabench.methods": methods/}``)."""
    out = {}
    for package, folder in packages.items():
        for path in sorted(Path(folder).rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> list[str]:
    """The modules ``name`` imports, anywhere in its file, as written (``from a.b import c`` gives ``a.b.c`` when
    that is a module here, else ``a.b``)."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            subs = [f"{base}.{alias.name}" for alias in node.names]
            found += [s for s in subs if s in known] or [base]
    return found


def _resolved(module: str, known: set[str]) -> str:
    """The most specific module of this tree that ``module`` lies in (itself when it is one)."""
    while module not in known and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One example cycle per strongly connected component larger than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings, with their line."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def violations(packages: dict[str, Path]) -> list[str]:
    files = module_files(packages)
    known = set(files)
    graph = {name: set(imports_of(name, path, known)) for name, path in files.items()}
    problems = []
    internal = {name: {_resolved(m, known) for m in deps} & known - {name} for name, deps in graph.items()}
    for cycle in _cycles(internal):
        problems.append(f"import cycle: {' <-> '.join(cycle)}")
    for name, deps in sorted(graph.items()):
        in_cli = name == "dabench.cli" or name.startswith("dabench.cli.")
        if not in_cli and name != "dabench.__main__":
            problems += [f"{name} imports the command line ({m})" for m in sorted(deps)
                         if m == "dabench.cli" or m.startswith("dabench.cli.")]
        if name.startswith("dabench.protocols"):
            problems += [f"{name} imports {m} (protocols may import only {', '.join(PROTOCOL_ALLOWED)})"
                         for m in sorted(deps) if not _allowed_in_protocols(m)]
        if name == "dabench.methods" or name.startswith("dabench.methods."):
            problems += [f"{name} imports {m} (methods never import datasets, sweeps, the leaderboard, the "
                         f"command line or the run machinery)" for m in sorted(deps)
                         if any(m == f or m.startswith(f + ".") for f in METHOD_FORBIDDEN)]
        if name != "dabench.rundir":
            for line, text in _strings(ast.parse(files[name].read_text())):
                problems += [f"{files[name]}:{line} spells the run file {f!r} (only dabench/rundir.py may)"
                             for f in RUN_FILES if f in text]
    return problems


def _allowed_in_protocols(module: str) -> bool:
    if module.split(".")[0] in sys.stdlib_module_names or module == "__future__":
        return True
    return any(module == a or module.startswith(a + ".") for a in PROTOCOL_ALLOWED)
