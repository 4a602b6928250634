"""Denoisers of measured genes, for the denoising harness
(:mod:`tessella.evaluate.denoise`).

A denoiser takes the raw counts of a slide (cells x genes) and returns each
cell's denoised profile on the log-normalised scale (cells scaled to the median
total, then log1p), the scale every tessella output is on:

- ``raw``: no denoising, the log-normalised counts (the floor);
- ``knn_smoothing``: each cell the mean of its ``k`` nearest cells (itself
  included) in expression PCA space;
- ``spatial_smoothing``: each cell the mean of its ``k`` nearest cells in the
  tissue (``obsm["spatial"]``);
- ``magic``: MAGIC (van Dijk et al. 2018, package ``magic-impute``), diffusion
  over a cell graph, on the log-normalised counts; optional;
- ``scvi``: scVI's normalised expression (Lopez et al. 2018, ``scvi-tools``),
  trained on the counts; optional;
- ``refine``: tessella's own ``refine``, fitted on the slide through the
  public verb; its refined measured genes.

The module sits beside :mod:`tessella.runner` rather than in ``models/``:
``refine`` goes through the engine (``tessella.api``, imported when it runs),
and ``models/`` must not depend on what sits above it. Neighbours come from the
shared search (:mod:`tessella.neighbors`, :mod:`tessella.models.smoothing`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from tessella.data.normalize import normalized_view
from tessella.device import resolve_device
from tessella.errors import InputError
from tessella.models.peers.common import PEERS_INSTALL, import_peer, quiet, seeded
from tessella.models.smoothing import principal_points, smooth
from tessella.neighbors import NeighbourIndex

#: Principal components of the expression space ``knn_smoothing`` searches in.
KNN_COMPONENTS = 30


@dataclass(frozen=True)
class Slide:
    """What a denoiser reads: the counts and what goes with them.

    Attributes
    ----------
    counts
        Raw counts, cells x genes (dense float32).
    genes
        Gene names, one per column.
    coords
        Tissue coordinates (cells x 2 or 3), or None when the slide has none.
    embeddings
        A gene-embedding source for ``refine`` (path, DataFrame, table), or None.
    """

    counts: np.ndarray
    genes: list[str]
    coords: np.ndarray | None = None
    embeddings: Any = None

    def log_normalised(self) -> np.ndarray:
        """The counts scaled to the median cell total, then log1p (float32)."""
        view, _ = normalized_view(self.counts, np.arange(self.counts.shape[1]), True)
        return view.to_array().astype(np.float32, copy=False)


@dataclass(frozen=True)
class Denoiser:
    """A named denoising method: what it does, its defaults, what it needs.

    Attributes
    ----------
    name, summary
        Its name in the harness and one line on what it does.
    run
        ``run(slide, seed, verbose, device, **params)`` -> log-normalised denoised values.
    defaults
        Its hyper-parameters and their defaults (``params`` override them).
    package
        The Python module an optional method imports ("" when none).
    install_hint
        How to install that module.
    accepts
        Names of further parameters it passes on (checked by whatever takes them).
    """

    name: str
    summary: str
    run: Callable[..., np.ndarray]
    defaults: dict[str, Any] = field(default_factory=dict)
    package: str = ""
    install_hint: str = ""
    accepts: Callable[[], list[str]] | None = None

    def available(self) -> bool:
        """Whether its optional package can be imported (without importing it)."""
        if not self.package:
            return True
        import importlib.util

        return importlib.util.find_spec(self.package) is not None

    def check_available(self) -> None:
        """Raise :class:`InputError` with the install command when it is unavailable."""
        if not self.available():
            raise InputError(
                f"denoising method {self.name!r} needs the package {self.package!r}, which is "
                f"not installed: {self.install_hint}")

    def parameter_names(self) -> list[str]:
        """Names of the hyper-parameters it takes."""
        return [*self.defaults, *(self.accepts() if self.accepts else ())]

    def parameters(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Its defaults updated with ``params``; an unknown name is an error."""
        params = dict(params or {})
        known = set(self.parameter_names())
        unknown = sorted(set(params) - known)
        if unknown:
            raise InputError(
                f"denoising method {self.name!r} has no parameter {', '.join(unknown)}; "
                f"it takes {', '.join(sorted(known)) or 'none'}.")
        return {**self.defaults, **params}


def euclidean_neighbours(points: np.ndarray, k: int) -> np.ndarray:
    """Indices of each point's ``k`` nearest points (itself included; first unless
    another point sits at the same place) by Euclidean distance, through the shared
    inner-product search.

    Nearest by distance is largest ``x.y - |y|^2 / 2``: the query ``[x, 1]``
    against the indexed ``[y, -|y|^2 / 2]`` (points centred and scaled first,
    so that the appended column stays of the order of the others).
    """
    points = np.asarray(points, dtype=np.float64)
    points = points - points.mean(axis=0)
    points = points / max(float(np.sqrt((points**2).sum(axis=1).mean())), 1e-12)
    half_norms = -0.5 * (points**2).sum(axis=1, keepdims=True)
    indexed = np.hstack([points, half_norms])
    queries = np.hstack([points, np.ones_like(half_norms)])
    if len(points) >= 10_000:  # faiss / HNSW from there: float32 is their type
        indexed, queries = indexed.astype(np.float32), queries.astype(np.float32)
    index, _ = NeighbourIndex(indexed, "auto").search(queries, k)
    return index


def _raw(slide: Slide, seed: int, verbose: bool, device: str) -> np.ndarray:
    return slide.log_normalised()


