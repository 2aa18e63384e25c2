import pytest

from dabench.errors import UsageError
from dabench.hparams import HP, resolve_hparams
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
