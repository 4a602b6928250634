"""The gene graph: nodes are genes, edges join genes with similar embeddings.

Edge weights are cosine *similarities* (the authors' code used distances) of
centred gene embeddings (ESM-2 protein embeddings, ...). A gene without an
embedding takes its edges from expression: cosine similarity of its centred
reference profile with the other genes'. With no table at all, the whole graph
comes from reference co-expression. Each gene keeps its ``n_edges`` most
similar genes (positive similarities only) and rows are normalised, so
propagation averages over neighbours (GraphSAGE mean aggregation).
"""

from __future__ import annotations

import numpy as np
import torch

from tessella.neighbors import unit_rows

#: Reference cells used for co-expression (sampled evenly when there are more).
MAX_COEXPRESSION_CELLS = 20_000


def coexpression_similarity(reference: np.ndarray) -> np.ndarray:
    """Cosine similarity of centred gene profiles (genes x genes)."""
    step = max(1, len(reference) // MAX_COEXPRESSION_CELLS)
    profiles = reference[::step].T.astype(np.float64)
    profiles = profiles - profiles.mean(axis=1, keepdims=True)
    profiles = unit_rows(profiles)
    return profiles @ profiles.T


def gene_similarity(reference: np.ndarray, embeddings: np.ndarray | None,
                    embedded: np.ndarray | None) -> np.ndarray:
    """Similarity between genes: from embeddings where both genes have one,
    from reference co-expression otherwise."""
    similarity = coexpression_similarity(reference)
    if embeddings is not None and embedded is not None and embedded.any():
        vectors = unit_rows(embeddings.astype(np.float64))
        both = np.outer(embedded, embedded)
        similarity = np.where(both, vectors @ vectors.T, similarity)
    return similarity


def sparsify(similarity: np.ndarray, n_edges: int) -> torch.Tensor:
    """Keep each gene's ``n_edges`` most similar other genes (positive only) and
    normalise rows; returns a sparse (genes x genes) tensor."""
    n = len(similarity)
    scores = similarity.copy()
    np.fill_diagonal(scores, -np.inf)
    keep = min(n_edges, n - 1)
    if keep < 1:
        return torch.sparse_coo_tensor(torch.zeros((2, 0), dtype=torch.long), [], (n, n),
                                       check_invariants=True)
    columns = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
    weights = np.take_along_axis(scores, columns, axis=1)
    weights = np.where(weights > 0, weights, 0.0)
    totals = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    rows = np.repeat(np.arange(n), keep)
    indices = torch.as_tensor(np.stack([rows, columns.ravel()]), dtype=torch.long)
    values = torch.as_tensor(weights.ravel(), dtype=torch.float32)
    return torch.sparse_coo_tensor(indices, values, (n, n), check_invariants=True).coalesce()
