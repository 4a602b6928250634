"""The gene graph: nodes are genes, edges join genes with similar embeddings.

Edge weights are cosine *similarities* (the authors' code used distances) of
centred gene embeddings (ESM-2 protein embeddings, ...). A gene without an
embedding takes its edges from expression: cosine similarity of its centred
reference profile with the other genes'. With no table at all, the whole graph
comes from reference co-expression. Each gene keeps its ``n_edges`` most
similar genes (positive similarities only) and rows are normalised, so
propagation averages over neighbours (GraphSAGE mean aggregation).

``gene_graph`` builds the graph block by block of genes (a block's similarities
to all genes, then its top edges), so memory grows with genes times the block,
never with genes squared (the tests build the same graph densely to compare).
"""

from __future__ import annotations

import numpy as np
import torch

from tessella.neighbors import unit_rows

#: Reference cells used for co-expression (sampled evenly when there are more).
MAX_COEXPRESSION_CELLS = 20_000
#: Bytes of one block of similarities (genes of the block x all genes, float64).
BLOCK_BYTES = 64 * 2**20


def coexpression_profiles(reference: np.ndarray) -> np.ndarray:
    """Centred, unit-length gene profiles (genes x sampled reference cells, float64)."""
    step = max(1, len(reference) // MAX_COEXPRESSION_CELLS)
    profiles = reference[::step].T.astype(np.float64)
    profiles = profiles - profiles.mean(axis=1, keepdims=True)
    return unit_rows(profiles)


def _has_embeddings(embeddings: np.ndarray | None, embedded: np.ndarray | None) -> bool:
    return embeddings is not None and embedded is not None and bool(embedded.any())


def _top_edges(scores: np.ndarray, rows: np.ndarray, keep: int) -> tuple[np.ndarray, ...]:
    """Each row's ``keep`` largest scores other than its own gene's (``rows``: the
    genes of the block), positive ones only, normalised to sum 1."""
    scores = scores.copy()
    scores[np.arange(len(rows)), rows] = -np.inf
    columns = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
    weights = np.take_along_axis(scores, columns, axis=1)
    weights = np.where(weights > 0, weights, 0.0)
    totals = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    return np.repeat(rows, keep), columns.ravel(), weights.ravel()


def _sparse(n: int, parts: list[tuple[np.ndarray, ...]]) -> torch.Tensor:
    if not parts:
        return torch.sparse_coo_tensor(torch.zeros((2, 0), dtype=torch.long), [], (n, n),
                                       check_invariants=True)
    rows, columns, weights = (np.concatenate(p) for p in zip(*parts))
    indices = torch.as_tensor(np.stack([rows, columns]), dtype=torch.long)
    values = torch.as_tensor(weights, dtype=torch.float32)
    return torch.sparse_coo_tensor(indices, values, (n, n), check_invariants=True).coalesce()


def gene_graph(reference: np.ndarray, embeddings: np.ndarray | None,
               embedded: np.ndarray | None, n_edges: int, shared_columns: np.ndarray,
               block: int | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """The gene graph, built block by block of genes, and each gene's similarity to
    the measured genes.

    Parameters
    ----------
    reference
        Reference cells x genes, log-normalised.
    embeddings, embedded
        Gene vectors (genes x d, centred by the caller) and which genes have one.
    n_edges
        Edges kept per gene.
    shared_columns
        Columns of the measured genes.
    block
        Genes per block (default: ``BLOCK_BYTES`` of similarities).

    Returns
    -------
    The sparse (genes x genes) row-normalised adjacency, and the similarities
    (genes x measured genes, float64) to the measured genes.
    """
    profiles = coexpression_profiles(reference)
    vectors = (unit_rows(embeddings.astype(np.float64))
               if _has_embeddings(embeddings, embedded) else None)
    n = len(profiles)
    keep = min(n_edges, n - 1)
    step = block or max(1, BLOCK_BYTES // (8 * max(n, 1)))
    parts, to_shared = [], np.empty((n, len(shared_columns)))
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        scores = profiles[rows] @ profiles.T
        if vectors is not None:
            both = embedded[rows, None] & embedded[None, :]
            scores = np.where(both, vectors[rows] @ vectors.T, scores)
        to_shared[rows] = scores[:, shared_columns]
        if keep >= 1:
            parts.append(_top_edges(scores, rows, keep))
    return _sparse(n, parts), to_shared
