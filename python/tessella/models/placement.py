"""Where a fitted model's genes sit among a task's output genes, and how its
predictions become the cells x output genes matrix ``predict`` returns (see
the output contract in :mod:`tessella.models.interface`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tessella.data.genes import describe_missing, match_genes
from tessella.data.matrix import DEFAULT_CHUNK
from tessella.data.task import ImputationTask
from tessella.errors import InputError
from tessella.output import allocate, release


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
    lacking = (shared < 0) | (shared >= task.n_measured)
    if lacking.any():
        names = [gene for gene, lacks in zip(shared_genes, lacking) if lacks]
        raise InputError(f"the data lacks {len(names)} measured gene(s) the {method} model "
                         f"was fit on: {describe_missing(names)}.")
    return FittedGenes(shared, match_genes(output_genes, task.output_genes))


def place_predictions(task: ImputationTask, genes: FittedGenes, predicted: np.ndarray,
                      method: str, take: np.ndarray | None = None) -> np.ndarray:
    """Cells x output genes from predictions of the wanted fitted genes; measured genes
    the model does not predict keep their normalised input. The matrix is
    memory-mapped when it exceeds the memory budget (:func:`tessella.output.allocate`).

    ``take``: the columns of ``predicted`` that hold the wanted genes (default: all
    of them). When they are every output gene in order, ``predicted`` (float32) is
    the result, not copied. Otherwise they are copied a block of cells at a time,
    and a memory-mapped ``predicted`` leaves resident memory as it is read, so a
    large one is never held whole."""
    columns = genes.columns[genes.wanted]
    n_output = len(task.output_genes)
    every = take is None or np.array_equal(take, np.arange(predicted.shape[1]))
    if every and np.array_equal(columns, np.arange(n_output)) and predicted.dtype == np.float32:
        return predicted
    values = allocate((task.spatial.n_obs, n_output), np.float32, fill=np.nan)
    for start in range(0, len(values), DEFAULT_CHUNK):
        block = predicted[start:start + DEFAULT_CHUNK]
        values[start:start + DEFAULT_CHUNK, columns] = block if take is None else block[:, take]
        release(predicted)
    missing = np.setdiff1d(np.arange(n_output), columns)
    if np.any(missing >= task.n_measured):
        raise InputError(f"the {method} model was fit on other genes than those asked for.")
    keep_measured(values, task, missing)
    return values
