"""What every command module shares: the one-line-error parser, printing, and ``--set`` parsing."""
from __future__ import annotations

import argparse

from dabench.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of a usage dump."""

    def error(self, message: str):  # noqa: D401 — argparse's hook
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def say(*parts) -> None:
    """Print a line to stdout (the command line is the only code that prints)."""
    print(*parts, flush=True)


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """``["lr=0.1", "gamma=5"]`` → ``{"lr": "0.1", "gamma": "5"}``; typing happens against the method's HPARAMS."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value (e.g. --set lr=0.01); got '{item}'")
        out[key.strip()] = value.strip()
    return out
