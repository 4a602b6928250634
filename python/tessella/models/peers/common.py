"""What the peer wrappers share: importing an optional package without its side
effects, quiet and seeded runs, the device, and the genes a peer works on.

Peers are transductive: they learn from the very spatial cells they impute, so
a wrapper's ``fit`` runs the peer on the task's cells and ``predict`` returns
those values (or runs the peer again for another task). Held-out genes never
reach a peer: the task's spatial view holds measured genes only.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import random
import warnings
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import torch

from tessella.data.task import ImputationTask
from tessella.models.interface import Imputer, Prediction
from tessella.models.placement import FittedGenes, place_predictions
from tessella.params import ImputerParams

#: How to install every peer (the ``peers`` extra of tessella).
PEERS_INSTALL = "pip install 'tessella[peers]'"

#: Loggers the peers write to; silenced when ``verbose=False``.
PEER_LOGGERS = ("", "scvi", "lightning", "lightning.pytorch", "lightning.fabric",
                "pytorch_lightning", "anndata", "scanpy")


def import_peer(module: str, package: str) -> ModuleType:
    """Import a peer's module, undoing what it changes at import time (tangram
    sets the root logger to INFO, silences anndata's logger and ignores every
    warning); a package that is installed but fails to import is a user error.
    """
    root = logging.getLogger()
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).disabled)
             for name in ("", "anndata")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(module)
    except ImportError:
        raise
    except Exception as err:  # a broken install, e.g. torchvision built for another torch
        raise ValueError(
            f"{package} is installed but could not be imported ({type(err).__name__}: {err}). "
            "A torchvision built for another torch breaks it: remove it "
            f"(pip uninstall torchvision) or reinstall the peers with {PEERS_INSTALL}."
        ) from err
    finally:
        for name, (level, disabled) in saved.items():
            logger = root if name == "" else logging.getLogger(name)
            logger.setLevel(level)
            logger.disabled = disabled


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed Python's, numpy's and torch's global generators for a peer that draws
    from them (tangram starts its map from ``np.random``), and put them back as
    they were afterwards."""
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        random.seed(seed)
        np.random.seed(seed)  # noqa: NPY002
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)  # noqa: NPY002


@contextlib.contextmanager
def quiet(verbose: bool) -> Iterator[None]:
    """Without ``verbose``: swallow a peer's prints, its logging below ERROR and
    its warnings; loggers are put back afterwards."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in PEER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@dataclass(frozen=True)
class PeerGenes:
    """The genes a peer works on, as positions among the task's output genes.

    Attributes
    ----------
    shared
        Measured genes the reference also has: what the peer aligns on.
    targets
        Genes to impute that the reference has: what the peer predicts. Measured
        genes are never predicted; they keep their normalised input.
    """

    shared: np.ndarray
    targets: np.ndarray

    @property
    def fitted(self) -> FittedGenes:
        """Where the peer's predictions go among the output genes."""
        return FittedGenes(self.shared, self.targets)


def peer_genes(task: ImputationTask, method: str) -> PeerGenes:
    """Shared and target genes of ``task``; a peer needs at least two shared genes."""
    shared = task.shared_in_reference
    if len(shared) < 2:
        raise ValueError(
            f"{method} needs at least 2 measured genes that the reference also has, "
            f"found {len(shared)}."
        )
    targets = task.in_reference
    return PeerGenes(shared, targets[targets >= task.n_measured])


def gene_ids(prefix: str, n: int) -> list[str]:
    """Plain, unique, lower-case gene names handed to a peer (``t0``, ``t1``, ...):
    the peers lower-case and de-duplicate names, tessella matches them itself."""
    return [f"{prefix}{i}" for i in range(n)]



@contextlib.contextmanager
def patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    """Set ``owner.name`` to ``value`` for the duration, then put the original back
    (or remove the attribute when ``owner`` did not define it itself)."""
    missing = object()
    original = vars(owner).get(name, missing) if hasattr(owner, "__dict__") else missing
    setattr(owner, name, value)
    try:
        yield
    finally:
        if original is missing:
            delattr(owner, name)
        else:
            setattr(owner, name, original)


class PeerImputer(Imputer):
    """Base of the peer wrappers. ``fit`` imports the peer's package (only then) and
    runs the peer on the task; ``predict`` returns those values for the same task,
    or runs the peer again on another task's cells (peers are transductive).
    Measured genes keep their normalised input; targets get the peer's values."""

    requires_reference = True
    install_hint = PEERS_INSTALL
    package: ClassVar[str]

    def __init__(self, params: ImputerParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self._fitted: tuple[ImputationTask, np.ndarray] | None = None

    @classmethod
    def import_module(cls) -> ModuleType:
        """The peer's module, imported lazily."""
        return import_peer(cls.requires_package, cls.package)

    def fit(self, task: ImputationTask) -> PeerImputer:
        self._fitted = (task, self._impute(task))
        return self

    def predict(self, task: ImputationTask) -> Prediction:
        if self._fitted is None:
            raise RuntimeError("call fit() before predict().")
        fitted_task, predicted = self._fitted
        if task is not fitted_task:
            predicted = self._impute(task)
        genes = peer_genes(task, self.name)
        return Prediction(values=place_predictions(task, genes.fitted, predicted, self.name))

    def _impute(self, task: ImputationTask) -> np.ndarray:
        module = self.import_module()
        genes = peer_genes(task, self.name)
        if len(genes.targets) == 0:
            return np.zeros((task.spatial.n_obs, 0), dtype=np.float32)
        with seeded(self.params.seed), quiet(self.params.verbose):
            predicted = self.run(module, task, genes)
        return np.asarray(predicted, dtype=np.float32)

    @abstractmethod
    def run(self, module: ModuleType, task: ImputationTask, genes: PeerGenes) -> np.ndarray:
        """Cells x ``genes.targets`` on the normalised (log1p) scale."""
