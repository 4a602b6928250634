"""Library-size normalisation and log1p, applied lazily block by block.

A :class:`NormalizedView` stands for "these genes of this matrix, normalised":
it keeps a reference to the user's matrix (never a copy of it), the columns to
return, and the per-cell size factors. Blocks are normalised as they are read,
so predicting on a million cells never holds more than one block in memory.
A sparse matrix can also be read as sparse blocks (:meth:`NormalizedView.sparse_block`,
:meth:`NormalizedView.to_sparse`): log1p of a scaled count keeps a zero zero,
so a sparse reference stays sparse once normalised.

Size factors are computed over a chosen set of genes (the measured genes of
the task), so genes held out for evaluation never influence normalisation;
:meth:`NormalizedView.with_columns` applies the same size factors to other
genes of the same matrix, which is how held-out truth is put on the scale the
model saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from tessella.data.matrix import (
    DEFAULT_CHUNK,
    is_sparse,
    n_rows,
    raw_blocks,
    read_block,
    read_rows,
    read_sparse_block,
    read_sparse_rows,
    row_sums,
)


def cell_totals(matrix: Any, columns: np.ndarray) -> np.ndarray:
    """Per-cell total counts over ``columns``, streamed."""
    totals = np.empty(n_rows(matrix), dtype=np.float64)
    for start, stop, block in raw_blocks(matrix):
        totals[start:stop] = row_sums(block, columns)
    return totals


#: Standard deviations at or below this count as zero: a constant gene's computed spread
#: is rounding noise (about 1e-15 for a float64 column of one repeated value, e.g. 0.1).
CONSTANT_SPREAD = 1e-8


def usable_spread(std: np.ndarray) -> np.ndarray:
    """Per-gene standard deviations with 1 where a gene is constant (no division by 0)."""
    return np.where(std > CONSTANT_SPREAD, std, 1.0)


def column_moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and standard deviation (1 where constant) of an in-memory array."""
    return values.mean(axis=0), usable_spread(values.std(axis=0))


def zscores(values: np.ndarray, mean: np.ndarray, spread: np.ndarray,
            dtype: type[np.floating] = np.float32) -> np.ndarray:
    """``values`` z-scored per gene with a given mean and standard deviation (``spread``,
    as computed: a constant gene's z-scores are exactly 0), as ``dtype``; the same
    for any block of cells as for all of them."""
    z = np.where(spread > CONSTANT_SPREAD, (values - mean) / usable_spread(spread), 0.0)
    return z.astype(dtype)


