"""Cells and genes without counts: left out of the model inputs, put back in results.

Real data sets have them: unfiltered Visium spots with no reads, reference
cells with nothing over a targeted panel, panel genes never detected. None of
them is an error. :func:`tessella.data.task.prepare_task` finds them in one
pass and leaves them out of what methods see; the result is assembled for
every cell and every measured gene (:func:`tessella.runner.full_prediction`).
What each gets, for every method alike:

- a spatial cell with no counts over the measured genes is kept, flagged in
  ``obs["tessella_empty"]``, and gets NaN for every gene (measured and
  imputed) and in the latent space: there is nothing to base a value on, and
  NaN says so rather than passing a guess off as a prediction;
- a measured gene never detected (zero in every cell) is left out of the
  model inputs and returned as measured: 0 (its value on the log scale) in
  every non-empty cell, reliability NaN;
- a reference cell with no counts over the shared genes is left out of
  fitting.

Each is reported once per call in the result's ``uns["tessella"]["notes"]``
and as a logging warning. The benchmark keeps spatial cells without counts
over a fold's measured genes (every cell is scored against its fold's truth).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tessella.data.genes import describe_missing
from tessella.data.matrix import raw_blocks

#: The obs (colData / meta.data in R) column that flags cells with no counts.
EMPTY_COLUMN = "tessella_empty"


def totals(matrix: Any, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell and per-gene sums of ``matrix`` over ``columns``, in one streamed pass."""
    columns = np.asarray(columns, dtype=np.int64)
    cells = np.empty(int(matrix.shape[0]), dtype=np.float64)
    genes = np.zeros(len(columns), dtype=np.float64)
    for start, stop, block in raw_blocks(matrix):
        block = block[:, columns]
        cells[start:stop] = np.asarray(block.sum(axis=1), dtype=np.float64).ravel()
        genes += np.asarray(block.sum(axis=0), dtype=np.float64).ravel()
    return cells, genes


@dataclass(frozen=True)
class Omitted:
    """What a task left out of the model inputs, and how to put results back.

    Attributes
    ----------
    n_cells
        Spatial cells in all.
    kept_cells
        Positions of the spatial cells the methods see (those with counts).
    measured_genes
        Every measured gene, in the data's order.
    detected
        Positions, among ``measured_genes``, of the genes the methods see.
    reference_cells, reference_left_out
        Reference cells in all, and how many had no counts over the shared
        genes and were left out of fitting.
    n_shared
        Number of measured genes the reference has (the genes reference cells
        are counted over).
    """

    n_cells: int
    kept_cells: np.ndarray
    measured_genes: list[str]
    detected: np.ndarray
    reference_cells: int = 0
    reference_left_out: int = 0
    n_shared: int = 0

    @property
    def empty_cells(self) -> np.ndarray:
        """Boolean mask over all spatial cells: True where a cell has no counts."""
        mask = np.ones(self.n_cells, dtype=bool)
        mask[self.kept_cells] = False
        return mask

    @property
    def undetected_genes(self) -> list[str]:
        """Measured genes never detected, in the data's order."""
        seen = np.zeros(len(self.measured_genes), dtype=bool)
        seen[self.detected] = True
        return [g for g, s in zip(self.measured_genes, seen) if not s]

    @property
    def anything(self) -> bool:
        """Whether anything was left out."""
        return (len(self.kept_cells) < self.n_cells
                or len(self.detected) < len(self.measured_genes)
                or self.reference_left_out > 0)

    def notes(self) -> list[str]:
        """One sentence per kind of thing left out, for users."""
        out = []
        n_empty = self.n_cells - len(self.kept_cells)
        if n_empty:
            out.append(
                f"spatial: {n_empty} of {self.n_cells} cell(s) have no counts over the "
                f"measured genes; they are kept, flagged in '{EMPTY_COLUMN}', and get NaN "
                "for every gene.")
        undetected = self.undetected_genes
        if undetected:
            out.append(
                f"spatial: {len(undetected)} measured gene(s) never detected "
                f"({describe_missing(undetected, 5)}) are left out of the model inputs "
                "and returned as measured (0).")
        if self.reference_left_out:
            out.append(
                f"reference: {self.reference_left_out} of {self.reference_cells} cell(s) "
                f"have no counts over the {self.n_shared} shared gene(s) and are left out "
                "of fitting.")
        return out


def fill_rows(values: np.ndarray | None, kept: np.ndarray, n_cells: int) -> np.ndarray | None:
    """Rows ``values`` of the kept cells spread over all cells, NaN elsewhere."""
    if values is None:
        return None
    values = np.asarray(values)
    if len(kept) == n_cells:
        return values
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float32
    out = np.full((n_cells, *values.shape[1:]), np.nan, dtype=dtype)
    out[kept] = values
    return out


def insert_measured(values: np.ndarray, omitted: Omitted, n_task_measured: int,
                    fill: float) -> np.ndarray:
    """Columns for every measured gene, in the data's order, then the rest.

    ``values`` holds the task's measured genes (the detected ones) in its first
    ``n_task_measured`` columns; undetected genes get ``fill``.
    """
    n_all = len(omitted.measured_genes)
    if n_task_measured == n_all:
        return values
    out = np.full((*values.shape[:-1], n_all + values.shape[-1] - n_task_measured), fill,
                  dtype=values.dtype)
    out[..., omitted.detected] = values[..., :n_task_measured]
    out[..., n_all:] = values[..., n_task_measured:]
    return out
