"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import anndata as ad

#: Genes the ``data`` fixture's spatial data measures (of the simulator's 40).
N_MEASURED = 30


def with_matrix(adata: ad.AnnData, matrix) -> ad.AnnData:
    """A copy of ``adata`` with ``matrix`` as its X."""
    out = adata.copy()
    out.X = matrix
    return out
