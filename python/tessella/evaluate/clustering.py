"""Does a prediction preserve the cell-population structure of the truth?

The predicted matrix is clustered with Leiden on a kNN graph in PCA space and the clusters
are compared with reference labels (given cell types, or the Leiden clustering of the truth
computed with the same settings). The pipeline is deliberately simple and deterministic for
a given seed:

1. z-score every gene (constant genes become 0, see ``data.normalize.standardise``);
2. PCA to ``min(n_pcs, n_genes - 1, n_cells - 1)`` components;
3. unweighted, symmetrised kNN graph (Euclidean distance in PC space), built as an edge list;
4. Leiden with ``RBConfigurationVertexPartition`` at the given resolution and seed.
"""

from __future__ import annotations

import logging
from typing import Any

import igraph
import leidenalg
import numpy as np
from sklearn import metrics as skm
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from tessella.columns import as_matrix
from tessella.data.normalize import standardise

logger = logging.getLogger(__name__)

ASW_MAX_CELLS = 5000


def _cells_to_cluster(matrix: np.ndarray, name: str = "matrix") -> np.ndarray:
    """Return a dense, finite 2-D float64 array of at least 2 cells (sparse input is
    densified)."""
    arr = as_matrix(matrix, name)
    if arr.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 cells to cluster, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values; cannot cluster it")
    return arr


def _embed(matrix: np.ndarray, n_pcs: int, seed: int) -> np.ndarray:
    """Standardise and project onto the leading principal components.

    With fewer than two genes (no room for a PCA) the standardised matrix is returned.
    """
    z, _, _ = standardise(matrix, dtype=np.float64)
    n_comp = min(n_pcs, z.shape[1] - 1, z.shape[0] - 1)
    if n_comp < 1 or not z.any():
        return z
    return PCA(n_components=n_comp, random_state=seed).fit_transform(z)


