"""Tasks: a (source, target) pair of datasets with the pinned protocol, and the four splits a run uses.

Splits (reference/methods.md §7, DomainBed practice):

* **source train**: the source train split minus a held-out 10 % (labels used for training);
* **source val**: that held-out 10 %, for model selection (fixed by the dataset name, not the run seed);
* **target train**: the target train split, *unlabelled* as far as any method's update is concerned;
* **target test**: the target test split, for reporting only — never for training or model selection.

Digit protocol: 28×28; USPS 16→28 bilinear; MNIST-M centre crop 32→28; grey replicated to 3 channels when
the other domain is RGB; full standard splits; values in [0, 1].

Translation tasks (CDLM §4.3, Table 2) and LineMod use two *domains* of one dataset (``source_domain`` /
``target_domain``) at 64×64. A translation task is named after its translation direction, input → output:
``sketch-face`` translates the target domain (sketches) into the source domain (faces), the direction of a
method's ``translate``. Its domains have no class labels (``num_classes`` 0); its target test split is
paired (``DomainData.pair`` holds the true source-domain image of every target image), and only methods that
can ``translate`` may run on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dabench.data import DataSource, DomainData
from dabench.errors import DataError, UsageError
from dabench.method import TaskSpec
from dabench.registry import DATASETS, METHODS, TASKS
from dabench.seeding import seed_hash
import dabench.datasets  # noqa: F401  (registers every dataset)
import dabench.protocols  # noqa: F401  (registers every protocol)

VAL_FRACTION = 0.1


@dataclass(frozen=True)
class Task:
    """A registered domain-adaptation task (source → target)."""

    name: str
    source: str
    target: str
    description: str
    family: str = "digits"
    size: int = 28
    #: domain of a multi-domain dataset on each side (``None`` for single-domain datasets)
    source_domain: str | None = None
    target_domain: str | None = None
    #: protocols ``dabench run`` evaluates at the end of training (keys of the PROTOCOLS registry)
    protocols: tuple[str, ...] = ("accuracy",)
    #: capabilities a method needs to run on this task
    requires: frozenset[str] = frozenset({"predict"})

    def datasets(self):
        return _dataset(self.source, self.source_domain), _dataset(self.target, self.target_domain)

    def check_method(self, method_name: str, method_cls) -> None:
        """Raise a one-line :class:`UsageError` when ``method_cls`` lacks a capability this task needs."""
        missing = sorted(self.requires - set(method_cls.CAPABILITIES))
        if missing:
            able = [n for n, cls in METHODS.items() if self.requires <= set(cls.CAPABILITIES)]
            raise UsageError(
                f"method '{method_name}' cannot {'/'.join(missing)}, which task '{self.name}' needs; methods "
                f"that can: {', '.join(able) or '(none registered)'}"
            )

    def has_embedded(self) -> bool:
        return all(d.has_embedded() for d in self.datasets())


@dataclass
class TaskData:
    """The four splits of a task, in memory, plus the spec methods build their networks from."""

    task: Task
    src_train: DomainData
    src_val: DomainData
    tgt_train: DomainData
    tgt_test: DomainData
    spec: TaskSpec
    data_source: str

    def to(self, device) -> "TaskData":
        moved = {k: getattr(self, k).to(device) for k in ("src_train", "src_val", "tgt_train", "tgt_test")}
        return TaskData(self.task, spec=self.spec, data_source=self.data_source, **moved)


def _dataset(key: str, domain: str | None):
    cls = DATASETS.get(key)
    return cls(domain) if domain is not None else cls()


def split_val(data: DomainData, fraction: float = VAL_FRACTION) -> tuple[DomainData, DomainData]:
    """Hold out ``fraction`` of a train split, seeded by the split's name (the same for every run)."""
    order = np.random.default_rng(seed_hash(data.name, "val")).permutation(len(data))
    n_val = max(1, int(round(fraction * len(data))))
    return data.subset(order[n_val:], data.name), data.subset(order[:n_val], data.name + "[val]")


def load_task(task: Task, source: DataSource) -> TaskData:
    """Load and check every split of ``task`` from ``source``."""
    src, tgt = task.datasets()
    for ds in (src, tgt):
        if ds.kind != "domain":
            raise DataError(f"{ds.info.name} cannot be a task domain")
    src_all = src.load("train", source, task.size)
    src_train, src_val = split_val(src_all)
    tgt_train = tgt.load("train", source, task.size)
    tgt_test = tgt.load("test", source, task.size)
    return TaskData(task, src_train, src_val, tgt_train, tgt_test, task_spec(task), source.kind)


def task_spec(task: Task) -> TaskSpec:
    """The network-building spec of ``task``: both domains at the larger channel count."""
    src, tgt = task.datasets()
    channels = max(src.info.channels, tgt.info.channels)
    return TaskSpec(channels=channels, size=task.size, num_classes=src.info.num_classes, family=task.family)


def _digits(name: str, source: str, target: str, description: str) -> None:
    TASKS.register(name)(Task(name, source, target, description))


_digits("mnist-usps", "mnist", "usps", "MNIST -> USPS (28x28 grey)")
_digits("usps-mnist", "usps", "mnist", "USPS -> MNIST (28x28 grey)")
_digits("mnist-mnistm", "mnist", "mnistm", "MNIST -> MNIST-M (28x28 RGB, grey replicated)")
_digits("mnistm-mnist", "mnistm", "mnist", "MNIST-M -> MNIST (28x28 RGB, grey replicated)")
_digits("fashion-fashionm", "fashion", "fashionm", "Fashion-MNIST -> Fashion-M (28x28 RGB)")
_digits("fashionm-fashion", "fashionm", "fashion", "Fashion-M -> Fashion-MNIST (28x28 RGB)")


def _two_domain(name: str, dataset: str, source_domain: str, target_domain: str, description: str, family: str,
                **fields) -> None:
    TASKS.register(name)(Task(name, dataset, dataset, description, family=family, size=64,
                              source_domain=source_domain, target_domain=target_domain, **fields))


_translation = dict(family="translation", protocols=("image-quality",), requires=frozenset({"translate"}))
_two_domain("edges-shoes", "edges2shoes", "photo", "edges",
            "Edges -> Shoes (edges2shoes, Canny edges; 64x64; translation, paired test: SSIM/MSE/PSNR)", **_translation)
_two_domain("hed-shoes", "edges2shoes", "photo", "hed",
            "HED edges -> Shoes (edges2shoes, pix2pix's edges as given; 64x64; translation)", **_translation)
_two_domain("sketch-face", "celeba_sketch", "face", "sketch",
            "Sketch -> Face (CelebA, derived pencil sketches; 64x64; translation, CDLM Table 2)", **_translation)
_two_domain("linemod", "linemod", "synthetic", "real",
            "LineMod synthetic -> real (11 objects, 64x64 RGB; bring your own data)", family="linemod")
