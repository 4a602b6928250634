"""SpaGE (Abdelaal et al. 2020): domain adaptation by principal vectors, then neighbours.

Written from the paper. Each data set's shared genes are z-scored on their own;
principal components are fitted on each (``n_components``, the paper's
``n_pv``, per data set), and PRECISE aligns them: the SVD of the product of the
two component matrices gives pairs of principal vectors, one per data set,
ordered by their cosine similarity. Pairs whose similarity stays above
``min_similarity`` span the subspace the two platforms share; both data sets
are projected on the reference's side of those vectors (the spatial cells'
coordinates are the latent space). Each spatial cell then takes a weighted mean
of its ``k`` nearest reference cells in that subspace (cosine distance ``d``),
weights ``(1 - d / sum(d)) / (n - 1)`` over the neighbours closer than
``d = 1``. Everything else is ``knn``'s: the same search (and ``neighbors``
backend), blocks and state.

PRECISE reads the shared genes only, of at most :data:`PRECISE_CELLS` cells of
each data set (drawn with the seed; all cells below that), so its memory does
not grow with the size of the slide or of the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tessella.data.normalize import sample_cells, standardise
from tessella.data.task import ImputationTask
from tessella.models.knn import KnnImputer, KnnParams, principal_axes
from tessella.models.registry import register
from tessella.params import bounded

#: Most spatial cells (drawn with the seed) the spatial principal components are fitted on.
PRECISE_CELLS = 100_000


@dataclass
class SpageParams(KnnParams):
    """Hyper-parameters of ``spage``.

    Attributes
    ----------
    n_components
        Principal components per data set (the paper's ``n_pv``; capped at the
        number of shared genes or cells less one).
    min_similarity
        Principal-vector pairs less similar than this are dropped.
    """

    min_similarity: float = bounded(0.3, low=0.0, high=1.0)


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
class SpageImputer(KnnImputer):
    """SpaGE: PRECISE principal vectors shared by both platforms, then k neighbours."""

    name = "spage"
    summary = "SpaGE: principal vectors aligned across platforms + k nearest reference cells"
    params_class = SpageParams

    def shared_axes(self, task: ImputationTask, shared: np.ndarray, reference: np.ndarray,
                    n_reference: int) -> np.ndarray:
        """The reference's side of the principal vectors both platforms share
        (``reference``: the standardised reference cells in memory, all or a sample
        of its ``n_reference``; the spatial side is read the same way)."""
        measured = task.measured(shared)
        spatial, _, _ = standardise(sample_cells(measured, PRECISE_CELLS, self.params.seed))
        n_pv = self.capped("n_components",
                           max(1, min(len(shared), n_reference, measured.n_obs) - 1),
                           "the shared genes or cells less one")
        return principal_vectors(reference, spatial, n_pv, self.params.min_similarity)

    @staticmethod
    def weigh(similarity: np.ndarray) -> np.ndarray:
        return spage_weights(similarity)
