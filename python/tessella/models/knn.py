"""Shared-PCA k-nearest-neighbour imputation (SpaGE / stPlus family baseline).

Both data sets are standardised per gene on the shared genes (each with its
own mean and spread, which removes platform-wide scale differences), projected
on principal components fitted on the reference, and each spatial cell takes
the weighted mean of its ``k`` most similar reference cells (cosine in PC
space). Spatial cells are processed in blocks, so memory grows with the block,
not with the number of spatial cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tessella.data.task import ImputationTask
from tessella.models.base import Imputer, ImputerParams, Prediction, keep_measured, register
from tessella.neighbors import (
    block_size_for,
    nearest,
    neighbour_weights,
    unit_rows,
    weight_matrix,
)


@dataclass
class KnnParams(ImputerParams):
    """Hyper-parameters of ``knn``.

    Attributes
    ----------
    k
        Reference neighbours per spatial cell.
    n_components
        Principal components of the shared space (capped by the number of shared genes).
    block_size
        Most spatial cells per block of the neighbour search; fewer when the
        reference is large, so a block's similarity matrix stays near 100 MB.
    """

    k: int = 50
    n_components: int = 30
    block_size: int = 4096


def principal_axes(data: np.ndarray, n_components: int) -> np.ndarray:
    """Top right-singular vectors of centred ``data`` (genes x components)."""
    _, _, vt = np.linalg.svd(data - data.mean(axis=0), full_matrices=False)
    return vt[:n_components].T.astype(np.float32)


@register
class KnnImputer(Imputer):
    """Weighted mean of the nearest reference cells in a shared PCA space."""

    name = "knn"
    summary = "k nearest reference cells in a shared PCA space (SpaGE/stPlus-style baseline)"
    params_class = KnnParams
    requires_reference = True

    def __init__(self, params: KnnParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.fitted: dict[str, Any] = {}

    def fit(self, task: ImputationTask) -> KnnImputer:
        shared = task.shared_in_reference
        reference = task.reference_genes(shared).to_array()
        mean, std = reference.mean(axis=0), reference.std(axis=0)
        scaled = (reference - mean) / np.where(std > 1e-8, std, 1.0)
        n_components = max(1, min(self.params.n_components, len(shared) - 1, len(scaled) - 1))
        axes = principal_axes(scaled, n_components)
        predictable = np.flatnonzero(task.reference_index >= 0)
        self.fitted = {
            "shared_genes": [task.output_genes[i].upper() for i in shared],
            "output_genes": [task.output_genes[i].upper() for i in predictable],
            "axes": axes,
            "reference_points": unit_rows(scaled @ axes).astype(np.float32),
            "reference_values": task.reference_genes(predictable).to_array(),
        }
        return self

    def predict(self, task: ImputationTask) -> Prediction:
        if not self.fitted:
            raise RuntimeError("call fit() before predict().")
        positions = {g.upper(): i for i, g in enumerate(task.output_genes)}
        shared = np.array([positions.get(g, -1) for g in self.fitted["shared_genes"]])
        if np.any(shared < 0) or np.any(shared >= task.n_measured):
            raise ValueError("the data lacks measured genes the knn model was fit on.")
        query = task.measured(shared)
        mean, std = query.moments()
        out_columns = np.array([positions.get(g, -1) for g in self.fitted["output_genes"]])
        values = np.full((task.spatial.n_obs, len(task.output_genes)), np.nan, dtype=np.float32)
        wanted = out_columns >= 0
        reference_values = self.fitted["reference_values"][:, wanted]
        n_reference = len(reference_values)
        for start, stop, block in query.blocks(block_size_for(n_reference,
                                                              self.params.block_size)):
            points = unit_rows(((block - mean) / std) @ self.fitted["axes"])
            index, similarity = nearest(points, self.fitted["reference_points"], self.params.k)
            weights = weight_matrix(index, neighbour_weights(similarity), n_reference)
            values[start:stop, out_columns[wanted]] = weights @ reference_values
        missing = np.flatnonzero(np.isnan(values[0]))
        if np.any(missing >= task.n_measured):
            raise ValueError("the knn model was fit on other genes than those asked for.")
        keep_measured(values, task, missing)
        return Prediction(values=values)

    def state(self) -> dict[str, Any]:
        return {key: torch.as_tensor(value) if isinstance(value, np.ndarray) else value
                for key, value in self.fitted.items()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.fitted = {key: value.numpy() if torch.is_tensor(value) else value
                       for key, value in state.items()}
