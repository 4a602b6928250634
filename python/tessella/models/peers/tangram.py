"""Tangram (Biancalani et al. 2021, package ``tangram-sc``) as a peer method.

Tangram learns a map from reference cells (or clusters of them) to spatial
cells that makes the mapped expression of the shared genes resemble the
measured one, then projects every reference gene through that map.

What it is fed: the task's log-normalised values (log1p of library-size
normalised counts) of the shared genes for the spatial cells, and of the
shared and target genes for the reference cells. In ``"clusters"`` mode the
reference cells are grouped by Leiden on their shared genes (the task carries
no reference labels). The projection (``project_genes``) is divided by the
mass the map sends to each spatial cell, so a prediction is the map-weighted
mean of reference profiles, on the log1p scale the task and the metrics use.
The density prior is uniform (one cell per spatial observation).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import anndata as ad
import numpy as np
import pandas as pd

from tessella.data.task import ImputationTask
from tessella.device import resolve_device
from tessella.models.peers.common import PeerGenes, PeerImputer, gene_ids
from tessella.models.registry import register
from tessella.params import ImputerParams

MODES = ("clusters", "cells")


@dataclass
class TangramParams(ImputerParams):
    """Hyper-parameters of ``tangram``.

    Attributes
    ----------
    mode
        "clusters" maps Leiden clusters of the reference (fast: seconds on a CPU),
        "cells" maps every reference cell (a cells x spatial-cells matrix: minutes).
    epochs
        Optimisation steps; None picks 1000 for "clusters" (Tangram's default) and
        100 for "cells" (sized for a small CPU).
    learning_rate
        Adam learning rate of the map.
    resolution
        Leiden resolution of the reference clusters ("clusters" mode).
    """

    mode: str = "clusters"
    epochs: int | None = None
    learning_rate: float = 0.1
    resolution: float = 1.0


@register
class TangramImputer(PeerImputer):
    """Tangram: map reference cells or clusters onto space, project their genes."""

    name = "tangram"
    summary = "Tangram (peer, tangram-sc): maps reference cells/clusters onto space"
    params_class = TangramParams
    requires_package = "tangram"
    package = "tangram-sc"

    def run(self, module: ModuleType, task: ImputationTask, genes: PeerGenes) -> np.ndarray:
        params = self.params
        if params.mode not in MODES:
            raise ValueError(f"tangram mode must be one of {MODES}, not {params.mode!r}.")
        n_shared = len(genes.shared)
        names = gene_ids("g", n_shared + len(genes.targets))
        values = task.reference_genes(np.concatenate([genes.shared, genes.targets])).to_array()
        reference = ad.AnnData(values, obs=pd.DataFrame(index=gene_ids("c", len(values))),
                               var=pd.DataFrame(index=names))
        spatial = ad.AnnData(task.measured(genes.shared).to_array(),
                             obs=pd.DataFrame(index=gene_ids("s", task.spatial.n_obs)),
                             var=pd.DataFrame(index=names[:n_shared]))
        label = None
        if params.mode == "clusters":
            # evaluate sits above models (it runs them); only this mode needs its Leiden
            from tessella.evaluate.clustering import leiden_clusters

            label = "cluster"
            clusters = leiden_clusters(values[:, :n_shared], resolution=params.resolution,
                                       seed=params.seed)
            reference.obs[label] = pd.Categorical(clusters.astype(str))
        module.pp_adatas(reference, spatial, genes=names[:n_shared])
        epochs = params.epochs
        if epochs is None:
            epochs = 1000 if params.mode == "clusters" else 100
        mapping = module.map_cells_to_space(
            reference, spatial, mode=params.mode, cluster_label=label,
            device=str(resolve_device(params.device)), learning_rate=params.learning_rate,
            num_epochs=epochs, density_prior="uniform", verbose=params.verbose)
        projected = module.project_genes(mapping, reference, cluster_label=label)
        weights = (np.ones(mapping.n_obs) if label is None
                   else mapping.obs["cluster_density"].to_numpy() * len(values))
        mass = np.asarray(mapping.X).T @ weights
        predicted = np.zeros((task.spatial.n_obs, len(genes.targets)), dtype=np.float32)
        found = projected.var_names.get_indexer(names[n_shared:])  # all-zero genes are dropped
        present = found >= 0
        matrix = np.asarray(projected.X)
        predicted[:, present] = matrix[:, found[present]] / np.maximum(mass, 1e-12)[:, None]
        return predicted
