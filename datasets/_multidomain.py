"""Datasets that hold two or more domains of the same items, built from image folders (edges2shoes,
celeba_sketch, linemod).

One registered dataset, several *domains* (``Edges2Shoes("photo")``, ``Edges2Shoes("edges")``); a task names
the dataset and the domain on each side. Raw images (JPEG/PNG folders in a data root) are converted once, at
a given protocol size, into ``<folder>/<stem>_<domain>_<size>_<split>.npz`` in the cache (the root layout:
``images`` uint8 ``(N, H, W)`` or ``(N, H, W, 3)``, ``labels`` int64, −1 for unlabelled domains), with a
``.json`` sidecar recording the recipe, the input files' digest and the content sha256 that every later
load is checked against. All domains of a split are written together from the same items in the same
order, so row i of one domain and row i of its paired domain are the same item: that is how a translation
task's test split carries its ground truth (``DomainData.pair``).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from dabench.data import Dataset, DataError, DataSource, DomainData, read_split, to_nchw, write_split
from dabench.io import file_sha256

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
NO_LABEL = -1


def files_digest(files: list[Path], base: Path) -> str:
    """sha256 of the lines ``"<sha256 of file>  <path relative to base>\\n"`` in the given order."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{file_sha256(path)}  {path.relative_to(base).as_posix()}\n".encode())
    return digest.hexdigest()


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name with numbers in numeric order (2 before 10)."""
    def key(path: Path):
        stem = path.stem.split("_")[0]
        return (0, int(stem), path.name) if stem.isdigit() else (1, 0, path.name)

    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=key)


class MultiDomainDataset(Dataset):
    """Base class: subclasses set ``info``, ``DOMAINS``, ``PAIRS`` and implement :meth:`convert`.

    Attributes:
        DOMAINS: domain name → native channels (1 or 3); the first one is the default domain.
        PAIRS: domain → the domain whose images of the same items are its ground truth (attached as
            ``DomainData.pair`` on the ``test`` split).
        DEFAULT_SIZE: the protocol size of the tasks that use it.
    """

    obtain: ClassVar[str] = "build"
    DOMAINS: ClassVar[dict[str, int]]
    PAIRS: ClassVar[dict[str, str]] = {}
    DEFAULT_SIZE: ClassVar[int] = 64

    def __init__(self, domain: str | None = None):
        domain = domain or next(iter(self.DOMAINS))
        if domain not in self.DOMAINS:
            raise DataError(f"dataset '{self.info.name}' has no domain '{domain}'; valid: {', '.join(self.DOMAINS)}")
        self.domain = domain
        # the instance's channels are its domain's (task_spec reads them)
        self.info = replace(type(self).info, channels=self.DOMAINS[domain])

    # --------------------------------------------------------------- to override
    def convert(self, split: str, source: DataSource, size: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                                                          dict[str, Any]]:
        """Read the raw files of ``split`` and return (domain → (images, labels), record for the sidecar)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ loading
    def built_relpath(self, domain: str, split: str, size: int) -> str:
        return f"{self.info.folder}/{self.info.stem}_{domain}_{size}_{split}.npz"

    def fix_command(self) -> str:
        return f"dabench data build {self.info.name}"

    def build(self, source: DataSource, splits: tuple[str, ...] | None = None, size: int | None = None) -> list[Path]:
        """Convert the raw files of ``splits`` (default: all) at ``size`` into the cache, all domains at once."""
        size = size or self.DEFAULT_SIZE
        written = []
        for split in splits or self.info.splits:
            arrays, record = self.convert(split, source, size)
            for domain, (images, labels) in arrays.items():
                path = Path(source.cache) / self.built_relpath(domain, split, size)
                write_split(path, images, labels, {**record, "domain": domain, "split": split, "size": size},
                            compress=False)
                written.append(path)
                log.info("wrote %s (%d images)", path, len(images))
        return written

    def load_domain(self, domain: str, split: str, source: DataSource, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Checked arrays of one domain's ``split`` at ``size``, building them first when missing."""
        if source.kind == "embedded":
            raise DataError(f"dataset '{self.info.name}' has no embedded form; set DABENCH_DATA to a data root "
                            f"that holds {self.info.folder}/")
        relpath = self.built_relpath(domain, split, size)
        path = source.find(relpath)
        if path is None:
            log.warning("%s is missing: building it into %s", relpath, source.cache)
            self.build(source, (split,), size)
            path = source.find(relpath)
            if path is None:
                raise DataError(f"{self.info.name}/{split} has no domain '{domain}' in this copy; "
                                f"to fix: {self.fix_command()}")
        return read_split(path, None, fix=f"delete {path} and run `{self.fix_command()}`")

    def load_arrays(self, split: str, source: DataSource, size: int | None = None):
        return self.load_domain(self.domain, split, source, size or self.DEFAULT_SIZE)

    def load(self, split: str, source: DataSource, size: int | None = None) -> DomainData:
        size = size or self.DEFAULT_SIZE
        images, labels = self.load_domain(self.domain, split, source, size)
        pair = None
        if split == "test" and self.domain in self.PAIRS:
            pair_images, _ = self.load_domain(self.PAIRS[self.domain], split, source, size)
            if len(pair_images) != len(images):
                raise DataError(f"{self.info.name}/{split}: {len(images)} '{self.domain}' images but "
                                f"{len(pair_images)} paired '{self.PAIRS[self.domain]}' images; to fix: delete "
                                f"the built files under {source.cache / self.info.folder} and rebuild")
            pair = to_nchw(pair_images)
        return DomainData(to_nchw(images), torch.from_numpy(np.asarray(labels, dtype=np.int64)),
                          f"{self.info.name}:{self.domain}/{split}", pair)

    def verify(self, source: DataSource) -> list[tuple[str, str]]:
        """Check the built files at the default size (missing ones are reported, not built)."""
        report = []
        for domain in self.DOMAINS:
            for split in self.info.splits:
                relpath = self.built_relpath(domain, split, self.DEFAULT_SIZE)
                path = source.find(relpath)
                if path is None:
                    report.append((relpath, "missing"))
                    continue
                try:
                    read_split(path, None, fix=f"delete {path} and run `{self.fix_command()}`")
                    report.append((str(path), "ok"))
                except DataError as err:
                    report.append((str(path), str(err)))
        return report
