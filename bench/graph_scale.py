"""graph at scale: fit and predict time and peak memory against genes and cells.

Each case ``GENES:REFERENCE:CELLS`` imputes GENES genes from a reference of
REFERENCE cells onto a slide of CELLS cells measuring 300 genes, in its own
process (so each peak RSS is its own); prints a table of data, fit and predict
seconds and peak RSS (``resource.getrusage``: the data's share, then the whole
run's). The data follow the simulator's model (tessella.datasets.simulate: gene
programmes from gene embeddings, Poisson counts, the reference deeper), drawn
here block by block so that large slides are generated without a dense
slide-wide array of every gene; the slide is sparse counts (CSR), the reference
dense counts. Training is shortened (``--epochs``, ``--rounds``) and on at most
``--train-cells`` cells: the benchmark measures how cost grows, not accuracy.

    .venv/bin/python bench/graph_scale.py --threads 2 \\
        --cases 1000:5000:20000,5000:5000:5000,20000:5000:1000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

MEASURED = 300
TYPES = 8
EMBEDDING_DIM = 16


def draw_counts(n: int, library: float, loading: np.ndarray, base: np.ndarray,
                rng: np.random.Generator, keep: int, block: int = 2000):
    """Counts of ``n`` cells (first ``keep`` genes, CSR) and their types, block by
    block: ``library * softmax(base + mix . loading)`` over all genes, Poisson."""
    from scipy import sparse

    cell_type = rng.integers(0, TYPES, size=n)
    parts = []
    for start in range(0, n, block):
        types = cell_type[start:start + block]
        mix = rng.dirichlet(np.full(TYPES, 0.3), size=len(types)) * 0.5
        mix[np.arange(len(types)), types] += 0.5
        logits = base + 2.5 * (mix @ loading.T)
        rates = np.exp(logits - logits.max(axis=1, keepdims=True))
        rates /= rates.sum(axis=1, keepdims=True)
        sizes = library * rng.lognormal(0.0, 0.3, size=(len(types), 1))
        parts.append(sparse.csr_matrix(rng.poisson(rates[:, :keep] * sizes)
                                       .astype(np.float32)))
    return sparse.vstack(parts).tocsr(), cell_type


def make_data(genes: int, n_reference: int, n_cells: int, seed: int):
    """Spatial (``n_cells`` x 300, sparse) and reference (``n_reference`` x
    300 + ``genes``) AnnData sharing one gene model."""
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_genes = MEASURED + genes
    names = [f"Gene{i:05d}" for i in range(n_genes)]
    embedding = rng.normal(size=(n_genes, EMBEDDING_DIM))
    loading = embedding @ rng.normal(size=(EMBEDDING_DIM, TYPES)) / np.sqrt(EMBEDDING_DIM)
    base = rng.normal(0.0, 0.5, size=n_genes)
    spatial, _ = draw_counts(n_cells, 400.0 * n_genes / 1000, loading, base, rng, MEASURED)
    reference, _ = draw_counts(n_reference, 2000.0 * n_genes / 1000, loading, base, rng,
                               n_genes)
    spatial = ad.AnnData(X=spatial, obs=pd.DataFrame(index=[f"c{i}" for i in range(n_cells)]),
                         var=pd.DataFrame(index=names[:MEASURED]))
    reference = ad.AnnData(X=reference.toarray(),
                           obs=pd.DataFrame(index=[f"r{i}" for i in range(n_reference)]),
                           var=pd.DataFrame(index=names))
    return spatial, reference


def peak_gb() -> float:
    """Peak resident memory of this process so far, GB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_case(genes: int, n_reference: int, n_cells: int, args: argparse.Namespace) -> dict:
    """One case in this process: data, fit, predict; times and peak RSS."""
    from tessella.data.task import ImputationTask  # noqa: F401  (import cost off the clock)
    from tessella.inputs import load_inputs
    from tessella.runner import build_method, task_for
    from tessella.threads import set_threads

    set_threads(args.threads)
    start = time.perf_counter()
    spatial, reference = make_data(genes, n_reference, n_cells, args.seed)
    data_s, data_gb = time.perf_counter() - start, peak_gb()
    params = {"max_epochs": args.epochs, "ae_epochs": args.epochs, "rounds": args.rounds,
              "train_cells": args.train_cells, "verbose": False, "device": "cpu"}
    model = build_method("graph", params)
    task = task_for(load_inputs([type(model)], spatial, reference), type(model))
    start = time.perf_counter()
    model.fit(task)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    values = model.predict(task).values
    predict_s = time.perf_counter() - start
    assert values.shape == (n_cells, MEASURED + genes) and np.isfinite(values).all()
    return {"genes": genes, "reference": n_reference, "cells": n_cells,
            "data_s": data_s, "fit_s": fit_s, "predict_s": predict_s,
            "data_gb": data_gb, "peak_gb": peak_gb(),
            "edges": model.fitted["n_edges"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="1000:5000:20000,5000:5000:5000,20000:5000:1000",
                        help="comma-separated GENES:REFERENCE:CELLS")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1,
                        help="autoencoder and GNN epochs per round")
    parser.add_argument("--rounds", type=int, default=1, help="autoencoder / GNN rounds")
    parser.add_argument("--train-cells", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a single case, in a child
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(*map(int, args.one.split(":")), args)))
        return
    env_args = [f"--threads={args.threads}", f"--epochs={args.epochs}", f"--rounds={args.rounds}",
                f"--train-cells={args.train_cells}", f"--seed={args.seed}"]
    rows = []
    header = (f"{'genes':>6} {'ref':>6} {'cells':>7} {'edges':>7} {'data s':>7} "
              f"{'fit s':>7} {'pred s':>7} {'data GB':>8} {'peak GB':>8}")
    print(f"graph, {args.threads} threads, {args.epochs} epochs, {args.rounds} rounds, "
          f"train_cells {args.train_cells}")
    print(header, flush=True)
    for case in args.cases.split(","):
        out = subprocess.run([sys.executable, __file__, f"--one={case}", *env_args],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{case}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['genes']:>6} {row['reference']:>6} {row['cells']:>7} {row['edges']:>7} "
              f"{row['data_s']:>7.1f} {row['fit_s']:>7.1f} {row['predict_s']:>7.1f} "
              f"{row['data_gb']:>8.2f} {row['peak_gb']:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
