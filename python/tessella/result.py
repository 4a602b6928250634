"""Assemble the AnnData a method returns: all output genes, provenance, latent space.

The result is a new object. It shares no arrays with the input: obs, obsm
and uns are copied, so changing the result never changes the user's data.
"""

from __future__ import annotations

import copy
import platform
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version

import anndata as ad
import numpy as np
import pandas as pd

from tessella.data.task import ImputationTask
from tessella.models.interface import Imputer, Prediction

LATENT_KEY = "X_tessella"
VERSIONED = ("tessella", "torch", "numpy", "scipy", "anndata", "scikit-learn")


def package_versions() -> dict[str, str]:
    """Versions of tessella and the packages a result depends on."""
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def provenance(model: Imputer, task: ImputationTask, spatial_is_counts: bool) -> dict:
    """What made a result: method, parameters, inputs' scale, gene counts, versions, and
    notes the method made while fitting (a parameter capped to fit the data)."""
    return {
        "method": model.name,
        "params": asdict(model.params),
        "notes": list(getattr(model, "notes", [])),
        "input_scale": "counts (normalised + log1p)" if spatial_is_counts else "log-normalised",
        "n_measured": task.n_measured,
        "n_imputed": len(task.target_genes),
        "versions": package_versions(),
    }


def build_result(
    spatial: ad.AnnData,
    task: ImputationTask,
    prediction: Prediction,
    model: Imputer,
    spatial_is_counts: bool,
    values: bool = True,
) -> ad.AnnData:
    """A new AnnData: measured genes (refined) then imputed genes, cells as in ``spatial``.

    ``var["measured"]`` marks measured genes; ``var["reliability"]`` holds each
    gene's expected accuracy where the method gives one (NaN otherwise);
    ``obsm["X_tessella"]`` the latent space where the method has one (knn: the
    cells' coordinates on the shared principal components; spage: on the
    principal vectors both platforms share; graph: its autoencoder's latent
    space; refine: its cell encoding; auto, ridge, mean and diffusion have
    none); ``uns["tessella"]`` the provenance, with the method's ``notes``.
    Without ``values`` the AnnData has no ``X``: the values are written apart,
    block by block (:func:`tessella.output.write_h5ad`). ``X`` shares the
    prediction's array when it is float32 (a memory-mapped one stays on disk).
    """
    reliability = (prediction.reliability if prediction.reliability is not None
                   else np.full(len(task.output_genes), np.nan))
    var = pd.DataFrame(
        {"measured": np.arange(len(task.output_genes)) < task.n_measured,
         "reliability": np.asarray(reliability, dtype=np.float64)},
        index=pd.Index(task.output_genes, name=None),
    )
    result = ad.AnnData(
        X=np.asarray(prediction.values, dtype=np.float32) if values else None,
        obs=spatial.obs.copy(),
        var=var,
        obsm={key: copy.deepcopy(value) for key, value in spatial.obsm.items()},
        uns={"tessella": provenance(model, task, spatial_is_counts)},
    )
    if prediction.latent is not None:
        result.obsm[LATENT_KEY] = np.asarray(prediction.latent, dtype=np.float32)
    return result
