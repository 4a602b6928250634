"""Results cross to R as float32 genes x cells views, or through an ``.h5ad``
file above a threshold of values (``tessella.parts.run_parts``)."""

from __future__ import annotations

import anndata as ad
import numpy as np

import tessella
from tessella.parts import result_to_parts, run_parts


def _parts(adata: ad.AnnData) -> dict:
    x = np.asarray(adata.X, dtype=np.float64)
    return {"x": x.T, "genes": list(adata.var_names), "cells": list(adata.obs_names)}


def _impute(sim, **options) -> dict:
    panel = sim.spatial[:, :12]
    genes = [g for g in sim.reference.var_names if g not in panel.var_names][:5]
    return run_parts("impute", _parts(panel), _parts(sim.reference), None,
                     {"method": "knn", "genes": genes, **options})


def test_values_cross_as_float32_views_in_the_layout_r_needs(sim):
    panel = sim.spatial[:, :12]
    genes = [g for g in sim.reference.var_names if g not in panel.var_names][:5]
    result = tessella.impute(panel, sim.reference, method="knn", genes=genes)
    parts = result_to_parts(result)
    values = np.asarray(result.X)
    assert parts["file"] is None
    for key, block in (("refined", values[:, :12]), ("imputed", values[:, 12:])):
        assert parts[key].dtype == np.float32
        assert np.shares_memory(parts[key], values)  # no copy on the Python side
        np.testing.assert_array_equal(parts[key], block.T)


def test_a_result_over_the_threshold_goes_through_an_h5ad_file(sim, tmp_path):
    path = tmp_path / "result.h5ad"
    small = _impute(sim, hdf5_file=str(path), hdf5_threshold=10**9)
    assert small["file"] is None and not path.exists()
    large = _impute(sim, hdf5_file=str(path), hdf5_threshold=0)
    assert large["file"] == str(path) and large["refined"] is None
    written = ad.read_h5ad(path)
    assert written.X.dtype == np.float32
    np.testing.assert_array_equal(written.X[:, :12], small["refined"].T)
    np.testing.assert_array_equal(written.X[:, 12:], small["imputed"].T)
    assert list(written.var_names) == small["measured_genes"] + small["imputed_genes"]
    assert written.var["measured"].sum() == 12
    assert large["imputed_genes"] == small["imputed_genes"]


def test_an_expected_large_result_is_written_by_the_engine_block_by_block(sim, tmp_path):
    """The slide's and requested genes reach the threshold, so the engine writes the
    result itself (``out=``), never holding it whole; its provenance is the one an
    in-memory result has (lists, not the arrays the file would give back)."""
    path = tmp_path / "result.h5ad"
    threshold = sim.spatial.n_obs * (12 + 5)
    small = _impute(sim, hdf5_file=str(path), hdf5_threshold=threshold + 1)
    large = _impute(sim, hdf5_file=str(path), hdf5_threshold=threshold)
    assert small["provenance"]["output"] != "h5ad"
    assert large["provenance"]["output"] == "h5ad" and large["file"] == str(path)
    np.testing.assert_array_equal(ad.read_h5ad(path).X[:, 12:], small["imputed"].T)
    for key in ("notes", "undetected_genes"):
        assert isinstance(large["provenance"][key], list)
        assert large["provenance"][key] == small["provenance"][key]
