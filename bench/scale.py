"""A million cells on one machine: ``tessella impute`` (CLI, ``.h5ad`` in and out)
per method and slide size, with wall time and peak RSS (``/usr/bin/time -v``).

For each N the slide is N cells x 300 measured genes of sparse counts on disk,
the reference 50k cells x 2,000 genes (sparse on disk), both drawn from the
simulator's model block by block (``bench/graph_scale.py``'s generator); every
method imputes the same 1,000 genes, with threads pinned (``--threads``).
Results go to ``--work`` (data, outputs) and a table on stdout.

    .venv/bin/python bench/scale.py --cells 100000,300000,1000000 \\
        --methods knn,refine,graph,diffusion --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
IMPUTED = 1_000
#: Short training for the torch methods: the benchmark measures cost, not accuracy.
TRAINING = {"refine": ["max_epochs=5"], "graph": ["max_epochs=1", "ae_epochs=1", "rounds=1"],
            "diffusion": ["max_epochs=1"]}


def _generator():
    spec = importlib.util.spec_from_file_location("graph_scale", HERE / "graph_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_data(n_cells: int, n_reference: int, work: Path, seed: int) -> dict[str, Path]:
    """The slide, the reference (sparse), the genes to impute and an embedding table."""
    from scipy import sparse

    generator = _generator()
    spatial, reference = generator.make_data(IMPUTED + 700, n_reference, n_cells, seed)
    reference.X = sparse.csr_matrix(reference.X)
    paths = {"spatial": work / f"slide_{n_cells}.h5ad", "reference": work / "reference.h5ad",
             "genes": work / "genes.txt", "embeddings": work / "embeddings.tsv"}
    spatial.write_h5ad(paths["spatial"])
    reference.write_h5ad(paths["reference"])
    genes = list(reference.var_names[generator.MEASURED:generator.MEASURED + IMPUTED])
    paths["genes"].write_text("\n".join(genes) + "\n")
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(reference.n_vars, 16)), index=reference.var_names)
    table.index.name = "gene"
    table.to_csv(paths["embeddings"], sep="\t")
    return paths


def run_method(method: str, paths: dict[str, Path], work: Path, threads: int) -> dict:
    """One ``tessella impute`` (or ``refine``) under ``/usr/bin/time -v``."""
    out = work / f"out_{method}.h5ad"
    if method == "refine":
        command = ["refine", str(paths["spatial"]), "--embeddings", str(paths["embeddings"])]
    else:
        command = ["impute", str(paths["spatial"]), "--reference", str(paths["reference"]),
                   "--method", method]
    params = [arg for value in TRAINING.get(method, []) for arg in ("--param", value)]
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "tessella.cli", *command,
               "--genes", f"@{paths['genes']}", *params, "--device", "cpu", "--quiet",
               "--out", str(out)]
    env = {**os.environ, "TESSELLA_THREADS": str(threads)}
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
    return {"method": method, "seconds": round(seconds, 1),
            "peak_gb": round(int(peak.group(1)) / 2**20, 2) if peak else np.nan,
            "ok": run.returncode == 0,
            "error": "" if run.returncode == 0 else run.stderr.strip().splitlines()[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="100000,300000,1000000")
    parser.add_argument("--methods", default="knn,refine,graph,diffusion")
    parser.add_argument("--reference", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("results/scale"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n_cells in map(int, args.cells.split(",")):
        paths = write_data(n_cells, args.reference, args.work, args.seed)
        for method in args.methods.split(","):
            row = {"cells": n_cells, **run_method(method, paths, args.work, args.threads)}
            rows.append(row)
            print(row, flush=True)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
