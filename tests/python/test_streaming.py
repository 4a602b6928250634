"""Streaming inputs: ``.h5ad`` paths are opened backed and every method fits and
predicts from them as from the same data in memory (dense = sparse = backed);
sparse references stay sparse; diffusion trains on batches read from the view
with the results of the old whole-array path."""

from __future__ import annotations

from types import SimpleNamespace

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import tessella
from helpers import with_matrix
from tessella import output
from tessella.data import normal_scores
from tessella.data.normal_scores import NormalScoreRows, fit_normal_scores
from tessella.data.normalize import normalized_view
from tessella.errors import InputError
from tessella.inputs import load_inputs
from tessella.models import knn, spage
from tessella.runner import build_method, task_for

#: Small trainings for the torch methods: the comparison needs the same run, not a good one.
METHODS = [
    pytest.param("knn", {}, id="knn"),
    pytest.param("spage", {}, id="spage"),
    pytest.param("mean", {}, id="mean"),
    pytest.param("diffusion", {"max_epochs": 2}, id="diffusion"),
    pytest.param("auto", {}, id="auto"),
    pytest.param("ridge", {}, id="ridge"),
    pytest.param("refine", {"max_epochs": 2}, id="refine"),
    pytest.param("graph", {"max_epochs": 2}, id="graph"),
]


@pytest.fixture(scope="module")
def stored(sim, tmp_path_factory) -> SimpleNamespace:
    """The simulated spatial data (24 measured genes) and reference, in memory dense
    and sparse, and written to ``.h5ad`` files dense and sparse."""
    folder = tmp_path_factory.mktemp("streaming")
    spatial = sim.spatial[:, :24].copy()
    reference = sim.reference.copy()
    memory = {
        "dense": (spatial, reference),
        "sparse": (with_matrix(spatial, sp.csr_matrix(spatial.X)),
                   with_matrix(reference, sp.csr_matrix(reference.X))),
    }
    files = {}
    for storage, (spatial_data, reference_data) in memory.items():
        paths = (folder / f"spatial_{storage}.h5ad", folder / f"reference_{storage}.h5ad")
        spatial_data.write_h5ad(paths[0])
        reference_data.write_h5ad(paths[1])
        files[storage] = paths
    return SimpleNamespace(memory=memory, files=files, embeddings=sim.embeddings)


def impute(spatial, reference, method: str, params: dict, embeddings) -> np.ndarray:
    extra = {"embeddings": embeddings} if method == "refine" else {}
    out = tessella.impute(spatial, reference, method=method, verbose=False,
                          **{"seed": 0, **extra, **params})
    return out.X.toarray() if sp.issparse(out.X) else np.asarray(out.X)


@pytest.mark.parametrize(("method", "params"), METHODS)
def test_backed_and_in_memory_inputs_give_the_same_result(stored, method, params):
    results = {}
    for storage in ("dense", "sparse"):
        results[storage] = impute(*stored.memory[storage], method, params, stored.embeddings)
        backed = impute(*stored.files[storage], method, params, stored.embeddings)
        # the same stored values, read whole or block by block from the file
        np.testing.assert_array_equal(backed, results[storage], err_msg=storage)
    # dense and sparse sums round differently (size factors): float32 rounding apart
    np.testing.assert_allclose(results["sparse"], results["dense"], rtol=1e-5, atol=1e-5)


def test_paths_are_opened_backed(stored):
    spatial, reference = stored.files["sparse"]
    inputs = load_inputs([], spatial, reference=reference)
    assert inputs.spatial.isbacked and inputs.reference.isbacked


@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_bad_values_in_a_backed_file_are_refused(stored, tmp_path, storage):
    spatial, reference = stored.memory[storage]
    x = spatial.X.toarray() if sp.issparse(spatial.X) else spatial.X.copy()
    x[3, 2] = -1.0
    path = tmp_path / "bad.h5ad"
    with_matrix(spatial, sp.csr_matrix(x) if storage == "sparse" else x).write_h5ad(path)
    with pytest.raises(InputError, match="negative values"):
        tessella.impute(path, reference, method="knn", verbose=False)


