"""Shared-PCA k-nearest-neighbour imputation (SpaGE / stPlus family baseline).

Both data sets are standardised per gene on the shared genes (each with its
own mean and spread, which removes platform-wide scale differences), projected
on principal components fitted on the reference, and each spatial cell takes
the weighted mean of its ``k`` most similar reference cells (cosine in PC
space, found by the ``neighbors`` backend of :mod:`tessella.neighbors`, the
reference indexed once per prediction). Spatial cells are processed in blocks,
so memory grows with the block, not with the number of spatial cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tessella.data.normalize import standardise
from tessella.data.task import ImputationTask
from tessella.device import resolve_device
from tessella.models.fitted import FittedImputer
from tessella.models.interface import Prediction
from tessella.models.pca import principal_axes
from tessella.models.placement import locate_fitted, place_predictions
from tessella.models.registry import register
from tessella.neighbors import NeighbourIndex, neighbour_weights, unit_rows
from tessella.params import ImputerParams, NeighborParams, bounded


@dataclass
class KnnParams(NeighborParams, ImputerParams):
    """Hyper-parameters of ``knn``.

    Attributes
    ----------
    k
        Reference neighbours per spatial cell (capped at the number of reference cells).
    n_components
        Principal components of the shared space, the ``TESSELLA`` cell embedding
        (capped at the number of shared genes or reference cells less one).
    block_size
        Most spatial cells per block of the neighbour search; fewer when the
        search is exact and the reference large, so a block's similarity matrix
        stays near 100 MB.
    """

    k: int = bounded(50, low=1)
    n_components: int = bounded(30, low=1)
    block_size: int = bounded(4096, low=1)


@register
class KnnImputer(FittedImputer):
    """Weighted mean of the nearest reference cells in a shared PCA space; the latent
    space is the spatial cells' coordinates on those principal components."""

    name = "knn"
    summary = "k nearest reference cells in a shared PCA space (SpaGE/stPlus-style baseline)"
    params_class = KnnParams
    requires_reference = True

    def fit(self, task: ImputationTask) -> KnnImputer:
        shared = task.shared_in_reference
        reference = task.reference_genes(shared).to_array()
        scaled, _, _ = standardise(reference)
        axes = self.shared_axes(task, shared, scaled)
        predictable = task.in_reference
        self.fitted = {
            "shared_genes": [task.output_genes[i] for i in shared],
            "output_genes": [task.output_genes[i] for i in predictable],
            "k": self.capped("k", len(scaled), "the reference cells"),
            "axes": axes,
            "reference_points": unit_rows(scaled @ axes).astype(np.float32),
            "reference_values": task.reference_genes(predictable).to_array(),
        }
        return self

    def shared_axes(self, task: ImputationTask, shared: np.ndarray,
                    reference: np.ndarray) -> np.ndarray:
        """Genes x components of the space the neighbours are searched in: the
        principal components of the standardised reference."""
        n_components = self.capped("n_components", max(1, min(len(shared), len(reference)) - 1),
                                   "the shared genes or reference cells less one")
        return principal_axes(reference, n_components)

    @staticmethod
    def weigh(similarity: np.ndarray) -> np.ndarray:
        """Weights of the k neighbours from their similarities (rows sum to one)."""
        return neighbour_weights(similarity)

    def predict(self, task: ImputationTask) -> Prediction:
        self.require_fitted()
        genes = locate_fitted(task, self.fitted["shared_genes"], self.fitted["output_genes"],
                              self.name)
        query = task.measured(genes.shared)
        mean, std = query.moments()
        reference_values = self.fitted["reference_values"][:, genes.wanted]
        index = NeighbourIndex(self.fitted["reference_points"], self.params.neighbors,
                               resolve_device(self.params.device))
        predicted = np.empty((task.spatial.n_obs, reference_values.shape[1]), dtype=np.float32)
        latent = np.empty((task.spatial.n_obs, self.fitted["axes"].shape[1]), dtype=np.float32)
        k = self.fitted.get("k", self.params.k)
        step = index.step(self.params.block_size)
        for start, stop, block in query.blocks(step):
            latent[start:stop] = ((block - mean) / std) @ self.fitted["axes"]
            predicted[start:stop] = index.mean(unit_rows(latent[start:stop]),
                                               reference_values, k, self.weigh, step)
        return Prediction(values=place_predictions(task, genes, predicted, self.name),
                          latent=latent)
