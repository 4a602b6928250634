"""Gene vectors learned from co-expression in an expression atlas.

``refine`` imputes a gene from the measured genes whose vectors resemble its
own. Protein-language vectors (ESM-2) say little about which genes are
expressed together (on osmFISH the rank correlation between their cosine
similarity and the genes' expression correlation is 0.03); vectors taken from
the principal axes of any scRNA-seq atlas the user has say it directly (0.35
with the Allen SSp reference). :func:`coexpression_embeddings` makes such a
table; it goes wherever a gene-embedding table does (``embeddings=``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tessella.data.genes import describe_missing, match_genes
from tessella.data.normalize import normalized_view
from tessella.data.validate import InputScale, expression_matrix, validate_expression
from tessella.errors import InputError
from tessella.inputs import AnnDataLike, read_anndata

logger = logging.getLogger(__name__)


def coexpression_embeddings(
    reference: AnnDataLike,
    genes: Sequence[str] | None = None,
    n_components: int = 50,
    *,
    layer: str | None = None,
    input_scale: InputScale = "auto",
    max_cells: int = 20_000,
    seed: int = 0,
) -> pd.DataFrame:
    """A gene-embedding table from the co-expression of genes in an atlas.

    Each cell is library-size normalised and log1p'd, each gene standardised,
    and a gene's vector is its loadings on the top principal axes scaled by
    their singular values, so that the cosine of two genes' vectors is their
    correlation over those axes.

    Parameters
    ----------
    reference
        An scRNA-seq atlas (AnnData or ``.h5ad`` path), cells x genes, counts or
        log-normalised values.
    genes
        Genes to make vectors for (default every gene of ``reference``); give the
        slide's genes and the genes to impute to keep a large atlas small.
    n_components
        Length of the vectors (at most the number of genes, and of cells minus one;
        with every axis kept, cosines are exactly the genes' correlations).
    layer, input_scale
        Where ``reference``'s expression is, and its scale ("auto": integers are counts).
    max_cells
        Cells read (a seeded random sample above it), so memory stays bounded.
    seed
        Seeds the cell sample.

    Returns
    -------
    A DataFrame, genes x ``n_components`` (index ``gene``), to pass as
    ``embeddings=`` (or save with ``to_csv(sep="\\t")``). Genes never detected in
    the sampled cells are left out, with a warning.
    """
    atlas = read_anndata(reference, "reference", backed=True)
    is_counts = validate_expression(atlas, layer, "reference", input_scale,
                                    allow_empty_genes=True)
    columns = _gene_columns(atlas.var_names, genes)
    cells = np.arange(atlas.n_obs)
    if atlas.n_obs > max_cells:
        cells = np.sort(np.random.default_rng(seed).choice(atlas.n_obs, max_cells, replace=False))
    view, _ = normalized_view(expression_matrix(atlas, layer, "reference"), columns, is_counts)
    values = view.with_cells(cells).to_array().astype(np.float64)
    spread = values.std(axis=0)
    detected = spread > 0
    if not detected.all():
        logger.warning("coexpression_embeddings: %d gene(s) do not vary in the atlas and get "
                       "no vector: %s", int((~detected).sum()),
                       describe_missing([str(atlas.var_names[c]) for c in columns[~detected]]))
    standardised = (values[:, detected] - values[:, detected].mean(axis=0)) / spread[detected]
    k = min(n_components, standardised.shape[1], standardised.shape[0] - 1)
    if k < 2:
        raise InputError("the atlas needs at least two varying genes and two cells to give "
                         "co-expression vectors.")
    _, singular, axes = np.linalg.svd(standardised, full_matrices=False)
    vectors = axes[:k].T * (singular[:k] / np.sqrt(len(standardised)))
    index = pd.Index([str(g) for g in atlas.var_names[columns[detected]]], name="gene")
    return pd.DataFrame(vectors.astype(np.float32), index=index,
                        columns=[f"PC{i + 1}" for i in range(k)])


def _gene_columns(var_names: pd.Index, genes: Sequence[str] | None) -> np.ndarray:
    """Positions of ``genes`` among ``var_names`` (all of them without ``genes``)."""
    if genes is None:
        return np.arange(len(var_names))
    positions = match_genes([str(g) for g in genes], var_names)
    missing = [str(g) for g, p in zip(genes, positions) if p < 0]
    if missing:
        raise InputError(f"{len(missing)} gene(s) are not in the atlas: "
                         f"{describe_missing(missing)}.")
    return np.asarray(positions, dtype=np.int64)
