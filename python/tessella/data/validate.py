"""Checks on user input, done once at the boundary with messages that say what to do.

One streaming pass over the matrix checks the values (numeric, finite,
non-negative), finds empty cells and genes (accepted: see
:mod:`tessella.data.empty`), and tells raw counts from log-normalised values.
Every problem with the input raises :class:`tessella.InputError` naming the
problem and its fix (``TypeError`` for an object that is not an AnnData at
all: only Python callers can pass one, and at the CLI and R boundaries it
would be tessella's own bug).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import anndata as ad
import numpy as np

from tessella.data.matrix import block_values, matrix_dtype, raw_blocks
from tessella.errors import InputError

InputScale = Literal["auto", "counts", "log"]
INPUT_SCALES = ("auto", "counts", "log")
#: Non-integer values above this are taken for normalised but not log-transformed data.
MAX_LOG_VALUE = 50.0


@dataclass(frozen=True)
class MatrixReport:
    """What one pass over a matrix found."""

    n_cells: int
    n_genes: int
    is_integer: bool
    max_value: float
    empty_cells: np.ndarray
    empty_genes: np.ndarray


def r_role(role: str) -> str:
    """How the R functions name a data set: the spatial data is their ``x``."""
    return "x" if role == "spatial" else role


def r_assay_argument(role: str) -> str:
    """The R argument that picks the matrix of ``role``."""
    return "referenceAssay =" if role == "reference" else "assay ="


def require_anndata(obj: Any, role: str) -> ad.AnnData:
    """Return ``obj`` if it is an AnnData, else raise a ``TypeError`` naming ``role``."""
    if not isinstance(obj, ad.AnnData):
        raise TypeError(
            f"{role} must be an AnnData (or a path to an .h5ad file), not {type(obj).__name__}. "
            "From R, use the tessella R package, which converts SingleCellExperiment, "
            "SpatialExperiment and Seurat objects."
        )
    return obj


def expression_matrix(adata: ad.AnnData, layer: str | None, role: str) -> Any:
    """``adata.X`` or ``adata.layers[layer]``, without copying."""
    if layer is None:
        if adata.X is None:
            raise InputError(f"{role} has no X matrix; name the layer to use with layer=...")
        return adata.X
    if layer not in adata.layers:
        available = ", ".join(adata.layers.keys()) or "none"
        raise InputError(
            f"{role} has no layer {layer!r} (layers: {available}); "
            "pass layer=None to use X, or one of the layers listed."
        )
    return adata.layers[layer]


def check_gene_names(adata: ad.AnnData, role: str) -> None:
    """Gene names must be unique: duplicates make gene matching ambiguous."""
    names = adata.var_names
    if names.is_unique:
        return
    duplicated = sorted(set(names[names.duplicated()]))
    shown = ", ".join(duplicated[:5]) + (" ..." if len(duplicated) > 5 else "")
    problem = f"has {len(duplicated)} duplicated gene name(s): {shown}. "
    raise InputError(
        f"{role} {problem}Make them unique first, e.g. adata.var_names_make_unique(), "
        "or sum the duplicated rows.",
        f"{r_role(role)} {problem}Make them unique first, e.g. rownames({r_role(role)}) <- "
        f"make.unique(rownames({r_role(role)})), or sum the duplicated rows.",
    )


def scan_matrix(matrix: Any, role: str) -> MatrixReport:
    """Check the values of ``matrix`` in one pass and report what it holds."""
    dtype = matrix_dtype(matrix)
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise InputError(
            f"{role} expression values have dtype {dtype}, which is not numeric; "
            "convert the matrix to numbers (e.g. adata.X = adata.X.astype('float32')).",
            f"{r_role(role)} holds values of type {dtype}, not numbers; choose a numeric "
            f"assay with {r_assay_argument(role)} (counts or logcounts).",
        )
    n_cells, n_genes = (int(d) for d in matrix.shape)
    row_totals = np.zeros(n_cells, dtype=np.float64)
    col_totals = np.zeros(n_genes, dtype=np.float64)
    is_integer, max_value = True, 0.0
    for start, stop, block in raw_blocks(matrix):
        values = block_values(block)
        if values.size == 0:
            continue
        if not np.isfinite(values).all():
            raise InputError(
                f"{role} contains NaN or infinite values (first in cells {start}-{stop}); "
                "replace or remove them, e.g. with numpy.nan_to_num, before running tessella.",
                f"{r_role(role)} contains NaN or infinite values (first in cells "
                f"{start + 1}-{stop}); choose another assay with {r_assay_argument(role)}, or "
                "leave those cells out first with subset().",
            )
        if values.min() < 0:
            raise InputError(
                f"{role} contains negative values; tessella needs raw counts or "
                "log-normalised expression (>= 0). Scaled or centred data cannot be used: "
                "pass the counts layer instead (layer=...).",
                f"{r_role(role)} contains negative values; tessella needs raw counts or "
                "log-normalised expression (>= 0). Scaled or centred data (e.g. Seurat's "
                f"scale.data) cannot be used: choose the counts with {r_assay_argument(role)}",
            )
        is_integer = is_integer and bool(np.all(values == np.round(values)))
        max_value = max(max_value, float(values.max()))
        row_totals[start:stop] = np.asarray(block.sum(axis=1)).ravel()
        col_totals += np.asarray(block.sum(axis=0), dtype=np.float64).ravel()
    return MatrixReport(
        n_cells=n_cells,
        n_genes=n_genes,
        is_integer=is_integer,
        max_value=max_value,
        empty_cells=np.flatnonzero(row_totals == 0),
        empty_genes=np.flatnonzero(col_totals == 0),
    )


def resolve_scale(report: MatrixReport, input_scale: InputScale, role: str) -> bool:
    """Return True when the matrix holds raw counts that need normalising and log1p."""
    if input_scale not in INPUT_SCALES:
        raise InputError(f"input_scale must be one of {INPUT_SCALES}, not {input_scale!r}.")
    if input_scale != "auto":
        return input_scale == "counts"
    if report.is_integer:
        return True
    prefix = "" if role == "spatial" else f"{role}_"
    if report.max_value > MAX_LOG_VALUE:
        problem = (f"holds non-integer values up to {report.max_value:.1f}: this looks "
                   "normalised but not log-transformed. ")
        raise InputError(
            f"{role} {problem}Pass raw counts, log1p-transformed values, "
            f"or say how to treat it with {prefix}input_scale='counts' or "
            f"{prefix}input_scale='log'.",
            f"{r_role(role)} {problem}Choose the counts or logcounts with "
            f"{r_assay_argument(role)}, or say how to treat it with "
            f'{prefix}input_scale = "counts" or {prefix}input_scale = "log".',
        )
    return False


def check_not_empty(report: MatrixReport, role: str) -> None:
    """Refuse a matrix without cells, without genes, or without a single count.

    Some empty cells or genes are fine: tasks leave them out of the model
    inputs and put them back in results (see :mod:`tessella.data.empty`).
    """
    if report.n_cells == 0 or report.n_genes == 0:
        raise InputError(
            f"{role} is empty ({report.n_cells} cells x {report.n_genes} genes).",
            f"{r_role(role)} is empty ({report.n_genes} genes x {report.n_cells} cells).")
    if report.empty_cells.size == report.n_cells:
        raise InputError(
            f"{role} has no counts at all: every value is 0.",
            f"{r_role(role)} has no counts at all: every value is 0; choose another assay "
            f"with {r_assay_argument(role)}")


def validate_expression(
    adata: ad.AnnData,
    layer: str | None,
    role: str,
    input_scale: InputScale = "auto",
    allow_empty_genes: bool = False,
) -> bool:
    """Validate one AnnData and return whether it holds raw counts.

    Parameters
    ----------
    adata
        The data set to check; never modified.
    layer
        Layer holding expression, or None for ``X``.
    role
        How to name the data set in error messages ("spatial", "reference").
    input_scale
        "auto" detects raw counts (all values integer) versus log-normalised values;
        "counts" or "log" overrides the detection.
    allow_empty_genes
        Kept for callers of earlier versions; cells and genes without counts
        are always accepted (:mod:`tessella.data.empty`).
    """
    require_anndata(adata, role)
    check_gene_names(adata, role)
    matrix = expression_matrix(adata, layer, role)
    report = scan_matrix(matrix, role)
    check_not_empty(report, role)
    return resolve_scale(report, input_scale, role)
