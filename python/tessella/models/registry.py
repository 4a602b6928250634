"""Methods by name, so the API, the CLI and the R package list them from one place."""

from __future__ import annotations

from tessella.errors import InputError
from tessella.models.interface import Imputer

_REGISTRY: dict[str, type[Imputer]] = {}


def register(cls: type[Imputer]) -> type[Imputer]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> type[Imputer]:
    """The method class registered as ``name``."""
    if name not in _REGISTRY:
        raise InputError(
            f"unknown method {name!r}; available methods: {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[name]


def registered_methods() -> dict[str, type[Imputer]]:
    """All registered methods by name."""
    return dict(_REGISTRY)
