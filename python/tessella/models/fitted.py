"""Methods whose fitted model is a dict of arrays and plain values (knn, spage,
ridge, auto), and the conversion of such a dict to and from saved state."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tessella.models.interface import Imputer
from tessella.params import ImputerParams


def fitted_to_state(fitted: dict[str, Any]) -> dict[str, Any]:
    """A fitted model's arrays as tensors and its plain values, ready for ``torch.save``."""
    arrays = {key: torch.as_tensor(value) for key, value in fitted.items()
              if isinstance(value, np.ndarray)}
    return {"arrays": arrays, "plain": {k: v for k, v in fitted.items() if k not in arrays}}


def fitted_from_state(state: dict[str, Any]) -> dict[str, Any]:
    """Undo :func:`fitted_to_state`."""
    return {**state["plain"], **{key: value.numpy() for key, value in state["arrays"].items()}}


class FittedImputer(Imputer):
    """A method whose fitted model is the dict ``fitted`` of arrays and plain values."""

    def __init__(self, params: ImputerParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.fitted: dict[str, Any] = {}

    def require_fitted(self) -> dict[str, Any]:
        """The fitted model; a ``RuntimeError`` before ``fit``."""
        if not self.fitted:
            raise RuntimeError("call fit() first: the model has not been fitted.")
        return self.fitted

    def state(self) -> dict[str, Any]:
        return fitted_to_state(self.require_fitted())

    def load_state(self, state: dict[str, Any]) -> None:
        self.fitted = fitted_from_state(state)
