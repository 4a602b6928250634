"""Neighbour-search backends: exact numpy vs faiss flat vs faiss HNSW.

For each reference size, times building the index and searching the queries
(cosine, k neighbours, unit rows), and the recall of HNSW against the exact
neighbours; prints a table (seconds, and seconds per million queries). The
points (``--data``) are a seeded mixture of clusters in 30 dimensions, a hard
case for HNSW ("clusters"), or the simulator's cells on 30 principal components
("simulated", queries drawn from the same cells). This sets the thresholds of
``neighbors="auto"`` in tessella.neighbors.

    .venv/bin/python bench/neighbors.py --threads 2 --sizes 10000,50000,200000 \
        --queries 20000 [--data simulated]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tessella.neighbors import NeighbourIndex, unit_rows
from tessella.threads import set_threads


def clustered_points(n: int, dimensions: int, seed: int, clusters: int = 40) -> np.ndarray:
    """Unit rows drawn around ``clusters`` centres with per-cluster spreads, the spread
    of dimension ``j`` falling as ``(1 + j) ** -0.6`` (singular values of 30 principal
    components of osmFISH's reference fall from 1 to 0.12, about as fast)."""
    rng = np.random.default_rng(seed)
    scale = 1 / (1 + np.arange(dimensions)) ** 0.6  # a PCA-like spectrum
    centres = rng.normal(size=(clusters, dimensions)) * 3 * scale
    spread = rng.uniform(0.5, 2.0, size=(clusters, 1))
    label = rng.integers(clusters, size=n)
    points = centres[label] + rng.normal(size=(n, dimensions)) * spread[label] * scale
    return unit_rows(points).astype(np.float32)


def simulated_points(n: int, n_queries: int, dimensions: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference and query points: the simulator's cells (20 types, 300 genes,
    log-normalised, standardised) on their first ``dimensions`` principal
    components, unit rows."""
    import tessella
    from tessella.models.pca import principal_axes

    cells = tessella.datasets.simulate(n_cells=10, n_genes=300, n_reference=n + n_queries,
                                       n_types=20, seed=seed).reference.X
    cells = np.log1p(cells / cells.sum(axis=1, keepdims=True) * 1e4)
    cells = (cells - cells.mean(axis=0)) / (cells.std(axis=0) + 1e-6)
    points = unit_rows(cells @ principal_axes(cells, dimensions)).astype(np.float32)
    return np.ascontiguousarray(points[:n]), np.ascontiguousarray(points[n:])


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true k neighbours found (each row's sets compared)."""
    hits = sum(len(np.intersect1d(a, b)) for a, b in zip(found, truth))
    return hits / truth.size


def run(size: int, n_queries: int, dimensions: int, k: int, seed: int,
        data: str = "clusters") -> list[dict]:
    if data == "simulated":
        reference, queries = simulated_points(size, n_queries, dimensions, seed)
    else:
        reference = clustered_points(size, dimensions, seed)
        queries = clustered_points(n_queries, dimensions, seed + 1)
    rows, truth = [], None
    for backend in ("exact", "faiss", "hnsw"):
        start = time.perf_counter()
        index = NeighbourIndex(reference, backend)
        built = time.perf_counter() - start
        start = time.perf_counter()
        found, _ = index.search(queries, k)
        searched = time.perf_counter() - start
        truth = found if truth is None else truth
        rows.append({"reference": size, "backend": index.backend, "build_s": built,
                     "search_s": searched, "per_1M_queries_s": searched / n_queries * 1e6,
                     "recall": recall(found, truth)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,200000")
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--dimensions", type=int, default=30)
    parser.add_argument("-k", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", choices=("clusters", "simulated"), default="clusters")
    args = parser.parse_args()
    set_threads(args.threads)
    print(f"{args.data}: {args.queries} queries, {args.dimensions} dims, k={args.k}, "
          f"{args.threads} threads")
    print(f"{'reference':>10} {'backend':>7} {'build s':>8} {'search s':>9} "
          f"{'s / 1M queries':>15} {'recall':>7}")
    for size in (int(s) for s in args.sizes.split(",")):
        for row in run(size, args.queries, args.dimensions, args.k, args.seed, args.data):
            print(f"{row['reference']:>10} {row['backend']:>7} {row['build_s']:>8.2f} "
                  f"{row['search_s']:>9.2f} {row['per_1M_queries_s']:>15.1f} "
                  f"{row['recall']:>7.4f}", flush=True)


if __name__ == "__main__":
    main()
