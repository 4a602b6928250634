"""Does pretraining help refine a small slide? (issue 13's acceptance figure)

Design (every random choice follows from the seed):

- Pretraining slides, two gene sets: 2000 osmFISH cells (33 genes) and the 262
  mouse olfactory bulb (MOB) spots over 100 genes drawn from the 149 MOB genes
  that have an ESM-2 vector (about 110 genes in the union).
- Third slide: 300 other osmFISH cells (duplicated cells left out, so no cell
  is in both), split in half: 150 cells to train on (fine-tuning, or training
  from scratch with the same settings, ``corruption="poisson"`` for both) and
  150 held-out cells.
- Metric, held-out reconstruction on the third slide: the held-out cells'
  log-normalised values (scaled to the median total of the training cells) are
  corrupted as in training (Poisson subtraction and dropout, mask rate 0.275,
  seeded), the model predicts from the corrupted input
  (:func:`tessella.predict`), and the prediction is scored against the clean
  values: ``pearson``, the median over genes of the Pearson correlation over
  the corrupted entries (the primary metric); ``mse_masked``, the mean squared
  error over the corrupted entries; ``mse_all``, over every entry (the
  training objective on unseen cells).

Arms: ``pretrained`` (pretrain, then :func:`tessella.fine_tune` on the 150
cells, at fine-tuning's default learning rate 1e-4, the paper's), ``scratch``
(train on the 150 cells only, same settings: the defaults, early stopping on
15 validation cells), ``scratch-500`` (from scratch with a larger budget: 500
epochs, no early stopping, the stronger baseline), ``pretrained-lr1e-3``
(fine-tuning at training's learning rate 1e-3) and ``zero-shot`` (the
pretrained model applied without fine-tuning).
``--design mob`` makes the third slide 130 MOB spots held out of pretraining
instead (over the union's MOB genes).

Run: PYTHONPATH=python .venv/bin/python bench/pretraining.py [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import torch

import tessella
from tessella.embeddings import EmbeddingTable, load_embeddings
from tessella.models.interface import Imputer

PRETRAIN_CELLS = 2000
THIRD_CELLS = {"osmfish": 300, "mob": 130}
MOB_PANEL = 100
TRAIN_SHARE = 0.5
MASK_RATE = 0.275
#: Training budget of the stronger from-scratch baseline (no early stopping).
LONG = {"max_epochs": 500, "patience": 500}
#: Learning rate of the faster fine-tuning arm (``pretrained-lr1e-3``): training's.
TRAINING_LR = 1e-3
#: Genes with fewer corrupted held-out entries get no correlation.
MIN_ENTRIES = 10
METRICS = ("pearson", "mse_masked", "mse_all")


@dataclass(frozen=True)
class Experiment:
    """The slides of one seed: two to pretrain on, and the third slide's training
    and held-out cells (raw counts)."""

    pretraining: list[ad.AnnData]
    train: ad.AnnData
    held_out: ad.AnnData


def _slide(data: ad.AnnData, cells: np.ndarray, genes: list[str]) -> ad.AnnData:
    part = data[cells][:, genes]
    values = part.X.toarray() if hasattr(part.X, "toarray") else part.X
    return ad.AnnData(X=np.asarray(values, dtype=np.float32),
                      obs=pd.DataFrame(index=part.obs_names.astype(str)),
                      var=pd.DataFrame(index=[str(g) for g in genes]))


def experiment(seed: int, table: EmbeddingTable, design: str = "osmfish") -> Experiment:
    """The slides for ``seed`` (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    osmfish, _ = tessella.datasets.osmfish()
    osmfish = osmfish[~osmfish.obs["is_duplicate_of_previous"].astype(bool).to_numpy()]
    mob = tessella.datasets.mouse_olfactory_bulb()
    covered = {gene.upper() for gene in table.genes}
    mob_genes = [str(g) for g in mob.var_names if g.upper() in covered]
    panel = [mob_genes[i] for i in np.sort(rng.choice(len(mob_genes), MOB_PANEL,
                                                      replace=False))]
    osmfish_genes = [str(g) for g in osmfish.var_names]
    n_third = THIRD_CELLS[design]
    if design == "osmfish":
        order = rng.permutation(osmfish.n_obs)
        pretraining = [_slide(osmfish, order[n_third:n_third + PRETRAIN_CELLS], osmfish_genes),
                       _slide(mob, np.arange(mob.n_obs), panel)]
        third = _slide(osmfish, order[:n_third], osmfish_genes)
    elif design == "mob":
        order = rng.permutation(mob.n_obs)
        pretraining = [_slide(osmfish, rng.permutation(osmfish.n_obs)[:PRETRAIN_CELLS],
                              osmfish_genes),
                       _slide(mob, order[n_third:], panel)]
        union = {g.upper() for g in osmfish_genes + panel}
        third = _slide(mob, order[:n_third], [g for g in mob_genes if g.upper() in union])
    else:
        raise ValueError(f"design must be 'osmfish' or 'mob', not {design!r}.")
    cells = rng.permutation(third.n_obs)
    n_train = int(round(third.n_obs * TRAIN_SHARE))
    return Experiment(pretraining, third[cells[:n_train]].copy(), third[cells[n_train:]].copy())


def corrupt(clean: np.ndarray, mask_rate: float, rng: np.random.Generator) -> np.ndarray:
    """The training corruption of refine, seeded: ``max((x - Poisson(x * rate)) *
    keep, 0)`` with ``keep`` ~ Bernoulli(1 - rate)."""
    removed = rng.poisson(clean * mask_rate)
    keep = rng.random(clean.shape) < 1.0 - mask_rate
    return np.maximum((clean - removed) * keep, 0.0).astype(np.float32)


def log_normalised(counts: np.ndarray, target_sum: float) -> np.ndarray:
    """Counts scaled to ``target_sum`` per cell, log1p (the engine's normalisation)."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.log1p(counts / np.maximum(totals, 1e-12) * target_sum).astype(np.float32)


def held_out_scores(model: Imputer, train: ad.AnnData, held_out: ad.AnnData,
                    table: EmbeddingTable, seed: int) -> dict[str, float]:
    """Reconstruction of the corrupted held-out cells (see the module's docstring)."""
    totals = np.asarray(train.X).sum(axis=1)
    clean = log_normalised(np.asarray(held_out.X), float(np.median(totals[totals > 0])))
    corrupted = corrupt(clean, MASK_RATE, np.random.default_rng(1000 + seed))
    masked = corrupted != clean
    slide = ad.AnnData(X=corrupted, obs=held_out.obs.copy(), var=held_out.var.copy())
    result = tessella.predict(model, slide, embeddings=table, input_scale="log")
    predicted = np.asarray(result[:, list(held_out.var_names)].X, dtype=np.float64)
    correlations = []
    for gene in range(clean.shape[1]):
        rows = masked[:, gene] & np.isfinite(predicted[:, gene])
        truth, guess = clean[rows, gene], predicted[rows, gene]
        if rows.sum() >= MIN_ENTRIES and truth.std() > 0 and guess.std() > 0:
            correlations.append(np.corrcoef(truth, guess)[0, 1])
    return {"pearson": float(np.median(correlations)),
            "mse_masked": float(np.nanmean((predicted - clean)[masked] ** 2)),
            "mse_all": float(np.nanmean((predicted - clean) ** 2))}


def run_seed(seed: int, design: str = "osmfish", device: str = "cpu",
             variants: bool = True, **training) -> list[dict]:
    """One row per arm: metrics and seconds (pretraining counted apart);
    ``variants``: also the ``scratch-500`` and ``pretrained-lr1e-3`` arms."""
    table = load_embeddings(tessella.datasets.osmfish_embeddings())
    data = experiment(seed, table, design)
    options = {"seed": seed, "device": device, "verbose": False, **training}
    start = time.perf_counter()
    pretrained = tessella.pretrain(data.pretraining, table, **options)
    pretraining_seconds = time.perf_counter() - start
    start = time.perf_counter()
    tuned = tessella.fine_tune(pretrained, data.train, table, genes=[], **options)
    tuning_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scratch = tessella.fit(data.train, None, method="refine", genes=[], embeddings=table,
                           corruption="poisson", **options)
    scratch_seconds = time.perf_counter() - start
    arms = [("pretrained", tuned, tuning_seconds), ("scratch", scratch, scratch_seconds)]
    if variants:
        start = time.perf_counter()
        longer = tessella.fit(data.train, None, method="refine", genes=[], embeddings=table,
                              corruption="poisson", **{**options, **LONG})
        arms.append(("scratch-500", longer, time.perf_counter() - start))
        start = time.perf_counter()
        fast = tessella.fine_tune(pretrained, data.train, table, genes=[],
                                  **{**options, "lr": TRAINING_LR})
        arms.append(("pretrained-lr1e-3", fast, time.perf_counter() - start))
    arms.append(("zero-shot", pretrained, 0.0))
    return [{"seed": seed, "arm": arm,
             **held_out_scores(model, data.train, data.held_out, table, seed),
             "seconds": seconds, "pretraining_seconds": pretraining_seconds,
             "union_genes": len(pretrained.fitted["input_genes"])}
            for arm, model, seconds in arms]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--design", choices=sorted(THIRD_CELLS), default="osmfish")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("tessella").setLevel(logging.ERROR)
    rows = pd.DataFrame([row for seed in args.seeds
                         for row in run_seed(seed, args.design, args.device)])
    pd.set_option("display.width", 120)
    print(rows.round(4).to_string(index=False))
    print("\nper arm over seeds (mean, sd, min, max):")
    print(rows.groupby("arm")[list(METRICS)].agg(["mean", "std", "min", "max"]).round(4).T)
    wide = rows.pivot(index="seed", columns="arm", values=list(METRICS))
    pairs = [("pretrained", "scratch"), ("pretrained", "scratch-500"),
             ("pretrained-lr1e-3", "scratch-500")]
    for arm, baseline in pairs:
        if baseline not in wide["pearson"]:
            continue
        gain = pd.DataFrame({
            "pearson": wide["pearson"][arm] - wide["pearson"][baseline],
            "mse_masked": wide["mse_masked"][baseline] - wide["mse_masked"][arm],
            "mse_all": wide["mse_all"][baseline] - wide["mse_all"][arm]})
        print(f"\ngain of {arm} over {baseline} (positive: pretraining helps):")
        print(gain.round(4).to_string())
        print(gain.agg(["mean", "std", "min", "max"]).round(4).to_string())


if __name__ == "__main__":
    main()
