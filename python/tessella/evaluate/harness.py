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
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from tessella.data.genes import match_genes
from tessella.data.normalize import normalized_view
from tessella.data.validate import expression_matrix
from tessella.errors import InputError
from tessella.evaluate.clustering import cluster_agreement, leiden_clusters
from tessella.evaluate.metrics import METRICS, score_genes
from tessella.inputs import Inputs, missing_embeddings
from tessella.models.registry import get_method
from tessella.runner import build_method, fit_predict, task_for

logger = logging.getLogger(__name__)


def eligible_genes(inputs: Inputs, methods: Sequence[str], genes: list[str] | None,
                   external: Sequence[str] = ()) -> list[str]:
    """Measured genes every method can be scored on (in the reference and/or the
    embedding table when some method needs them). ``external`` names methods run
    outside the engine; with a reference, they are taken to need it."""
    candidates = [str(g) for g in inputs.spatial.var_names] if genes is None else list(genes)
    missing = [g for g, hit in zip(candidates, match_genes(candidates, inputs.spatial.var_names))
               if hit < 0]
    if missing:
        raise InputError(f"genes to evaluate are not measured in the spatial data: {missing[:8]}")
    keep = np.ones(len(candidates), dtype=bool)
    classes = [get_method(m) for m in methods]
    if any(c.requires_reference for c in classes) or (external and inputs.reference is not None):
        keep &= match_genes(candidates, inputs.reference.var_names) >= 0
    if any(c.requires_embeddings for c in classes):
        if inputs.embeddings is None:  # scoring imputed genes: denoising alone is not enough
            raise missing_embeddings(next(c.name for c in classes if c.requires_embeddings))
        keep &= inputs.embeddings.positions(candidates) >= 0
    return [g for g, k in zip(candidates, keep) if k]


def gene_folds(genes: list[str], folds: int, seed: int) -> list[list[str]]:
    """Split genes into ``folds`` groups at random (seeded), sizes differing by at most one."""
    if folds < 2 or folds > len(genes):
        raise InputError(
            f"folds must be between 2 and the number of genes that can be evaluated "
            f"({len(genes)}), not {folds}."
        )
    order = np.random.default_rng(seed).permutation(len(genes))
    return [[genes[i] for i in part] for part in np.array_split(order, folds)]


def benchmark_folds(
    inputs: Inputs,
    methods: Sequence[str],
    folds: int = 5,
    seed: int = 0,
    genes: list[str] | None = None,
    external: Sequence[str] = (),
) -> list[list[str]]:
    """The held-out genes of each fold, exactly as :func:`run_benchmark` splits them
    for the same arguments (``external``: the names of the external methods).

    A tool outside the engine (Seurat from R, ...) gets the folds here, predicts
    each fold's genes from the other genes, and hands its predictions to
    :func:`run_benchmark` through ``external=``.
    """
    return gene_folds(eligible_genes(inputs, methods, genes, external), folds, seed)


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


