"""BSDS500 train photos (Arbeláez et al., TPAMI 2011): the 200 colour photos MNIST-M and Fashion-M sample
their backgrounds from. A photo pool, not a classification dataset: tasks cannot use it directly.

Files: ``bsds500/train/*.jpg`` in a data root or the cache. Each photo is checked against its pinned sha256
(``bsds500_train.sha256``, the unchanged JPEG bytes of the official ``BSR_bsds500.tgz``). ``dabench data fetch
bsds500`` downloads the official archive and extracts and checks the 200 train photos.

Embedded form: eight colour photos bundled with scikit-image (astronaut, chelsea, coffee, rocket,
hubble_deep_field, retina, immunohistochemistry, motorcycle), used in place of BSDS500 for offline runs.
"""
from __future__ import annotations

import io as _io
import tarfile
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from dabench.data import Dataset, DataError, DatasetInfo, DataSource
from dabench.registry import DATASETS
from dabench.datasets._fetch import download
from dabench.io import file_sha256

ARCHIVE_URL = "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
MEMBER_DIR = "BSR/BSDS500/data/images/train/"
EMBEDDED_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina",
                   "immunohistochemistry", "stereo_motorcycle")


@lru_cache(maxsize=1)
def pinned_sha256() -> dict[str, str]:
    """file name → sha256 of the 200 official train photos."""
    lines = (Path(__file__).parent / "bsds500_train.sha256").read_text().split("\n")
    return {name: sha for sha, name in (line.split() for line in lines if line.strip())}


@DATASETS.register("bsds500")
class BSDS500(Dataset):
    """BSDS500 train photos (200 colour images): backgrounds for mnistm and fashionm."""

    kind: ClassVar[str] = "photos"
    info = DatasetInfo(
        name="bsds500",
        folder="bsds500",
        stem="bsds500",
        channels=3,
        num_classes=0,
        classes=(),
        source=ARCHIVE_URL,
        license="research use (Berkeley Segmentation Data Set, Corel images)",
        citation="Arbelaez, Maire, Fowlkes, Malik. Contour detection and hierarchical image segmentation. TPAMI 2011",
        splits=("train",),
    )

    def fetch(self, cache: Path, roots: tuple[Path, ...] = ()) -> None:
        # No sha256 of the archive itself is published; every extracted photo is checked against its pin.
        archive = download_unpinned(ARCHIVE_URL, Path(cache) / "raw" / "BSR_bsds500.tgz")
        out = Path(cache) / "bsds500" / "train"
        out.mkdir(parents=True, exist_ok=True)
        pins = pinned_sha256()
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.name.startswith(MEMBER_DIR) and name in pins:
                    (out / name).write_bytes(tar.extractfile(member).read())
        self.check_folder(out)

    def check_folder(self, folder: Path) -> None:
        pins = pinned_sha256()
        missing = [n for n in pins if not (folder / n).exists()]
        if missing:
            raise DataError(
                f"{folder} lacks {len(missing)} of the 200 BSDS500 train photos (e.g. {missing[0]}); "
                f"to fix: run `dabench data fetch bsds500`"
            )
        for name, sha in pins.items():
            actual = file_sha256(folder / name)
            if actual != sha:
                raise DataError(
                    f"checksum mismatch for {folder / name}: expected sha256 {sha}, got {actual}; "
                    f"to fix: run `dabench data fetch bsds500`"
                )

    def load(self, split: str, source: DataSource, size: int = 28):
        raise DataError("bsds500 is a photo pool (backgrounds for mnistm/fashionm), not a task domain")

    def verify(self, source: DataSource) -> list[tuple[str, str]]:
        folder = source.find("bsds500/train")
        if folder is None:
            return [("bsds500/train", "missing")]
        try:
            self.check_folder(folder)
            return [(str(folder), "ok")]
        except DataError as err:
            return [(str(folder), str(err))]


def download_unpinned(url: str, dest: Path) -> Path:
    """Download without an archive-level hash (the members are checked instead)."""
    return dest if dest.exists() else download([url], dest, sha256=None)


def photos(source: DataSource) -> tuple[list[np.ndarray], list[str]]:
    """The background photos for ``source`` as RGB uint8 arrays, and their names.

    Full data: the 200 BSDS500 train photos (checked; fetched into the cache when allowed). Embedded: the
    scikit-image photos listed in :data:`EMBEDDED_PHOTOS`.
    """
    if source.kind == "embedded":
        import skimage.data

        arrays = []
        for name in EMBEDDED_PHOTOS:
            image = getattr(skimage.data, name)()
            arrays.append(np.asarray(image[0] if isinstance(image, tuple) else image, dtype=np.uint8))
        return arrays, [f"skimage.data.{n}" for n in EMBEDDED_PHOTOS]
    dataset = BSDS500()
    folder = source.find("bsds500/train")
    if folder is None and source.allow_download:
        dataset.fetch(source.cache)
        folder = source.find("bsds500/train")
    if folder is None:
        raise DataError(
            f"missing the BSDS500 train photos (looked in: {source.searched('bsds500/train')}); "
            f"to fix: run `dabench data fetch bsds500`, or point DABENCH_DATA at a root holding bsds500/train"
        )
    dataset.check_folder(folder)
    names = sorted(pinned_sha256())
    return [np.asarray(Image.open(_io.BytesIO((folder / n).read_bytes())).convert("RGB")) for n in names], names
