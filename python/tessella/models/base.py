"""The ``Imputer`` interface every method implements, and the registry of methods.

A method is an estimator: construct it with hyper-parameters (a dataclass, so
a saved model can be rebuilt exactly), ``fit`` it on an
:class:`~tessella.data.ImputationTask`, then ``predict`` values for the task's
output genes (measured genes first, then targets). Methods register by name,
so the API, the CLI and the R package list them from one place.
"""

from __future__ import annotations

import importlib.util
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, get_args, get_type_hints

import numpy as np
import torch

from tessella.data.genes import match_genes
from tessella.data.task import ImputationTask
from tessella.device import resolve_device
from tessella.models.params import bounded, check_ranges

logger = logging.getLogger(__name__)


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


@dataclass
class Prediction:
    """What ``predict`` returns.

    Attributes
    ----------
    values
        Cells x output genes, float32, on the normalised (log1p) scale.
    latent
        Cells x latent dimensions, for methods with a latent space.
    reliability
        Per output gene, the expected accuracy of its prediction (NaN where unknown).
    """

    values: np.ndarray
    latent: np.ndarray | None = None
    reliability: np.ndarray | None = None


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
        raise ValueError(
            f"parameter {name!r} must be {kind.__name__}, not {type(value).__name__} "
            f"({value!r})."
        )
    return value


