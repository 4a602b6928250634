"""The neighbour-search backends (exact, faiss flat, HNSW, auto) and the thread setting."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import tessella
from tessella import neighbors, threads
from tessella.errors import InputError
from tessella.neighbors import (
    NeighbourIndex,
    nearest,
    neighbour_mean,
    neighbour_weights,
    resolve_backend,
    unit_rows,
    weight_matrix,
)
from tessella.params import describe_params

QUIET = {"verbose": False}


def clustered(n: int, dimensions: int, seed: int, clusters: int = 40) -> np.ndarray:
    """Unit rows around cluster centres, spreads falling over dimensions like a PCA's
    (the points of bench/neighbors.py)."""
    rng = np.random.default_rng(seed)
    scale = 1 / (1 + np.arange(dimensions)) ** 0.6
    centres = rng.normal(size=(clusters, dimensions)) * 3 * scale
    spread = rng.uniform(0.5, 2.0, size=(clusters, 1))
    label = rng.integers(clusters, size=n)
    points = centres[label] + rng.normal(size=(n, dimensions)) * spread[label] * scale
    return unit_rows(points).astype(np.float32)


def todays_nearest(points, reference, k):
    """The exact search as it was before backends (a frozen copy)."""
    k = min(k, len(reference))
    similarity = points @ reference.T
    index = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(similarity, index, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(index, order, axis=1), np.take_along_axis(top, order, axis=1)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return sum(len(np.intersect1d(a, b)) for a, b in zip(found, truth)) / truth.size


@pytest.fixture(scope="module")
def points():
    return clustered(3000, 20, seed=0), clustered(700, 20, seed=1)


def test_exact_backend_gives_todays_neighbours_block_by_block(points):
    reference, queries = points
    index = NeighbourIndex(reference, "exact")
    assert index.backend == "exact"
    found, similarity = index.search(queries, 25, block_size=64)  # 11 blocks
    step = neighbors.block_size_for(len(reference), 64)
    for start in range(0, len(queries), step):
        want_index, want_similarity = todays_nearest(queries[start:start + step], reference, 25)
        np.testing.assert_array_equal(found[start:start + step], want_index)
        np.testing.assert_array_equal(similarity[start:start + step], want_similarity)
    np.testing.assert_array_equal(found, nearest(queries, reference, 25)[0])


def test_exact_neighbour_mean_is_todays(points):
    reference, queries = points
    values = np.random.default_rng(2).normal(size=(len(reference), 7)).astype(np.float32)
    index, similarity = todays_nearest(queries, reference, 10)
    want = weight_matrix(index, neighbour_weights(similarity), len(reference)) @ values
    got = neighbour_mean(queries, reference, values, 10, neighbors="exact")
    np.testing.assert_array_equal(got, want)


def test_faiss_flat_gives_the_same_neighbours_up_to_ties(points):
    pytest.importorskip("faiss")
    reference, queries = points
    k = 30
    want_index, want_similarity = todays_nearest(queries, reference, k + 1)
    index, similarity = NeighbourIndex(reference, "faiss").search(queries, k, block_size=100)
    np.testing.assert_allclose(similarity, want_similarity[:, :k], atol=1e-5)
    clear = want_similarity[:, k - 1] - want_similarity[:, k] > 1e-5  # no tie at the k-th
    assert clear.mean() > 0.9
    for row in np.flatnonzero(clear):
        assert set(index[row]) == set(want_index[row, :k])


def test_torch_backend_gives_the_same_neighbours_up_to_ties(points, monkeypatch):
    """The search "auto" runs on a CUDA device, here forced onto the CPU."""
    monkeypatch.setattr(neighbors, "_on_gpu", lambda device: True)
    reference, queries = points
    index = NeighbourIndex(reference, "auto", torch.device("cpu"))
    assert index.backend == "torch"
    assert resolve_backend("exact", 10, "cuda") == "exact"
    found, similarity = index.search(queries, 20, block_size=128)
    want_index, want_similarity = todays_nearest(queries, reference, 21)
    np.testing.assert_allclose(similarity, want_similarity[:, :20], atol=1e-5)
    clear = want_similarity[:, 19] - want_similarity[:, 20] > 1e-5
    assert all(set(found[row]) == set(want_index[row, :20]) for row in np.flatnonzero(clear))


def test_hnsw_recall_on_a_seeded_test_set():
    pytest.importorskip("faiss")
    reference, queries = clustered(20_000, 30, seed=3), clustered(2_000, 30, seed=4)
    truth, _ = NeighbourIndex(reference, "faiss").search(queries, 50)
    index = NeighbourIndex(reference, "hnsw")
    found, similarity = index.search(queries, 50)
    assert recall(found, truth) >= 0.98
    assert (found >= 0).all() and np.all(np.diff(similarity, axis=1) <= 1e-6)


def test_hnsw_is_reproducible():
    pytest.importorskip("faiss")
    reference, queries = clustered(3000, 10, seed=5), clustered(300, 10, seed=6)
    first = NeighbourIndex(reference, "hnsw").search(queries, 20)
    second = NeighbourIndex(reference, "hnsw").search(queries, 20)
    np.testing.assert_array_equal(first[0], second[0])


@pytest.mark.parametrize("backend", ["exact", "faiss", "hnsw"])
def test_k_is_capped_at_the_reference(backend):
    pytest.importorskip("faiss")
    reference = clustered(12, 5, seed=7)
    index, similarity = NeighbourIndex(reference, backend).search(reference, 50)
    assert index.shape == (12, 12) and (index[:, 0] == np.arange(12)).all()
    assert np.all(np.sort(index, axis=1) == np.arange(12))


def test_auto_picks_by_reference_size(monkeypatch, caplog):
    assert resolve_backend("auto", neighbors.FAISS_FROM - 1) == "exact"
    if neighbors._faiss() is not None:
        assert resolve_backend("auto", neighbors.FAISS_FROM) == "faiss"
        assert resolve_backend("auto", neighbors.HNSW_FROM) == "hnsw"
    monkeypatch.setattr(neighbors, "_faiss", lambda: None)
    with caplog.at_level(logging.INFO, logger="tessella.neighbors"):
        assert resolve_backend("hnsw", 10) == "exact"
        assert resolve_backend("auto", 10 * neighbors.HNSW_FROM) == "exact"
    assert "needs faiss" in caplog.text
    with pytest.raises(ValueError, match="neighbors must be one of"):
        resolve_backend("annoy", 10)


def test_the_option_documents_the_auto_thresholds():
    meaning = {row["parameter"]: row for row in
               describe_params(tessella.models.registry.get_method("knn").params_class)}
    text = meaning["neighbors"]["meaning"]
    assert f"{neighbors.FAISS_FROM // 1000}k" in text and f"{neighbors.HNSW_FROM // 1000}k" in text


@pytest.mark.parametrize("method", ["knn", "spage", "auto", "graph"])
def test_methods_take_the_option_and_refuse_unknown_backends(sim, method):
    rows = describe_params(tessella.models.registry.get_method(method).params_class)
    option = next(row for row in rows if row["parameter"] == "neighbors")
    assert option["default"] == "auto" and "'hnsw'" in option["range"]
    with pytest.raises(InputError, match="parameter 'neighbors' must be one of"):
        tessella.impute(sim.spatial[:, :20].copy(), sim.reference, method,
                        neighbors="annoy", **QUIET)


@pytest.mark.parametrize("method", ["knn", "auto"])
def test_faiss_backend_imputes_like_exact(sim, method):
    pytest.importorskip("faiss")
    spatial = sim.spatial[:, :20].copy()
    exact = tessella.impute(spatial, sim.reference, method, neighbors="exact", **QUIET)
    flat = tessella.impute(spatial, sim.reference, method, neighbors="faiss", **QUIET)
    np.testing.assert_allclose(flat.X, exact.X, atol=1e-4)


@pytest.fixture
def fresh_threads(monkeypatch):
    """The thread setting as if never applied; torch back to 1 thread afterwards."""
    monkeypatch.setattr(threads, "_applied", None)
    yield
    threads.set_threads(1)


def test_threads_default_to_the_cores_this_process_may_use(fresh_threads, monkeypatch):
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    assert threads.thread_count() == threads.available_cores()
    assert threads.apply_threads() == threads.available_cores()
    assert torch.get_num_threads() == threads.available_cores()


def test_threads_follow_the_environment_and_apply_once(fresh_threads, monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, "1")
    torch.set_num_threads(2)
    assert threads.apply_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv(threads.ENV_VAR, "2")
    assert threads.apply_threads() == 1 and torch.get_num_threads() == 1  # once
    for bad in ("0", "many"):
        monkeypatch.setenv(threads.ENV_VAR, bad)
        with pytest.raises(InputError, match="TESSELLA_THREADS must be a positive integer"):
            threads.thread_count()


def test_the_engine_applies_the_setting_when_it_starts_work(fresh_threads, sim, monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, "1")
    torch.set_num_threads(2)
    tessella.impute(sim.spatial[:, :20].copy(), sim.reference, "knn", **QUIET)
    assert torch.get_num_threads() == 1