def _knn_edges(embedding: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Undirected kNN edges ``(i, j)`` with ``i < j``, no self loops, no duplicates."""
    n = embedding.shape[0]
    k = min(n_neighbors + 1, n)
    nn = NearestNeighbors(n_neighbors=k).fit(embedding)
    neighbours = nn.kneighbors(embedding, return_distance=False)
    rows = np.repeat(np.arange(n), k)
    cols = neighbours.ravel()
    keep = rows != cols
    lo = np.minimum(rows[keep], cols[keep])
    hi = np.maximum(rows[keep], cols[keep])
    return np.unique(np.stack([lo, hi], axis=1), axis=0)


def _leiden(edges: np.ndarray, n_cells: int, resolution: float, seed: int) -> np.ndarray:
    """Leiden partition (RB configuration model) of an unweighted graph."""
    graph = igraph.Graph(n=n_cells, edges=edges.tolist(), directed=False)
    partition = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        resolution_parameter=resolution,
        seed=seed,
    )
    return np.asarray(partition.membership, dtype=np.int64)


def _cluster_embedding(
    embedding: np.ndarray, n_neighbors: int, resolution: float, seed: int
) -> np.ndarray:
    """kNN graph plus Leiden on an already computed embedding (one cluster when
    every cell sits at the same point, e.g. a constant prediction)."""
    if np.ptp(embedding, axis=0).max() == 0:
        return np.zeros(embedding.shape[0], dtype=np.int64)
    edges = _knn_edges(embedding, n_neighbors)
    labels = _leiden(edges, embedding.shape[0], resolution, seed)
    logger.debug("Leiden: %d cells, %d edges, %d clusters",
                 embedding.shape[0], len(edges), labels.max() + 1)
    return labels


def leiden_clusters(
    matrix: np.ndarray,
    n_neighbors: int = 15,
    n_pcs: int = 30,
    resolution: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Cluster cells with Leiden on a kNN graph in PCA space.

    Parameters
    ----------
    matrix : numpy.ndarray
        Expression, shape ``(cells, genes)``; must be finite.
    n_neighbors : int
        Neighbours per cell in the kNN graph (before symmetrisation).
    n_pcs : int
        Principal components, capped at ``min(n_genes - 1, n_cells - 1)``.
    resolution : float
        Leiden resolution; higher gives more clusters.
    seed : int
        Seed for PCA and Leiden; the result is deterministic for a given seed.

    Returns
    -------
    numpy.ndarray
        Integer cluster label per cell (0 is the largest cluster); one cluster when
        every cell has the same values.
    """
    arr = _cells_to_cluster(matrix)
    embedding = _embed(arr, n_pcs, seed)
    return _cluster_embedding(embedding, n_neighbors, resolution, seed)


def clustering_scores(labels_true: np.ndarray, labels_pred: np.ndarray) -> dict[str, float]:
    """Agreement between two labelings of the same cells.

    Parameters
    ----------
    labels_true : array-like
        Reference labels (any hashable values), one per cell.
    labels_pred : array-like
        Predicted labels, one per cell.

    Returns
    -------
    dict of str to float
        ``ari`` (adjusted Rand index), ``ami`` (adjusted mutual information), ``nmi``
        (normalised mutual information), ``homogeneity``, ``completeness`` and ``fmi``
        (Fowlkes-Mallows index). All are 1 for identical partitions.
    """
    t = np.asarray(labels_true)
    p = np.asarray(labels_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"label vectors must be 1-D of equal length, got {t.shape}, {p.shape}")
    return {
        "ari": float(skm.adjusted_rand_score(t, p)),
        "ami": float(skm.adjusted_mutual_info_score(t, p)),
        "nmi": float(skm.normalized_mutual_info_score(t, p)),
        "homogeneity": float(skm.homogeneity_score(t, p)),
        "completeness": float(skm.completeness_score(t, p)),
        "fmi": float(skm.fowlkes_mallows_score(t, p)),
    }


def _scaled_silhouette(embedding: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Silhouette width on at most :data:`ASW_MAX_CELLS` sampled cells, mapped to [0, 1].

    NaN when the (sampled) labels form fewer than 2 or more than ``n - 1`` groups.
    """
    n = embedding.shape[0]
    idx = np.arange(n)
    if n > ASW_MAX_CELLS:
        idx = np.sort(np.random.default_rng(seed).choice(n, ASW_MAX_CELLS, replace=False))
    sample_labels = labels[idx]
    n_groups = len(np.unique(sample_labels))
    if n_groups < 2 or n_groups > len(idx) - 1:
        return float("nan")
    asw = skm.silhouette_score(embedding[idx], sample_labels, metric="euclidean")
    return float((asw + 1.0) / 2.0)


def cluster_agreement(
    truth_matrix: np.ndarray,
    predicted_matrix: np.ndarray,
    labels: np.ndarray | None = None,
    seed: int = 0,
    **leiden_kwargs: Any,
) -> dict[str, float]:
    """How well the clusters of a prediction match reference cell groups.

    The predicted matrix is clustered with :func:`leiden_clusters`. The reference is
    ``labels`` when given, otherwise the Leiden clustering of ``truth_matrix`` with the same
    settings and seed. Besides :func:`clustering_scores`, the result holds ``asw``: the
    silhouette width of the reference labels in the predicted matrix's PCA embedding
    (computed on at most 5000 cells sampled with ``seed``), rescaled from [-1, 1] to [0, 1]
    as ``(asw + 1) / 2``; it is NaN if the reference has a single group.

    Parameters
    ----------
    truth_matrix : numpy.ndarray
        Held-out expression, shape ``(cells, genes)``; only clustered when ``labels`` is None.
    predicted_matrix : numpy.ndarray
        Predicted expression for the same cells; must be finite.
    labels : array-like, optional
        Reference label per cell (for example annotated cell types).
    seed : int
        Seed for PCA, Leiden and the silhouette subsample.
    **leiden_kwargs
        ``n_neighbors``, ``n_pcs`` and ``resolution`` passed to :func:`leiden_clusters`.

    Returns
    -------
    dict of str to float
        Keys ``ari, ami, nmi, homogeneity, completeness, fmi, asw``; all higher is better.
    """
    unknown = set(leiden_kwargs) - {"n_neighbors", "n_pcs", "resolution"}
    if unknown:
        raise TypeError(f"unexpected Leiden arguments: {sorted(unknown)}")
    n_pcs = leiden_kwargs.get("n_pcs", 30)
    n_neighbors = leiden_kwargs.get("n_neighbors", 15)
    resolution = leiden_kwargs.get("resolution", 1.0)
    pred = _cells_to_cluster(predicted_matrix, "predicted_matrix")
    if labels is None:
        reference = leiden_clusters(truth_matrix, seed=seed, **leiden_kwargs)
    else:
        reference = np.asarray(labels)
    if reference.shape != (pred.shape[0],):
        raise ValueError(f"{reference.shape[0]} reference labels for {pred.shape[0]} cells")
    embedding = _embed(pred, n_pcs, seed)
    predicted = _cluster_embedding(embedding, n_neighbors, resolution, seed)
    scores = clustering_scores(reference, predicted)
    scores["asw"] = _scaled_silhouette(embedding, _codes(reference), seed)
    return scores


def _codes(labels: np.ndarray) -> np.ndarray:
    """Integer codes for arbitrary (possibly mixed-type) labels."""
    return np.unique(labels.astype(str), return_inverse=True)[1]


#: The scores spRefine averages into one clustering score.
AVERAGED_SCORES = ("nmi", "ari", "asw")


def average_score(scores: dict[str, float]) -> float:
    """Mean of NMI, ARI and ASW (spRefine's summary of a clustering), from the result
    of :func:`cluster_agreement`; NaN when any of the three is NaN."""
    return float(np.mean([scores[name] for name in AVERAGED_SCORES]))
