"""tessella.pl: the figures' axes and the data drawn on them."""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tessella  # noqa: E402
from tessella import pl  # noqa: E402

HIDDEN = ["Gad2", "Plp1", "Vip"]


@pytest.fixture(scope="module")
def osmfish_results(osmfish):
    """auto and knn on 600 osmFISH cells with three genes held out."""
    spatial, reference, _ = osmfish
    spatial = spatial[:600].copy()
    panel = spatial[:, [g for g in spatial.var_names if g not in HIDDEN]].copy()
    auto = tessella.impute(panel, reference, "auto", genes=HIDDEN, verbose=False)
    knn = tessella.impute(panel, reference, "knn", genes=HIDDEN, verbose=False)
    return spatial, auto, knn


def panels_of(fig):
    return [ax for ax in fig.axes if ax.collections and ax.get_label() != "<colorbar>"]


def engine_log_normalised(spatial, gene):
    counts = np.asarray(spatial.X.toarray() if hasattr(spatial.X, "toarray") else spatial.X,
                        dtype=np.float64)
    totals = counts.sum(axis=1)
    target = np.median(totals[totals > 0])
    column = counts[:, list(spatial.var_names).index(gene)]
    return np.log1p(column / totals * target)


def test_spatial_draws_measured_then_each_result(osmfish_results):
    spatial, auto, knn = osmfish_results
    genes = ["Plp1", "Aldoc"]
    fig = pl.spatial({"auto": auto, "knn": knn}, genes, measured=spatial)
    panels = panels_of(fig)
    assert len(panels) == 6  # 2 genes x (measured, auto, knn)
    coords = np.asarray(spatial.obsm["spatial"], dtype=np.float64)
    expected = {
        ("Plp1", "measured"): engine_log_normalised(spatial, "Plp1"),
        ("Plp1", "auto"): np.asarray(auto[:, "Plp1"].X).ravel(),
        ("Plp1", "knn"): np.asarray(knn[:, "Plp1"].X).ravel(),
        ("Aldoc", "measured"): engine_log_normalised(spatial, "Aldoc"),
        ("Aldoc", "auto"): np.asarray(auto[:, "Aldoc"].X).ravel(),
        ("Aldoc", "knn"): np.asarray(knn[:, "Aldoc"].X).ravel(),
    }
    reliability = auto.var.loc["Plp1", "reliability"]
    titles = [ax.get_title() for ax in panels]
    assert titles == ["Plp1: measured", f"Plp1: auto (reliability {reliability:.2f})",
                      "Plp1: knn", "Aldoc: measured", "Aldoc: auto", "Aldoc: knn"]
    for ax in panels:
        gene, source = ax.get_title().split(" (")[0].split(": ")
        points = ax.collections[0]
        np.testing.assert_allclose(points.get_offsets(), coords[:, :2])
        np.testing.assert_allclose(np.ma.filled(points.get_array(), np.nan),
                                   expected[gene, source], rtol=1e-5)
    # one colour scale per gene: every panel of a row shares its limits
    for row in (panels[:3], panels[3:]):
        assert len({ax.collections[0].get_clim() for ax in row}) == 1
    plt.close(fig)


def test_spatial_without_a_measurement(osmfish_results):
    spatial, auto, _ = osmfish_results
    panel = spatial[:, [g for g in spatial.var_names if g not in HIDDEN]]
    fig = pl.spatial(auto, ["Vip", "Aldoc"], measured=panel)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]  # colour bars have none
    assert titles[:2] == ["Vip: not measured",
                          f"Vip: auto (reliability {auto.var.loc['Vip', 'reliability']:.2f})"]
    assert titles[2:4] == ["Aldoc: measured", "Aldoc: auto"]
    assert len(panels_of(fig)) == 3
    plt.close(fig)
    fig = pl.spatial(auto, "Vip")  # no measured: one column, named by the method
    assert [ax.get_title() for ax in panels_of(fig)] == [
        f"Vip: auto (reliability {auto.var.loc['Vip', 'reliability']:.2f})"]
    plt.close(fig)


def test_spatial_input_errors(osmfish_results):
    spatial, auto, knn = osmfish_results
    with pytest.raises(tessella.InputError, match="has no gene"):
        pl.spatial(auto, ["NotAGene"])
    with pytest.raises(tessella.InputError, match="obsm"):
        pl.spatial(auto, ["Vip"], basis="X_umap")
    with pytest.raises(tessella.InputError, match="lacks 300 cell"):
        pl.spatial(auto, ["Vip"], measured=spatial[:300])
    with pytest.raises(tessella.InputError, match="other cells"):
        pl.spatial({"auto": auto, "knn": knn[:10]}, ["Vip"])


def test_reliability_sorted_bars(osmfish_results):
    _, auto, knn = osmfish_results
    fig = pl.reliability(auto)
    ax = fig.axes[0]
    imputed = auto.var.loc[~auto.var["measured"], "reliability"].sort_values()
    widths = [patch.get_width() for patch in ax.patches]
    np.testing.assert_allclose(widths, imputed.to_numpy())
    assert [label.get_text() for label in ax.get_yticklabels()] == list(imputed.index)
    # highest at the top
    tops = sorted(ax.patches, key=lambda patch: patch.get_y(), reverse=True)
    assert tops[0].get_width() == pytest.approx(imputed.max())
    plt.close(fig)
    with pytest.raises(tessella.InputError, match="no reliability estimate"):
        pl.reliability(knn)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'tessella\[plot\]'"):
        pl._pyplot()
