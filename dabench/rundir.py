"""A run directory: the one place that knows its file names and how each of its files is read and written.

``<out>/<method>_<task>_s<seed>_<run id>/`` holds

* ``config.json`` — what the run is (its config, the resolved semantic settings and the run id);
* ``env.json`` — the environment of its latest segment (versions, device, threads, host, CPU);
* ``metrics.jsonl`` — one JSON line per evaluation (step, training losses, accuracies, compute axis);
* ``checkpoint.pt`` — the latest resumable state; ``final.pt`` — the finished weights;
* ``checksums.json`` — the sha256 of each ``.pt`` file as written, checked when it is read back;
* ``result.json`` — the finished run's summary; ``eval_<protocol>.json`` — each protocol's result;
* PNG figures; ``done`` — written last, when everything else is in place;
* ``lock`` — held (``fcntl``) by the one process that writes the run, with its pid, host and start time.

Every file but the append-only ``metrics.jsonl`` is written atomically (a temporary file, then a rename), so a
reader never sees half a file. Nothing outside this module spells one of these names.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

from dabench import io

CONFIG = "config.json"
ENV = "env.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
FINAL = "final.pt"
CHECKSUMS = "checksums.json"
RESULT = "result.json"
DONE = "done"
LOCK = "lock"
EVAL_PREFIX, EVAL_SUFFIX = "eval_", ".json"

#: what an exported run keeps (no weights): the files the leaderboard reads, plus every eval_*.json and PNG
COMPACT = (CONFIG, ENV, METRICS, RESULT, DONE)


class RunState(str, Enum):
    """Where a run directory stands, read from its files alone (a sweep adds what its queue knows)."""

    NEW = "NEW"  # nothing written yet
    RUNNING = "RUNNING"  # a live process holds its lock
    INCOMPLETE = "INCOMPLETE"  # started, not done, nobody writing it (the same command resumes it)
    DONE = "DONE"


class CorruptFile(Exception):
    """A run file that does not read back as written (truncated, altered, not JSON); the message names the file
    and how to recover."""


class RunLocked(Exception):
    """Another live process writes this run directory; ``holder`` says which."""

    def __init__(self, path: Path, holder: dict[str, Any]):
        self.path, self.holder = path, holder
        who = ", ".join(f"{k} {holder[k]}" for k in ("pid", "host", "started") if k in holder) or "unknown"
        super().__init__(f"{path} is being written by another process ({who}); wait for it, or run the same "
                         f"command with --wait")


@dataclass(frozen=True)
class RunDir:
    """One run directory (it need not exist yet)."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    # ------------------------------------------------------------------------------------------ state
    def exists(self) -> bool:
        return self.file(CONFIG).exists()

    def config_matches(self, record: dict[str, Any]) -> bool:
        """Whether ``config.json`` is present, readable and equal to ``record``."""
        try:
            return self.read_config() == json.loads(json.dumps(record))
        except (FileNotFoundError, CorruptFile):
            return False

    def is_done(self) -> bool:
        return self.file(DONE).exists()

    def state(self) -> RunState:
        if self.is_done():
            return RunState.DONE
        if self.lock_holder() is not None:
            return RunState.RUNNING
        return RunState.INCOMPLETE if self.exists() else RunState.NEW

    # ----------------------------------------------------------------------------------- JSON records
    def _read_json(self, name: str) -> Any:
        path = self.file(name)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as err:
            raise CorruptFile(f"cannot read {path}: {err}; it was damaged or edited: an unfinished run rewrites it "
                              f"when its command runs again, a finished one is rebuilt by deleting {self.path} and "
                              f"running its command again") from None

    def read_config(self) -> dict[str, Any]:
        return self._read_json(CONFIG)

    def write_config(self, record: dict[str, Any]) -> None:
        io.write_json(self.file(CONFIG), record)

    def read_env(self) -> dict[str, Any]:
        return self._read_json(ENV)

    def write_env(self, record: dict[str, Any]) -> None:
        io.write_json(self.file(ENV), record)

    def read_result(self) -> dict[str, Any]:
        return self._read_json(RESULT)

    def write_result(self, result: dict[str, Any]) -> None:
        io.write_json(self.file(RESULT), result)

    def mark_done(self) -> None:
        io.write_text(self.file(DONE), "")

    # ------------------------------------------------------------------------------------ evaluations
    def eval_path(self, protocol: str) -> Path:
        return self.file(f"{EVAL_PREFIX}{protocol}{EVAL_SUFFIX}")

    def write_eval(self, protocol: str, record: dict[str, Any]) -> Path:
        path = self.eval_path(protocol)
        io.write_json(path, record)
        return path

    def has_eval(self, protocol: str) -> bool:
        """Whether ``protocol``'s result is here (``accuracy`` is evaluated by the training loop itself)."""
        return protocol == "accuracy" or any(self.eval_path(p).exists() for p in (protocol, protocol.replace("-", "_")))

    def read_eval(self, protocol: str) -> dict[str, Any]:
        """``protocol``'s ``eval_<protocol>.json`` (FileNotFoundError when it is not here)."""
        return self._read_json(self.eval_path(protocol).name)

    def read_evals(self) -> dict[str, Any]:
        """protocol → its ``eval_<protocol>.json``, for every one present."""
        out = {}
        for path in sorted(self.path.glob(f"{EVAL_PREFIX}*{EVAL_SUFFIX}")):
            out[path.name[len(EVAL_PREFIX):-len(EVAL_SUFFIX)]] = self._read_json(path.name)
        return out

    def figure_path(self, name: str) -> Path:
        """Where a figure of this run is written (``name`` ends in ``.png``)."""
        return self.file(name)

    def figures(self) -> dict[str, Path]:
        return {path.name: path for path in sorted(self.path.glob("*.png"))}

    def compact_files(self) -> list[Path]:
        """The files an export copies: the records the leaderboard reads, evaluations and figures; no weights."""
        named = [self.file(n) for n in COMPACT if self.file(n).exists()]
        return named + sorted(self.path.glob(f"{EVAL_PREFIX}*{EVAL_SUFFIX}")) + sorted(self.path.glob("*.png"))

    # ---------------------------------------------------------------------------------------- metrics
    def append_metrics(self, line: dict[str, Any]) -> None:
        """One evaluation line, appended with a single write (readers see whole lines or a cut last line)."""
        with open(self.file(METRICS), "a") as fh:
            fh.write(json.dumps(line, sort_keys=True) + "\n")

    def read_metrics(self, *, drop_cut_last: bool = False) -> list[dict[str, Any]]:
        """The evaluation lines in file order.

        A line that is not JSON raises :class:`CorruptFile`, except a cut *last* line when ``drop_cut_last``
        (a process killed mid-write; the resume replays that evaluation)."""
        path = self.file(METRICS)
        if not path.exists():
            return []
        raw = [ln for ln in path.read_text().splitlines() if ln.strip()]
        lines = []
        for number, text in enumerate(raw, 1):
            try:
                line = json.loads(text)
            except ValueError as err:
                if drop_cut_last and number == len(raw):
                    break
                raise CorruptFile(f"{path} line {number} is not JSON: {err}") from None
            if not isinstance(line, dict) or not isinstance(line.get("step"), int):
                raise CorruptFile(f"{path} line {number}: every line must be a JSON object with an integer `step`")
            lines.append(line)
        return lines

    def metrics_cut(self) -> bool:
        """Whether the last evaluation line was cut short (the process died while writing it)."""
        path = self.file(METRICS)
        if not path.exists():
            return False
        raw = [ln for ln in path.read_text().splitlines() if ln.strip()]
        try:
            return bool(raw) and not isinstance(json.loads(raw[-1]), dict)
        except ValueError:
            return True

    def last_metrics_step(self) -> int | None:
        try:
            lines = self.read_metrics(drop_cut_last=True)
        except CorruptFile:
            return None
        return lines[-1]["step"] if lines else None

    def keep_metrics_until(self, step: int) -> int:
        """Drop evaluation lines after ``step`` (a resume recomputes them identically) and a cut last line;
        returns how many lines were dropped."""
        if not self.file(METRICS).exists():
            return 0
        total = sum(1 for ln in self.file(METRICS).read_text().splitlines() if ln.strip())
        kept = [ln for ln in self.read_metrics(drop_cut_last=True) if ln["step"] <= step]
        io.write_text(self.file(METRICS), "".join(json.dumps(ln, sort_keys=True) + "\n" for ln in kept))
        return total - len(kept)

    def clear_metrics(self) -> None:
        self.file(METRICS).unlink(missing_ok=True)

    # ----------------------------------------------------------------------------------- weights (.pt)
    def _checksums(self) -> dict[str, list[str]]:
        try:
            return self._read_json(CHECKSUMS)
        except FileNotFoundError:
            return {}

    def _save_checked(self, name: str, state: Any) -> None:
        """``torch.save`` atomically, with its sha256 recorded. While the new file replaces the old one both
        hashes are accepted, so a kill at any instant leaves a file that checks out."""
        import torch

        written: list[str] = []

        def write(tmp: Path) -> None:
            try:
                torch.save(state, tmp)
            except RuntimeError as err:  # torch reports a failed write (e.g. a full disk) as a RuntimeError
                raise OSError(errno.EIO, f"could not write the file ({str(err).splitlines()[0][:120]})",
                              str(self.file(name))) from None
            written.append(io.file_sha256(tmp))
            sums = self._checksums()
            io.write_json(self.file(CHECKSUMS), {**sums, name: [written[0], *sums.get(name, [])[:1]]})

        io.atomic(self.file(name), write)
        io.write_json(self.file(CHECKSUMS), {**self._checksums(), name: written})

    def _load_checked(self, name: str, map_location: Any = "cpu", retrain: str = "") -> Any:
        import torch

        path = self.file(name)
        accepted = self._checksums().get(name)
        if accepted is not None and io.file_sha256(path) not in accepted:
            raise CorruptFile(f"{path} does not match the checksum recorded when it was written (altered or "
                              f"damaged){retrain}")
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # noqa: BLE001 — torch raises many kinds for a damaged file
            raise CorruptFile(f"cannot read {path} ({type(err).__name__}){retrain}") from None

    def has_checkpoint(self) -> bool:
        return self.file(CHECKPOINT).exists()

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        self._save_checked(CHECKPOINT, state)

    def load_checkpoint(self, map_location: Any = "cpu") -> dict[str, Any]:
        return self._load_checked(CHECKPOINT, map_location,
                                  f"; delete it to restart the run from step 0 (rm {self.file(CHECKPOINT)})")

    def checkpoint_step(self) -> int | None:
        """The step of the checkpoint (memory-mapped: only the step is read), or ``None`` without a readable one."""
        import torch

        if not self.has_checkpoint():
            return None
        try:
            return int(torch.load(self.file(CHECKPOINT), map_location="cpu", weights_only=True, mmap=True)["step"])
        except Exception:  # noqa: BLE001 — a damaged checkpoint is reported when the run loads it
            return None

    def has_final(self) -> bool:
        return self.file(FINAL).exists()

    def save_final(self, state: dict[str, Any]) -> None:
        self._save_checked(FINAL, state)

    def load_final(self, map_location: Any = "cpu") -> dict[str, Any]:
        return self._load_checked(FINAL, map_location, f"; retrain it: delete {self.path} and run its command "
                                                       f"again")

    # ----------------------------------------------------------------------------------------- hygiene
    def remove_temporaries(self) -> list[Path]:
        """Delete the temporary files an interrupted atomic write left here (``.<name>.*.tmp``); returns them."""
        gone = [p for p in self.path.glob(".*.tmp") if p.is_file()]
        for path in gone:
            path.unlink(missing_ok=True)
        return gone

    # -------------------------------------------------------------------------------------------- lock
    @contextlib.contextmanager
    def lock(self, wait: bool = False) -> Iterator[None]:
        """Hold the run's writer lock for the block (``flock``: the kernel releases it when the holder dies, so a
        crash or a preemption never leaves a stale lock behind; it is per open file, so a check by the holder's
        own process does not release it).

        Raises :class:`RunLocked` when another live process holds it and ``wait`` is false."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.file(LOCK), "a+")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if not wait:
                    raise RunLocked(self.path, self.lock_holder() or {}) from None
                fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n")
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            fh.close()

    def lock_holder(self) -> dict[str, Any] | None:
        """Who holds the writer lock now (pid, host, start time), or ``None`` when nobody does."""
        path = self.file(LOCK)
        if not path.exists():
            return None
        with open(path) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                try:
                    return json.loads(fh.read() or "{}")
                except ValueError:
                    return {}
            fcntl.flock(fh, fcntl.LOCK_UN)
            return None