def fold_truth(inputs: Inputs, measured: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Held-out values of a fold (cells x held genes), normalised with the size
    factors of the measured genes: the scale every method predicts on (the same
    view :func:`~tessella.data.task.prepare_task` builds)."""
    matrix = expression_matrix(inputs.spatial, inputs.layer, "spatial")
    view, _ = normalized_view(matrix, measured, inputs.spatial_is_counts)
    return view.with_columns(held).to_array()


def check_external(
    external: dict[str, Sequence[Any]], split: list[list[str]], n_cells: int,
    methods: Sequence[str],
) -> dict[str, list[np.ndarray]]:
    """External predictions as float32 arrays (cells x held-out genes of each fold).

    A prediction may be an array or a DataFrame whose columns name the genes (then
    matched to the fold's genes, case-insensitively, and reordered).
    """
    checked = {}
    for name, predictions in external.items():
        if name in methods:
            raise InputError(f"external method {name!r} is also an engine method; rename it.")
        predictions = list(predictions)
        if len(predictions) != len(split):
            raise InputError(
                f"external method {name!r} has {len(predictions)} prediction(s) for "
                f"{len(split)} folds: give one per fold, in the order of benchmark_folds()."
            )
        checked[name] = [_external_fold(name, fold, values, held_out, n_cells)
                         for fold, (values, held_out) in enumerate(zip(predictions, split))]
    return checked


def _external_fold(name: str, fold: int, values: Any, held_out: list[str],
                   n_cells: int) -> np.ndarray:
    if isinstance(values, pd.DataFrame):
        order = match_genes(held_out, [str(c) for c in values.columns])
        if np.any(order < 0):
            lacking = [g for g, i in zip(held_out, order) if i < 0]
            raise InputError(f"external method {name!r}, fold {fold}: the prediction lacks "
                             f"held-out gene(s) {lacking[:8]}.")
        values = values.iloc[:, order].to_numpy()
    values = np.asarray(values.toarray() if sp.issparse(values) else values, dtype=np.float32)
    expected = (n_cells, len(held_out))
    if values.shape != expected:
        raise InputError(
            f"external method {name!r}, fold {fold}: prediction of shape {values.shape}, "
            f"expected cells x held-out genes {expected} (genes {held_out[:8]}...)."
        )
    return values


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
    external: dict[str, Sequence[Any]] | None = None,
    external_seconds: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Score ``methods`` by k-fold cross-validation over the measured genes.

    Returns one row per (method, gene) with the fold and every metric (and the
    method's ``reliability`` for the gene, where it estimates one); the
    table's ``attrs`` hold ``summary`` (medians, methods x metrics),
    ``seconds`` (fit + predict time per method), ``parameters`` (the
    hyper-parameters each engine method ran with) and, when ``clustering`` is
    set, ``clustering`` (methods x scores: Leiden on the imputed held-out genes
    vs ``labels``, or vs Leiden on the measured truth).

    ``external`` adds methods run outside the engine: for each name, one
    prediction per fold of :func:`benchmark_folds` (called with the same
    arguments and ``external=`` these names), cells x that fold's held-out
    genes, on the log-normalised scale of the truth. They are scored against
    the same truth with the same metrics and clustering; ``external_seconds``
    gives their time (NaN when absent).
    """
    params = params or {}
    external = dict(external or {})
    split = benchmark_folds(inputs, methods, folds, seed, genes, list(external))
    n_cells = inputs.spatial.n_obs
    predicted_outside = check_external(external, split, n_cells, methods)
    names = [*methods, *predicted_outside]
    if not names:
        raise InputError("give at least one method to benchmark.")
    rows, seconds, parameters = [], dict.fromkeys(methods, 0.0), {}
    seconds.update({m: float((external_seconds or {}).get(m, np.nan)) for m in predicted_outside})
    n_eval = sum(len(f) for f in split)
    truth_all = np.empty((n_cells, n_eval), dtype=np.float32) if clustering else None
    imputed_all = {m: np.empty_like(truth_all) for m in names} if clustering else None
    bar = tqdm(total=len(split) * len(names), desc="benchmark", disable=not verbose)
    offset = 0
    for fold, held_out in enumerate(split):
        measured, held = _held_out_positions(inputs, held_out)
        truth = fold_truth(inputs, measured, held)
        columns = slice(offset, offset + len(held))
        if clustering:
            truth_all[:, columns] = truth
        for name in names:
            if name in predicted_outside:
                predicted, reliability = predicted_outside[name][fold], None
            else:
                model = build_method(name, {"seed": seed, "verbose": False,
                                            **params.get(name, {})})
                parameters[name] = asdict(model.params)
                task = task_for(inputs, get_method(name), genes=held_out, measured=measured)
                start = time.perf_counter()
                prediction = fit_predict(model, task)
                seconds[name] += time.perf_counter() - start
                predicted = prediction.values[:, task.n_measured:]
                reliability = (None if prediction.reliability is None
                               else prediction.reliability[task.n_measured:])
            table = score_genes(truth, predicted, held_out)
            if reliability is not None:
                table["reliability"] = reliability
            rows.append(table.assign(method=name, fold=fold))
            if clustering:
                imputed_all[name][:, columns] = predicted
            bar.update()
        offset += len(held_out)
    bar.close()
    scores = pd.concat(rows, ignore_index=True)
    scores = scores[["method", "gene", "fold", *[c for c in scores.columns
                                                 if c not in ("method", "gene", "fold")]]]
    scores.attrs["summary"] = MedianTable(summarise(scores))
    scores.attrs["seconds"] = seconds
    scores.attrs["parameters"] = parameters
    if clustering:
        reference = labels if labels is not None else leiden_clusters(truth_all, seed=seed)
        scores.attrs["clustering"] = MedianTable(pd.DataFrame(
            {m: cluster_agreement(truth_all, imputed_all[m], labels=reference, seed=seed)
             for m in names}).T)
    return scores