def standardise(
    values: np.ndarray, dtype: type[np.floating] = np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-gene z-scores as ``dtype`` (float32 for model inputs), with the mean and
    spread used (1 where constant); a constant gene's z-scores are exactly 0."""
    mean, spread = values.mean(axis=0), values.std(axis=0)
    return zscores(values, mean, spread, dtype), mean, usable_spread(spread)


@dataclass(frozen=True)
class NormalizedView:
    """Selected genes of an expression matrix, library-size normalised and log1p'd.

    Attributes
    ----------
    matrix
        The stored matrix (dense, sparse or backed); read, never written.
    columns
        Positions of the genes this view returns, in order.
    scale
        Per-cell factor ``target_sum / total`` (one per row of ``matrix``); None
        when the input is already log-normalised and is returned as it is.
    cells
        Positions of the rows (cells) this view returns, in order; None for all.
        Cells left out of a task (no counts) are left out here.
    """

    matrix: Any
    columns: np.ndarray
    scale: np.ndarray | None
    cells: np.ndarray | None = None

    @property
    def n_obs(self) -> int:
        return n_rows(self.matrix) if self.cells is None else len(self.cells)

    @property
    def n_vars(self) -> int:
        return len(self.columns)

    @property
    def is_sparse(self) -> bool:
        """Whether the matrix is stored sparse (in memory or backed)."""
        return is_sparse(self.matrix)

    def _transform(self, values: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
        if scale is None:
            return values
        return np.log1p(values * scale[:, None].astype(np.float32))

    def _transform_sparse(self, values: sp.csr_matrix,
                          scale: np.ndarray | None) -> sp.csr_matrix:
        """:meth:`_transform` of the stored values of a CSR block (the same numbers:
        zeros stay zero). ``values`` is the block's own copy, changed in place."""
        if scale is not None:
            per_value = np.repeat(scale.astype(np.float32), np.diff(values.indptr))
            values.data = np.log1p(values.data * per_value)
        return values

    def block(self, start: int, stop: int) -> np.ndarray:
        """Cells ``start:stop`` as a dense float32 array (cells x genes)."""
        if self.cells is not None:
            return self.rows(np.arange(start, stop))
        values = read_block(self.matrix, start, stop, self.columns)
        scale = None if self.scale is None else self.scale[start:stop]
        return self._transform(values, scale)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The given cells (positions in this view), in the given order."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.cells is not None:
            rows = self.cells[rows]
        values = read_rows(self.matrix, rows, self.columns)
        scale = None if self.scale is None else self.scale[np.asarray(rows)]
        return self._transform(values, scale)

    def sparse_block(self, start: int, stop: int) -> sp.csr_matrix:
        """Cells ``start:stop`` as a float32 CSR matrix: :meth:`block`'s values, sparse."""
        if self.cells is not None:
            return self.sparse_rows(np.arange(start, stop))
        values = read_sparse_block(self.matrix, start, stop, self.columns)
        scale = None if self.scale is None else self.scale[start:stop]
        return self._transform_sparse(values, scale)

    def sparse_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """:meth:`rows` as a float32 CSR matrix."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.cells is not None:
            rows = self.cells[rows]
        values = read_sparse_rows(self.matrix, rows, self.columns)
        scale = None if self.scale is None else self.scale[rows]
        return self._transform_sparse(values, scale)

    def blocks(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(start, stop, block)`` over all cells."""
        for start in range(0, self.n_obs, chunk_size):
            stop = min(start + chunk_size, self.n_obs)
            yield start, stop, self.block(start, stop)

    def stored_blocks(
        self, chunk_size: int = DEFAULT_CHUNK
    ) -> Iterator[tuple[int, int, np.ndarray | sp.csr_matrix]]:
        """:meth:`blocks` in the stored form: CSR blocks from a sparse matrix, else dense."""
        for start in range(0, self.n_obs, chunk_size):
            stop = min(start + chunk_size, self.n_obs)
            yield start, stop, (self.sparse_block(start, stop) if self.is_sparse
                                else self.block(start, stop))

    def to_array(self) -> np.ndarray:
        """All cells at once (for training sets and small data)."""
        out = np.empty((self.n_obs, self.n_vars), dtype=np.float32)
        for start, stop, block in self.blocks():
            out[start:stop] = block
        return out

    def to_sparse(self) -> sp.csr_matrix:
        """All cells at once as a float32 CSR matrix, read block by block (memory: the
        stored values, never the dense matrix)."""
        blocks = [block for _, _, block in self.stored_blocks()]
        if not blocks:
            return sp.csr_matrix((0, self.n_vars), dtype=np.float32)
        return sp.vstack([sp.csr_matrix(block) for block in blocks], format="csr",
                         dtype=np.float32)

    def stored(self) -> np.ndarray | sp.csr_matrix:
        """All cells at once in the stored form: :meth:`to_sparse` of a sparse matrix,
        else :meth:`to_array`."""
        return self.to_sparse() if self.is_sparse else self.to_array()

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-gene mean and standard deviation over all cells (1 where constant), streamed
        (in sparse blocks from a sparse matrix, so a block costs its stored values)."""
        total = np.zeros(self.n_vars)
        squares = np.zeros(self.n_vars)
        for _, _, block in self.stored_blocks():
            if sp.issparse(block):
                total += np.bincount(block.indices, weights=block.data, minlength=self.n_vars)
                squares += np.bincount(block.indices, weights=block.data.astype(np.float64) ** 2,
                                       minlength=self.n_vars)
                continue
            total += block.sum(axis=0)
            squares += (block.astype(np.float64) ** 2).sum(axis=0)
        mean = total / max(self.n_obs, 1)
        std = np.sqrt(np.maximum(squares / max(self.n_obs, 1) - mean**2, 0.0))
        return mean.astype(np.float32), usable_spread(std).astype(np.float32)

    def with_columns(self, columns: np.ndarray) -> NormalizedView:
        """The same cells and size factors, other genes of the same matrix."""
        return replace(self, columns=np.asarray(columns, dtype=np.int64))

    def with_cells(self, cells: np.ndarray) -> NormalizedView:
        """The same genes and size factors, some of the cells (positions in this view)."""
        cells = np.asarray(cells, dtype=np.int64)
        return replace(self, cells=cells if self.cells is None else self.cells[cells])


def sample_cells(data: NormalizedView | np.ndarray, max_cells: int, seed: int) -> np.ndarray:
    """All cells of ``data`` (a view, read only for the cells it needs, or an array)
    in memory, or ``max_cells`` of them drawn with ``seed``, in their order."""
    n_obs = data.n_obs if isinstance(data, NormalizedView) else len(data)
    if n_obs <= max_cells:
        return data.to_array() if isinstance(data, NormalizedView) else data
    cells = np.sort(np.random.default_rng(seed).choice(n_obs, max_cells, replace=False))
    return data.rows(cells) if isinstance(data, NormalizedView) else data[cells]


def normalized_view(
    matrix: Any,
    columns: np.ndarray,
    is_counts: bool,
    size_columns: np.ndarray | None = None,
    target_sum: float | None = None,
) -> tuple[NormalizedView, float | None]:
    """Build a view of ``columns`` normalised by totals over ``size_columns``.

    Parameters
    ----------
    matrix
        Expression matrix, cells x genes.
    columns
        Genes the view returns.
    is_counts
        Raw counts are divided by the cell total, multiplied by ``target_sum`` and
        log1p-transformed; otherwise values pass through unchanged.
    size_columns
        Genes whose sum is the cell total (default: ``columns``).
    target_sum
        Total every cell is scaled to; default the median cell total.

    Returns
    -------
    The view and the target sum used (None for log-normalised input).
    """
    columns = np.asarray(columns, dtype=np.int64)
    if not is_counts:
        return NormalizedView(matrix, columns, None), None
    size_columns = columns if size_columns is None else np.asarray(size_columns, dtype=np.int64)
    totals = cell_totals(matrix, size_columns)
    if target_sum is None:
        positive = totals[totals > 0]
        target_sum = float(np.median(positive)) if positive.size else 1.0
    with np.errstate(divide="ignore"):
        scale = np.where(totals > 0, target_sum / np.maximum(totals, 1e-12), 0.0)
    return NormalizedView(matrix, columns, scale), target_sum
