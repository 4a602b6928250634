"""Imputation methods, all behind the :class:`~tessella.models.interface.Imputer` interface.

Importing this package registers every method by name.
"""

import tessella.models.peers  # noqa: F401  (optional extras, loaded lazily)
from tessella.models import (  # noqa: F401  (registers)
    auto,
    diffusion,
    graph,
    knn,
    mean,
    refine,
    ridge,
    spage,
)
from tessella.models.interface import Imputer, Prediction
from tessella.models.registry import get_method, register, registered_methods
from tessella.params import ImputerParams

__all__ = ["Imputer", "ImputerParams", "Prediction", "get_method", "register",
           "registered_methods"]
