"""Row-block access to expression matrices, whatever their storage.

Dense arrays, scipy sparse matrices and the datasets of a disk-backed AnnData
(``anndata.read_h5ad(..., backed="r")``) are read the same way: a block of rows
at a time, returned dense as float32 (or, for sparse storage, as a float32 CSR
block). Code above this module never needs to know how the user's matrix is
stored, and memory grows with the block size, not with the number of cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

DEFAULT_CHUNK = 8192


def n_rows(matrix: Any) -> int:
    """Number of rows (cells) of any supported matrix."""
    return int(matrix.shape[0])


def is_sparse(matrix: Any) -> bool:
    """Whether the matrix is stored sparse: scipy sparse, or a backed AnnData's sparse
    dataset (``anndata.abc.CSRDataset`` / ``CSCDataset``, which have a ``format``)."""
    return sp.issparse(matrix) or getattr(matrix, "format", None) in ("csr", "csc")


def matrix_dtype(matrix: Any) -> np.dtype:
    """The dtype of the stored values (for backed sparse: of its data array)."""
    return np.dtype(matrix.dtype)


def _dense(block: Any, columns: np.ndarray | None) -> np.ndarray:
    if sp.issparse(block):
        block = block.tocsr()
        if columns is not None:
            block = block[:, columns]
        return np.asarray(block.toarray(), dtype=np.float32)
    block = np.asarray(block)
    if columns is not None:
        block = block[:, columns]
    return block.astype(np.float32, copy=False)


def read_block(
    matrix: Any, start: int, stop: int, columns: np.ndarray | None = None
) -> np.ndarray:
    """Rows ``start:stop`` (optionally only ``columns``) as a dense float32 array."""
    return _dense(matrix[start:stop], columns)


def read_rows(matrix: Any, rows: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """Arbitrary rows, in the order given, as a dense float32 array.

    Backed datasets only allow increasing indices, so rows are read sorted and
    put back in the requested order.
    """
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    block = _dense(matrix[rows[order]], columns)
    out = np.empty_like(block)
    out[order] = block
    return out


def _sparse(block: Any, columns: np.ndarray | None) -> sp.csr_matrix:
    block = sp.csr_matrix(block)
    if columns is not None:
        block = block[:, columns]
    block = block.astype(np.float32)  # a copy: the caller's matrix is never changed
    block.sum_duplicates()
    return block


def read_sparse_block(
    matrix: Any, start: int, stop: int, columns: np.ndarray | None = None
) -> sp.csr_matrix:
    """Rows ``start:stop`` (optionally only ``columns``) as a float32 CSR matrix
    (for sparse storage; a dense matrix is converted)."""
    return _sparse(matrix[start:stop], columns)


def read_sparse_rows(
    matrix: Any, rows: np.ndarray, columns: np.ndarray | None = None
) -> sp.csr_matrix:
    """Arbitrary rows, in the order given, as a float32 CSR matrix (read sorted, as
    :func:`read_rows`)."""
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    block = _sparse(matrix[rows[order]], columns)
    return block[np.argsort(order, kind="stable")]


def raw_blocks(matrix: Any, chunk_size: int = DEFAULT_CHUNK) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(start, stop, block)`` with blocks in their stored form (sparse stays sparse)."""
    total = n_rows(matrix)
    for start in range(0, total, chunk_size):
        stop = min(start + chunk_size, total)
        block = matrix[start:stop]
        yield start, stop, block.tocsr() if sp.issparse(block) else np.asarray(block)


def block_values(block: Any) -> np.ndarray:
    """The stored values of a block: the data array of a sparse block, else all values."""
    return block.data if sp.issparse(block) else np.asarray(block).ravel()


def row_sums(block: Any, columns: np.ndarray | None = None) -> np.ndarray:
    """Per-row sums of a raw block, optionally over a subset of columns."""
    if columns is not None:
        block = block[:, columns]
    return np.asarray(block.sum(axis=1), dtype=np.float64).ravel()
