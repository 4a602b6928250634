"""Named public data sets, read from a data directory, and a simulator for tests.

The directory is ``TESSELLA_DATA_DIR`` (or the ``data_dir`` argument); its
layout is that of the project's shared data folder (``osmfish/``,
``embeddings/``, ``mob/`` ...). Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from tessella.errors import InputError

ENV_VAR = "TESSELLA_DATA_DIR"


def data_dir(path: str | Path | None = None) -> Path:
    """The data directory: ``path``, else ``$TESSELLA_DATA_DIR``."""
    chosen = path if path is not None else os.environ.get(ENV_VAR)
    if chosen is None:
        raise InputError(
            f"no data directory: set the environment variable {ENV_VAR} to the folder "
            "holding the data sets (the Makefile points it at ../shared/data), or pass "
            "data_dir=..."
        )
    chosen = Path(chosen)
    if not chosen.is_dir():
        raise FileNotFoundError(f"data directory {chosen} does not exist (from {ENV_VAR}).")
    return chosen


def data_file(relative: str, path: str | Path | None = None) -> Path:
    """Path of one file of the data directory, with a clear error when it is missing."""
    root = data_dir(path)
    file = root / relative
    if not file.exists():
        raise FileNotFoundError(
            f"{relative} is missing from the data directory {root}; "
            f"point {ENV_VAR} at the folder that holds it."
        )
    return file


def osmfish(path: str | Path | None = None) -> tuple[ad.AnnData, ad.AnnData]:
    """osmFISH mouse somatosensory cortex (3405 cells x 33 genes, raw counts, labels in
    ``obs.ClusterName`` / ``obs.Region``) and its Allen SSp scRNA-seq reference
    (5613 cells x the same 33 genes, read counts)."""
    return (ad.read_h5ad(data_file("osmfish/osmfish_spatial.h5ad", path)),
            ad.read_h5ad(data_file("osmfish/allen_ssp_reference.h5ad", path)))


def osmfish_embeddings(path: str | Path | None = None) -> Path:
    """Path of the ESM-2 protein embeddings of the osmFISH genes and 242 others
    (275 genes x 2560 dimensions, TSV)."""
    return data_file("embeddings/osmfish_esm2.tsv.gz", path)


def mouse_olfactory_bulb(path: str | Path | None = None) -> ad.AnnData:
    """Spatial Transcriptomics, mouse olfactory bulb (262 spots x 15928 genes, layers in
    ``obs.layer``)."""
    return ad.read_h5ad(data_file("mob/mob_st.h5ad", path))


def breast_cancer(section: int = 1, path: str | Path | None = None) -> ad.AnnData:
    """Spatial Transcriptomics, human breast cancer, serial section 1 or 2."""
    if section not in (1, 2):
        raise InputError(f"section must be 1 or 2, not {section!r}.")
    return ad.read_h5ad(data_file(f"breast_cancer/bc_st_layer{section}.h5ad", path))


#: Genes of the breast-cancer panel: drawn from the most expressed genes of section 2.
BREAST_CANCER_PANEL_SIZE = 150
BREAST_CANCER_PANEL_POOL = 1000
BREAST_CANCER_PANEL_SEED = 0


def breast_cancer_pair(path: str | Path | None = None) -> tuple[ad.AnnData, ad.AnnData]:
    """A sequencing pair for reference-based imputation: section 2 restricted to a
    150-gene panel (spatial), section 1 with all its genes (reference).

    The panel was chosen once and is fixed by its seed: among the genes both
    sections have, the 1000 with the highest mean log-normalised expression in
    section 2 (each spot scaled to the median total), of which 150 are drawn at
    random with seed 0 (panel order: section 2's gene order). Spots of section 2
    with no counts over the panel are left out (1 of 251). Raw counts.

    Returns
    -------
    ``(spatial, reference)``: 250 spots x 150 genes, and 254 spots x 7998 genes.
    """
    reference = breast_cancer(1, path)
    section = breast_cancer(2, path)
    in_reference = set(reference.var_names)
    shared = [g for g in section.var_names if g in in_reference]
    counts = np.asarray(section[:, shared].X.toarray(), dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    mean = np.log1p(counts / np.maximum(totals, 1) * np.median(totals)).mean(axis=0)
    pool = np.argsort(-mean, kind="stable")[:BREAST_CANCER_PANEL_POOL]
    panel = np.sort(np.random.default_rng(BREAST_CANCER_PANEL_SEED).choice(
        pool, BREAST_CANCER_PANEL_SIZE, replace=False))
    spatial = section[:, [shared[i] for i in panel]]
    detected = np.asarray(spatial.X.sum(axis=1)).ravel() > 0
    return spatial[detected].copy(), reference


def drosophila(path: str | Path | None = None) -> ad.AnnData:
    """BDTNP Drosophila embryo in-situ atlas (3039 locations x 84 genes, continuous,
    3-D coordinates)."""
    return ad.read_h5ad(data_file("drosophila/bdtnp_insitu.h5ad", path))


def visium_mouse_brain(path: str | Path | None = None) -> ad.AnnData:
    """10x Visium mouse brain, first 100 genes (2695 spots; includes empty spots and genes)."""
    return ad.read_h5ad(data_file("visium_subset/visium_mouse_brain.h5ad", path))


@dataclass(frozen=True)
class SimulatedData:
    """A simulated spatial data set, a matching reference and gene embeddings."""

    spatial: ad.AnnData
    reference: ad.AnnData
    embeddings: pd.DataFrame


def simulate(
    n_cells: int = 600,
    n_genes: int = 40,
    n_reference: int = 800,
    n_types: int = 4,
    embedding_dim: int = 16,
    seed: int = 0,
) -> SimulatedData:
    """Simulate counts whose gene programmes follow from gene embeddings.

    Model: gene ``g`` has an embedding ``e_g``; its response to each of
    ``n_types`` latent programmes is a fixed linear map of ``e_g``, so genes
    with similar embeddings are co-expressed (the prior ``refine`` relies on).
    Each cell mixes the programmes, dominated by its type; spatial cells lie on
    a 2-D slide where the type changes along x (obs ``cell_type``,
    ``obsm["spatial"]``). Counts are Poisson around
    ``library * softmax(base + mix . loading)``; the reference draws the same
    types with deeper libraries (a platform difference).

    Returns
    -------
    ``SimulatedData`` with spatial and reference AnnData (raw counts, same genes)
    and a DataFrame of embeddings (genes x ``embedding_dim``) plus 10 genes that
    are in the table only.
    """
    rng = np.random.default_rng(seed)
    n_table = n_genes + 10
    genes = [f"Gene{i:03d}" for i in range(n_table)]
    embedding = rng.normal(size=(n_table, embedding_dim))
    loading = embedding @ rng.normal(size=(embedding_dim, n_types)) / np.sqrt(embedding_dim)
    base = rng.normal(0.0, 0.5, size=n_table)

    def draw(n: int, library: float, cell_type: np.ndarray) -> np.ndarray:
        mix = rng.dirichlet(np.full(n_types, 0.3), size=n) * 0.5
        mix[np.arange(n), cell_type] += 0.5
        logits = base + 2.5 * (mix @ loading.T)
        rates = np.exp(logits - logits.max(axis=1, keepdims=True))
        rates /= rates.sum(axis=1, keepdims=True)
        sizes = library * rng.lognormal(0.0, 0.3, size=(n, 1))
        return rng.poisson(rates * sizes)[:, :n_genes].astype(np.float32)

    coords = rng.uniform(0, 100, size=(n_cells, 2))
    spatial_type = np.minimum((coords[:, 0] / 100 * n_types).astype(int), n_types - 1)
    reference_type = rng.integers(0, n_types, size=n_reference)
    spatial = ad.AnnData(
        X=draw(n_cells, 400.0, spatial_type),
        obs=pd.DataFrame({"cell_type": pd.Categorical(spatial_type.astype(str))},
                         index=[f"cell{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=genes[:n_genes]),
        obsm={"spatial": coords},
    )
    reference = ad.AnnData(
        X=draw(n_reference, 2000.0, reference_type),
        obs=pd.DataFrame({"cell_type": pd.Categorical(reference_type.astype(str))},
                         index=[f"ref{i}" for i in range(n_reference)]),
        var=pd.DataFrame(index=genes[:n_genes]),
    )
    table = pd.DataFrame(embedding.astype(np.float32), index=pd.Index(genes, name="gene"))
    return SimulatedData(spatial, reference, table)
