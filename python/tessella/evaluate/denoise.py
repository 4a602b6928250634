"""Denoising evaluation: molecular cross-validation and clustering of denoised profiles.

Molecular cross-validation (MCV; Batson, Royer and Webber 2019, the metric of
the OpenProblems denoising task): every count is split binomially between a
training half and a test half (seeded), which under Poisson sampling are two
independent draws of the same cell's molecules. A method denoises the training
half only and is scored against the test half:

- ``mse``: both put on the same normalised scale (each cell's profile scaled to
  the median cell total of the test half, then log1p; the denoised profile is
  first taken back from log1p to expression shares), mean squared error over
  all cells x genes;
- ``poisson``: the denoised shares times the cell's training total, rescaled
  by test total / training total over the slide, as the Poisson mean of the
  test counts: mean of ``mu - y log(mu + 1e-6)`` over cells x genes.

``raw`` (the training half itself) is the floor. Cells without a count in
either half are left out (their number is in ``attrs["cells_left_out"]``), and
cells without a label (NaN, None) from the clustering scores
(``attrs["cells_unlabelled"]``).

Clustering: the denoised training profiles are clustered with Leiden
(:func:`~tessella.evaluate.clustering.cluster_agreement`) and compared with
the given labels, or else with the Leiden clustering of the log-normalised raw
counts of the whole slide: NMI, ARI, ASW and their average
(:func:`~tessella.evaluate.clustering.average_score`), as spRefine reports them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tessella.data.matrix import read_block
from tessella.data.validate import expression_matrix
from tessella.denoisers import Slide, get_denoiser
from tessella.errors import InputError
from tessella.evaluate.clustering import average_score, cluster_agreement, leiden_clusters
from tessella.evaluate.harness import MedianTable
from tessella.inputs import Inputs

logger = logging.getLogger(__name__)

#: Methods of ``benchmark(task="denoise")`` by default.
DEFAULT_DENOISERS = ("raw", "knn_smoothing", "spatial_smoothing", "refine")
#: Columns of the denoising table, after ``method``.
DENOISE_SCORES = ("mse", "poisson", "nmi", "ari", "asw", "avg", "seconds")
#: Added to the Poisson mean before its log (as in Batson et al.'s code).
POISSON_EPS = 1e-6


def integer_counts(matrix: Any, role: str = "spatial") -> np.ndarray:
    """The matrix as dense float32 counts; :class:`InputError` when it is not counts."""
    values = read_block(matrix, 0, matrix.shape[0], np.arange(matrix.shape[1]))
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)) or (values < 0).any() or np.any(values % 1 != 0):
        raise InputError(
            f"molecular cross-validation splits molecules, so it needs raw integer counts; "
            f"the {role} values are not whole numbers. Pass the raw counts (layer= names a "
            "layer that holds them).",
            "molecular cross-validation splits molecules, so it needs raw integer counts; "
            "the values are not whole numbers. Pass the assay that holds raw counts "
            '(assay = "counts").')
    return values.astype(np.float32)


def mcv_split(counts: np.ndarray, fraction: float = 0.5,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split every count binomially: ``train ~ Binomial(count, fraction)``, ``test =
    count - train`` (seeded). The halves sum to the counts."""
    if not 0.0 < fraction < 1.0:
        raise InputError(f"the training fraction must be in (0, 1), got {fraction}")
    counts = np.asarray(counts)
    train = np.random.default_rng(seed).binomial(counts.astype(np.int64), fraction)
    return train.astype(np.float32), (counts - train).astype(np.float32)


def _shares(log_values: np.ndarray) -> np.ndarray:
    """Expression shares (rows sum to one) of log1p-normalised profiles."""
    expressed = np.expm1(np.maximum(np.asarray(log_values, dtype=np.float64), 0.0))
    return expressed / np.maximum(expressed.sum(axis=1, keepdims=True), 1e-300)


def mcv_mse(denoised: np.ndarray, test: np.ndarray) -> float:
    """MSE between the denoised profiles (log1p-normalised) and the test counts, both
    scaled per cell to the median test total and log1p'd."""
    totals = test.sum(axis=1)
    target = float(np.median(totals[totals > 0]))
    truth = np.log1p(test / np.maximum(totals[:, None], 1e-12) * target)
    return float(np.mean((np.log1p(_shares(denoised) * target) - truth) ** 2))


