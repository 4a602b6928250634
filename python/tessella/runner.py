"""Run one method on validated inputs: the step the API, the benchmark and the
CLI share (prepare the task, build the method, fit, predict)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tessella.data.task import ImputationTask, prepare_task
from tessella.inputs import Inputs
from tessella.models.base import Imputer, Prediction, get_method


def task_for(
    inputs: Inputs,
    method: type[Imputer],
    genes: list[str] | None = None,
    measured: np.ndarray | None = None,
) -> ImputationTask:
    """The task ``method`` sees: measured genes (all, or the ``measured`` positions)
    and the genes to impute, drawn from the reference or the embedding table."""
    return prepare_task(
        inputs.spatial,
        spatial_is_counts=inputs.spatial_is_counts,
        target_source="reference" if method.requires_reference else "embeddings",
        genes=genes,
        layer=inputs.layer,
        measured=measured,
        reference=inputs.reference,
        reference_layer=inputs.reference_layer,
        reference_is_counts=inputs.reference_is_counts,
        embeddings=inputs.embeddings,
    )


def build_method(name: str, params: dict[str, Any]) -> Imputer:
    """A fresh, unfitted method with the given hyper-parameters."""
    return get_method(name)(**params)


def fit_predict(model: Imputer, task: ImputationTask) -> Prediction:
    """Fit ``model`` on ``task`` and predict its output genes."""
    return model.fit(task).predict(task)
