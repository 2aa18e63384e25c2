"""The ``dabench`` command line: one thin module per command (parse, call an importable function, print).

This package is the only code that prints, and nothing outside it imports it. User mistakes (unknown method,
malformed value, ...) end with one line on stderr and exit code 2; missing or corrupt data, a damaged run file,
a run that another process is writing, and a file system that refuses a write end with one line naming the
fix and exit code 1; never a traceback.
"""
from __future__ import annotations

import logging
import sys

from dabench.cli import bench as bench_cmd
from dabench.cli import data as data_cmd
from dabench.cli import eval as eval_cmd
from dabench.cli import leaderboard as leaderboard_cmd
from dabench.cli import run as run_cmd
from dabench.cli import sweep as sweep_cmd
from dabench.cli._common import Parser, os_error_line
from dabench.errors import DataError, UsageError, WriteError
from dabench.registry import UnknownKeyError
from dabench.rundir import CorruptFile, RunLocked

#: the command modules, in the order ``dabench --help`` lists them; each has ``add_parser(subparsers)``
COMMANDS = (run_cmd, data_cmd, eval_cmd, sweep_cmd, leaderboard_cmd, bench_cmd)


def build_parser() -> Parser:
    parser = Parser(prog="dabench", description="Domain-adaptation benchmark suite (CDLM and baselines).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="dabench: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (UsageError, UnknownKeyError) as err:
        print(f"dabench: error: {err}", file=sys.stderr, flush=True)
        return 2
    except DataError as err:
        print(f"dabench: data error: {err}", file=sys.stderr, flush=True)
        return 1
    except (RunLocked, CorruptFile, WriteError) as err:
        print(f"dabench: error: {err}", file=sys.stderr, flush=True)
        return 1
    except OSError as err:  # the machine refused (read-only or full disk, a file where a folder should be, ...)
        print(f"dabench: error: {os_error_line(err)}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("dabench: interrupted; run the same command again to resume", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
