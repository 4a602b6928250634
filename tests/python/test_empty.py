"""Cells and genes without counts are accepted, left out of the model inputs and
put back in results, the same way for every method (tessella.data.empty)."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import tessella
from helpers import N_MEASURED, with_matrix
from tessella.data.empty import EMPTY_COLUMN

FAST = {"max_epochs": 3, "verbose": False}
EMPTY_CELLS = [5, 17]
UNDETECTED = 4  # position of a measured gene never detected




def emptied(adata: ad.AnnData, cells=(), genes=(), sparse=False) -> ad.AnnData:
    x = np.asarray(adata.X, dtype=np.float32).copy()
    x[list(cells), :] = 0
    x[:, list(genes)] = 0
    return with_matrix(adata, sp.csr_matrix(x) if sparse else x)


def run(method: str, spatial, data, **kwargs) -> ad.AnnData:
    if method == "refine":
        return tessella.refine(spatial, data.embeddings, seed=0, **FAST, **kwargs)
    reference = kwargs.pop("reference", data.reference)
    options = FAST if method != "knn" and method != "mean" else {"verbose": False}
    return tessella.impute(spatial, reference, method=method, seed=0, **options, **kwargs)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("method", ["knn", "mean", "refine", "graph"])
def test_empty_cells_are_kept_flagged_and_nan(data, method, sparse):
    spatial = emptied(data.spatial, cells=EMPTY_CELLS, sparse=sparse)
    before = spatial.copy()
    out = run(method, spatial, data)
    assert out.n_obs == spatial.n_obs
    flags = out.obs[EMPTY_COLUMN].to_numpy()
    assert flags.dtype == bool and list(np.flatnonzero(flags)) == EMPTY_CELLS
    assert np.isnan(out.X[EMPTY_CELLS]).all()
    assert np.isfinite(np.delete(out.X, EMPTY_CELLS, axis=0)).all()
    if "X_tessella" in out.obsm:
        latent = out.obsm["X_tessella"]
        assert np.isnan(latent[EMPTY_CELLS]).all()
        assert np.isfinite(np.delete(latent, EMPTY_CELLS, axis=0)).all()
    assert out.uns["tessella"]["empty_cells"] == len(EMPTY_CELLS)
    assert any("2 of 200 cell(s) have no counts" in n for n in out.uns["tessella"]["notes"])
    x, x0 = spatial.X, before.X
    np.testing.assert_array_equal(x.toarray() if sparse else x, x0.toarray() if sparse else x0)


def test_empty_cells_do_not_change_the_other_cells(data):
    spatial = emptied(data.spatial, cells=EMPTY_CELLS)
    keep = np.setdiff1d(np.arange(spatial.n_obs), EMPTY_CELLS)
    out = run("knn", spatial, data)
    alone = run("knn", spatial[keep].copy(), data)
    np.testing.assert_allclose(out.X[keep], alone.X, rtol=1e-5, atol=1e-6)
    assert not alone.obs[EMPTY_COLUMN].any()


@pytest.mark.parametrize("method", ["knn", "refine"])
def test_measured_genes_never_detected_come_back_as_measured(data, method):
    spatial = emptied(data.spatial, genes=[UNDETECTED])
    gene = spatial.var_names[UNDETECTED]
    out = run(method, spatial, data)
    assert list(out.var_names[: N_MEASURED]) == list(spatial.var_names)
    assert out.var.loc[gene, "measured"]
    np.testing.assert_array_equal(out[:, gene].X, 0.0)
    assert np.isnan(out.var.loc[gene, "reliability"])
    assert out.uns["tessella"]["undetected_genes"] == [gene]
    assert out.uns["tessella"]["n_measured"] == N_MEASURED


def test_undetected_gene_is_left_out_of_model_inputs(data):
    spatial = emptied(data.spatial, genes=[UNDETECTED])
    out = run("knn", spatial, data)
    others = [g for g in spatial.var_names if g != spatial.var_names[UNDETECTED]]
    alone = run("knn", spatial[:, others].copy(), data)  # there, the gene is imputed
    genes = [g for g in alone.var_names if g != spatial.var_names[UNDETECTED]]
    np.testing.assert_allclose(out[:, genes].X, alone[:, genes].X, rtol=1e-5, atol=1e-6)


def test_reference_cells_without_counts_are_left_out_with_one_message(data, caplog):
    shared = list(range(N_MEASURED))
    x = np.asarray(data.reference.X, dtype=np.float32).copy()
    x[np.ix_([0, 1, 2, 3], shared)] = 0  # counts only in genes to impute
    x[10, :] = 0  # no counts at all
    reference = with_matrix(data.reference, x)
    with caplog.at_level(logging.WARNING, logger="tessella"):
        out = run("knn", data.spatial, data, reference=reference)
    notes = [r.getMessage() for r in caplog.records if "reference" in r.getMessage()]
    assert len(notes) == 1 and "5 of 300 cell(s)" in notes[0]
    assert out.uns["tessella"]["reference_cells_left_out"] == 5
    keep = np.setdiff1d(np.arange(reference.n_obs), [0, 1, 2, 3, 10])
    alone = run("knn", data.spatial, data, reference=reference[keep].copy())
    np.testing.assert_allclose(out.X, alone.X, rtol=1e-5, atol=1e-6)
    assert np.isfinite(out.X).all()


def test_all_together_and_the_flag_is_always_there(data):
    spatial = emptied(data.spatial, cells=EMPTY_CELLS, genes=[UNDETECTED], sparse=True)
    out = run("mean", spatial, data)
    assert out.obs[EMPTY_COLUMN].sum() == len(EMPTY_CELLS)
    clean = run("mean", data.spatial, data)
    assert EMPTY_COLUMN in clean.obs and not clean.obs[EMPTY_COLUMN].any()
    assert clean.uns["tessella"]["empty_cells"] == 0


def test_nothing_at_all_is_still_refused(data):
    zero = with_matrix(data.spatial, np.zeros(data.spatial.shape, dtype=np.float32))
    with pytest.raises(tessella.InputError, match="spatial has no counts at all"):
        run("knn", zero, data)
    panel = emptied(data.spatial, genes=range(N_MEASURED - 1))
    with pytest.raises(tessella.InputError, match="reference has no counts over the 1 gene"):
        ref = emptied(data.reference, genes=[N_MEASURED - 1])
        run("knn", panel, data, reference=ref)


def test_benchmark_runs_with_empty_cells_and_genes(data):
    spatial = emptied(data.spatial, cells=EMPTY_CELLS, genes=[UNDETECTED])
    scores = tessella.benchmark(spatial, data.reference, methods=["knn", "mean"], folds=3,
                                verbose=False)
    assert set(scores["method"]) == {"knn", "mean"}
    knn = scores[scores["method"] == "knn"].drop(columns="reliability", errors="ignore")
    assert np.isfinite(knn.drop(
        index=knn.index[knn["gene"] == spatial.var_names[UNDETECTED]])["cosine"]).all()
