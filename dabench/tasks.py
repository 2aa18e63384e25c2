"""Tasks: a (source, target) pair of datasets with the pinned protocol, and the four splits a run uses.

Splits (reference/methods.md §7, DomainBed practice):

* **source train**: the source train split minus a held-out 10 % (labels used for training);
* **source val**: that held-out 10 %, for model selection (fixed by the dataset name, not the run seed);
* **target train**: the target train split, *unlabelled* as far as any method's update is concerned;
* **target test**: the target test split, for reporting only — never for training or model selection.

Digit protocol: 28×28; USPS 16→28 bilinear; MNIST-M centre crop 32→28; grey replicated to 3 channels when
the other domain is RGB; full standard splits; values in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dabench.data import DataSource, DomainData
from dabench.errors import DataError
from dabench.method import TaskSpec
from dabench.registry import DATASETS, TASKS
from dabench.seeding import seed_hash
import dabench.datasets  # noqa: F401  (registers every dataset)

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

    def datasets(self):
        return DATASETS.get(self.source)(), DATASETS.get(self.target)()

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
