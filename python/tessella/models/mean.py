"""The floor every method must clear: each gene's mean in the reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tessella.data.task import ImputationTask
from tessella.models.base import Imputer, Prediction, keep_measured, register


def column_means(view) -> np.ndarray:
    """Per-gene mean of a normalised view, streamed."""
    total = np.zeros(view.n_vars, dtype=np.float64)
    for _, _, block in view.blocks():
        total += block.sum(axis=0)
    return (total / max(view.n_obs, 1)).astype(np.float32)


@register
class MeanImputer(Imputer):
    """Predicts every cell as the reference mean of each gene (a constant per gene,
    so its correlations with the truth are undefined and reported as NaN)."""

    name = "mean"
    summary = "reference gene means (the floor)"
    requires_reference = True

    def __init__(self, params=None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.means: dict[str, float] = {}

    def fit(self, task: ImputationTask) -> MeanImputer:
        available = np.flatnonzero(task.reference_index >= 0)
        means = column_means(task.reference_genes(available))
        self.means = {task.output_genes[i].upper(): float(m) for i, m in zip(available, means)}
        return self

    def predict(self, task: ImputationTask) -> Prediction:
        row = np.array([self.means.get(g.upper(), np.nan) for g in task.output_genes],
                       dtype=np.float32)
        values = np.repeat(row[None, :], task.spatial.n_obs, axis=0)
        unknown = np.flatnonzero(np.isnan(row))
        if np.any(unknown >= task.n_measured):
            raise ValueError("the model was fit on other genes than those asked for.")
        keep_measured(values, task, unknown)
        return Prediction(values=values)

    def state(self) -> dict[str, Any]:
        return {"genes": list(self.means), "means": torch.tensor(list(self.means.values()))}

    def load_state(self, state: dict[str, Any]) -> None:
        self.means = dict(zip(state["genes"], state["means"].tolist()))
