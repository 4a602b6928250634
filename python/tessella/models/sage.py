"""GraphSAGE over genes: every (cell, gene) pair is a node of the gene graph.

A node's features describe the gene in the cell's nearest reference cells;
two layers of mean aggregation over the gene graph mix in what similar genes
show, and a linear head gives the expression. The same weights serve every
gene, so genes never measured in space are predicted like measured ones.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional


def aggregate(adjacency: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Mean of graph neighbours' features: ``adjacency @ h`` per cell (B x G x d)."""
    batch, genes, width = h.shape
    flat = h.permute(1, 0, 2).reshape(genes, batch * width)
    return torch.sparse.mm(adjacency, flat).reshape(genes, batch, width).permute(1, 0, 2)


def to_csr(adjacency: torch.Tensor) -> torch.Tensor:
    """A sparse COO matrix in CSR form (torch's note that CSR is in beta silenced)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return adjacency.to_sparse_csr()


class GeneSage(nn.Module):
    """Two GraphSAGE layers (mean aggregation) and a linear head."""

    def __init__(self, n_features: int, hidden: int) -> None:
        super().__init__()
        self.self1 = nn.Linear(n_features, hidden)
        self.neighbours1 = nn.Linear(n_features, hidden, bias=False)
        self.self2 = nn.Linear(hidden, hidden)
        self.neighbours2 = nn.Linear(hidden, hidden, bias=False)
        self.head = nn.Linear(hidden, 1)

    def forward(self, features: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """Expression (B x G) from node features (B x G x d)."""
        neighbours = aggregate(adjacency, features)
        h = functional.relu(self.self1(features) + self.neighbours1(neighbours))
        h = functional.relu(self.self2(h) + self.neighbours2(aggregate(adjacency, h)))
        return self.head(h).squeeze(-1)

    def upper_layers(self, first: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """The second layer and the head from the first layer's output laid out genes
        first (G x B x hidden, contiguous; ``adjacency`` sparse CSR): expression, B x G.

        The same values as :meth:`forward`'s last steps (up to float rounding), with
        the graph aggregation a single sparse product and no permuted copies.
        """
        genes, batch, width = first.shape
        flat = first.view(genes * batch, width)
        neighbours = (adjacency @ first.view(genes, batch * width)).view(genes * batch, width)
        h = torch.addmm(self.self2.bias, flat, self.self2.weight.T)
        h = h.addmm_(neighbours, self.neighbours2.weight.T).relu_()
        out = torch.addmm(self.head.bias, h, self.head.weight.T)
        return out.view(genes, batch).T


def centred_cosine(a: torch.Tensor, b: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean cosine similarity of ``a`` and ``b`` after centring along ``dim``."""
    a = a - a.mean(dim=dim, keepdim=True)
    b = b - b.mean(dim=dim, keepdim=True)
    return functional.cosine_similarity(a, b, dim=dim, eps=1e-8).mean()


def imputation_loss(predicted: torch.Tensor, target: torch.Tensor, cosine_weight: float,
                    groups: torch.Tensor) -> torch.Tensor:
    """MSE plus cell-level and gene-level cosine losses on centred values.

    Column ``j`` holds different genes in rows of different ``groups`` (the
    gene halves of masked training), so gene-level cosine is taken per group.
    """
    cell = centred_cosine(predicted, target, dim=1)
    gene = torch.stack([centred_cosine(predicted[groups == g], target[groups == g], dim=0)
                        for g in torch.unique(groups)]).mean()
    return functional.mse_loss(predicted, target) + cosine_weight * ((1 - cell) + (1 - gene))
