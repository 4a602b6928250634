"""Accuracy on real data: osmFISH (33 genes) + Allen SSp reference, 5-fold over genes.

Reference points (issue 2): a simple shared-PCA kNN gave a median gene-wise
Spearman of 0.196 here; a constant per-gene prediction scores a median cosine
of about 0.77 on log-normalised osmFISH, so cosine alone shows no skill.

Every run is on the CPU with one thread (conftest.py), so a seed gives the same
numbers on any machine; the spread quoted next to each threshold is over seeds
0-2 (gene split and method seed), measured with these settings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tessella
from tessella.embeddings import EmbeddingTable, load_embeddings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scores(osmfish):
    spatial, reference, embeddings = osmfish
    return tessella.benchmark(spatial, reference, embeddings, methods=["refine", "knn", "mean"],
                              folds=5, seed=0, verbose=False, device="cpu")


def test_every_gene_is_scored_once_per_method(scores, osmfish):
    assert scores.groupby("method").gene.nunique().to_dict() == {
        "refine": 33, "knn": 33, "mean": 33}
    assert set(scores.fold) == set(range(5))
    assert list(scores.columns[:3]) == ["method", "gene", "fold"]


def test_knn_imputes_held_out_genes(scores):
    assert scores.attrs["summary"].loc["knn", "spearman"] > 0.1  # seeds 0-2: 0.194-0.213
    assert scores.attrs["summary"].loc["knn", "pearson"] > 0.1  # seeds 0-2: 0.200-0.217


def test_mean_is_a_constant_with_undefined_correlations(scores):
    mean = scores[scores.method == "mean"]
    assert mean[["pearson", "spearman"]].isna().all().all()
    # cosine rewards any level; seeds 0-2: 0.758-0.761
    assert scores.attrs["summary"].loc["mean", "cosine"] > 0.6


def test_refine_imputes_from_embeddings_alone(scores):
    assert scores.attrs["summary"].loc["refine", "spearman"] > 0.05  # seeds 0-2: 0.127-0.169


def _shuffled(table: EmbeddingTable, seed: int) -> EmbeddingTable:
    genes = np.random.default_rng(seed).permutation(np.asarray(table.genes))
    return EmbeddingTable(pd.Index(genes, name="gene"), table.values)


def _refine_spearman(spatial, table, seeds) -> float:
    return float(np.mean([
        tessella.benchmark(spatial, embeddings=table, methods=["refine"], folds=5, seed=seed,
                           verbose=False, device="cpu").attrs["summary"].loc["refine", "spearman"]
        for seed in seeds]))


def test_refine_prior_matters(osmfish):
    """Permuting the table's gene names must cost accuracy: averaged over two gene
    splits and three permutations, real embeddings beat shuffled ones.

    Measured (median Spearman, CPU, one thread): real 0.169, 0.162, 0.127 at split
    seeds 0, 1, 2; shuffled (permutations 100-102) 0.171, 0.116, 0.155 | 0.211,
    0.106, 0.132 | 0.152, 0.118, 0.155. Here real 0.166 vs shuffled 0.148: a margin
    of 0.017, while one permutation's two-split mean ranges 0.111-0.191 over
    permutations 100-109 (mean 0.136, sd 0.028; real beats 8 of the 10), and at
    split seed 2 real is below its shuffled mean. The margin is inside that noise:
    this pins a deterministic run, not a robust effect (the ESM-2 signal for this
    panel is weak, see refine's docstring).
    """
    spatial, _, path = osmfish
    table = load_embeddings(path)
    seeds = (0, 1)
    real = _refine_spearman(spatial, table, seeds)
    shuffled = [_refine_spearman(spatial, _shuffled(table, s), seeds) for s in (100, 101, 102)]
    assert real > np.mean(shuffled), (real, shuffled)
