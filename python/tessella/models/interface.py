"""The ``Imputer`` interface every method implements.

A method is an estimator: construct it with hyper-parameters (a dataclass, so a
saved model can be rebuilt exactly), ``fit`` it on an
:class:`~tessella.data.ImputationTask`, then ``predict`` values for the task's
output genes.

What ``predict`` returns (read this before adding a method)
------------------------------------------------------------
``Prediction.values`` is cells x ``task.output_genes``: every measured gene
first, in the task's order, then every gene to impute. Two index spaces meet
here:

- *measured positions* ``0 .. task.n_measured - 1`` index ``task.measured_genes``
  and the columns of ``task.spatial`` (``task.measured(positions)`` reads them);
- *output positions* ``0 .. len(task.output_genes) - 1`` index the output
  columns; measured gene ``i`` is output column ``i``, gene to impute ``j`` is
  output column ``task.n_measured + j``. ``task.reference_index`` and
  ``task.in_reference`` speak of output positions.

A method that cannot predict a measured gene puts its normalised input back
(:func:`~tessella.models.placement.keep_measured`); one fitted on other data
matches its genes to the task's by name
(:func:`~tessella.models.placement.locate_fitted`). Values are on the
normalised (log1p) scale, float32, one row per cell of ``task.spatial``.
Register the class with :func:`~tessella.models.registry.register` and import
its module in ``tessella/models/__init__.py`` (a test checks that every
``Imputer`` under ``models/`` is registered).
"""

from __future__ import annotations

import importlib.util
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

import numpy as np

from tessella.data.task import ImputationTask
from tessella.device import resolve_device
from tessella.errors import InputError
from tessella.params import ImputerParams, check_ranges, coerce_param

logger = logging.getLogger(__name__)


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
    #: With ``requires_embeddings``: the method still runs without a table, denoising
    #: the measured genes and imputing none.
    denoises_without_embeddings: ClassVar[bool] = False
    requires_package: ClassVar[str | None] = None
    install_hint: ClassVar[str] = ""

    @classmethod
    def available(cls) -> bool:
        """Whether the optional package the method needs is installed (True if none)."""
        return cls.requires_package is None or (
            importlib.util.find_spec(cls.requires_package) is not None)

    @classmethod
    def check_available(cls) -> None:
        """Raise ``InputError`` with the install command when the method's package is absent."""
        if not cls.available():
            raise InputError(
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
            raise InputError(
                f"method {self.name!r} has no parameter(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(sorted(known))}."
            )
        values = {**asdict(params), **overrides}
        hints = get_type_hints(type(params))
        self.params = type(params)(**{k: coerce_param(k, v, hints[k]) for k, v in values.items()})
        check_ranges(self.params)
        resolve_device(self.params.device)
        self.notes: list[str] = []
        #: What the model was fitted on (genes, input scale, target sum); saved with it.
        self.preprocessing: dict[str, Any] = {}

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
        """Restore what :meth:`state` returned (on the device of ``params.device``)."""
        raise NotImplementedError(f"method {self.name!r} cannot be loaded")

    def save(self, path: str | Path) -> None:
        """Write the fitted model to ``path`` (see :mod:`tessella.models.storage`)."""
        from tessella.models.storage import save_model

        save_model(self, path)


@contextmanager
def notes_unlogged() -> Iterator[None]:
    """Within the block, methods' notes go to the results' provenance only, not to
    the log (the R package shows them from the provenance itself)."""
    previous, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = previous
