"""SpaGE (Abdelaal et al. 2020): domain adaptation by principal vectors, then neighbours.

Written from the paper. Each data set's shared genes are z-scored on their own;
principal components are fitted on each (``n_pv`` per data set), and PRECISE
aligns them: the SVD of the product of the two component matrices gives pairs
of principal vectors, one per data set, ordered by their cosine similarity.
Pairs whose similarity stays above ``min_similarity`` span the subspace the two
platforms share; both data sets are projected on the reference's side of those
vectors. Each spatial cell then takes a weighted mean of its ``k`` nearest
reference cells in that subspace (cosine distance ``d``), weights
``(1 - d / sum(d)) / (n - 1)`` over the neighbours closer than ``d = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tessella.data.normalize import standardise
from tessella.data.task import ImputationTask
from tessella.models.base import (
    Imputer,
    ImputerParams,
    Prediction,
    fitted_from_state,
    fitted_to_state,
    locate_fitted,
    place_predictions,
    register,
)
from tessella.models.knn import principal_axes
from tessella.models.params import bounded
from tessella.neighbors import block_size_for, nearest, unit_rows, weight_matrix


@dataclass
class SpageParams(ImputerParams):
    """Hyper-parameters of ``spage``.

    Attributes
    ----------
    n_pv
        Principal components per data set (capped by the number of shared genes).
    min_similarity
        Principal-vector pairs less similar than this are dropped.
    k
        Reference neighbours per spatial cell.
    block_size
        Most spatial cells per block of the neighbour search.
    """

    n_pv: int = bounded(30, low=1)
    min_similarity: float = bounded(0.3, low=0.0, high=1.0)
    k: int = bounded(50, low=1)
    block_size: int = bounded(4096, low=1)


def principal_vectors(source: np.ndarray, target: np.ndarray, n_pv: int,
                      min_similarity: float) -> np.ndarray:
    """PRECISE principal vectors of the source side (genes x vectors) for two
    standardised data sets with the same genes; at least one vector is kept."""
    source_pcs = principal_axes(source, n_pv).T  # components x genes
    target_pcs = principal_axes(target, n_pv).T
    u, similarity, _ = np.linalg.svd(source_pcs @ target_pcs.T)
    vectors = (u.T @ source_pcs).T
    keep = max(1, int(np.sum(similarity > min_similarity)))
    return vectors[:, :keep].astype(np.float32)


def spage_weights(similarity: np.ndarray) -> np.ndarray:
    """SpaGE's neighbour weights from cosine similarities (rows: cells)."""
    distance = 1.0 - similarity
    close = distance < 1.0
    total = np.where(close, distance, 0.0).sum(axis=1, keepdims=True)
    count = close.sum(axis=1, keepdims=True)
    weights = np.where(close, 1.0 - distance / np.maximum(total, 1e-12), 0.0)
    weights /= np.maximum(count - 1, 1)
    single = (count == 1).ravel()  # one close neighbour: it is the prediction
    weights[single] = close[single].astype(weights.dtype)
    return weights


@register
class SpageImputer(Imputer):
    """SpaGE: PRECISE principal vectors shared by both platforms, then k neighbours."""

    name = "spage"
    summary = "SpaGE: principal vectors aligned across platforms + k nearest reference cells"
    params_class = SpageParams
    requires_reference = True

    def __init__(self, params: SpageParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.fitted: dict[str, Any] = {}

    def fit(self, task: ImputationTask) -> SpageImputer:
        shared, predictable = task.shared_in_reference, task.in_reference
        reference, _, _ = standardise(task.reference_genes(shared).to_array())
        spatial, _, _ = standardise(task.measured(shared).to_array())
        n_pv = max(1, min(self.params.n_pv, len(shared) - 1, len(reference) - 1,
                          len(spatial) - 1))
        vectors = principal_vectors(reference, spatial, n_pv, self.params.min_similarity)
        self.fitted = {
            "shared_genes": [task.output_genes[i] for i in shared],
            "output_genes": [task.output_genes[i] for i in predictable],
            "vectors": vectors,
            "reference_points": unit_rows(reference @ vectors).astype(np.float32),
            "reference_values": task.reference_genes(predictable).to_array(),
        }
        return self

    def predict(self, task: ImputationTask) -> Prediction:
        if not self.fitted:
            raise RuntimeError("call fit() before predict().")
        genes = locate_fitted(task, self.fitted["shared_genes"], self.fitted["output_genes"],
                              self.name)
        query = task.measured(genes.shared)
        mean, std = query.moments()
        values = self.fitted["reference_values"][:, genes.wanted]
        reference_points = self.fitted["reference_points"]
        predicted = np.empty((query.n_obs, values.shape[1]), dtype=np.float32)
        step = block_size_for(len(reference_points), self.params.block_size)
        for start, stop, block in query.blocks(step):
            points = unit_rows(((block - mean) / std) @ self.fitted["vectors"])
            index, similarity = nearest(points, reference_points, self.params.k)
            weights = spage_weights(similarity)
            predicted[start:stop] = weight_matrix(index, weights, len(values)) @ values
        return Prediction(values=place_predictions(task, genes, predicted, self.name))

    def state(self) -> dict[str, Any]:
        return fitted_to_state(self.fitted)

    def load_state(self, state: dict[str, Any]) -> None:
        self.fitted = fitted_from_state(state)