def _knn_smoothing(slide: Slide, seed: int, verbose: bool, device: str, k: int,
                   n_components: int) -> np.ndarray:
    values = slide.log_normalised()
    n_components = max(1, min(n_components, values.shape[1] - 1, values.shape[0] - 1))
    coordinates = principal_points(values, n_components, seed, max_cells=len(values))
    return smooth(values, euclidean_neighbours(coordinates, _check_k(k)))


def _spatial_smoothing(slide: Slide, seed: int, verbose: bool, device: str, k: int) -> np.ndarray:
    if slide.coords is None:
        raise InputError("spatial_smoothing needs tissue coordinates in obsm['spatial'] "
                         "(cells x 2 or 3); the slide has none.")
    return smooth(slide.log_normalised(), euclidean_neighbours(slide.coords, _check_k(k)))


def _check_k(k: int) -> int:
    if int(k) < 1:
        raise InputError(f"parameter 'k' must be >= 1, got {k}")
    return int(k)


def _magic(slide: Slide, seed: int, verbose: bool, device: str, knn: int, t: int | str,
           n_pca: int) -> np.ndarray:
    magic = import_peer("magic", "magic-impute")
    values = slide.log_normalised()
    n_pca = min(n_pca, values.shape[1] - 1, values.shape[0] - 1)
    with seeded(seed), quiet(verbose):
        operator = magic.MAGIC(knn=knn, t=t, n_pca=n_pca if n_pca >= 2 else None,
                               random_state=seed, n_jobs=1, verbose=int(verbose))
        denoised = operator.fit_transform(values)
    return np.asarray(denoised, dtype=np.float32)


def _scvi(slide: Slide, seed: int, verbose: bool, device: str, max_epochs: int,
          n_latent: int) -> np.ndarray:
    import tempfile

    scvi = import_peer("scvi", "scvi-tools")
    names = [f"g{i}" for i in range(len(slide.genes))]
    data = ad.AnnData(slide.counts.astype(np.float32),
                      obs=pd.DataFrame(index=[f"c{i}" for i in range(len(slide.counts))]),
                      var=pd.DataFrame(index=names))
    totals = slide.counts.sum(axis=1)
    target = float(np.median(totals[totals > 0]))
    with seeded(seed), quiet(verbose), tempfile.TemporaryDirectory() as logs:
        scvi.settings.seed = seed
        scvi.model.SCVI.setup_anndata(data)
        model = scvi.model.SCVI(data, n_latent=min(n_latent, len(names)))
        on_gpu = resolve_device(device).type == "cuda"
        model.train(max_epochs=max_epochs, accelerator="gpu" if on_gpu else "cpu", devices=1,
                    enable_progress_bar=verbose, default_root_dir=logs)
        shares = model.get_normalized_expression(library_size=target, return_numpy=True)
    return np.log1p(np.asarray(shares, dtype=np.float32))


def _refine(slide: Slide, seed: int, verbose: bool, device: str, **params: Any) -> np.ndarray:
    from tessella import api  # the engine's public verb, above this module

    data = ad.AnnData(slide.counts.astype(np.float32),
                      obs=pd.DataFrame(index=[f"c{i}" for i in range(len(slide.counts))]),
                      var=pd.DataFrame(index=list(slide.genes)))
    if slide.coords is not None:
        data.obsm["spatial"] = slide.coords
    out = api.refine(data, slide.embeddings, genes=[], seed=seed, device=device,
                     verbose=verbose, input_scale="counts", **params)
    measured = out[:, list(slide.genes)]
    values = measured.X
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values,
                      dtype=np.float32)


def _refine_parameters() -> list[str]:
    from dataclasses import fields

    from tessella.models.registry import get_method
    from tessella.params import ImputerParams

    common = {item.name for item in fields(ImputerParams)}
    return [item.name for item in fields(get_method("refine").params_class)
            if item.name not in common]


DENOISERS: dict[str, Denoiser] = {d.name: d for d in (
    Denoiser("raw", "no denoising: the log-normalised counts (the floor)", _raw),
    Denoiser("knn_smoothing", "mean of the k nearest cells in expression PCA space",
             _knn_smoothing, {"k": 15, "n_components": KNN_COMPONENTS}),
    Denoiser("spatial_smoothing", "mean of the k nearest cells in the tissue "
             "(obsm['spatial'])", _spatial_smoothing, {"k": 7}),
    Denoiser("magic", "MAGIC (peer, magic-impute): diffusion over a cell graph", _magic,
             {"knn": 5, "t": 3, "n_pca": 100}, package="magic",
             install_hint=f"pip install magic-impute (or {PEERS_INSTALL})"),
    Denoiser("scvi", "scVI (peer, scvi-tools): its normalised expression", _scvi,
             {"max_epochs": 100, "n_latent": 10}, package="scvi",
             install_hint=f"pip install scvi-tools (or {PEERS_INSTALL})"),
    Denoiser("refine", "tessella refine fitted on the slide: its refined measured genes",
             _refine, accepts=_refine_parameters),
)}


def get_denoiser(name: str) -> Denoiser:
    """The denoiser called ``name``; an unknown name is an :class:`InputError`."""
    if name not in DENOISERS:
        raise InputError(f"unknown denoising method {name!r}; choose from "
                         f"{', '.join(DENOISERS)}.")
    return DENOISERS[name]


def available_denoisers() -> pd.DataFrame:
    """The denoising methods: name, summary, whether available, the install command."""
    return pd.DataFrame([{"method": d.name, "summary": d.summary, "available": d.available(),
                          "install": "" if d.available() else d.install_hint}
                         for d in DENOISERS.values()])