class Imputer(ABC):
    """Base class of all methods. Subclasses set the class attributes and
    implement ``fit``, ``predict`` and, to be saved, ``state``/``load_state``.

    A method that wraps an optional package names it in ``requires_package`` (the
    importable module) and says how to get it in ``install_hint``; it stays
    registered, and is listed as unavailable, when the package is absent.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    params_class: ClassVar[type[ImputerParams]] = ImputerParams
    requires_reference: ClassVar[bool] = False
    requires_embeddings: ClassVar[bool] = False
    requires_package: ClassVar[str | None] = None
    install_hint: ClassVar[str] = ""

    @classmethod
    def available(cls) -> bool:
        """Whether the optional package the method needs is installed (True if none)."""
        return cls.requires_package is None or (
            importlib.util.find_spec(cls.requires_package) is not None)

    @classmethod
    def check_available(cls) -> None:
        """Raise ``ValueError`` with the install command when the method's package is absent."""
        if not cls.available():
            raise ValueError(
                f"method {cls.name!r} needs the optional package {cls.requires_package!r}, "
                f"which is not installed; install it with: {cls.install_hint}"
            )

    def __init__(self, params: ImputerParams | None = None, **overrides: Any) -> None:
        self.check_available()
        if params is None:
            params = self.params_class()
        known = {f.name for f in fields(self.params_class)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(
                f"method {self.name!r} has no parameter(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(sorted(known))}."
            )
        values = {**asdict(params), **overrides}
        hints = get_type_hints(type(params))
        self.params = type(params)(**{k: coerce_param(k, v, hints[k]) for k, v in values.items()})
        check_ranges(self.params)
        resolve_device(self.params.device)
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        """Log a warning the user should see (a parameter capped to fit the data);
        results keep it in their provenance (``notes``)."""
        logger.warning("%s: %s", self.name, text)
        self.notes.append(text)

    def capped(self, name: str, limit: int, what: str) -> int:
        """Parameter ``name`` capped at a limit set by the data (``k`` at the number of
        reference cells). Its default is capped silently; a value the user chose is
        capped with a note saying so."""
        value = getattr(self.params, name)
        if value <= limit:
            return value
        if value != getattr(self.params_class(), name):
            self.note(f"parameter {name!r} = {value} is more than {what} ({limit}); "
                      f"using {limit}.")
        return limit

    @abstractmethod
    def fit(self, task: ImputationTask) -> Imputer:
        """Learn from the task's data; returns self."""

    @abstractmethod
    def predict(self, task: ImputationTask) -> Prediction:
        """Values for ``task.output_genes`` in every cell of ``task.spatial``."""

    def state(self) -> dict[str, Any]:
        """Tensors, arrays and plain values that rebuild the fitted model."""
        raise NotImplementedError(f"method {self.name!r} cannot be saved")

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned."""
        raise NotImplementedError(f"method {self.name!r} cannot be loaded")

    def save(self, path: str | Path) -> None:
        """Write the fitted model (method name, hyper-parameters, state) to ``path``."""
        torch.save({"method": self.name, "params": asdict(self.params), "state": self.state()},
                   Path(path))

    @staticmethod
    def load(path: str | Path) -> Imputer:
        """Rebuild a model written by :meth:`save` (loaded with ``weights_only=True``)."""
        content = torch.load(Path(path), map_location="cpu", weights_only=True)
        method = get_method(content["method"])
        model = method(method.params_class(**content["params"]))
        model.load_state(content["state"])
        return model


@contextmanager
def notes_unlogged() -> Iterator[None]:
    """Within the block, methods' notes go to the results' provenance only, not to
    the log (the R package shows them from the provenance itself)."""
    previous, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = previous


def keep_measured(values: np.ndarray, task: ImputationTask, positions: np.ndarray) -> None:
    """Put the normalised input back for measured genes a method cannot predict."""
    if len(positions):
        values[:, positions] = task.measured(positions).to_array()


@dataclass(frozen=True)
class FittedGenes:
    """Where a fitted model's genes sit among a task's output genes.

    Attributes
    ----------
    shared
        Output position of each gene the model reads (all measured in the task).
    columns
        Output position of each gene the model predicts, -1 where the task does
        not ask for it.
    """

    shared: np.ndarray
    columns: np.ndarray

    @property
    def wanted(self) -> np.ndarray:
        """Mask of the model's predicted genes that the task asks for."""
        return self.columns >= 0


def locate_fitted(task: ImputationTask, shared_genes: list[str], output_genes: list[str],
                  method: str) -> FittedGenes:
    """Match a fitted model's genes to the task (case-insensitive, Ensembl versions
    ignored); the genes it reads must be measured."""
    shared = match_genes(shared_genes, task.output_genes)
    if np.any(shared < 0) or np.any(shared >= task.n_measured):
        raise ValueError(f"the data lacks measured genes the {method} model was fit on.")
    return FittedGenes(shared, match_genes(output_genes, task.output_genes))


def place_predictions(task: ImputationTask, genes: FittedGenes, predicted: np.ndarray,
                      method: str) -> np.ndarray:
    """Cells x output genes from predictions of the wanted fitted genes; measured genes
    the model does not predict keep their normalised input."""
    values = np.full((task.spatial.n_obs, len(task.output_genes)), np.nan, dtype=np.float32)
    values[:, genes.columns[genes.wanted]] = predicted
    missing = np.setdiff1d(np.arange(len(task.output_genes)), genes.columns[genes.wanted])
    if np.any(missing >= task.n_measured):
        raise ValueError(f"the {method} model was fit on other genes than those asked for.")
    keep_measured(values, task, missing)
    return values


def fitted_to_state(fitted: dict[str, Any]) -> dict[str, Any]:
    """A fitted model's arrays as tensors and its plain values, ready for ``torch.save``."""
    arrays = {key: torch.as_tensor(value) for key, value in fitted.items()
              if isinstance(value, np.ndarray)}
    return {"arrays": arrays, "plain": {k: v for k, v in fitted.items() if k not in arrays}}


def fitted_from_state(state: dict[str, Any]) -> dict[str, Any]:
    """Undo :func:`fitted_to_state`."""
    return {**state["plain"], **{key: value.numpy() for key, value in state["arrays"].items()}}



class FittedImputer(Imputer):
    """A method whose fitted model is the dict ``fitted`` of arrays and plain values,
    saved with :func:`fitted_to_state` (knn, spage, ridge, auto)."""

    def __init__(self, params: ImputerParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.fitted: dict[str, Any] = {}

    def require_fitted(self) -> dict[str, Any]:
        """The fitted model; a ``RuntimeError`` before ``fit``."""
        if not self.fitted:
            raise RuntimeError("call fit() before predict().")
        return self.fitted

    def state(self) -> dict[str, Any]:
        return fitted_to_state(self.fitted)

    def load_state(self, state: dict[str, Any]) -> None:
        self.fitted = fitted_from_state(state)

_REGISTRY: dict[str, type[Imputer]] = {}


def register(cls: type[Imputer]) -> type[Imputer]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> type[Imputer]:
    """The method class registered as ``name``."""
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown method {name!r}; available methods: {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[name]


def registered_methods() -> dict[str, type[Imputer]]:
    """All registered methods by name."""
    return dict(_REGISTRY)
