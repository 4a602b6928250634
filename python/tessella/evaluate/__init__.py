"""Evaluation of imputed expression: per-gene/per-cell metrics and cluster agreement."""

from tessella.evaluate.clustering import (
    cluster_agreement,
    clustering_scores,
    leiden_clusters,
)
from tessella.evaluate.metrics import (
    HIGHER_IS_BETTER,
    METRICS,
    cosine,
    js,
    mse,
    pearson,
    rank_score,
    rmse,
    score_cells,
    score_genes,
    spearman,
    ssim,
)

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "cluster_agreement",
    "clustering_scores",
    "cosine",
    "js",
    "leiden_clusters",
    "mse",
    "pearson",
    "rank_score",
    "rmse",
    "score_cells",
    "score_genes",
    "spearman",
    "ssim",
]
