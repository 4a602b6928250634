"""A fit's peak memory does not grow with the slide (issue 14).

knn and refine run on backed sparse slides of two sizes (10k and 80k cells x 300
measured genes, the simulator's model of ``bench/graph_scale.py``, written to
``.h5ad``) with ``out=`` an ``.h5ad`` file, each in its own process; the peak RSS
(``ru_maxrss``, anonymous and file-backed pages alike) of the larger run may pass
the smaller one's by a bound far under what one N-proportional dense array costs.

The arithmetic: each run imputes 900 genes, a result of 1,200 genes (the 300
measured ones included). The 70,000 extra cells of the larger slide would cost,
as one densified float32 result, 70,000 x 1,200 x 4 B = 336 MB (672 MB as
float64; a dense float32 copy of the slide's measured genes alone, 84 MB). The
bound is 140 MB: less than half of one densified result, while what may grow
with N stays well below it (a latent space of 30 to 64 float32 values per cell,
cell names, per-cell size factors and flags: a few hundred bytes per cell, about
20-40 MB; measured growth: knn 60-90 MB, refine about 100 MB, the rest allocator,
HDF5 and torch noise).
The memory budget is set to 32 MB so the outputs are memory-mapped, as they are
at a million cells by default; memory-mapped pages would count in RSS as they are
written had they not left it (``tessella.output.SpilledArray``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[2]
SIZES = (10_000, 80_000)
IMPUTED = 900
#: Most the larger slide's peak RSS may pass the smaller one's (see the module docstring).
BOUND_MB = 140
#: One densified float32 result of the extra cells, for the failure message.
DENSE_MB = (SIZES[1] - SIZES[0]) * (300 + IMPUTED) * 4 / 1e6

RUN = """
import json, resource, sys
import tessella
method, slide, reference, table, genes_file, out = sys.argv[1:7]
genes = open(genes_file).read().split()
if method == "refine":
    tessella.refine(slide, embeddings=table, genes=genes, out=out, max_epochs=1,
                    verbose=False, device="cpu", seed=0)
else:
    tessella.impute(slide, reference, method=method, genes=genes, out=out, verbose=False,
                    device="cpu", seed=0)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _generator():
    spec = importlib.util.spec_from_file_location("graph_scale",
                                                  ROOT / "bench" / "graph_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def slides(tmp_path_factory) -> dict:
    """Backed sparse slides of both sizes, a sparse reference (3,000 cells), the genes
    to impute and an embedding table of every gene."""
    folder = tmp_path_factory.mktemp("scale_memory")
    generator = _generator()
    paths = {}
    for n_cells in SIZES:
        spatial, reference = generator.make_data(IMPUTED, 3000, n_cells, seed=0)
        paths[n_cells] = folder / f"slide_{n_cells}.h5ad"
        spatial.write_h5ad(paths[n_cells])
    reference.X = sp.csr_matrix(reference.X)
    paths["reference"] = folder / "reference.h5ad"
    reference.write_h5ad(paths["reference"])
    paths["genes"] = folder / "genes.txt"
    paths["genes"].write_text("\n".join(reference.var_names[generator.MEASURED:]) + "\n")
    table = pd.DataFrame(np.random.default_rng(0).normal(size=(reference.n_vars, 16)),
                         index=pd.Index(reference.var_names, name="gene"))
    paths["table"] = folder / "table.tsv"
    table.to_csv(paths["table"], sep="\t")
    paths["folder"] = folder
    return paths


def peak_mb(method: str, n_cells: int, paths: dict) -> float:
    """Peak RSS (MB) of one ``out=`` run in a fresh process, one thread."""
    out = paths["folder"] / f"out_{method}_{n_cells}.h5ad"
    env = {**os.environ, "TESSELLA_THREADS": "1", "TESSELLA_MEMORY_BUDGET": "32MB",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", RUN, method, str(paths[n_cells]),
                          str(paths["reference"]), str(paths["table"]), str(paths["genes"]),
                          str(out)], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])["peak_mb"]


@pytest.mark.parametrize("method", ["knn", "refine"])
def test_peak_memory_of_a_run_does_not_grow_with_the_slide(slides, method):
    small, large = (peak_mb(method, n_cells, slides) for n_cells in SIZES)
    assert large - small < BOUND_MB, (
        f"{method}: peak RSS {small:.0f} MB at {SIZES[0]:,} cells, {large:.0f} MB at "
        f"{SIZES[1]:,} (+{large - small:.0f} MB; bound {BOUND_MB} MB, one dense float32 "
        f"result of the extra cells {DENSE_MB:.0f} MB)")
