"""The main job: 5-fold-over-genes benchmark on osmFISH + Allen SSp, and a picture.

Runs the default ``auto`` and the baselines ``ridge`` and ``spage`` (Allen SSp
reference), ``refine`` (ESM-2 gene embeddings, no reference), ``graph`` (Allen
SSp reference + ESM-2 gene graph), ``knn`` and ``mean`` (Allen SSp reference),
prints the median scores per method and the clustering agreement, and draws
one held-out gene in space with ``tessella.pl.spatial``: measured vs imputed by
each method.
Usage: python scripts/demo.py --out results
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import anndata as ad  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import tessella  # noqa: E402

SHOWN_GENE = "Plp1"  # oligodendrocytes: white matter, a clear spatial pattern


MAP_METHODS = ("refine", "auto", "graph", "knn", "mean")


def held_out_results(spatial, reference, embeddings, gene: str,
                     methods: tuple[str, ...] = MAP_METHODS):
    """The gene as measured (log-normalised over the other genes, so the hidden gene
    never enters the cell totals) and each method's result with it hidden."""
    others = spatial[:, [g for g in spatial.var_names if g != gene]]
    counts = np.asarray(spatial[:, gene].X, dtype=np.float64).ravel()
    totals = np.asarray(others.X, dtype=np.float64).sum(axis=1)
    measured = ad.AnnData(
        X=np.log1p(counts / totals * np.median(totals))[:, None].astype(np.float32),
        obs=pd.DataFrame(index=spatial.obs_names), var=pd.DataFrame(index=[gene]))
    results = {}
    for method in methods:
        results[method] = (
            tessella.refine(others, embeddings, genes=[gene], verbose=False)
            if method == "refine" else
            tessella.impute(others, reference, method, genes=[gene],
                            embeddings=embeddings, verbose=False))
    return measured, results


def plot_held_out(measured, results, gene: str, path: Path) -> None:
    """tessella.pl.spatial of the held-out gene; each method's title adds its Pearson r
    with the measurement."""
    fig = tessella.pl.spatial(results, [gene], measured=measured)
    truth = np.asarray(measured[:, gene].X, dtype=np.float64).ravel()
    for ax in fig.axes:
        title = ax.get_title()
        method = title.split(": ", 1)[-1].split(" (")[0]
        if method in results:
            values = np.asarray(results[method][:, gene].X, dtype=np.float64).ravel()
            ax.set_title(f"{title}\nr = {np.corrcoef(values, truth)[0, 1]:.2f}"
                         if values.std() > 0 else f"{title}\n(constant)")
    fig.suptitle(f"osmFISH {gene}, held out: measured vs imputed (log-normalised)")
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
    measured, results = held_out_results(spatial, reference, embeddings, SHOWN_GENE)
    figure = args.out / f"osmfish_{SHOWN_GENE}_held_out.png"
    plot_held_out(measured, results, SHOWN_GENE, figure)
    print(f"\nwrote {args.out / 'osmfish_benchmark.csv'} and {figure}")
    print(f"wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