@pytest.mark.parametrize("storage", ["dense", "csr", "csc", "backed"])
def test_sparse_reads_of_a_view_equal_its_dense_reads(stored, storage):
    reference = stored.memory["sparse" if storage != "dense" else "dense"][1]
    matrix = {"dense": reference.X, "csr": reference.X, "csc": sp.csc_matrix(reference.X),
              "backed": ad.read_h5ad(stored.files["sparse"][1], backed="r").X}[storage]
    view, _ = normalized_view(matrix, np.array([5, 1, 7, 20, 3]), True,
                              size_columns=np.arange(12))
    assert view.is_sparse == (storage != "dense")
    for part in (view, view.with_cells(np.array([9, 2, 40, 11, 300, 7]))):
        dense = part.to_array()
        assert part.to_sparse().dtype == np.float32
        np.testing.assert_array_equal(part.to_sparse().toarray(), dense)
        rows = np.array([4, 0, 3, 1])
        np.testing.assert_array_equal(part.sparse_rows(rows).toarray(), part.rows(rows))
        np.testing.assert_array_equal(part.sparse_block(1, 4).toarray(), part.block(1, 4))
        mean, std = part.moments()
        np.testing.assert_allclose(mean, dense.mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(std, dense.std(axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["knn", "spage"])
def test_knn_keeps_a_sparse_reference_sparse(stored, tmp_path, method):
    spatial, reference = stored.memory["sparse"]
    model = tessella.fit(stored.files["sparse"][0], stored.files["sparse"][1], method=method,
                         verbose=False)
    values = model.fitted["reference_values"]
    assert sp.issparse(values) and values.dtype == np.float32
    assert values.nnz < 0.9 * np.prod(values.shape)
    dense = tessella.fit(*stored.memory["dense"], method=method, verbose=False)
    assert isinstance(dense.fitted["reference_values"], np.ndarray)
    np.testing.assert_allclose(values.toarray(), dense.fitted["reference_values"],
                               rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "model.pt")
    loaded = tessella.load_model(tmp_path / "model.pt")
    assert sp.issparse(loaded.fitted["reference_values"])
    np.testing.assert_array_equal(tessella.predict(loaded, spatial).X,
                                  tessella.predict(model, spatial).X)


@pytest.mark.parametrize("method", ["knn", "spage"])
def test_sparse_reference_values_made_dense_for_the_mean_give_the_same_result(
        stored, monkeypatch, method):
    """Within the memory budget the sparse reference values are made dense for the
    neighbour mean (a sparse-dense product, faster): the same values, bit for bit,
    as the sparse-sparse product used above the budget."""
    spatial, reference = stored.memory["sparse"]
    model = tessella.fit(spatial, reference, method=method, verbose=False)
    values = model.fitted["reference_values"]
    assert isinstance(knn.dense_if_small(values), np.ndarray)
    made_dense = np.asarray(tessella.predict(model, spatial).X)
    monkeypatch.setattr(knn, "memory_budget", lambda: 0)
    assert sp.issparse(knn.dense_if_small(values))
    np.testing.assert_array_equal(np.asarray(tessella.predict(model, spatial).X), made_dense)


@pytest.mark.parametrize("method", ["knn", "spage"])
def test_knn_fitted_on_a_sample_of_a_large_reference(stored, monkeypatch, method):
    """Above FIT_CELLS reference cells (and PRECISE_CELLS spatial cells), the axes come
    from a sample and every reference cell's coordinates are computed by block."""
    full = impute(*stored.memory["dense"], method, {}, None)
    monkeypatch.setattr(knn, "FIT_CELLS", 300)
    monkeypatch.setattr(spage, "PRECISE_CELLS", 250)
    results = [impute(*stored.memory["dense"], method, {}, None),
               impute(*stored.files["dense"], method, {}, None),
               impute(*stored.files["sparse"], method, {}, None)]
    np.testing.assert_array_equal(results[1], results[0])
    # sparse sums round differently; a near-tie among the k neighbours then moves a
    # few weights (measured: 24 of 12,000 values, at most 3e-4)
    np.testing.assert_allclose(results[2], results[0], rtol=1e-3, atol=1e-3)
    # a sample's axes, not the same numbers, but the same imputation up to small changes
    assert np.corrcoef(results[0].ravel(), full.ravel())[0, 1] > 0.95


def test_normal_scores_of_a_view_by_gene_chunks_and_batches(stored, monkeypatch):
    reference = stored.memory["sparse"][1]
    view, _ = normalized_view(reference.X, np.arange(reference.n_vars), True)
    monkeypatch.setattr(normal_scores, "GENE_CHUNK", 7)
    for max_cells in (10_000, 120):  # all cells, and a sample
        by_chunks = fit_normal_scores(view, seed=3, max_cells=max_cells)
        whole = fit_normal_scores(view.to_array(), seed=3, max_cells=max_cells)
        np.testing.assert_array_equal(by_chunks.knots, whole.knots)
    source = NormalScoreRows(view.with_cells(np.arange(10, 400)), by_chunks)
    rows = np.array([17, 3, 250, 4])
    assert source.n_obs == 390
    np.testing.assert_array_equal(
        source.rows(rows), by_chunks.transform(view.to_array()[10:400])[rows])


def _scores_gene_by_gene(fitted, values):
    """The normal-score transform as it was, one gene at a time (the oracle)."""
    from scipy.special import ndtr, ndtri

    out = np.empty(values.shape, dtype=np.float32)
    cumulative = np.concatenate([[0.0], np.cumsum(ndtr(fitted.scores))])
    last = len(fitted.scores) - 1
    for j in range(values.shape[1]):
        knots, x = fitted.knots[:, j], values[:, j]
        low = np.searchsorted(knots, x, side="left")
        high = np.searchsorted(knots, x, side="right")
        mean_tied = ndtri((cumulative[high] - cumulative[low]) / np.maximum(high - low, 1))
        left, right = np.clip(low - 1, 0, last), np.clip(low, 0, last)
        span = knots[right] - knots[left]
        share = np.where(span > 0, (x - knots[left]) / np.where(span > 0, span, 1.0), 0.0)
        between = fitted.scores[left] + np.clip(share, 0.0, 1.0) * (
            fitted.scores[right] - fitted.scores[left])
        out[:, j] = np.where(high > low, mean_tied, between)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_scores_of_a_block_equal_the_gene_by_gene_transform(monkeypatch, dtype):
    """The transform (searches per gene, the rest on the whole block, tied values from
    a table) gives the gene-by-gene values bit for bit: ties (zeros, repeated
    counts), values between knots and beyond both ends, blocks split by rows."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.gamma(0.5, 2.0, size=40), size=(3000, 40))
    fitted = fit_normal_scores(np.log1p(counts).astype(np.float32), seed=0)
    values = np.log1p(rng.poisson(rng.gamma(0.5, 3.0, size=40), size=(700, 40)))
    values[:5] = -1.0  # below every knot
    values[5:10] += rng.uniform(0, 1e-3, size=(5, 40))  # just off the knots
    values = values.astype(dtype)
    np.testing.assert_array_equal(fitted.transform(values), _scores_gene_by_gene(fitted, values))
    monkeypatch.setattr(normal_scores, "TRANSFORM_VALUES", 1000)
    np.testing.assert_array_equal(fitted.transform(values), _scores_gene_by_gene(fitted, values))


@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_diffusion_streamed_equals_the_whole_array_path(stored, monkeypatch, storage):
    """Training from batches read through the view (the reference's normal scores
    above the memory budget) gives bit for bit the predictions of training on the
    reference transformed whole (within the budget, and the path before streaming)."""
    spatial, reference = stored.memory[storage]
    params = {"max_epochs": 2, "batch_size": 64, "seed": 3}
    whole = impute(spatial, reference, "diffusion", params, None)
    monkeypatch.setenv(output.ENV_VAR, "1")
    streamed = impute(spatial, reference, "diffusion", params, None)
    np.testing.assert_array_equal(streamed, whole)


def test_diffusion_training_reads_batches_not_the_whole_reference(stored, monkeypatch):
    spatial, reference = stored.memory["sparse"]
    inputs = load_inputs([], spatial, reference=reference)
    model = build_method("diffusion", {"max_epochs": 1, "batch_size": 64, "verbose": False})
    task = task_for(inputs, type(model))
    read = []
    real_rows = NormalScoreRows.rows

    def rows(self, positions):
        read.append(len(positions))
        return real_rows(self, positions)

    monkeypatch.setattr(NormalScoreRows, "rows", rows)
    monkeypatch.setenv(output.ENV_VAR, "1")  # the normal scores do not fit the budget
    monkeypatch.setattr(type(task.reference), "to_array",
                        lambda self: pytest.fail("the whole reference was read"))
    monkeypatch.setattr(normal_scores, "MAX_CELLS", 100)  # the quantiles read a sample
    model.fit(task)
    assert read and max(read) <= 64


def test_a_layer_of_a_backed_file_is_read(stored, tmp_path):
    """anndata keeps only X on disk (layers of a backed file are read whole), but a
    layer given by path gives the in-memory result."""
    spatial, reference = stored.memory["dense"]
    counts = spatial.copy()
    counts.layers["counts"] = sp.csr_matrix(counts.X)
    counts.X = np.log1p(counts.X)
    counts.write_h5ad(tmp_path / "layer.h5ad")
    in_memory = tessella.impute(counts, reference, method="knn", layer="counts",
                                verbose=False)
    backed = tessella.impute(tmp_path / "layer.h5ad", reference, method="knn",
                             layer="counts", verbose=False)
    np.testing.assert_array_equal(np.asarray(backed.X), np.asarray(in_memory.X))
