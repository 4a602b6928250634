"""Column-wise scores: column ``j`` of one matrix against column ``j`` of another.

The kernels behind the evaluation metrics, kept in a leaf module so that methods
scoring genes inside their fit (inner cross-validation, reliability) use the
very code the benchmark uses.

Conventions: a correlation involving a constant column is NaN, never 0, the
cosine of an all-zero column is NaN, and a NaN anywhere in a column makes that
column's score NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata


def as_matrix(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a dense 2-D float64 array (sparse matrices are densified)."""
    if hasattr(x, "toarray"):
        x = x.toarray()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (cells, genes), got shape {arr.shape}")
    return arr


def nan_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean mask of the columns where either matrix holds a NaN."""
    return np.isnan(a).any(axis=0) | np.isnan(b).any(axis=0)


def constant_columns(x: np.ndarray) -> np.ndarray:
    """Boolean mask of the columns whose values are all equal (exactly zero variance)."""
    if x.shape[0] == 0:
        return np.ones(x.shape[1], dtype=bool)
    return np.max(x, axis=0) == np.min(x, axis=0)


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation per column; NaN for constant or NaN-containing columns."""
    ac = a - a.mean(axis=0)
    bc = b - b.mean(axis=0)
    num = np.einsum("ij,ij->j", ac, bc)
    den = np.sqrt(np.einsum("ij,ij->j", ac, ac) * np.einsum("ij,ij->j", bc, bc))
    undefined = constant_columns(a) | constant_columns(b) | (den == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(num / np.where(undefined, 1.0, den), -1.0, 1.0)
    r[undefined | nan_columns(a, b)] = np.nan
    return r


def spearman_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation per column: Pearson correlation of average ranks."""
    bad = nan_columns(a, b)
    ra = rankdata(np.where(np.isnan(a), 0.0, a), axis=0)
    rb = rankdata(np.where(np.isnan(b), 0.0, b), axis=0)
    r = pearson_columns(ra, rb)
    r[bad] = np.nan
    return r


def cosine_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity per column (not centred), in float64; NaN where either
    column is all zeros or holds a NaN."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = np.einsum("ij,ij->j", a, b)
    den = np.sqrt(np.einsum("ij,ij->j", a, a) * np.einsum("ij,ij->j", b, b))
    undefined = den == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.clip(num / np.where(undefined, 1.0, den), -1.0, 1.0)
    c[undefined | nan_columns(a, b)] = np.nan
    return c
