"""An ``.h5ad`` file as plain parts for the R package's ``readH5adSpatial()``.

Everything a SingleCellExperiment (or SpatialExperiment) can hold is carried:
``X`` and the layers (sparse ones as the pieces of a compressed-column matrix,
which R rebuilds as a ``dgCMatrix``: reticulate 1.28 cannot convert current
scipy sparse matrices), ``obs`` and ``var`` columns (as plain vectors and
factors), ``obsm["spatial"]`` as coordinates and the other dense ``obsm``
arrays as reduced dimensions. What cannot be carried (``uns``, ``raw``,
``varm``, ``obsp``, ``varp``, non-array ``obsm`` entries) is named in
``not_carried``, so R can say so in one message.

Never import rpy2 here: this module runs inside Python embedded in R.
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from tessella.errors import InputError

INT32_MAX = np.iinfo(np.int32).max


def matrix_parts(matrix: Any) -> dict[str, Any]:
    """A cells x genes matrix as genes x cells parts.

    Sparse: ``{"sparse": True, "i", "p", "x", "dim"}``, the 0-based row
    indices, column pointers and values of a compressed-column genes x cells
    matrix (the CSR cells x genes arrays, as they are). Dense: ``{"sparse":
    False, "values"}``, a float64 genes x cells array.
    """
    if sp.issparse(matrix):
        csr = sp.csr_matrix(matrix)
        csr.sum_duplicates()
        return {"sparse": True, "i": csr.indices.astype(np.int32),
                "p": csr.indptr.astype(np.int32), "x": csr.data.astype(np.float64),
                "dim": [int(csr.shape[1]), int(csr.shape[0])]}
    return {"sparse": False, "values": np.asarray(matrix, dtype=np.float64).T}


def column_parts(values: pd.Series) -> dict[str, Any]:
    """One ``obs`` / ``var`` column as something R turns into a plain vector.

    Categoricals become ``{"kind": "factor", "codes", "levels"}`` (code -1 is
    NA); booleans ``"logical"``; integers that fit R's integers ``"integer"``;
    other numbers ``"double"`` (NA as NaN); anything else ``"character"``
    (None for NA).
    """
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return {"kind": "factor", "codes": values.cat.codes.to_numpy(dtype=np.int32),
                "levels": [str(c) for c in values.cat.categories]}
    if pd.api.types.is_bool_dtype(dtype):
        if values.isna().any():
            return {"kind": "logical", "values": [None if pd.isna(v) else bool(v)
                                                   for v in values]}
        return {"kind": "logical", "values": values.to_numpy(dtype=bool)}
    if pd.api.types.is_integer_dtype(dtype) and not values.isna().any():
        array = values.to_numpy(dtype=np.int64)
        if array.size == 0 or np.abs(array).max() <= INT32_MAX:
            return {"kind": "integer", "values": array.astype(np.int32)}
    if pd.api.types.is_numeric_dtype(dtype):
        return {"kind": "double", "values": values.to_numpy(dtype=np.float64,
                                                            na_value=np.nan)}
    return {"kind": "character", "values": [None if pd.isna(v) else str(v) for v in values]}


def frame_parts(frame: pd.DataFrame) -> dict[str, Any]:
    """Every column of a table as :func:`column_parts`."""
    return {str(c): column_parts(frame[c]) for c in frame.columns}


def _dense_rows(value: Any, n_rows: int) -> bool:
    """A numeric 2-d array (not sparse, not a table) with one row per cell."""
    return (isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[0] == n_rows
            and np.issubdtype(value.dtype, np.number))


def not_carried(adata: ad.AnnData, reduced: list[str]) -> list[str]:
    """The slots of ``adata`` that :func:`h5ad_parts` leaves out, one label each."""
    left = [f"obsm {k}" for k in adata.obsm if k != "spatial" and k not in reduced]
    if "spatial" in adata.obsm and not _dense_rows(adata.obsm["spatial"], adata.n_obs):
        left.append("obsm spatial")
    left += [f"varm {k}" for k in adata.varm]
    left += [f"obsp {k}" for k in adata.obsp]
    left += [f"varp {k}" for k in adata.varp]
    if adata.raw is not None:
        left.append(f"raw ({adata.raw.n_vars} genes)")
    if len(adata.uns):
        left.append(f"uns ({len(adata.uns)} key{'s' if len(adata.uns) != 1 else ''}: "
                    f"{', '.join(map(str, list(adata.uns)[:5]))}"
                    f"{' ...' if len(adata.uns) > 5 else ''})")
    return left


def h5ad_parts(adata: ad.AnnData) -> dict[str, Any]:
    """An AnnData as parts: ``x`` and ``layers`` (:func:`matrix_parts`), names,
    ``obs`` and ``var`` (:func:`frame_parts`), ``coords`` (``obsm["spatial"]``
    or None), ``reduced`` (other dense ``obsm`` arrays) and ``not_carried``."""
    spatial = adata.obsm["spatial"] if "spatial" in adata.obsm else None
    reduced = {str(k): np.asarray(v, dtype=np.float64) for k, v in adata.obsm.items()
               if k != "spatial" and _dense_rows(v, adata.n_obs)}
    coords = (np.asarray(spatial, dtype=np.float64)
              if spatial is not None and _dense_rows(spatial, adata.n_obs) else None)
    return {
        "x": matrix_parts(adata.X),
        "layers": {str(k): matrix_parts(v) for k, v in adata.layers.items()},
        "genes": [str(g) for g in adata.var_names],
        "cells": [str(c) for c in adata.obs_names],
        "obs": frame_parts(adata.obs),
        "var": frame_parts(adata.var),
        "coords": coords,
        "reduced": reduced,
        "not_carried": not_carried(adata, list(reduced)),
    }


def read_h5ad_parts(path: str) -> dict[str, Any]:
    """An ``.h5ad`` file as :func:`h5ad_parts`, or ``{"error": message}`` when the
    file is missing or is not a readable ``.h5ad`` with an ``X`` matrix. Any other
    exception is a bug and propagates (the R package reports it as one)."""
    from tessella.inputs import read_anndata

    try:
        adata = read_anndata(path, "data")
        if adata.X is None:
            raise InputError(f"{path} has no X matrix.")
    except (InputError, FileNotFoundError) as err:
        return {"error": str(err)}
    return h5ad_parts(adata)
