"""Model-selection rules: which evaluation line of a run (or of several runs: a search) is reported.

Three rules are fixed here: ``last``, ``source-val-best`` and the oracle ``target-best``. Every validator of
:data:`dabench.registry.VALIDATORS` but ``source-val`` (which ``source-val-best`` already is) adds one label-free
rule of its name that picks the line with the best score logged under the validator's metric (``valid/<name>``).
A rule that reads a score picks only among the lines that carry that score and the target accuracy it reports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import dabench.protocols  # noqa: F401  (fills VALIDATORS)
from dabench.errors import UsageError
from dabench.leaderboard.results import Run
from dabench.registry import VALIDATORS

ORACLE = "target-best"
#: the order the label-free rules are shown in; a validator not named here follows them, by name
LABEL_FREE_ORDER = ("iwv", "dev", "entropy", "im", "snd")


@dataclass(frozen=True)
class Selection:
    """A model-selection rule: which evaluation line of a run's metrics is reported.

    ``metric`` is the evaluation-line key the rule scores by (None: ``last``, which reads every line's step)."""

    name: str
    title: str
    text: str
    key: Callable[[dict], tuple]
    metric: str | None = None


_FIXED = {
    "last": Selection("last", "last step",
                      "the model at the last training step (no model selection; the paper reports the last iterate)",
                      lambda m: (m["step"],)),
    "source-val-best": Selection(
        "source-val-best", "source-val best",
        "the evaluated step with the best accuracy on the labelled source validation split (ties: the later step)",
        lambda m: (m["src_val/acc"], m["step"]), "src_val/acc"),
    ORACLE: Selection(
        ORACLE, "target-test best (oracle: uses target labels)",
        "ORACLE: the evaluated step with the best target *test* accuracy — it uses target test labels, so it is "
        "an optimistic upper bound, not a valid model selection (UNIT's paper protocol, methods.md §2.6)",
        lambda m: (m["tgt_test/acc"], m["step"]), "tgt_test/acc"),
}


def _label_free(validator) -> Selection:
    """The rule of one registered validator: the best score under its metric, ties to the later step."""
    metric = validator.metric
    return Selection(validator.name, validator.title,
                     f"the evaluated step with the best {validator.title} score — {validator.text}; it reads no "
                     f"target label (ties: the later step)", lambda m: (m[metric], m["step"]), metric)


def _label_free_rules() -> list[Selection]:
    """One rule per registered validator but the one logged as source-val accuracy, in display order."""
    rules = [_label_free(v) for _, v in VALIDATORS.items() if v.metric != _FIXED["source-val-best"].metric]
    rank = {name: i for i, name in enumerate(LABEL_FREE_ORDER)}
    return sorted(rules, key=lambda s: (rank.get(s.name, len(rank)), s.name))


#: every rule, in the order the model-selection tables show them: no selection first, the oracle last
SELECTIONS: dict[str, Selection] = {s.name: s for s in (_FIXED["last"], _FIXED["source-val-best"],
                                                        *_label_free_rules(), _FIXED[ORACLE])}
SELECTION_ORDER = tuple(SELECTIONS)
#: the rules that score lines without target labels (source-val accuracy included): all but ``last`` and the oracle
VALIDATOR_RULES = tuple(r for r in SELECTION_ORDER if r not in ("last", ORACLE))
DEFAULT_SELECTIONS = ("last", "source-val-best")


def check_rules(rules: tuple[str, ...]) -> None:
    """Refuse an unknown rule or none at all."""
    for rule in rules:
        if rule not in SELECTIONS:
            raise UsageError(f"unknown selection rule '{rule}'; valid: {', '.join(SELECTIONS)}")
    if not rules:
        raise UsageError("give at least one selection rule")


def scored(lines: list[dict], rule: str) -> list[dict]:
    """The lines ``rule`` may pick: every line for ``last``; else those carrying the rule's score and the target
    accuracy it reports (runs recorded before a validator existed lack its score)."""
    metric = SELECTIONS[rule].metric
    if metric is None:
        return list(lines)
    return [m for m in lines if metric in m and "tgt_test/acc" in m]


def pick(lines: list[dict], rule: str) -> dict:
    """The line ``rule`` picks among ``lines`` (of one run, or of several: the draws of a search): the best
    score, ties to the later step, then to the earlier line in the given order.

    Raises:
        UsageError: no line carries what the rule needs.
    """
    usable = scored(lines, rule)
    if not usable:
        raise UsageError(f"no evaluation line has the scores selection '{rule}' needs")
    return max(usable, key=SELECTIONS[rule].key)  # max keeps the first of equal keys


def select(run: Run, rule: str) -> dict:
    """The evaluation line of ``run`` that selection ``rule`` reports."""
    try:
        return pick(run.metrics, rule)
    except UsageError as err:
        raise UsageError(f"{run.path}: {err}") from None
