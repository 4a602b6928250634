"""Data preparation shared by every method: validation, normalisation, gene
matching, the prepared task, and row-block access that works for dense, sparse
and disk-backed matrices."""

from tessella.data.genes import gene_key, match_genes
from tessella.data.normalize import NormalizedView, normalized_view
from tessella.data.task import ImputationTask, prepare_task
from tessella.data.validate import validate_expression

__all__ = [
    "ImputationTask",
    "NormalizedView",
    "gene_key",
    "match_genes",
    "normalized_view",
    "prepare_task",
    "validate_expression",
]
