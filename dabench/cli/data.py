"""``dabench data fetch|build|verify``: obtain and check the datasets."""
from __future__ import annotations

from dabench.cli._common import say
from dabench.data import resolve_source
from dabench.errors import DataError, UsageError
from dabench.registry import DATASETS


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="fetch, build or verify datasets")
    p.add_argument("action", choices=["fetch", "build", "verify"])
    p.add_argument("names", nargs="*", help="dataset names (fetch/build)")
    p.add_argument("--data-root", action="append", help="read-only data root (repeatable; also $DABENCH_DATA)")
    p.set_defaults(func=cmd_data)


def cmd_data(args) -> int:
    if args.action != "verify" and not args.names:
        raise UsageError(f"`dabench data {args.action}` needs at least one dataset name")
    source = resolve_source("full", args.data_root, allow_download=args.action != "verify")
    if args.action == "verify":
        return verify(source)
    for name in args.names:
        dataset = DATASETS.get(name)()
        if args.action != dataset.obtain:
            raise UsageError(f"'{name}' is obtained with `dabench data {dataset.obtain} {name}`, not `{args.action}`")
        if args.action == "fetch":
            dataset.fetch(source.cache, source.roots)
        else:
            dataset.build(source)
        say(f"{name}: ok (in {source.cache})")
    return 0


def verify(source) -> int:
    """Re-check every dataset file in the roots and the cache and say where it looked and what it found; a file
    that fails its checksum, or finding no dataset file at all, ends with one line naming every failure."""
    places = ", ".join(map(str, (*source.roots, source.cache)))
    say(f"looking in: {places}" + ("" if source.roots else " (no data root: set DABENCH_DATA or --data-root)"))
    found, failed = 0, []
    for name, cls in DATASETS.items():
        for path, status in cls().verify(source):
            if status == "missing":
                continue
            found += 1
            say(f"{name:10s} {'ok' if status == 'ok' else 'FAILED'}  {path}")
            if status != "ok":
                failed.append(f"{path}: {status}")
    if not found:
        raise DataError(f"no dataset file found in {places}: point DABENCH_DATA or --data-root at a data root, or "
                        "fetch the data with `dabench data fetch mnist fashion usps bsds500`")
    if failed:
        raise DataError(f"{len(failed)} of {found} file(s) failed their checksum: {'; '.join(failed)}")
    say(f"all {found} file(s) found check out")
    return 0
