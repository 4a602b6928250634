"""tessella: impute unmeasured genes and denoise measured genes in spatial transcriptomics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tessella")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from tessella import datasets, evaluate, models, pl
from tessella.api import (
    available_methods,
    benchmark,
    fine_tune,
    fit,
    impute,
    load_model,
    predict,
    pretrain,
    refine,
)
from tessella.coexpression import coexpression_embeddings
from tessella.errors import InputError

__all__ = [
    "InputError",
    "__version__",
    "available_methods",
    "benchmark",
    "coexpression_embeddings",
    "datasets",
    "evaluate",
    "fine_tune",
    "fit",
    "impute",
    "load_model",
    "models",
    "pl",
    "predict",
    "pretrain",
    "refine",
]
