"""Denoising benchmark (``make bench-denoise``): molecular cross-validation and
clustering of denoised profiles on osmFISH and MOB.

For each data set, every count is split binomially in halves (seed 0), each
method denoises the training half and is scored against the test half (MCV MSE
on the normalised scale, MCV Poisson loss) and by the Leiden clustering of its
denoised profiles against the cell labels (NMI, ARI, ASW, their average);
seconds is the denoising time. Methods: raw (the floor), knn_smoothing,
spatial_smoothing, magic and scvi (when installed: ``make setup-peers``), and
refine, with the ESM-2 table (osmFISH only: it covers 275 genes) and without
any embedding table (denoising only). A method that cannot run is listed with
the reason instead of scores.

Usage: python bench/denoise.py [--threads 1] [--seed 0] [--datasets osmfish,mob]
[--scvi-epochs 100] [--refine-epochs 200] [--out results/denoise.csv]
"""

from __future__ import annotations

import argparse
import os
import sys

THREADS = "1"
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, THREADS)

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import tessella  # noqa: E402
from tessella.denoisers import DENOISERS  # noqa: E402
from tessella.errors import InputError  # noqa: E402

COLUMNS = ["mse", "poisson", "nmi", "ari", "asw", "avg", "seconds"]


def _data(name: str) -> tuple[object, str, object]:
    """The slide, its label column and the embedding table refine may use."""
    if name == "osmfish":
        spatial, _ = tessella.datasets.osmfish()
        return spatial, "ClusterName", tessella.datasets.osmfish_embeddings()
    if name == "mob":
        return tessella.datasets.mouse_olfactory_bulb(), "layer", None
    raise SystemExit(f"unknown data set {name!r}: use osmfish, mob")


def _run(spatial, labels: str, methods: list[str], embeddings, seed: int,
         params: dict) -> pd.DataFrame:
    scores = tessella.benchmark(spatial, embeddings=embeddings, task="denoise",
                                methods=methods, labels=labels, seed=seed,
                                params={m: params[m] for m in methods if m in params},
                                verbose=False)
    return scores.set_index("method")[COLUMNS]


def _failed(name: str, err: Exception) -> pd.DataFrame:
    print(f"  {name}: not run ({type(err).__name__}: {err})", flush=True)
    return pd.DataFrame([{c: float("nan") for c in COLUMNS}], index=[name])


def bench(name: str, seed: int, params: dict) -> pd.DataFrame:
    spatial, labels, table = _data(name)
    print(f"{name}: {spatial.n_obs} cells x {spatial.n_vars} genes, labels {labels!r}",
          flush=True)
    methods = ["raw", "knn_smoothing", "spatial_smoothing"]
    for peer in ("magic", "scvi"):
        if DENOISERS[peer].available():
            methods.append(peer)
        else:
            print(f"  {peer}: unavailable ({DENOISERS[peer].install_hint})")
    rows = [_run(spatial, labels, methods, None, seed, params)]
    runs = [("refine (no embeddings)", None)]
    if table is not None:
        runs.insert(0, ("refine (ESM-2)", table))
    for label, embeddings in runs:
        try:
            rows.append(_run(spatial, labels, ["refine"], embeddings, seed, params)
                        .rename(index={"refine": label}))
        except (InputError, ValueError) as err:
            rows.append(_failed(label, err))
    return pd.concat(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=int(THREADS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default="osmfish,mob")
    parser.add_argument("--scvi-epochs", type=int, default=100)
    parser.add_argument("--refine-epochs", type=int, default=200)
    parser.add_argument("--out", default="results/denoise.csv")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ["TESSELLA_THREADS"] = str(args.threads)
    params = {"scvi": {"max_epochs": args.scvi_epochs},
              "refine": {"max_epochs": args.refine_epochs}}
    tables = []
    with threadpool_limits(args.threads):
        for name in args.datasets.split(","):
            table = bench(name, args.seed, params)
            with pd.option_context("display.float_format", "{:.3f}".format,
                                   "display.width", 120):
                print(table.to_string(), "\n", flush=True)
            tables.append(table.rename_axis("method").reset_index().assign(dataset=name))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    pd.concat(tables).to_csv(args.out, index=False)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