def mcv_poisson(denoised: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Poisson loss of the test counts under the denoised means: the denoised shares
    times each cell's training total, rescaled by the slide's test / training total."""
    train_totals = train.sum(axis=1, keepdims=True)
    mu = _shares(denoised) * train_totals * (test.sum() / train.sum())
    return float(np.mean(mu - test * np.log(mu + POISSON_EPS)))


def denoise_slide(inputs: Inputs) -> Slide:
    """The slide's counts, gene names, coordinates and embeddings, checked for MCV."""
    counts = integer_counts(expression_matrix(inputs.spatial, inputs.layer, "spatial"))
    coords = inputs.spatial.obsm["spatial"] if "spatial" in inputs.spatial.obsm else None
    if coords is not None:
        coords = np.asarray(coords, dtype=np.float64)[:, :3]
    return Slide(counts, [str(g) for g in inputs.spatial.var_names], coords, inputs.embeddings)


def run_denoise_benchmark(
    slide: Slide,
    methods: Sequence[str] = DEFAULT_DENOISERS,
    seed: int = 0,
    labels: np.ndarray | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    fraction: float = 0.5,
    device: str = "auto",
    verbose: bool = True,
) -> pd.DataFrame:
    """Score denoising ``methods`` by molecular cross-validation and clustering.

    Returns one row per method: ``method``, ``mse``, ``poisson`` (MCV, lower is
    better), ``nmi``, ``ari``, ``asw``, ``avg`` (clustering of the denoised
    training half, higher is better) and ``seconds`` (the denoising time).
    ``attrs`` hold ``summary`` (methods x scores), ``seconds``, ``parameters``
    (what each method ran with), ``clustering_reference`` ("labels" or "raw
    leiden"), ``cells`` (cells scored), ``cells_left_out`` and
    ``cells_unlabelled``.
    """
    methods = list(dict.fromkeys(methods))
    if not methods:
        raise InputError("give at least one denoising method to benchmark.")
    denoisers = [get_denoiser(m) for m in methods]
    params = dict(params or {})
    stray = sorted(set(params) - set(methods))
    if stray:
        raise InputError(f"parameters are given for {', '.join(map(repr, stray))}, which is "
                         f"not among the benchmarked methods ({', '.join(methods)}).")
    resolved = {d.name: d.parameters(params.get(d.name)) for d in denoisers}
    for denoiser in denoisers:  # an uninstalled peer fails here, before any work
        denoiser.check_available()
    if labels is not None and len(labels) != len(slide.counts):
        raise InputError(f"{len(labels)} labels for {len(slide.counts)} cells.")
    train, test = mcv_split(slide.counts, fraction, seed)
    keep = (train.sum(axis=1) > 0) & (test.sum(axis=1) > 0)
    if keep.sum() < 3:
        raise InputError("fewer than 3 cells have counts in both halves of the split; "
                         "molecular cross-validation needs more molecules.")
    if not keep.all():
        logger.info("%d cells without a count in one half of the split are left out.",
                    int((~keep).sum()))
    train, test = train[keep], test[keep]
    coords = None if slide.coords is None else slide.coords[keep]
    half = Slide(train, slide.genes, coords, slide.embeddings)
    labelled = np.ones(int(keep.sum()), dtype=bool)
    if labels is not None:
        reference, reference_name = np.asarray(labels)[keep], "labels"
        labelled = pd.notna(reference)
        reference = reference[labelled]
    else:
        whole = Slide(slide.counts[keep], slide.genes).log_normalised()
        reference, reference_name = leiden_clusters(whole, seed=seed), "raw leiden"
    rows = []
    for denoiser in tqdm(denoisers, desc="denoise", disable=not verbose):
        start = time.perf_counter()
        denoised = np.asarray(denoiser.run(half, seed, verbose, device, **resolved[denoiser.name]),
                              dtype=np.float32)
        seconds = time.perf_counter() - start
        if denoised.shape != train.shape or not np.isfinite(denoised).all():
            raise RuntimeError(f"denoiser {denoiser.name!r} returned {denoised.shape} values "
                               f"(finite: {np.isfinite(denoised).all()}), expected {train.shape}")
        scores = cluster_agreement(None, denoised[labelled], labels=reference, seed=seed)
        rows.append({"method": denoiser.name, "mse": mcv_mse(denoised, test),
                     "poisson": mcv_poisson(denoised, train, test),
                     "nmi": scores["nmi"], "ari": scores["ari"], "asw": scores["asw"],
                     "avg": average_score(scores), "seconds": seconds})
    table = pd.DataFrame(rows, columns=["method", *DENOISE_SCORES])
    table.attrs["summary"] = MedianTable(table.set_index("method").drop(columns="seconds"))
    table.attrs["seconds"] = dict(zip(table["method"], table["seconds"]))
    table.attrs["parameters"] = resolved
    table.attrs["clustering_reference"] = reference_name
    table.attrs["cells"] = int(keep.sum())
    table.attrs["cells_left_out"] = int((~keep).sum())
    table.attrs["cells_unlabelled"] = int((~labelled).sum())
    return table
