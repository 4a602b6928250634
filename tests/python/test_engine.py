"""The shared engine: results, seeds, saving, storage formats, training loop."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import tessella
from tessella.data.normalize import normalized_view
from tessella.models.storage import load_model

FAST = {"max_epochs": 30, "verbose": False}


def test_refine_result_layout(sim):
    out = tessella.refine(sim.spatial, sim.embeddings, **FAST)
    n_measured = sim.spatial.n_vars
    assert out.n_obs == sim.spatial.n_obs
    assert list(out.var_names[:n_measured]) == list(sim.spatial.var_names)
    assert out.var["measured"].sum() == n_measured
    assert out.n_vars == len(sim.embeddings)  # every table gene: measured + 10 imputed
    assert out.obsm["X_tessella"].shape == (out.n_obs, 64)
    np.testing.assert_array_equal(out.obsm["spatial"], sim.spatial.obsm["spatial"])
    info = out.uns["tessella"]
    assert info["method"] == "refine" and info["params"]["max_epochs"] == 30
    assert {"tessella", "torch", "anndata"} <= set(info["versions"])
    assert np.isfinite(out.X).all() and (out.X >= 0).all()


def test_refine_denoises_measured_genes(sim):
    out = tessella.refine(sim.spatial, sim.embeddings, verbose=False)
    counts = sim.spatial.X
    normalised = np.log1p(counts / counts.sum(1, keepdims=True) * np.median(counts.sum(1)))
    measured = out.X[:, : sim.spatial.n_vars]
    per_gene = [np.corrcoef(measured[:, g], normalised[:, g])[0, 1] for g in range(30)]
    assert np.median(per_gene) > 0.8


def test_same_seed_same_result_and_seed_matters(sim):
    a = tessella.refine(sim.spatial, sim.embeddings, seed=3, **FAST)
    b = tessella.refine(sim.spatial, sim.embeddings, seed=3, **FAST)
    c = tessella.refine(sim.spatial, sim.embeddings, seed=4, **FAST)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.allclose(a.X, c.X)


def test_seeding_leaves_global_rng_alone(sim):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tessella.refine(sim.spatial, sim.embeddings, **FAST)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("method", ["refine", "knn", "mean", "graph"])
def test_save_and_load_give_the_same_predictions(sim, tmp_path, method):
    from tessella.inputs import load_inputs
    from tessella.runner import build_method, task_for

    fast = {"refine": {"max_epochs": 20}, "graph": {"max_epochs": 3, "ae_epochs": 3}}
    model = build_method(method, {"verbose": False, **fast.get(method, {})})
    inputs = load_inputs([type(model)], sim.spatial, sim.reference, sim.embeddings)
    task = task_for(inputs, type(model))
    before = model.fit(task).predict(task).values
    model.save(tmp_path / "model.pt")
    after = load_model(tmp_path / "model.pt").predict(task).values
    np.testing.assert_allclose(before, after, rtol=1e-5, atol=1e-6)


def test_dense_sparse_and_backed_inputs_agree(sim, tmp_path):
    dense = tessella.impute(sim.spatial, sim.reference, "knn", verbose=False)
    sparse_spatial = sim.spatial.copy()
    sparse_spatial.X = sp.csr_matrix(sparse_spatial.X)
    sparse = tessella.impute(sparse_spatial, sim.reference, "knn", verbose=False)
    sparse_spatial.write_h5ad(tmp_path / "spatial.h5ad")
    backed = tessella.impute(ad.read_h5ad(tmp_path / "spatial.h5ad", backed="r"),
                             sim.reference, "knn", verbose=False)
    np.testing.assert_allclose(dense.X, sparse.X, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dense.X, backed.X, rtol=1e-4, atol=1e-5)


def test_normalised_view_streams_the_same_values(sim):
    counts = sim.spatial.X
    view, target = normalized_view(sp.csr_matrix(counts), np.arange(20), True)
    totals = counts[:, :20].sum(1, keepdims=True)
    assert (totals > 0).all()
    expected = np.log1p(counts[:, :20] / totals * np.median(totals))
    np.testing.assert_allclose(view.to_array(), expected, rtol=1e-5)
    assert target == pytest.approx(np.median(totals))
    rows = np.array([7, 2, 300])
    np.testing.assert_allclose(view.rows(rows), expected[rows], rtol=1e-5)


def test_log_normalised_input_passes_through(sim):
    logged = sim.spatial.copy()
    logged.X = np.log1p(logged.X / logged.X.sum(1, keepdims=True) * 100).astype(np.float32)
    out = tessella.impute(logged, sim.reference, "mean", verbose=False)
    assert out.uns["tessella"]["input_scale"] == "log-normalised"


def test_knn_beats_mean_and_imputes_on_simulation(sim):
    scores = tessella.benchmark(sim.spatial, sim.reference, methods=["knn", "mean"], folds=3,
                                verbose=False)
    summary = tessella.evaluate.summary_table(scores)
    assert summary.loc["knn", "spearman"] > 0.5
    assert np.isnan(summary.loc["mean", "spearman"])  # constant per gene: undefined, not 0
    assert summary.loc["knn", "rmse"] < summary.loc["mean", "rmse"]
    assert "knn" in repr(pd.concat([scores, scores]))  # attrs must not break printing
    assert scores.attrs["summary"].loc["knn", "spearman"] == summary.loc["knn", "spearman"]


def test_refine_prior_matters_on_simulation(sim):
    """Permuted gene names must cost accuracy (three permutations, one gene split)."""
    params = {"refine": {"max_epochs": 60}}

    def spearman(table):
        scores = tessella.benchmark(sim.spatial, embeddings=table, methods=["refine"],
                                    folds=3, verbose=False, params=params)
        return scores.attrs["summary"].loc["refine", "spearman"]

    shuffled = []
    for seed in range(3):
        table = sim.embeddings.copy()
        table.index = np.random.default_rng(seed).permutation(table.index)
        shuffled.append(spearman(table))
    real = spearman(sim.embeddings)
    assert real > 0.3
    assert real > np.mean(shuffled) + 0.05, (real, shuffled)


def test_benchmark_never_shows_held_out_genes_to_a_method(sim, monkeypatch):
    seen = []
    original = tessella.models.get_method("mean").fit

    def spy(self, task):
        seen.append((list(task.measured_genes), list(task.target_genes),
                     task.spatial.columns.copy(), task.spatial.scale.copy()))
        return original(self, task)

    monkeypatch.setattr(tessella.models.get_method("mean"), "fit", spy)
    scores = tessella.benchmark(sim.spatial, sim.reference, methods=["mean"], folds=3,
                                verbose=False)
    assert len(seen) == 3
    counts = sim.spatial.X
    for fold, (measured, held_out, columns, scale) in enumerate(seen):
        assert not set(measured) & set(held_out)
        assert set(held_out) == set(scores.loc[scores.fold == fold, "gene"])
        totals = counts[:, columns].sum(axis=1)  # size factors from measured genes only
        np.testing.assert_allclose(scale, np.median(totals) / totals, rtol=1e-6)
    assert sorted(scores.gene) == sorted(sim.spatial.var_names)


def test_available_methods_lists_the_registry():
    table = tessella.available_methods()
    assert {"refine", "knn", "mean"} <= set(table["method"])
    assert isinstance(table, pd.DataFrame)
    assert bool(table.set_index("method").loc["refine", "requires_embeddings"])
