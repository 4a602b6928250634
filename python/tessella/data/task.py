"""The prepared input of one imputation run, shared by every method.

:func:`prepare_task` turns already-validated AnnData objects into an
:class:`ImputationTask`: normalised views of the spatial measured genes and of
the reference, the genes to output (measured first, then targets), their
positions in the reference and their embedding vectors. Methods read only
from the task, so data preparation is written once.

Normalisation: spatial cells are scaled by their totals over the measured
genes, to the median of those totals. Reference cells are scaled by their
totals over the same (shared) genes, to the same target sum, so both data sets
are on one scale. Genes that are not measured never enter a size factor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import anndata as ad
import numpy as np

from tessella.data.genes import describe_missing, match_genes
from tessella.data.normalize import NormalizedView, normalized_view
from tessella.data.validate import expression_matrix
from tessella.embeddings import EmbeddingTable

TargetSource = Literal["reference", "embeddings"]


@dataclass(frozen=True)
class ImputationTask:
    """Everything a method needs to fit and predict.

    Attributes
    ----------
    spatial
        Normalised measured genes of the spatial data (cells x measured).
    measured_genes, target_genes
        Output genes are ``measured_genes + target_genes``, in that order.
    reference
        Normalised reference genes that match output genes, or None.
    reference_index
        For each output gene, its column in ``reference`` (-1 if absent).
    embeddings, embedded
        For each output gene, its embedding vector minus the table's mean vector
        (zeros if absent), and whether it has one; None without a table. Centring
        removes the direction all genes share, so similarities reflect what sets
        genes apart.
    """

    spatial: NormalizedView
    measured_genes: list[str]
    target_genes: list[str]
    reference: NormalizedView | None = None
    reference_index: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    embedded: np.ndarray | None = None

    @property
    def output_genes(self) -> list[str]:
        return self.measured_genes + self.target_genes

    @property
    def n_measured(self) -> int:
        return len(self.measured_genes)

    @property
    def shared_in_reference(self) -> np.ndarray:
        """Positions (among measured genes) of the measured genes the reference has."""
        if self.reference_index is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.reference_index[: self.n_measured] >= 0)

    @property
    def in_reference(self) -> np.ndarray:
        """Positions (among output genes) of the output genes the reference has."""
        if self.reference_index is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.reference_index >= 0)

    def measured(self, positions: np.ndarray) -> NormalizedView:
        """Normalised view of some measured genes, by position among measured genes."""
        return self.spatial.with_columns(self.spatial.columns[np.asarray(positions)])

    def reference_genes(self, positions: np.ndarray) -> NormalizedView:
        """Normalised reference view of some output genes (all must be in the reference)."""
        columns = self.reference_index[np.asarray(positions)]
        return self.reference.with_columns(self.reference.columns[columns])


def resolve_targets(
    measured: list[str], requested: list[str] | None, available: list[str], source: str
) -> list[str]:
    """Genes to impute: ``requested`` (or everything ``available``) minus measured genes."""
    candidates = list(available) if requested is None else [str(g) for g in requested]
    is_measured = match_genes(candidates, measured) >= 0
    targets = list(dict.fromkeys(g for g, hit in zip(candidates, is_measured) if not hit))
    missing = [g for g, hit in zip(targets, match_genes(targets, available)) if hit < 0]
    if missing:
        raise ValueError(
            f"{len(missing)} gene(s) to impute are not in the {source}: "
            f"{describe_missing(missing)}. Drop them from genes=, or provide a {source} "
            "that covers them."
        )
    return targets


def prepare_task(
    spatial: ad.AnnData,
    *,
    spatial_is_counts: bool,
    target_source: TargetSource,
    genes: list[str] | None = None,
    layer: str | None = None,
    measured: np.ndarray | None = None,
    reference: ad.AnnData | None = None,
    reference_layer: str | None = None,
    reference_is_counts: bool = True,
    embeddings: EmbeddingTable | None = None,
) -> ImputationTask:
    """Build the task for one run from validated inputs.

    Parameters
    ----------
    spatial
        Spatial data; ``measured`` picks the genes treated as measured (default
        all), which is how the benchmark hides genes.
    target_source
        Where genes to impute come from when ``genes`` is None, and where they
        must exist: the reference's genes or the embedding table's.
    genes
        Genes to impute; measured genes among them are left out.
    """
    matrix = expression_matrix(spatial, layer, "spatial")
    measured = np.arange(spatial.n_vars) if measured is None else np.asarray(measured)
    measured_genes = [str(g) for g in spatial.var_names[measured]]
    source_genes = (
        [str(g) for g in reference.var_names] if target_source == "reference"
        else [str(g) for g in embeddings.genes]
    )
    targets = resolve_targets(measured_genes, genes, source_genes, target_source)
    view, target_sum = normalized_view(matrix, measured, spatial_is_counts)
    task = ImputationTask(view, measured_genes, targets)
    output = task.output_genes
    if reference is not None:
        ref_matrix = expression_matrix(reference, reference_layer, "reference")
        index = match_genes(output, reference.var_names)
        present = index >= 0
        size_columns = index[: len(measured_genes)][index[: len(measured_genes)] >= 0]
        if size_columns.size == 0:
            raise ValueError(
                "spatial and reference data share no genes; check that both use the same "
                "gene naming (symbols vs Ensembl IDs) and species."
            )
        ref_view, _ = normalized_view(ref_matrix, index[present], reference_is_counts,
                                      size_columns=size_columns, target_sum=target_sum)
        reference_index = np.full(len(output), -1, dtype=np.int64)
        reference_index[present] = np.arange(int(present.sum()))
        task = replace(task, reference=ref_view, reference_index=reference_index)
    if embeddings is not None:
        vectors, found = embeddings.align(output)
        vectors[found] -= embeddings.values.mean(axis=0)
        task = replace(task, embeddings=vectors, embedded=found)
    return task

