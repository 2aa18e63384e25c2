"""Registries: the single list of methods, datasets, tasks and protocols.

Every entry is added by a decorator next to its definition; the CLI choices, the tests and the sweeps read
the registries and nothing else keeps a list. A duplicate key is an error; an unknown key raises
:class:`UnknownKeyError`, whose message lists the valid keys and the closest one.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator


class UnknownKeyError(KeyError):
    """A registry lookup with a key that is not registered.

    ``str(err)`` is a one-line message with the valid choices and the closest match.
    """

    def __init__(self, kind: str, key: str, valid: list[str]):
        self.kind, self.key, self.valid = kind, key, valid
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.4)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.message = f"unknown {kind} '{key}'{hint}; valid: {', '.join(valid)}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class Registry:
    """A name → object mapping filled by ``@REGISTRY.register("name")``."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, key: str) -> Callable[[Any], Any]:
        """Decorator (or plain call on an object) adding ``obj`` under ``key``."""

        def add(obj: Any) -> Any:
            if key in self._entries:
                raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[key] = obj
            return obj

        return add

    def unregister(self, key: str) -> Any:
        """Remove ``key`` (an entry added for a test); returns its object."""
        try:
            return self._entries.pop(key)
        except KeyError:
            raise UnknownKeyError(self.kind, key, self.names()) from None

    def get(self, key: str) -> Any:
        try:
            return self._entries[key]
        except KeyError:
            raise UnknownKeyError(self.kind, key, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self._entries[k]) for k in self.names()]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


METHODS = Registry("method")
DATASETS = Registry("dataset")
TASKS = Registry("task")
PROTOCOLS = Registry("protocol")
VALIDATORS = Registry("validator")  # label-free model-selection scores (dabench.protocols.validators)


def describe(obj: Any) -> str:
    """First line of an entry's docstring (or its ``description`` attribute)."""
    text = getattr(obj, "description", None) or (obj.__doc__ or "")
    return text.strip().splitlines()[0] if text.strip() else ""
