"""The floor every method must clear: each gene's mean in the reference.

The means are streamed (sparse blocks from a sparse reference), and the
prediction is filled a block at a time into an array that spills to disk above
the memory budget (:func:`tessella.output.allocate`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tessella.data.matrix import DEFAULT_CHUNK
from tessella.data.task import ImputationTask
from tessella.models.interface import Imputer, Prediction
from tessella.models.placement import locate_fitted, place_predictions
from tessella.models.registry import register
from tessella.output import allocate


@register
class MeanImputer(Imputer):
    """Predicts every cell as the reference mean of each gene (a constant per gene,
    so its correlations with the truth are undefined and reported as NaN)."""

    name = "mean"
    summary = "reference gene means (the floor)"
    requires_reference = True

    def __init__(self, params=None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.genes: list[str] = []
        self.means = np.zeros(0, dtype=np.float32)

    def fit(self, task: ImputationTask) -> MeanImputer:
        available = task.in_reference
        self.means, _ = task.reference_genes(available).moments()
        self.genes = [task.output_genes[i] for i in available]
        return self

    def predict(self, task: ImputationTask) -> Prediction:
        genes = locate_fitted(task, [], self.genes, self.name)
        means = self.means[genes.wanted]
        predicted = allocate((task.spatial.n_obs, len(means)), np.float32,
                             what="the reference means")
        for start in range(0, len(predicted), DEFAULT_CHUNK):  # a block at a time
            predicted[start:start + DEFAULT_CHUNK] = means
        return Prediction(values=place_predictions(task, genes, predicted, self.name))

    def state(self) -> dict[str, Any]:
        return {"genes": self.genes, "means": torch.as_tensor(self.means)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.genes, self.means = list(state["genes"]), state["means"].numpy()
