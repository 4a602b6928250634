"""Declared ranges and meanings of hyper-parameters.

A method's parameters are a dataclass; each field that has limits is declared
with :func:`bounded`, which keeps the allowed range in the field's metadata::

    k: int = bounded(50, low=1)
    alpha: float = bounded(0.5, low=0.0, high=1.0)
    output: str = bounded("softplus", choices=("softplus", "identity"))

:func:`check_ranges` (called when a method is built) refuses values outside
their range with a ``ValueError`` naming the parameter and the range, and
:func:`describe_params` lists each parameter with its default, range and the
one-line meaning from the dataclass's numpy docstring ("Attributes" section).
Limits that depend on the data (``k`` against the number of reference cells)
are the method's to check in ``fit``. A subclass that redeclares a field only
to change its default keeps the base's range.

This module imports nothing from tessella, so every model can use it.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any

#: Key of the :class:`Range` in a field's metadata.
RANGE_KEY = "tessella_range"


@dataclass(frozen=True)
class Range:
    """Allowed values of one parameter: ``low``/``high`` inclusive, or ``choices``."""

    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None

    def admits(self, value: Any) -> bool:
        """Whether ``value`` lies in the range (``None`` is the type check's business)."""
        if value is None:
            return True
        if self.choices is not None:
            return value in self.choices
        return ((self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))

    def describe(self) -> str:
        """The range in words: ">= 1", "between 0 and 1", "one of 'a', 'b'"."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            return f"between {_number(self.low)} and {_number(self.high)}"
        if self.low is not None:
            return f">= {_number(self.low)}"
        if self.high is not None:
            return f"<= {_number(self.high)}"
        return "any"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def bounded(default: Any, *, low: float | None = None, high: float | None = None,
            choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field with a default and an allowed range.

    Parameters
    ----------
    default
        The default value (``None`` allowed where the type is optional).
    low, high
        Inclusive bounds for numbers.
    choices
        The allowed strings.
    """
    if choices is not None and (low is not None or high is not None):
        raise TypeError("give either choices or low/high, not both.")
    limits = Range(low, high, None if choices is None else tuple(choices))
    if not limits.admits(default):
        raise ValueError(f"default {default!r} is outside its own range ({limits.describe()}).")
    return field(default=default, metadata={RANGE_KEY: limits})


def declared_ranges(cls: type) -> dict[str, Range]:
    """The range of each bounded field of a params dataclass. A subclass that only
    changes a default (``max_epochs: int = 30``) keeps its base's range."""
    ranges: dict[str, Range] = {}
    for klass in reversed(inspect.getmro(cls)):
        if is_dataclass(klass):
            ranges.update({item.name: item.metadata[RANGE_KEY] for item in fields(klass)
                           if RANGE_KEY in item.metadata})
    return ranges


def check_ranges(params: Any) -> None:
    """Refuse a parameter outside its declared range.

    Raises
    ------
    ValueError
        "parameter 'k' must be >= 1, got 0".
    """
    ranges = declared_ranges(type(params))
    for item in fields(params):
        limits = ranges.get(item.name)
        value = getattr(params, item.name)
        if limits is not None and not limits.admits(value):
            raise ValueError(
                f"parameter {item.name!r} must be {limits.describe()}, got {value!r}."
            )


def attribute_meanings(cls: type) -> dict[str, str]:
    """One line per attribute from the numpy "Attributes" sections of ``cls`` and its
    bases (the subclass wins); a line naming several attributes (``lr, weight_decay``)
    gives each of them the same meaning."""
    meanings: dict[str, str] = {}
    for klass in reversed(inspect.getmro(cls)):
        meanings.update(_parse_attributes(inspect.getdoc(klass) if klass.__doc__ else ""))
    return meanings


def _parse_attributes(doc: str) -> dict[str, str]:
    lines = (doc or "").splitlines()
    try:
        start = next(i for i, line in enumerate(lines[:-1])
                     if line.strip() == "Attributes" and set(lines[i + 1].strip()) == {"-"})
    except StopIteration:
        return {}
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[start + 2:]:
        if not line.strip():
            continue
        if not line.startswith(" "):
            if set(line.strip()) == {"-"}:
                break
            names = [n.strip() for n in line.split(":")[0].split(",")]
            if not all(re.fullmatch(r"\w+", n) for n in names):
                break
            current = []
            for name in names:
                found[name] = current
        elif current is not None:
            current.append(line.strip())
    return {name: _first_sentence(" ".join(text)) for name, text in found.items()}


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=\.)\s+(?=[A-Z(])", text.replace("``", ""), maxsplit=1)[0]


def describe_params(params_class: type) -> list[dict[str, Any]]:
    """Each parameter of a params dataclass: name, type, default, range, meaning."""
    if not is_dataclass(params_class):
        raise TypeError(f"{params_class!r} is not a dataclass.")
    meanings = attribute_meanings(params_class)
    ranges = declared_ranges(params_class)
    rows = []
    for item in fields(params_class):
        default = item.default if item.default is not MISSING else None
        kind = item.type if isinstance(item.type, str) else getattr(item.type, "__name__",
                                                                     str(item.type))
        limits = ranges.get(item.name)
        allowed = limits.describe() if limits is not None else "any"
        if "None" in kind and allowed != "any":
            allowed = f"None or {allowed}"
        rows.append({"parameter": item.name, "type": kind, "default": default,
                     "range": allowed, "meaning": meanings.get(item.name, "")})
    return rows
