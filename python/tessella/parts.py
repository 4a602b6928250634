"""Plain parts in, plain parts out: the engine's face towards the R package.

The R package hands over matrices, names and coordinates (converted by
reticulate: ``dgCMatrix`` -> scipy CSC, base matrices -> numpy), and gets
back numpy arrays, lists and dictionaries that convert to plain R objects.
No Python object crosses back into R. Matrices travel genes x cells, the
orientation of SingleCellExperiment and Seurat: a CSC genes x cells matrix
transposes to CSR cells x genes without a copy.

Never import rpy2 here: this module runs inside Python embedded in R.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from tessella import api
from tessella.embeddings import EmbeddingTable
from tessella.evaluate.harness import summary_table


def _names(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def anndata_from_parts(
    x: Any, genes: Sequence[str], cells: Sequence[str], coords: Any = None
) -> ad.AnnData:
    """An AnnData (cells x genes) from a genes x cells matrix and its names."""
    matrix = x.T.tocsr() if sp.issparse(x) else np.asarray(x).T
    genes, cells = _names(genes), _names(cells)
    if matrix.shape != (len(cells), len(genes)):
        raise ValueError(
            f"matrix of shape {matrix.shape[::-1]} (genes x cells) does not match "
            f"{len(genes)} gene and {len(cells)} cell names."
        )
    adata = ad.AnnData(X=matrix, obs=pd.DataFrame(index=pd.Index(cells)),
                       var=pd.DataFrame(index=pd.Index(genes)))
    if coords is not None:
        adata.obsm["spatial"] = np.asarray(coords, dtype=np.float64)
    return adata


def embedding_table(values: Any, genes: Sequence[str]) -> EmbeddingTable:
    """An embedding table from a genes x dimensions matrix and its gene names."""
    return EmbeddingTable(pd.Index(_names(genes), name="gene"),
                          np.asarray(values, dtype=np.float32))


def result_to_parts(result: ad.AnnData) -> dict[str, Any]:
    """A result as plain parts: refined measured genes and imputed genes (genes x
    cells, float64), their names, reliability, latent space and provenance."""
    measured = result.var["measured"].to_numpy(dtype=bool)
    values = np.asarray(result.X, dtype=np.float64)
    latent = result.obsm.get("X_tessella") if "X_tessella" in result.obsm else None
    return {
        "refined": np.ascontiguousarray(values[:, measured].T),
        "imputed": np.ascontiguousarray(values[:, ~measured].T),
        "measured_genes": list(result.var_names[measured]),
        "imputed_genes": list(result.var_names[~measured]),
        "reliability": result.var["reliability"].to_numpy(dtype=np.float64)[~measured],
        "latent": None if latent is None else np.asarray(latent, dtype=np.float64),
        "provenance": result.uns["tessella"],
    }


#: Errors that mean "the input is wrong": reported to R as a message, not a traceback.
USER_ERRORS = (ValueError, TypeError, OSError, KeyError)


def run_parts(
    verb: str,
    spatial: dict[str, Any],
    reference: dict[str, Any] | None = None,
    embeddings: dict[str, Any] | str | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``refine``, ``impute`` or ``benchmark`` on parts.

    Parameters
    ----------
    verb
        "refine", "impute" or "benchmark".
    spatial, reference
        Dictionaries with ``x`` (genes x cells), ``genes``, ``cells`` and, for
        spatial, optional ``coords``.
    embeddings
        A file path, or a dictionary with ``values`` (genes x dimensions) and ``genes``.
    options
        Keyword arguments of the API function (``genes``, ``method``, ``seed``,
        hyper-parameters, ...).

    Returns
    -------
    The result's parts, or ``{"error": message}`` when the input is at fault.
    """
    try:
        return _run(verb, spatial, reference, embeddings, dict(options or {}))
    except USER_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        return {"error": str(message)}


def _run(verb: str, spatial: dict[str, Any], reference: dict[str, Any] | None,
         embeddings: dict[str, Any] | str | None, options: dict[str, Any]) -> dict[str, Any]:
    if "genes" in options and options["genes"] is not None:
        options["genes"] = _names(options["genes"])
    spatial_data = anndata_from_parts(**spatial)
    reference_data = None if reference is None else anndata_from_parts(**reference)
    table = embedding_table(**embeddings) if isinstance(embeddings, dict) else embeddings
    if verb == "refine":
        return result_to_parts(api.refine(spatial_data, table, **options))
    if verb == "impute":
        return result_to_parts(api.impute(spatial_data, reference_data, embeddings=table,
                                          **options))
    if verb == "benchmark":
        if "methods" in options:
            options["methods"] = _names(options["methods"])
        scores = api.benchmark(spatial_data, reference_data, table, **options)
        summary = summary_table(scores).rename_axis("method").reset_index()
        return {"scores": _columns(scores), "summary": _columns(summary)}
    raise ValueError(f"unknown verb {verb!r}; use refine, impute or benchmark.")


def _columns(table: pd.DataFrame) -> dict[str, Any]:
    """A table as columns that reticulate turns into R vectors (NaN stays NaN)."""
    return {str(c): table[c].to_numpy() if pd.api.types.is_numeric_dtype(table[c])
            else [str(v) for v in table[c]] for c in table.columns}


def methods_parts() -> dict[str, Any]:
    """The registered methods as columns (method, summary, requirements)."""
    return _columns(api.available_methods())


def _column(values: pd.Series) -> Any:
    """An obs column as something reticulate turns into an R vector."""
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
        return [None if pd.isna(v) else str(v) for v in values]
    return values.to_numpy()


def read_h5ad_parts(path: str) -> dict[str, Any]:
    """An ``.h5ad`` file as parts: ``x`` (genes x cells), names, coordinates
    (``obsm["spatial"]``) and the obs columns."""
    from tessella.inputs import read_anndata

    try:
        adata = read_anndata(path, "data")
    except USER_ERRORS as err:
        return {"error": str(err)}
    matrix = adata.X
    coords = adata.obsm["spatial"] if "spatial" in adata.obsm else None
    return {
        "x": matrix.T.tocsc() if sp.issparse(matrix) else np.asarray(matrix, np.float64).T,
        "genes": list(adata.var_names),
        "cells": list(adata.obs_names),
        "coords": None if coords is None else np.asarray(coords, dtype=np.float64),
        "obs": {str(c): _column(adata.obs[c]) for c in adata.obs.columns},
    }
