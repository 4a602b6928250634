"""Plots of results: imputed genes in space beside their measurement, and each imputed
gene's reliability. The twins of the R package's ``plotImputed()`` and
``plotReliability()``.

matplotlib is imported when a plot is drawn, not with tessella: it comes with the
``plot`` extra (``pip install 'tessella[plot]'``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anndata as ad
import numpy as np
import scipy.sparse as sp

from tessella.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

MEASURED = "measured"


def _pyplot() -> Any:
    """matplotlib.pyplot, or an error that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("tessella.pl needs matplotlib: pip install 'tessella[plot]'") \
            from err
    return plt


def _column(adata: ad.AnnData, gene: str) -> np.ndarray:
    """One gene's values over the cells, as float64."""
    values = adata[:, [gene]].X
    if sp.issparse(values):
        values = values.toarray()
    return np.asarray(values, dtype=np.float64).ravel()


def _results(result: ad.AnnData | Mapping[str, ad.AnnData]) -> dict[str, ad.AnnData]:
    """Results by label: one AnnData is labelled by its method."""
    if isinstance(result, ad.AnnData):
        method = result.uns.get("tessella", {}).get("method", "imputed")
        return {str(method): result}
    if isinstance(result, Mapping) and result and all(
            isinstance(value, ad.AnnData) for value in result.values()):
        return {str(label): value for label, value in result.items()}
    raise InputError("result must be a tessella result (AnnData) or a dict of them by "
                     "label, e.g. {'auto': out}")


def measured_values(measured: ad.AnnData, genes: Sequence[str],
                    cells: Sequence[str]) -> dict[str, np.ndarray]:
    """Log-normalised measured values of the ``genes`` that ``measured`` has, for
    ``cells``: counts (whole numbers) are scaled to the median of the non-zero cell
    totals and log1p'd, as the engine does; other values are used as they are."""
    missing = ~np.isin(np.asarray(cells), np.asarray(measured.obs_names))
    if missing.any():
        raise InputError(f"measured lacks {int(missing.sum())} cell(s) of the result; "
                         "give the AnnData the result was computed from")
    present = [gene for gene in genes if gene in measured.var_names]
    if not present:
        return {}
    subset = measured[list(cells)]
    block = subset[:, present].X
    block = np.asarray(block.toarray() if sp.issparse(block) else block, dtype=np.float64)
    if np.allclose(block[np.isfinite(block)], np.round(block[np.isfinite(block)])):
        totals = np.asarray(measured.X.sum(axis=1), dtype=np.float64).ravel()
        totals = totals[measured.obs_names.get_indexer(list(cells))]
        positive = totals[totals > 0]
        target = float(np.median(positive)) if positive.size else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            block = np.log1p(block / totals[:, None] * target)
    return {gene: block[:, i] for i, gene in enumerate(present)}


def _coordinates(adata: ad.AnnData, basis: str) -> np.ndarray:
    if basis not in adata.obsm:
        raise InputError(f"the result has no obsm['{basis}'] with coordinates; give "
                         "basis= the obsm key that holds them")
    return np.asarray(adata.obsm[basis], dtype=np.float64)[:, :2]


def _reliability(adata: ad.AnnData, gene: str) -> float:
    """The reliability of an imputed gene; NaN for measured genes and methods without."""
    if "reliability" not in adata.var or bool(adata.var.get("measured", {}).get(gene)):
        return float("nan")
    return float(adata.var.loc[gene, "reliability"])


