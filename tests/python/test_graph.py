"""The gene-graph method: embeddings optional, reliability, batch independence,
and accuracy on osmFISH against knn."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import tessella
from tessella.inputs import load_inputs
from tessella.models.gene_graph import _sparse, _top_edges, coexpression_profiles
from tessella.neighbors import neighbour_weights, unit_rows
from tessella.runner import build_method, task_for

FAST = {"max_epochs": 4, "ae_epochs": 4, "verbose": False}


def coexpression_similarity(reference: np.ndarray) -> np.ndarray:
    """Cosine similarity of centred gene profiles (genes x genes), densely."""
    profiles = coexpression_profiles(reference)
    return profiles @ profiles.T


def gene_similarity(reference: np.ndarray, embeddings: np.ndarray | None,
                    embedded: np.ndarray | None) -> np.ndarray:
    """Similarity between genes (dense, genes x genes): from embeddings where both
    genes have one, from reference co-expression otherwise."""
    similarity = coexpression_similarity(reference)
    if embeddings is not None and embedded is not None and embedded.any():
        vectors = unit_rows(embeddings.astype(np.float64))
        similarity = np.where(np.outer(embedded, embedded), vectors @ vectors.T, similarity)
    return similarity


def sparsify(similarity: np.ndarray, n_edges: int) -> torch.Tensor:
    """Each gene's ``n_edges`` most similar other genes, densely."""
    n = len(similarity)
    keep = min(n_edges, n - 1)
    return _sparse(n, [_top_edges(similarity, np.arange(n), keep)] if keep >= 1 else [])


def _imputed(sim, embeddings):
    spatial = sim.spatial[:, :24].copy()
    return tessella.impute(spatial, sim.reference, "graph", embeddings=embeddings, **FAST)


@pytest.mark.parametrize("table", ["full", "partial", "none"])
def test_graph_runs_with_any_embedding_coverage(sim, table):
    """A pair of genes takes its edge from the embeddings where both genes have one
    (cosine of the table-centred vectors) and from reference co-expression
    otherwise; the imputed genes are finite, vary across cells, and move when the
    embeddings cover them."""
    embeddings = {"full": sim.embeddings, "partial": sim.embeddings.iloc[::2],
                  "none": None}[table]
    genes = list(sim.reference.var_names)
    method = type(build_method("graph", FAST))
    inputs = load_inputs([method], sim.spatial[:, :24].copy(), sim.reference, embeddings)
    task = task_for(inputs, method)
    assert list(task.output_genes) == genes
    reference = task.reference_genes(task.in_reference).to_array()
    similarity = gene_similarity(reference, task.embeddings, task.embedded)
    covered = np.zeros(len(genes), bool)
    if embeddings is not None:
        covered = np.isin(genes, embeddings.index)
        np.testing.assert_array_equal(task.embedded, covered)
        vectors = (embeddings - embeddings.mean()).reindex(genes).fillna(0).to_numpy()
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
        expected = np.where(np.outer(covered, covered), vectors @ vectors.T,
                            coexpression_similarity(reference))
    else:
        expected = coexpression_similarity(reference)
    np.testing.assert_allclose(similarity, expected, atol=1e-5)

    out = _imputed(sim, embeddings)
    assert list(out.var_names[24:]) == genes[24:]
    imputed = np.asarray(out.X)[:, 24:]
    assert np.isfinite(imputed).all() and (imputed.std(axis=0) > 0.05).all()
    reliability = out.var["reliability"].to_numpy()
    assert np.isnan(reliability[:24]).all()
    assert np.isfinite(reliability[24:]).all() and (np.abs(reliability[24:]) <= 1).all()
    if embeddings is not None:  # the embeddings reach the predictions of covered genes
        without = np.asarray(_imputed(sim, None).X)[:, 24:]
        assert (np.abs(imputed - without).max(axis=0)[covered[24:]] > 1e-2).all()


