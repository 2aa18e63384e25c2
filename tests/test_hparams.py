import re

import pytest

from dabench.errors import UsageError
from dabench.hparams import AT_LEAST_ONE, HP, NONNEGATIVE, POSITIVE, UNIT, UNIT_OPEN_HIGH, Range, resolve_hparams
from dabench.registry import METHODS


@pytest.mark.parametrize("name", METHODS.names())
def test_defaults_resolve_and_every_method_has_a_batch_size(name):
    cls = METHODS.get(name)
    hp = resolve_hparams(cls, "digits")
    assert set(hp) == set(cls.HPARAMS)
    assert hp["batch_size"] > 0


def test_overrides_are_parsed_to_the_declared_type():
    hp = resolve_hparams(METHODS.get("dann"), "digits", {"lr": "0.05", "batch_size": "32", "gamma": 5})
    assert hp["lr"] == 0.05 and isinstance(hp["lr"], float)
    assert hp["batch_size"] == 32 and isinstance(hp["batch_size"], int)
    assert hp["gamma"] == 5.0


def test_unknown_hparam_lists_the_closest_and_the_valid_ones():
    with pytest.raises(UsageError, match=r"unknown hyper-parameter 'lrr'.*did you mean 'lr'.*valid: .*momentum"):
        resolve_hparams(METHODS.get("dann"), "digits", {"lrr": "0.1"})


@pytest.mark.parametrize("value", ["abc", "1.5"])
def test_malformed_values_are_rejected(value):
    with pytest.raises(UsageError, match="expects a int"):
        resolve_hparams(METHODS.get("dann"), "digits", {"batch_size": value})


def test_bool_and_choices():
    assert HP(False).parse("x", "true") is True
    with pytest.raises(UsageError, match="one of a, b"):
        HP("a", choices=("a", "b")).parse("x", "c")


@pytest.mark.parametrize("name", METHODS.names())
def test_random_draws_are_deterministic_and_independent_of_other_hparams(name):
    cls = METHODS.get(name)
    first = resolve_hparams(cls, "digits", hparams_seed=3)
    assert first == resolve_hparams(cls, "digits", hparams_seed=3)
    for key, hp in cls.HPARAMS.items():
        assert isinstance(first[key], type(hp.default)) or hp.sampler is not None


# ------------------------------------------------------------------------------------------ valid ranges


def test_ranges_say_what_they_contain():
    assert 0.1 in POSITIVE and 0.0 not in POSITIVE and -1.0 not in POSITIVE
    assert 0.0 in NONNEGATIVE and -1e-9 not in NONNEGATIVE
    assert 1 in AT_LEAST_ONE and 0 not in AT_LEAST_ONE
    assert 0.0 in UNIT and 1.0 in UNIT and 1.01 not in UNIT
    assert 0.0 in UNIT_OPEN_HIGH and 1.0 not in UNIT_OPEN_HIGH
    assert [r.text for r in (POSITIVE, AT_LEAST_ONE, UNIT, UNIT_OPEN_HIGH, Range(high=3))] == \
        ["> 0", ">= 1", "in [0, 1]", "in [0, 1)", "<= 3"]


@pytest.mark.parametrize("name, value, message", [
    ("lr", "nan", "must be a finite number"), ("lr", "-1", "must be > 0"), ("lr", "inf", "finite"),
    ("batch_size", "0", "must be >= 1"), ("momentum", "1.5", "must be in [0, 1]"),
])
def test_every_declared_method_rejects_out_of_range_values_in_one_line(name, value, message):
    for method_name, cls in METHODS.items():
        if name not in cls.HPARAMS:
            continue
        with pytest.raises(UsageError, match=re.escape(message)) as err:
            resolve_hparams(cls, "digits", {name: value})
        assert "\n" not in str(err.value) and f"--set {name}=" in str(err.value)


def test_a_method_that_declares_no_range_still_gets_the_loops_conventions():
    class Bare:
        HPARAMS = {"lr": HP(0.1), "batch_size": HP(8), "weight": HP(-2.0)}

    with pytest.raises(UsageError, match="'lr' must be > 0"):
        resolve_hparams(Bare, "digits", {"lr": "-1"})
    with pytest.raises(UsageError, match="'batch_size' must be >= 1"):
        resolve_hparams(Bare, "digits", {"batch_size": "0"})
    assert resolve_hparams(Bare, "digits", {"weight": "-3"})["weight"] == -3.0  # no range declared, none imposed
