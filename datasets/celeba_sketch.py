"""CelebA faces and derived pencil sketches (Liu, Luo, Wang, Tang, ICCV 2015), the Sketch→Face task of CDLM
§4.3 / Table 2.

No CelebA sketch set is public (CDLM follows E-CDRD [24], whose sketch recipe is not recoverable, reference/
methods.md §7.5), so the sketch domain is **derived** from the faces by a documented deterministic operator;
it is not real sketch data, and numbers on it are comparable with other dabench numbers only.

Raw layout (a data root), the first folder that exists is used: ``celeba/img_align_celeba/*.jpg`` (the official
aligned set, 178×218), ``celeba/img_align_celeba_89x109/*.jpg`` or ``celeba/img_align_celeba_178x218/*.jpg``
(the subsets in ``../shared/data``). Images are taken in file-name order; when a folder holds more than
50,000, a seeded random 50,000 are used (CDLM: "50K random CelebA images").

Domains (at the protocol size, 64×64 by default):

* ``face``: a centred square crop of side ``round(0.775 · width)`` (138 px of a 178-px-wide image, 69 of 89;
  methods.md §7.5), resized with Pillow's bicubic filter; RGB;
* ``sketch``: the classic "pencil sketch" colour dodge of the face: G = luma of the face (Pillow ``"L"``);
  B = Gaussian blur of (255 − G) with σ = 2 · size / 64 pixels (scipy ``gaussian_filter``, reflect border);
  sketch = min(255, 255 · G / (255 − B)), rounded; grey, 1 channel.

Splits: a seeded permutation of the items; ``test`` = the first ``min(2000, round(0.2 · N))`` (200 of the
1,000 faces in ``../shared/data``), ``train`` = the rest. Test splits are paired (``pair`` = the face).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from dabench.data import DataError, DatasetInfo, DataSource
from dabench.registry import DATASETS
from dabench.seeding import seed_hash
from dabench.datasets._multidomain import NO_LABEL, MultiDomainDataset, files_digest, image_files

FOLDERS = ("celeba/img_align_celeba", "celeba/img_align_celeba_89x109", "celeba/img_align_celeba_178x218")
CROP_FRACTION = 0.775
MAX_IMAGES = 50_000
MAX_TEST = 2000
TEST_FRACTION = 0.2


def face_crop(image: Image.Image, size: int) -> np.ndarray:
    """Centred square crop of side ``round(0.775 · width)``, bicubic resize to ``size``; uint8 RGB."""
    w, h = image.size
    side = int(round(CROP_FRACTION * w))
    left, top = (w - side) // 2, (h - side) // 2
    return np.asarray(image.convert("RGB").crop((left, top, left + side, top + side))
                      .resize((size, size), Image.Resampling.BICUBIC))


def pencil_sketch(face: np.ndarray, sigma: float) -> np.ndarray:
    """Colour-dodge pencil sketch of a uint8 RGB face: ``min(255, 255 · G / (255 − blur(255 − G)))``."""
    from scipy.ndimage import gaussian_filter

    grey = np.asarray(Image.fromarray(face).convert("L"), dtype=np.float64)
    blurred = gaussian_filter(255.0 - grey, sigma=sigma, mode="reflect")
    dodge = 255.0 * grey / np.maximum(255.0 - blurred, 1e-6)
    return np.minimum(255.0, dodge).round().astype(np.uint8)


def split_items(n: int) -> dict[str, np.ndarray]:
    """Item indices of the ``train`` and ``test`` splits (seeded by the dataset name, the same for every run)."""
    order = np.random.default_rng(seed_hash("celeba_sketch", "split")).permutation(n)
    n_test = min(MAX_TEST, int(round(TEST_FRACTION * n)))
    return {"test": np.sort(order[:n_test]), "train": np.sort(order[n_test:])}


@DATASETS.register("celeba_sketch")
class CelebASketch(MultiDomainDataset):
    """CelebA aligned faces and derived pencil sketches (colour dodge), paired; 64x64."""

    info = DatasetInfo(
        name="celeba_sketch",
        folder="celeba",
        stem="celeba_sketch",
        channels=3,
        num_classes=0,
        classes=(),
        source="CelebA img_align_celeba (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html); sketches derived "
               "by dabench",
        license="CelebA agreement: non-commercial research only",
        citation="Liu, Luo, Wang, Tang. Deep learning face attributes in the wild. ICCV 2015",
    )
    DOMAINS = {"face": 3, "sketch": 1}
    PAIRS = {"sketch": "face", "face": "sketch"}

    def convert(self, split: str, source: DataSource, size: int) -> tuple[dict, dict[str, Any]]:
        folder = next((p for p in map(source.find, FOLDERS) if p is not None), None)
        files = image_files(folder) if folder is not None and folder.is_dir() else []
        if not files:
            raise DataError(
                f"missing CelebA faces (looked for {', '.join(f + '/*.jpg' for f in FOLDERS)} in: "
                f"{', '.join(map(str, (*source.roots, source.cache)))}); to fix: put CelebA's img_align_celeba "
                f"folder under <root>/celeba/ and point DABENCH_DATA / --data-root at <root>"
            )
        if len(files) > MAX_IMAGES:
            keep = np.random.default_rng(seed_hash("celeba_sketch", "sample")).choice(len(files), MAX_IMAGES,
                                                                                     replace=False)
            files = [files[i] for i in np.sort(keep)]
        chosen = [files[i] for i in split_items(len(files))[split]]
        faces = []
        for path in chosen:
            with Image.open(path) as im:
                faces.append(face_crop(im, size))
        faces = np.stack(faces)
        sigma = 2.0 * size / 64.0
        sketches = np.stack([pencil_sketch(f, sigma) for f in faces])
        labels = np.full(len(chosen), NO_LABEL, dtype=np.int64)
        rel = folder.relative_to(folder.parent.parent).as_posix()
        record = {
            "recipe": {
                "face": f"centred square crop of side round({CROP_FRACTION} * width), Pillow bicubic resize to "
                        f"{size}x{size}",
                "sketch": f"colour dodge min(255, 255 G / (255 - gaussian_filter(255 - G, sigma={sigma}))) of the "
                          f"face's luma G",
            },
            "input": {"folder": rel, "files_in_folder": len(image_files(folder)), "split_files": len(chosen),
                      "files_sha256": files_digest(chosen, folder.parent.parent),
                      "first": chosen[0].name, "last": chosen[-1].name},
        }
        return {"face": (faces, labels), "sketch": (sketches, labels)}, record
