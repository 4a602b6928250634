"""Evaluation of imputed and denoised expression: per-gene/per-cell metrics, cluster
agreement, the k-fold-over-genes harness behind ``tessella.benchmark`` and the
molecular cross-validation harness behind ``tessella.benchmark(task="denoise")``."""

from tessella.evaluate.clustering import (
    average_score,
    cluster_agreement,
    clustering_scores,
    leiden_clusters,
)
from tessella.evaluate.denoise import mcv_split, run_denoise_benchmark
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
    "average_score",
    "cluster_agreement",
    "clustering_scores",
    "cosine",
    "gene_folds",
    "js",
    "leiden_clusters",
    "mcv_split",
    "mse",
    "pearson",
    "rank_score",
    "rmse",
    "run_benchmark",
    "run_denoise_benchmark",
    "score_cells",
    "score_genes",
    "spearman",
    "ssim",
    "summary_table",
]
