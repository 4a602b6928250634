"""Per-gene reliability: how accurate an imputed gene is expected to be.

A small ridge regression maps gene features to the cosine similarity the gene's
imputation reaches with the truth. It is trained by cross-validation over the
shared genes (hide some, impute them from reference neighbours found on the
others, score them), then applied to the genes that were never measured.

The features describe a gene, not a data set, so a fitted model means the same
on any slide whatever its number of cells: the gene's detection rate, mean and
spread in the reference, the share of its reference variance that the spatial
cells' reference neighbourhoods keep (how well neighbourhoods resolve it), and
its strongest gene-graph similarity to a measured gene.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def gene_features(reference: np.ndarray, neighbourhood_mean: np.ndarray,
                  graph_similarity: np.ndarray) -> np.ndarray:
    """Features (genes x 5) of each reference gene.

    Parameters
    ----------
    reference
        Reference cells x genes, log-normalised.
    neighbourhood_mean
        Spatial cells x genes: each cell's neighbour-weighted reference mean.
    graph_similarity
        Per gene, its largest gene-graph similarity to a measured gene.
    """
    variance = reference.var(axis=0)
    kept = np.divide(neighbourhood_mean.var(axis=0), variance,
                     out=np.zeros_like(variance), where=variance > 1e-12)
    return np.column_stack([(reference > 0).mean(axis=0), reference.mean(axis=0),
                            np.sqrt(variance), kept, graph_similarity])


def fit_reliability(features: np.ndarray, accuracy: np.ndarray) -> Pipeline:
    """Ridge regression from gene features to accuracy (rows with NaN left out)."""
    usable = np.isfinite(accuracy) & np.isfinite(features).all(axis=1)
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    return model.fit(features[usable], accuracy[usable])


def predict_reliability(model: Pipeline, features: np.ndarray) -> np.ndarray:
    """Expected cosine similarity per gene, within [-1, 1]."""
    return np.clip(model.predict(np.nan_to_num(features)), -1.0, 1.0)