def _dense_graph(reference, embeddings, embedded, n_edges, shared_columns):
    """Today's graph the dense way (genes x genes), to compare the blocked build with."""
    similarity = gene_similarity(reference, embeddings, embedded)
    return sparsify(similarity, n_edges), similarity[:, shared_columns]


def _assert_same_graph(reference, embeddings, embedded, n_edges, shared_columns, block):
    from tessella.models.gene_graph import gene_graph

    dense, dense_shared = _dense_graph(reference, embeddings, embedded, n_edges,
                                       shared_columns)
    blocked, to_shared = gene_graph(reference, embeddings, embedded, n_edges,
                                    shared_columns, block=block)
    np.testing.assert_array_equal(blocked.indices().numpy(), dense.indices().numpy())
    np.testing.assert_allclose(blocked.values().numpy(), dense.values().numpy(),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(to_shared, dense_shared, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("table", ["full", "partial", "none"])
@pytest.mark.parametrize("block", [1, 7, None])
def test_blocked_gene_graph_equals_the_dense_one(sim, table, block):
    """The graph built block by block of genes has the dense graph's edges and weights."""
    embeddings = {"full": sim.embeddings, "partial": sim.embeddings.iloc[::2],
                  "none": None}[table]
    method = type(build_method("graph", FAST))
    inputs = load_inputs([method], sim.spatial[:, :24].copy(), sim.reference, embeddings)
    task = task_for(inputs, method)
    reference = task.reference_genes(task.in_reference).to_array()
    shared = np.searchsorted(task.in_reference, task.shared_in_reference)
    for n_edges in (3, 10, 100):
        _assert_same_graph(reference, task.embeddings, task.embedded, n_edges, shared, block)


@pytest.mark.slow
def test_blocked_gene_graph_equals_the_dense_one_on_osmfish(osmfish):
    spatial, reference, embeddings = osmfish
    method = type(build_method("graph", FAST))
    task = task_for(load_inputs([method], spatial, reference, embeddings), method)
    matrix = task.reference_genes(task.in_reference).to_array()
    shared = np.searchsorted(task.in_reference, task.shared_in_reference)
    assert len(task.in_reference) == 33
    for block in (1, 5, None):
        _assert_same_graph(matrix, task.embeddings, task.embedded, 10, shared, block)


def test_train_cells_samples_the_slide_and_is_a_no_op_on_small_data(sim):
    """All cells train when there are fewer than train_cells (the default and a
    limit equal to the slide give the same model); fewer cells train a model that
    still predicts every cell."""
    inputs = load_inputs([type(build_method("graph", FAST))], sim.spatial[:, :24].copy(),
                         sim.reference)
    results = {}
    for cells in (None, sim.spatial.n_obs, 150):
        params = FAST if cells is None else {**FAST, "train_cells": cells}
        model = build_method("graph", params)
        task = task_for(inputs, type(model))
        model.fit(task)
        results[cells] = model.predict(task).values
        assert model.fitted["n_cells"] == sim.spatial.n_obs
    np.testing.assert_array_equal(results[None], results[sim.spatial.n_obs])
    sampled = results[150]
    assert sampled.shape == results[None].shape and np.isfinite(sampled).all()
    assert not np.allclose(sampled, results[None])


@pytest.mark.parametrize("cells", [99, 10_000_001])
def test_train_cells_has_a_bounded_range(cells):
    with pytest.raises(ValueError, match="train_cells.*between 100 and 10000000"):
        build_method("graph", {"train_cells": cells})


def test_graph_imputes_simulated_genes(sim):
    scores = tessella.benchmark(sim.spatial, sim.reference, sim.embeddings,
                                methods=["graph", "mean"], folds=3, verbose=False,
                                params={"graph": {"max_epochs": 10}})
    summary = scores.attrs["summary"]
    assert summary.loc["graph", "spearman"] > 0.4
    assert summary.loc["graph", "rmse"] < summary.loc["mean", "rmse"]


def test_a_cells_prediction_does_not_depend_on_its_batch(sim):
    model = build_method("graph", FAST)
    inputs = load_inputs([type(model)], sim.spatial[:, :24].copy(), sim.reference)
    task = task_for(inputs, type(model))
    model.fit(task)
    first = model.predict(task).values
    model.params.batch_size = 7  # blocks of 28 cells instead of 1024
    np.testing.assert_allclose(model.predict(task).values, first, rtol=1e-5, atol=1e-6)


def test_prediction_without_node_features_equals_the_feature_path(sim):
    """predict_values (first layer from gathered reference rows and graph means, the
    rest genes first, in chunks of cells) gives the GNN output and the neighbour mean
    of the node-feature path, for any chunk size; so does a blocked prediction."""
    model = build_method("graph", FAST)
    inputs = load_inputs([type(model)], sim.spatial[:, :24].copy(), sim.reference)
    model.fit(task_for(inputs, type(model)))
    state, k = model.module, model.fitted["k"]
    generator = torch.Generator().manual_seed(0)
    index = torch.randint(0, len(state.reference), (37, k), generator=generator)
    similarity = torch.sort(torch.rand(37, k, generator=generator), 1, descending=True).values
    weights = neighbour_weights(similarity)
    with torch.no_grad():
        features, mean = state.features(index, weights)
        expected = state.gnn(features, state.adjacency)
        graph_means = state.graph_means(block=100)
        for chunk in (1, 5, 16, 37):
            gnn, neighbour_mean = state.predict_values(index, weights, graph_means, chunk)
            np.testing.assert_allclose(gnn.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(neighbour_mean.numpy(), mean.numpy(), rtol=1e-5,
                                       atol=1e-6)


def test_prediction_on_two_threads_splits_blocks_between_them(sim):
    """With two torch threads, prediction gives each thread its own cells (torch set to
    one thread meanwhile): the same values as one thread, and the setting restored."""
    model = build_method("graph", {**FAST, "device": "cpu"})
    inputs = load_inputs([type(model)], sim.spatial[:, :24].copy(), sim.reference)
    task = task_for(inputs, type(model))
    model.fit(task)
    one = model.predict(task)
    torch.set_num_threads(2)
    try:
        two = model.predict(task)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    np.testing.assert_allclose(two.values, one.values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(two.latent, one.latent, rtol=1e-5, atol=1e-6)


def test_no_hard_coded_cuda_calls():
    sources = Path(tessella.__file__).parent.rglob("*.py")
    offenders = [p.name for p in sources if re.search(r"\.cuda\(", p.read_text())]
    assert offenders == []


@pytest.fixture(scope="module")
def osmfish_scores(osmfish):
    spatial, reference, embeddings = osmfish
    return tessella.benchmark(spatial, reference, embeddings, methods=["graph", "knn"],
                              folds=5, seed=0, verbose=False, device="cpu")


@pytest.mark.slow
def test_graph_imputes_osmfish_and_keeps_the_scale(osmfish_scores):
    """graph's medians moved with torch's thread count and with reference cells left
    out (Pearson 0.200-0.231, Spearman 0.186-0.228 over four runs), knn's did not
    (0.217 / 0.213): graph vs knn is inside that spread, so only a floor is asserted
    for the correlations; its cosine (0.76-0.78 vs 0.49) is a lead well outside it."""
    summary = tessella.evaluate.summary_table(osmfish_scores)
    assert summary.loc["graph", "pearson"] > 0.15
    assert summary.loc["graph", "spearman"] > 0.15
    assert summary.loc["graph", "cosine"] > summary.loc["knn", "cosine"] + 0.15


@pytest.mark.slow
def test_reliability_ranks_genes_on_osmfish(osmfish_scores):
    graph = osmfish_scores[osmfish_scores.method == "graph"]
    top = graph[graph.reliability >= graph.reliability.median()]
    assert top.cosine.median() > graph.cosine.median()
