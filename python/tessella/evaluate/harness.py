"""k-fold-over-genes evaluation: hide a fold of measured genes, impute it, score it.

Held-out genes never reach a method: each fold's task is built from the other
genes only, so they enter neither training nor the size factors of
normalisation. The truth a fold is scored against is the held-out counts
normalised with those same size factors (the scale the method works on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tessella.data.genes import match_genes
from tessella.evaluate.clustering import cluster_agreement, leiden_clusters
from tessella.evaluate.metrics import METRICS, score_genes
from tessella.inputs import Inputs
from tessella.models.base import get_method
from tessella.runner import build_method, fit_predict, task_for

logger = logging.getLogger(__name__)


def eligible_genes(inputs: Inputs, methods: Sequence[str], genes: list[str] | None) -> list[str]:
    """Measured genes every method can be scored on (in the reference and/or the
    embedding table when some method needs them)."""
    candidates = [str(g) for g in inputs.spatial.var_names] if genes is None else list(genes)
    missing = [g for g, hit in zip(candidates, match_genes(candidates, inputs.spatial.var_names))
               if hit < 0]
    if missing:
        raise ValueError(f"genes to evaluate are not measured in the spatial data: {missing[:8]}")
    keep = np.ones(len(candidates), dtype=bool)
    classes = [get_method(m) for m in methods]
    if any(c.requires_reference for c in classes):
        keep &= match_genes(candidates, inputs.reference.var_names) >= 0
    if any(c.requires_embeddings for c in classes):
        keep &= inputs.embeddings.positions(candidates) >= 0
    return [g for g, k in zip(candidates, keep) if k]


def gene_folds(genes: list[str], folds: int, seed: int) -> list[list[str]]:
    """Split genes into ``folds`` groups at random (seeded), sizes differing by at most one."""
    if folds < 2 or folds > len(genes):
        raise ValueError(
            f"folds must be between 2 and the number of genes that can be evaluated "
            f"({len(genes)}), not {folds}."
        )
    order = np.random.default_rng(seed).permutation(len(genes))
    return [[genes[i] for i in part] for part in np.array_split(order, folds)]


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Median of each metric per method (NaN when every value is NaN)."""
    return scores.groupby("method", sort=False)[list(METRICS)].median()


class MedianTable(pd.DataFrame):
    """A methods x metrics table kept in ``DataFrame.attrs``.

    pandas compares ``attrs`` values with ``==`` when it prints a long table or
    concatenates tables; a plain DataFrame answers with a DataFrame there and
    pandas fails. This table answers ``==`` with one bool (whole-table
    equality); everything else is an ordinary DataFrame.
    """

    @property
    def _constructor(self) -> type[MedianTable]:
        return MedianTable

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return isinstance(other, pd.DataFrame) and self.equals(other)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


def summary_table(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores.attrs["summary"]`` as a plain DataFrame: methods x metrics."""
    return pd.DataFrame(scores.attrs["summary"])


def _held_out_positions(inputs: Inputs, held_out: list[str]) -> tuple[np.ndarray, np.ndarray]:
    held = match_genes(held_out, inputs.spatial.var_names)
    measured = np.setdiff1d(np.arange(inputs.spatial.n_vars), held)
    return measured, held


def run_benchmark(
    inputs: Inputs,
    methods: Sequence[str],
    folds: int = 5,
    seed: int = 0,
    genes: list[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    labels: np.ndarray | None = None,
    clustering: bool = False,
    verbose: bool = True,
) -> pd.DataFrame:
    """Score ``methods`` by k-fold cross-validation over the measured genes.

    Returns one row per (method, gene) with the fold and every metric (and the
    method's ``reliability`` for the gene, where it estimates one); the
    table's ``attrs`` hold ``summary`` (medians, methods x metrics),
    ``seconds`` (fit + predict time per method) and, when ``clustering`` is set,
    ``clustering`` (methods x scores: Leiden on the imputed held-out genes vs
    ``labels``, or vs Leiden on the measured truth).
    """
    params = params or {}
    split = gene_folds(eligible_genes(inputs, methods, genes), folds, seed)
    rows, seconds = [], dict.fromkeys(methods, 0.0)
    n_cells = inputs.spatial.n_obs
    n_eval = sum(len(f) for f in split)
    truth_all = np.empty((n_cells, n_eval), dtype=np.float32) if clustering else None
    imputed_all = {m: np.empty_like(truth_all) for m in methods} if clustering else None
    bar = tqdm(total=len(split) * len(methods), desc="benchmark", disable=not verbose)
    offset = 0
    for fold, held_out in enumerate(split):
        measured, held = _held_out_positions(inputs, held_out)
        truth = None
        for name in methods:
            task = task_for(inputs, get_method(name), genes=held_out, measured=measured)
            if truth is None:  # the same for every method: it depends on the fold only
                truth = task.spatial.with_columns(held).to_array()
            model = build_method(name, {"seed": seed, "verbose": False, **params.get(name, {})})
            start = time.perf_counter()
            prediction = fit_predict(model, task)
            seconds[name] += time.perf_counter() - start
            predicted = prediction.values[:, task.n_measured:]
            table = score_genes(truth, predicted, held_out)
            if prediction.reliability is not None:
                table["reliability"] = prediction.reliability[task.n_measured:]
            rows.append(table.assign(method=name, fold=fold))
            if clustering:
                truth_all[:, offset:offset + len(held)] = truth
                imputed_all[name][:, offset:offset + len(held)] = predicted
            bar.update()
        offset += len(held_out)
    bar.close()
    scores = pd.concat(rows, ignore_index=True)
    scores = scores[["method", "gene", "fold", *[c for c in scores.columns
                                                 if c not in ("method", "gene", "fold")]]]
    scores.attrs["summary"] = MedianTable(summarise(scores))
    scores.attrs["seconds"] = seconds
    if clustering:
        reference = labels if labels is not None else leiden_clusters(truth_all, seed=seed)
        scores.attrs["clustering"] = MedianTable(pd.DataFrame(
            {m: cluster_agreement(truth_all, imputed_all[m], labels=reference, seed=seed)
             for m in methods}).T)
    return scores