def spatial(
    result: ad.AnnData | Mapping[str, ad.AnnData],
    genes: str | Sequence[str],
    *,
    measured: ad.AnnData | None = None,
    basis: str = "spatial",
    point_size: float = 3.0,
    cmap: str = "viridis",
) -> Figure:
    """Imputed genes in space, beside their measurement.

    One row per gene: the gene as measured (where ``measured`` has it), then as each
    result gives it, on one colour scale per gene (its 1st-99th percentile over the
    row's panels), so the panels of a gene compare directly. A panel's title names
    the gene, the source and, where the method estimates one, its reliability.

    Parameters
    ----------
    result
        A tessella result (``tessella.impute`` / ``refine`` / ``predict``), or a dict
        of results by label (one column each, e.g. ``{"auto": a, "knn": b}``).
    genes
        Genes to draw; every result must have them.
    measured
        The AnnData the result was computed from, or one with the genes' measurement
        (e.g. the slide before genes were held out): counts are normalised as the
        engine does (library size to the median total, log1p), other values used as
        they are. ``None`` draws no measured panels.
    basis
        ``obsm`` key of the cells' coordinates in the result.
    point_size, cmap
        Scatter point size and colour map.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(genes)`` rows of panels (``fig.axes``, row by row, then one colour bar
        per row, labelled ``"<colorbar>"``); each panel's points are
        ``ax.collections[0]`` (offsets: the coordinates, array: the values). Cells
        without values (NaN) are left blank.
    """
    plt = _pyplot()
    results = _results(result)
    genes = [genes] if isinstance(genes, str) else list(genes)
    if not genes:
        raise InputError("genes must name at least one gene of the result")
    first = next(iter(results.values()))
    for label, adata in results.items():
        absent = [gene for gene in genes if gene not in adata.var_names]
        if absent:
            raise InputError(f"result '{label}' has no gene(s) {', '.join(absent)}")
        if not adata.obs_names.equals(first.obs_names):
            raise InputError(f"result '{label}' has other cells than the first result")
    coords = _coordinates(first, basis)
    truth = {} if measured is None else measured_values(measured, genes, first.obs_names)
    columns = ([MEASURED] if truth else []) + list(results)
    fig, axes = plt.subplots(len(genes), len(columns), squeeze=False, layout="constrained",
                             figsize=(3.6 * len(columns) + 0.8, 3.4 * len(genes) + 0.4))
    for row, gene in enumerate(genes):
        panels = {MEASURED: truth[gene]} if gene in truth else {}
        panels.update({label: _column(adata, gene) for label, adata in results.items()})
        pooled = np.concatenate(list(panels.values()))
        pooled = pooled[np.isfinite(pooled)]
        low, high = np.percentile(pooled, [1, 99]) if pooled.size else (0.0, 1.0)
        points = None
        for ax, label in zip(axes[row], columns):
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if label not in panels:
                ax.set_title(f"{gene}: not measured")
                ax.axis("off")
                continue
            points = ax.scatter(coords[:, 0], coords[:, 1], c=panels[label], s=point_size,
                                cmap=cmap, vmin=low, vmax=high if high > low else low + 1)
            reliability = _reliability(results[label], gene) if label in results \
                else float("nan")
            ax.set_title(f"{gene}: {label}" + (f" (reliability {reliability:.2f})"
                                               if np.isfinite(reliability) else ""))
        fig.colorbar(points, ax=list(axes[row]), shrink=0.8, label="log-normalised")
    fig.suptitle("measured and imputed genes in space")
    return fig


def reliability(result: ad.AnnData, *, ax: Any = None) -> Figure:
    """Each imputed gene's reliability (expected accuracy), highest at the top.

    Parameters
    ----------
    result
        A tessella result of a method that estimates reliability (``auto``, ``graph``):
        ``var["reliability"]`` of the genes with ``var["measured"]`` False.
    ax
        Axes to draw on; ``None`` makes a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        One horizontal bar per imputed gene with an estimate (``ax.patches``, widths
        the reliabilities, top to bottom in decreasing order; y tick labels the genes).
        Genes without an estimate are left out.
    """
    plt = _pyplot()
    if not isinstance(result, ad.AnnData) or not {"measured", "reliability"} <= set(
            result.var.columns):
        raise InputError("result must be a tessella result with var['measured'] and "
                         "var['reliability']")
    imputed = result.var.loc[~result.var["measured"].astype(bool), "reliability"]
    imputed = imputed[np.isfinite(imputed.to_numpy(dtype=np.float64))]
    method = result.uns.get("tessella", {}).get("method", "this method")
    if imputed.empty:
        raise InputError(f"the result ({method}) has no reliability estimate for imputed "
                         "genes: methods 'auto' and 'graph' give one")
    imputed = imputed.sort_values(ascending=True)  # barh draws the first at the bottom
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 0.9 + 0.25 * len(imputed)))
    else:
        fig = ax.figure
    ax.barh(np.arange(len(imputed)), imputed.to_numpy(dtype=np.float64), color="#3b528b")
    ax.set_yticks(np.arange(len(imputed)), list(imputed.index))
    ax.set_xlabel("reliability (expected accuracy)")
    ax.set_title(f"{method}: reliability of the imputed genes")
    fig.tight_layout()
    return fig
