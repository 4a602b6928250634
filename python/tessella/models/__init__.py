"""Imputation methods, all behind the :class:`~tessella.models.base.Imputer` interface.

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
from tessella.models.base import (
    Imputer,
    ImputerParams,
    Prediction,
    get_method,
    register,
    registered_methods,
)

__all__ = ["Imputer", "ImputerParams", "Prediction", "get_method", "register",
           "registered_methods"]
