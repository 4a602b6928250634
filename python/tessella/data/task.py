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
from typing import TYPE_CHECKING, Literal

import anndata as ad
import numpy as np

from tessella.data.empty import Omitted, totals
from tessella.data.genes import describe_missing, match_genes
from tessella.data.normalize import NormalizedView, cell_totals, normalized_view
from tessella.data.validate import expression_matrix
from tessella.errors import InputError

if TYPE_CHECKING:  # only an annotation: embeddings imports tessella.data
    from tessella.embeddings import EmbeddingTable

TargetSource = Literal["reference", "embeddings", "model"]


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
    omitted
        Spatial cells without counts, measured genes never detected and
        reference cells without counts over the shared genes, which the views
        above leave out (see :mod:`tessella.data.empty`); None when nothing was.
    """

    spatial: NormalizedView
    measured_genes: list[str]
    target_genes: list[str]
    reference: NormalizedView | None = None
    reference_index: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    embedded: np.ndarray | None = None
    omitted: Omitted | None = None
    target_sum: float | None = None

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
        problem = (f"{len(missing)} gene(s) to impute are not in the {source}: "
                   f"{describe_missing(missing)}. ")
        raise InputError(
            f"{problem}Drop them from genes=, or provide a {source} that covers them.",
            f"{problem}Drop them from genes =, or provide a {source} that covers them.")
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
    keep_cells: bool = False,
    target_sum: float | None = None,
) -> ImputationTask:
    """Build the task for one run from validated inputs.

    Parameters
    ----------
    spatial
        Spatial data; ``measured`` picks the genes treated as measured (default
        all), which is how the benchmark hides genes.
    target_source
        Where genes to impute come from when ``genes`` is None, and where they
        must exist: the reference's genes or the embedding table's; "model": the
        ``genes`` a fitted model predicts, checked by the model.
    genes
        Genes to impute; measured genes among them are left out.
    keep_cells
        Keep spatial cells without counts in the views (the benchmark, which
        scores every cell against the truth of its fold).
    target_sum
        Total to scale spatial counts to (a fitted model's); default the median
        cell total.

    Spatial cells without counts over the measured genes, measured genes never
    detected and reference cells without counts over the shared genes are left
    out of the views (``task.omitted`` says which; :mod:`tessella.data.empty`).
    """
    matrix = expression_matrix(spatial, layer, "spatial")
    measured = np.arange(spatial.n_vars) if measured is None else np.asarray(measured)
    all_measured = [str(g) for g in spatial.var_names[measured]]
    if target_source == "model":
        source_genes = list(genes or [])
    elif target_source == "reference":
        source_genes = [str(g) for g in reference.var_names]
    elif embeddings is None:  # a method that denoises without a table imputes nothing
        if genes and (match_genes([str(g) for g in genes], all_measured) < 0).any():
            raise InputError("imputing genes needs gene embeddings: pass embeddings=...; "
                             "without a table only the measured genes are denoised.",
                             "imputing genes needs gene embeddings: pass embeddings = ...; "
                             "without a table only the measured genes are denoised.")
        source_genes = []
    else:
        source_genes = [str(g) for g in embeddings.genes]
    targets = resolve_targets(all_measured, genes, source_genes, target_source)
    cell_sums, gene_sums = totals(matrix, measured)
    kept = np.arange(len(cell_sums)) if keep_cells else np.flatnonzero(cell_sums > 0)
    detected = np.flatnonzero(gene_sums > 0)
    if not (cell_sums > 0).any():
        problem = (f"has no counts over its {len(all_measured)} measured gene(s) in any "
                   "cell: there is nothing to learn from.")
        raise InputError(f"spatial {problem}", f"x {problem}")
    omitted = Omitted(len(cell_sums), kept, all_measured, detected)
    measured_genes = [all_measured[i] for i in detected]
    view, target_sum = normalized_view(matrix, measured[detected], spatial_is_counts,
                                       target_sum=target_sum)
    if kept.size < len(cell_sums):
        view = view.with_cells(kept)
    task = ImputationTask(view, measured_genes, targets, target_sum=target_sum)
    output = task.output_genes
    if reference is not None:
        ref_matrix = expression_matrix(reference, reference_layer, "reference")
        index = match_genes(output, reference.var_names)
        present = index >= 0
        size_columns = index[: len(measured_genes)][index[: len(measured_genes)] >= 0]
        if size_columns.size == 0:
            raise InputError(
                "spatial and reference data share no genes; check that both use the same "
                "gene naming (symbols vs Ensembl IDs) and species."
            )
        ref_view, _ = normalized_view(ref_matrix, index[present], reference_is_counts,
                                      size_columns=size_columns, target_sum=target_sum)
        ref_view, omitted = _reference_cells(ref_view, ref_matrix, size_columns, omitted)
        reference_index = np.full(len(output), -1, dtype=np.int64)
        reference_index[present] = np.arange(int(present.sum()))
        task = replace(task, reference=ref_view, reference_index=reference_index)
    if embeddings is not None:
        vectors, found = embeddings.align(output)
        vectors[found] -= embeddings.values.mean(axis=0)
        task = replace(task, embeddings=vectors, embedded=found)
    return replace(task, omitted=omitted) if omitted.anything else task


def _reference_cells(view: NormalizedView, matrix: object, size_columns: np.ndarray,
                     omitted: Omitted) -> tuple[NormalizedView, Omitted]:
    """Leave reference cells without counts over the shared genes out of ``view``."""
    sums = view.scale if view.scale is not None else cell_totals(matrix, size_columns)
    kept = np.flatnonzero(sums > 0)
    if kept.size == 0:
        raise InputError(
            f"reference has no counts over the {len(size_columns)} gene(s) it shares with "
            "the spatial data in any cell; check that both use the same gene naming "
            "(symbols vs Ensembl IDs) and species.")
    omitted = replace(omitted, reference_cells=len(sums),
                      reference_left_out=len(sums) - kept.size, n_shared=len(size_columns))
    return (view.with_cells(kept) if kept.size < len(sums) else view), omitted

