"""Model-selection rules: which evaluation line of a run is reported."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from dabench.errors import UsageError
from dabench.leaderboard.results import Run


@dataclass(frozen=True)
class Selection:
    """A model-selection rule: which evaluation line of a run's metrics is reported."""

    name: str
    title: str
    text: str
    key: Callable[[dict], tuple]


SELECTIONS: dict[str, Selection] = {
    "last": Selection("last", "last step",
                      "the model at the last training step (no model selection; the paper reports the last iterate)",
                      lambda m: (m["step"],)),
    "source-val-best": Selection(
        "source-val-best", "source-val best",
        "the evaluated step with the best accuracy on the labelled source validation split (ties: the later step)",
        lambda m: (m["src_val/acc"], m["step"])),
    "target-best": Selection(
        "target-best", "target-test best (oracle: uses target labels)",
        "ORACLE: the evaluated step with the best target *test* accuracy — it uses target test labels, so it is "
        "an optimistic upper bound, not a valid model selection (UNIT's paper protocol, methods.md §2.6)",
        lambda m: (m["tgt_test/acc"], m["step"])),
}
DEFAULT_SELECTIONS = ("last", "source-val-best")


def check_rules(rules: tuple[str, ...]) -> None:
    """Refuse an unknown rule or none at all."""
    for rule in rules:
        if rule not in SELECTIONS:
            raise UsageError(f"unknown selection rule '{rule}'; valid: {', '.join(SELECTIONS)}")
    if not rules:
        raise UsageError("give at least one selection rule")


def select(run: Run, rule: str) -> dict:
    """The evaluation line of ``run`` that selection ``rule`` reports."""
    selection = SELECTIONS[rule]
    usable = [m for m in run.metrics if all(k in m for k in ("src_val/acc", "tgt_test/acc"))] \
        if rule != "last" else run.metrics
    if not usable:
        raise UsageError(f"{run.path}: no evaluation line has the accuracies selection '{rule}' needs")
    return max(usable, key=selection.key)
