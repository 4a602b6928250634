"""Hyper-parameters: the options every method takes, the training options of the
torch methods, and their declared ranges and meanings.

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

This module imports nothing from tessella, so models, training and the API can
all use it.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, get_args

from tessella.errors import InputError

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
    InputError
        "parameter 'k' must be >= 1, got 0".
    """
    ranges = declared_ranges(type(params))
    for item in fields(params):
        limits = ranges.get(item.name)
        value = getattr(params, item.name)
        if limits is not None and not limits.admits(value):
            raise InputError(
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


def coerce_param(name: str, value: Any, kind: Any) -> Any:
    """Check a hyper-parameter against its declared type (int, float, bool or str);
    whole floats become ints, ints become floats and numbers become strings where a
    string is declared (``precision=32`` from the command line); anything else is an
    error. ``None`` is accepted where the type allows it (``int | None``)."""
    options = [k for k in get_args(kind) if k is not type(None)]
    if len(options) == 1 and type(None) in get_args(kind):
        return None if value is None else coerce_param(name, value, options[0])
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if kind in (int, float, bool, str) and not (
        isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    ):
        raise InputError(
            f"parameter {name!r} must be {kind.__name__}, not {type(value).__name__} "
            f"({value!r})."
        )
    return value


@dataclass
class ImputerParams:
    """Options every method takes.

    Attributes
    ----------
    seed
        Seed for every random choice; the same seed gives the same result.
    device
        "auto" (CUDA when available, else CPU), "cpu" or "cuda".
    verbose
        Show progress bars and log progress.
    """

    seed: int = bounded(0, low=0)
    device: str = "auto"
    verbose: bool = True


#: Backends of the neighbour search (:mod:`tessella.neighbors`).
NEIGHBOR_BACKENDS = ("auto", "exact", "faiss", "hnsw")


@dataclass
class NeighborParams:
    """The option of methods that search nearest cells (knn, spage, auto, graph);
    listed before a method's own hyper-parameters (a base class:
    ``class KnnParams(NeighborParams, ImputerParams)``).

    Attributes
    ----------
    neighbors
        Nearest-cell search: "exact" (numpy), "faiss" (exact, faiss flat index),
        "hnsw" (approximate, faiss HNSW index) or "auto" (exact below 10k cells
        searched, faiss below 50k, hnsw from 50k; on a CUDA device, exact in torch).
    """

    neighbors: str = bounded("auto", choices=NEIGHBOR_BACKENDS)


#: Training precisions: float32, or bfloat16 autocast (CUDA only).
PRECISIONS = ("32", "bf16")
#: Smallest learning rate accepted (the range is inclusive; a rate must be positive).
MIN_LR = 1e-8


@dataclass
class TrainParams(ImputerParams):
    """Training options shared by all torch methods (the Lightning ``Trainer``'s).

    Attributes
    ----------
    max_epochs
        Upper bound on passes over the training cells.
    batch_size
        Cells per optimisation step (and per inference block).
    lr
        Adam learning rate (> 0).
    weight_decay
        Adam L2 weight decay.
    val_fraction
        Share of cells held out to decide early stopping.
    patience
        Epochs without validation improvement before stopping.
    precision
        "32" (float32) or "bf16" (bfloat16 autocast, CUDA only).
    devices
        Devices (GPUs, or CPU processes) to train on; more than 1 needs ``strategy="ddp"``.
    num_nodes
        Machines to train on (with ``strategy="ddp"``, launched by torchrun or SLURM).
    strategy
        Lightning strategy: "auto", or "ddp" for data-parallel training on several
        devices or nodes.
    checkpoint_dir
        Folder where training writes ``last.ckpt`` after every epoch; None: none written.
    resume
        A checkpoint (``last.ckpt``) to resume training from; None: start afresh.
    """

    max_epochs: int = bounded(300, low=1)
    batch_size: int = bounded(1024, low=1)
    lr: float = bounded(1e-3, low=MIN_LR)
    weight_decay: float = bounded(0.0, low=0.0)
    val_fraction: float = bounded(0.1, low=0.0, high=0.9)
    patience: int = bounded(20, low=1)
    precision: str = bounded("32", choices=PRECISIONS)
    devices: int = bounded(1, low=1)
    num_nodes: int = bounded(1, low=1)
    strategy: str = bounded("auto", choices=("auto", "ddp"))
    checkpoint_dir: str | None = None
    resume: str | None = None
