"""Diffusion on osmFISH + Allen SSp: accuracy against sampling effort, and wall time.

Per fold of the 5-fold split over genes, the model is trained once and sampled
with several (DDIM steps, samples) settings; medians over the 33 held-out genes
and Leiden agreement (ARI / AMI: Leiden on the imputed held-out genes vs Leiden
on the measured ones) per setting and for knn, and the time to sample 100k
cells (osmFISH cells drawn with replacement) with the default setting.

Run: ``make bench-diffusion`` (about 12 minutes on 2 CPU cores).
"""

from __future__ import annotations

import time

import anndata as ad
import numpy as np
import pandas as pd

import tessella
from tessella.evaluate.clustering import cluster_agreement
from tessella.evaluate.harness import _held_out_positions, eligible_genes, gene_folds
from tessella.evaluate.metrics import score_genes
from tessella.inputs import load_inputs
from tessella.models.registry import get_method
from tessella.runner import build_method, task_for

SETTINGS = [(5, 8), (3, 8), (10, 8), (20, 8), (5, 4), (5, 16)]  # (sampling_steps, samples)
DEFAULT = SETTINGS[0]
LARGE = 100_000


def main() -> None:
    spatial, reference = tessella.datasets.osmfish()
    diffusion, knn = get_method("diffusion"), get_method("knn")
    inputs = load_inputs([diffusion, knn], spatial, reference)
    split = gene_folds(eligible_genes(inputs, ["diffusion"], None), 5, 0)
    scores, truths, imputed = [], [], {"knn": []}
    seconds = {"fit": 0.0, **{s: 0.0 for s in SETTINGS}}
    model = None
    for held_out in split:
        measured, held = _held_out_positions(inputs, held_out)
        task = task_for(inputs, diffusion, genes=held_out, measured=measured)
        truth = task.spatial.with_columns(held).to_array()
        truths.append(truth)
        model = build_method("diffusion", {"verbose": False})
        start = time.perf_counter()
        model.fit(task)
        seconds["fit"] += time.perf_counter() - start
        for steps, samples in SETTINGS:
            model.params.sampling_steps, model.params.samples = steps, samples
            start = time.perf_counter()
            predicted = model.predict(task).values[:, task.n_measured:]
            seconds[(steps, samples)] += time.perf_counter() - start
            setting = f"{steps}x{samples}"
            scores.append(score_genes(truth, predicted, held_out).assign(setting=setting))
            imputed.setdefault(setting, []).append(predicted)
        knn_model = build_method("knn", {"verbose": False})
        knn_values = knn_model.fit(task).predict(task).values[:, task.n_measured:]
        scores.append(score_genes(truth, knn_values, held_out).assign(setting="knn"))
        imputed["knn"].append(knn_values)
    table = pd.concat(scores).groupby("setting")[["pearson", "spearman", "cosine", "rmse",
                                                    "ssim", "js"]].median()
    table["seconds"] = [seconds.get(tuple(int(v) for v in s.split("x")), np.nan)
                        if s != "knn" else np.nan for s in table.index]
    truth_all = np.hstack(truths)
    agreement = {name: cluster_agreement(truth_all, np.hstack(parts), seed=0)
                 for name, parts in imputed.items()}
    table["ari"] = [agreement[s]["ari"] for s in table.index]
    table["ami"] = [agreement[s]["ami"] for s in table.index]
    print("setting = DDIM steps x samples; medians over 33 held-out genes; "
          "seconds = sampling time over 5 folds")
    print(table.round(3).to_string())
    print(f"training: {seconds['fit']:.1f} s over 5 folds")
    model.params.sampling_steps, model.params.samples = DEFAULT
    rows = np.random.default_rng(0).integers(0, spatial.n_obs, LARGE)
    large = ad.AnnData(spatial.X[rows], var=spatial.var)
    large.obs_names_make_unique()
    task = task_for(load_inputs([diffusion], large, reference), diffusion,
                    genes=split[-1], measured=_held_out_positions(inputs, split[-1])[0])
    start = time.perf_counter()
    model.predict(task)
    print(f"sampling {LARGE} cells ({DEFAULT[0]} steps x {DEFAULT[1]} samples): "
          f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
