"""What every command module shares: the one-line-error parser, printing, and ``--set`` parsing."""
from __future__ import annotations

import argparse
import errno

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


#: what to do about an environment failure, by errno
_FIXES = {
    errno.ENOSPC: "free some space, then run the same command again (a run resumes from its last checkpoint)",
    errno.EDQUOT: "free some of your quota, then run the same command again",
    errno.EROFS: "that file system is read-only: choose a writable place (--out / -o, or DABENCH_CACHE for data)",
    errno.EACCES: "no permission there: choose a folder you can write (--out / -o, or DABENCH_CACHE for data)",
    errno.EPERM: "no permission there: choose a folder you can write (--out / -o, or DABENCH_CACHE for data)",
    errno.ENOTDIR: "a part of that path is a file, not a folder: choose another path",
    errno.EEXIST: "a file stands where a folder is needed: choose another path",
    errno.EISDIR: "that is a folder, not a file: name a file",
}


def os_error_line(err: OSError) -> str:
    """One line for an environment failure: what failed, where, and what to do."""
    where = f" ({err.filename})" if err.filename else ""
    fix = _FIXES.get(err.errno, "check that the path exists and is writable, then run the same command again")
    return f"{err.strerror or err}{where}: {fix}"
