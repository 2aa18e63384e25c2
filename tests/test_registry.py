import importlib

import pytest

from dabench.registry import DATASETS, METHODS, TASKS, Registry, UnknownKeyError


def test_duplicate_key_is_an_error():
    reg = Registry("thing")
    reg.register("a")(object())
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(object())


def test_unknown_key_names_valid_choices_and_closest():
    with pytest.raises(UnknownKeyError) as err:
        METHODS.get("dan")
    message = str(err.value)
    assert "did you mean 'dann'" in message
    assert "source-only" in message and "\n" not in message


def test_entries_are_listed_by_name_whatever_the_registration_order():
    reg = Registry("thing")
    for key in ("b", "c", "a"):
        reg.register(key)(key.upper())
    assert reg.names() == list(reg) == ["a", "b", "c"]
    assert reg.items() == [("a", "A"), ("b", "B"), ("c", "C")]
    assert len(reg) == 3 and "a" in reg and "d" not in reg


@pytest.mark.parametrize("name", METHODS.names())
def test_each_method_module_registers_itself_under_its_name(name):
    cls = METHODS.get(name)
    module = importlib.import_module(cls.__module__)
    key = module.__name__.removeprefix("dabench.methods.").replace("_", "-")
    # a module registers its own name, plus flag-only variant subclasses as "<name>-<suffix>" (CDAN, CDAN+E)
    assert name == key or (name.startswith(key + "-") and issubclass(cls, METHODS.get(key)))
    owned = [k for k, v in METHODS.items() if v.__module__ == module.__name__]
    assert owned[0] == key and all(k.startswith(key + "-") for k in owned[1:])


@pytest.mark.parametrize("name", DATASETS.names())
def test_each_dataset_module_registers_itself_under_its_name(name):
    cls = DATASETS.get(name)
    assert cls.__module__ == "dabench.datasets." + name
    assert cls.info.name == name


@pytest.mark.parametrize("name", TASKS.names())
def test_tasks_point_at_registered_domain_datasets(name):
    task = TASKS.get(name)
    for ds in task.datasets():
        assert ds.kind == "domain"
    if task.source != task.target:  # two domains of one dataset (translation, LineMod) have their own names
        assert name == f"{task.source}-{task.target}"
    else:
        assert task.source_domain != task.target_domain
