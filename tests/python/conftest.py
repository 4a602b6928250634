"""Shared fixtures: simulated data for unit tests, the real osmFISH data for
accuracy tests (from TESSELLA_DATA_DIR, default ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from threadpoolctl import threadpool_limits

import tessella
from helpers import N_MEASURED

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault(tessella.datasets.ENV_VAR, str(ROOT.parent / "shared" / "data"))

# One thread for torch and BLAS: the same numbers on any machine (a float sum's
# order depends on the thread count, and graph's training follows it), and no
# 8x slowdown when two processes share 2 cores.
torch.set_num_threads(1)
threadpool_limits(1)
os.environ["TESSELLA_THREADS"] = "1"  # the engine's own setting (tessella.threads)


@pytest.fixture()
def data() -> SimpleNamespace:
    """Spatial data measuring 30 genes, a reference of 40 genes (10 to impute)
    and an embedding table of 50 genes; fresh objects for every test."""
    sim = tessella.datasets.simulate(n_cells=200, n_genes=40, n_reference=300, seed=0)
    return SimpleNamespace(spatial=sim.spatial[:, :N_MEASURED].copy(),
                           reference=sim.reference, embeddings=sim.embeddings)


@pytest.fixture(scope="session")
def sim():
    """Small simulated spatial + reference + embeddings (fresh objects are cheap)."""
    return tessella.datasets.simulate(n_cells=400, n_genes=30, n_reference=500, seed=1)


@pytest.fixture(scope="session")
def osmfish():
    """osmFISH spatial data, Allen SSp reference and the ESM-2 table path."""
    try:
        spatial, reference = tessella.datasets.osmfish()
    except FileNotFoundError as err:
        pytest.skip(f"real data not available: {err}")
    return spatial, reference, tessella.datasets.osmfish_embeddings()
