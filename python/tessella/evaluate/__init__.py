"""Evaluation of imputed expression: per-gene/per-cell metrics, cluster agreement,
and the k-fold-over-genes harness behind ``tessella.benchmark``."""

from tessella.evaluate.clustering import (
    cluster_agreement,
    clustering_scores,
    leiden_clusters,
)
from tessella.evaluate.harness import gene_folds, run_benchmark, summary_table
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
    "gene_folds",
    "js",
    "leiden_clusters",
    "mse",
    "pearson",
    "rank_score",
    "rmse",
    "run_benchmark",
    "score_cells",
    "score_genes",
    "spearman",
    "ssim",
    "summary_table",
]
