"""The main job: 5-fold-over-genes benchmark on osmFISH + Allen SSp, and a picture.

Runs the default ``auto`` and the baselines ``ridge`` and ``spage`` (Allen SSp
reference), ``refine`` (ESM-2 gene embeddings, no reference), ``graph`` (Allen
SSp reference + ESM-2 gene graph), ``knn`` and ``mean`` (Allen SSp reference),
prints the median scores per method and the clustering agreement, and draws
one held-out gene in space: measured vs imputed by each method.
Usage: python scripts/demo.py --out results
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import tessella  # noqa: E402

SHOWN_GENE = "Plp1"  # oligodendrocytes: white matter, a clear spatial pattern


def held_out_maps(spatial, reference, embeddings, gene: str) -> dict[str, np.ndarray]:
    """The gene as measured and as imputed with it hidden from the spatial data."""
    others = spatial[:, [g for g in spatial.var_names if g != gene]]
    counts = np.asarray(spatial.X, dtype=np.float64)
    totals = np.asarray(others.X, dtype=np.float64).sum(axis=1)
    measured = np.log1p(counts[:, list(spatial.var_names).index(gene)]
                        / totals * np.median(totals))
    maps = {"measured": measured}
    maps["refine"] = tessella.refine(others, embeddings, genes=[gene], verbose=False)[:, gene].X
    for method in ("auto", "graph", "knn", "mean"):
        result = tessella.impute(others, reference, method, genes=[gene],
                                 embeddings=embeddings, verbose=False)
        maps[method] = result[:, gene].X
    return {name: np.asarray(values).ravel() for name, values in maps.items()}


def plot_maps(coords: np.ndarray, maps: dict[str, np.ndarray], gene: str, path: Path) -> None:
    fig, axes = plt.subplots(1, len(maps), figsize=(4 * len(maps), 4.4))
    for ax, (name, values) in zip(axes, maps.items()):
        low, high = np.percentile(values, [1, 99])
        ax.scatter(coords[:, 0], coords[:, 1], c=values, s=3, cmap="viridis", vmin=low,
                   vmax=high if high > low else None)
        title = name if name == "measured" else (
            f"{name} (r = {np.corrcoef(values, maps['measured'])[0, 1]:.2f})"
            if values.std() > 0 else f"{name} (constant)")
        ax.set_title(title)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle(f"osmFISH {gene}, held out: measured vs imputed (log-normalised)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results", type=Path)
    parser.add_argument("--folds", default=5, type=int)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    spatial, reference = tessella.datasets.osmfish()
    embeddings = tessella.datasets.osmfish_embeddings()
    scores = tessella.benchmark(spatial, reference, embeddings,
                                methods=["auto", "ridge", "spage", "refine", "graph", "knn",
                                         "mean"], folds=args.folds,
                                seed=0,
                                clustering=True)
    scores.to_csv(args.out / "osmfish_benchmark.csv", index=False)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print(f"\nosmFISH (3405 cells, 33 genes), {args.folds}-fold over genes; "
              "medians over held-out genes:")
        print(tessella.evaluate.summary_table(scores).to_string())
        print("\nLeiden on imputed held-out genes vs Leiden on the measured ones:")
        print(pd.DataFrame(scores.attrs["clustering"])[["ari", "ami", "nmi"]].to_string())
    maps = held_out_maps(spatial, reference, embeddings, SHOWN_GENE)
    figure = args.out / f"osmfish_{SHOWN_GENE}_held_out.png"
    plot_maps(np.asarray(spatial.obsm["spatial"]), maps, SHOWN_GENE, figure)
    print(f"\nwrote {args.out / 'osmfish_benchmark.csv'} and {figure}")
    print(f"wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
