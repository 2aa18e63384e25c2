"""Downloading official files: a progress bar, sha256 pins, and the IDX format of MNIST/Fashion-MNIST."""
from __future__ import annotations

import gzip
import logging
import struct
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

import numpy as np
from tqdm import tqdm

from dabench.data import Dataset, DataError, write_split
from dabench.io import file_sha256

log = logging.getLogger(__name__)


def download(urls: list[str], dest: Path, sha256: str | None) -> Path:
    """Download the first reachable of ``urls`` to ``dest`` (with a progress bar) and check its sha256.

    A file already at ``dest`` with the right hash is kept. A wrong hash deletes the download and raises
    :class:`DataError`; no URL reachable raises :class:`DataError` saying the machine looks offline.
    ``sha256=None`` is only for archives whose members are checked one by one after extraction.
    """
    dest = Path(dest)
    if dest.exists() and sha256 is not None and file_sha256(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                    for chunk in iter(lambda: resp.read(1 << 20), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
            break
        except (urllib.error.URLError, OSError) as exc:
            errors.append(f"{url}: {exc}")
    else:
        part.unlink(missing_ok=True)
        raise DataError(
            f"could not download {dest.name} (offline? tried {'; '.join(errors)}); copy the file to {dest} "
            f"or point DABENCH_DATA at a data root that holds the converted dataset"
        )
    if sha256 is not None:
        check_sha256(part, sha256, f"re-run the download, or copy a good {dest.name} to {dest}", name=dest.name)
    part.replace(dest)
    return dest


def check_sha256(path: Path, expected: str, fix: str, name: str | None = None) -> None:
    """Delete ``path`` and raise :class:`DataError` unless its sha256 is ``expected``."""
    actual = file_sha256(path)
    if actual != expected:
        path.unlink(missing_ok=True)
        raise DataError(f"checksum mismatch for {name or path.name}: expected sha256 {expected}, got {actual}; to fix: {fix}")


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file (the MNIST format: magic, dims, big-endian sizes, uint8 data)."""
    with gzip.open(path, "rb") as fh:
        zero, dtype_code, ndim = struct.unpack(">HBB", fh.read(4))
        if zero != 0 or dtype_code != 0x08:
            raise DataError(f"{path} is not a uint8 IDX file")
        shape = struct.unpack(">" + "I" * ndim, fh.read(4 * ndim))
        data = np.frombuffer(fh.read(), dtype=np.uint8)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: expected {int(np.prod(shape))} values, got {data.size}")
    return data.reshape(shape)


class IdxDataset(Dataset):
    """A dataset distributed as gzipped IDX files (MNIST, Fashion-MNIST), fetched from torchvision's mirrors."""

    #: split → ((images file, sha256), (labels file, sha256))
    RESOURCES: ClassVar[dict[str, tuple[tuple[str, str], tuple[str, str]]]]
    MIRRORS: ClassVar[tuple[str, ...]]

    def fetch(self, cache: Path, roots: tuple[Path, ...] = ()) -> None:
        raw = Path(cache) / "raw" / self.info.folder
        for split, ((img_file, img_sha), (lbl_file, lbl_sha)) in self.RESOURCES.items():
            images = read_idx(download([m + img_file for m in self.MIRRORS], raw / img_file, img_sha))
            labels = read_idx(download([m + lbl_file for m in self.MIRRORS], raw / lbl_file, lbl_sha))
            record = {"source": [m + img_file for m in self.MIRRORS][:1], "raw_sha256": [img_sha, lbl_sha]}
            sha = write_split(Path(cache) / self.info.relpath(split), images, labels.astype(np.int64), record)
            if sha != self.info.content_sha256[split]:
                raise DataError(
                    f"{self.info.name}/{split}: the converted download has content sha256 {sha}, expected "
                    f"{self.info.content_sha256[split]} (a conversion bug: please report it)"
                )
            log.info("wrote %s", Path(cache) / self.info.relpath(split))
