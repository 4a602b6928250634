"""The default method against the baselines on both dev pairs, in one harness.

osmFISH + Allen SSp (imaging panel, 33 genes) and the breast-cancer pair
(sequencing, 150-gene panel of section 2, section 1 as reference); 5 folds over
the genes, seed 0, the same folds, truth and metric code for every method, on the
CPU with one thread (conftest.py). ``auto`` and the baselines are deterministic
for a seed (no stochastic training), so each number at seed 0 is exact; the
thresholds sit outside the spread of the asserted quantity over seeds 0-9 (gene
split and method seed: auto's medians moved by up to 0.04 on osmFISH and 0.01 on
breast cancer), quoted next to each. The paired one-sided Wilcoxon test over
genes is the margin asserted, plus a median lead larger than that spread where
it holds.
"""

from __future__ import annotations

import pytest
from scipy.stats import wilcoxon

import tessella

pytestmark = pytest.mark.slow

BASELINES = ["ridge", "ridge_normal", "spage"]


def _pair(name):
    try:
        return (tessella.datasets.osmfish() if name == "osmfish"
                else tessella.datasets.breast_cancer_pair())
    except FileNotFoundError as err:
        pytest.skip(f"real data not available: {err}")


# Largest one-sided Wilcoxon p-value accepted for auto over a baseline, gene by gene.
# Over seeds 0-9, osmFISH | breast cancer:
#   ridge         Pearson 3e-6-0.0013 | 1e-24-2e-22    Spearman 3e-8-0.0002 | 3e-25-3e-24
#   ridge_normal  Pearson 0.0005-0.038 | 1e-24-4e-22   Spearman 7e-5-0.024 | 3e-25-7e-24
#   spage         Pearson 0.0024-0.047 | 5e-5-0.062    Spearman 9e-5-0.020 | 1e-12-5e-7
# auto's Pearson edge over spage is small (median lead 0.034-0.103 | 0.008-0.024) and its
# p-value reaches 0.047 | 0.062 (seed 0: 0.019 | 0.003), so 0.1 there, 0.05 elsewhere.
ALPHA = 0.05
ALPHA_PEARSON_SPAGE = 0.1

# auto's median over the best baseline's, per pair and metric. Seeds 0-9: osmFISH Pearson
# 0.026-0.081, Spearman 0.030-0.073; breast cancer Spearman 0.019-0.051, Pearson
# 0.008-0.024 (seeds 2, 6, 7 below 0.01: only ahead is asserted there).
LEAD = {("osmfish", "pearson"): 0.01, ("osmfish", "spearman"): 0.01,
        ("breast_cancer", "pearson"): 0.0, ("breast_cancer", "spearman"): 0.01}


@pytest.fixture(scope="module", params=["osmfish", "breast_cancer"])
def pair(request):
    return request.param


@pytest.fixture(scope="module")
def scores(pair):
    spatial, reference = _pair(pair)
    return tessella.benchmark(spatial, reference, methods=["auto", *BASELINES], folds=5,
                              seed=0, verbose=False, device="cpu")


@pytest.mark.parametrize("baseline", BASELINES)
@pytest.mark.parametrize("metric", ["pearson", "spearman"])
def test_auto_beats_each_baseline_gene_by_gene(scores, baseline, metric):
    table = scores.pivot_table(index="gene", columns="method", values=metric)
    paired = table[["auto", baseline]].dropna()
    assert len(paired) >= 30
    # median lead over seeds 0-9 at least 0.026 (osmFISH), 0.008 (breast cancer)
    assert paired["auto"].median() > paired[baseline].median()
    alpha = ALPHA_PEARSON_SPAGE if (metric, baseline) == ("pearson", "spage") else ALPHA
    assert wilcoxon(paired["auto"], paired[baseline], alternative="greater").pvalue < alpha


def test_auto_median_lead_over_the_best_baseline(pair, scores):
    summary = scores.attrs["summary"]
    for metric in ("pearson", "spearman"):
        best_other = summary.loc[BASELINES, metric].max()
        assert summary.loc["auto", metric] > best_other + LEAD[pair, metric], metric
