"""gimVI (Lopez et al. 2019, ``scvi.external.GIMVI`` in scvi-tools) as a peer method.

gimVI trains one variational autoencoder over both data sets, with a latent
space made shared by an adversarial classifier; a spatial cell's latent code is
decoded into every reference gene.

What it is fed: raw counts, as its count likelihoods expect (negative binomial
for the spatial cells, zero-inflated for the reference): the shared genes of the
spatial cells and the shared and target genes of the reference cells, read
from the user's matrices; reference cells with no counts on those genes are
left out. Its normalised output (each gene's share of the cell's expression) is
put on the task's scale: divided by the share of the shared genes, multiplied
by the spatial data's normalisation target sum, then log1p, which is how the
task normalises reference genes.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from types import ModuleType

import anndata as ad
import numpy as np
import pandas as pd

from tessella.data.matrix import read_block
from tessella.data.normalize import NormalizedView, cell_totals
from tessella.data.task import ImputationTask
from tessella.device import resolve_device
from tessella.models.peers.common import PeerGenes, PeerImputer, gene_ids, import_peer
from tessella.models.registry import register
from tessella.params import ImputerParams


@dataclass
class GimviParams(ImputerParams):
    """Hyper-parameters of ``gimvi``.

    Attributes
    ----------
    max_epochs
        Training epochs (scvi-tools' default is 200; 50 keeps a CPU run to minutes).
    n_latent
        Dimensions of the shared latent space.
    batch_size
        Cells per minibatch of each data set.
    kappa
        Weight of the adversarial (data set classifier) loss.
    """

    max_epochs: int = 50
    n_latent: int = 10
    batch_size: int = 128
    kappa: float = 5.0


def raw_counts(view: NormalizedView, columns: np.ndarray, role: str) -> np.ndarray:
    """The stored counts of some columns of a task view (its ``scale`` says counts)."""
    if view.scale is None:
        raise ValueError(
            f"gimvi models raw counts, but the {role} data are log-normalised; pass raw "
            "counts (input_scale='counts' / reference_input_scale='counts')."
        )
    return read_block(view.matrix, 0, view.n_obs, columns)


@register
class GimviImputer(PeerImputer):
    """gimVI: a joint VAE of the reference and spatial counts (scvi-tools)."""

    name = "gimvi"
    summary = "gimVI (peer, scvi-tools): joint VAE of reference and spatial counts"
    params_class = GimviParams
    requires_package = "scvi"
    package = "scvi-tools"

    @classmethod
    def import_module(cls) -> ModuleType:
        import_peer("scvi", cls.package)
        return import_peer("scvi.external", cls.package)

    def run(self, module: ModuleType, task: ImputationTask, genes: PeerGenes) -> np.ndarray:
        params = self.params
        n_shared = len(genes.shared)
        names = gene_ids("g", n_shared + len(genes.targets))
        spatial_counts = raw_counts(task.spatial, task.spatial.columns[genes.shared], "spatial")
        reference_columns = task.reference.columns[
            task.reference_index[np.concatenate([genes.shared, genes.targets])]]
        reference_counts = raw_counts(task.reference, reference_columns, "reference")
        reference_counts = reference_counts[reference_counts.sum(axis=1) > 0]
        spatial = ad.AnnData(spatial_counts, obs=pd.DataFrame(index=gene_ids("s", len(
            spatial_counts))), var=pd.DataFrame(index=names[:n_shared]))
        reference = ad.AnnData(reference_counts, obs=pd.DataFrame(index=gene_ids(
            "c", len(reference_counts))), var=pd.DataFrame(index=names))
        module.GIMVI.setup_anndata(reference)
        module.GIMVI.setup_anndata(spatial)
        model = module.GIMVI(reference, spatial, n_latent=params.n_latent)
        device = resolve_device(params.device)
        with tempfile.TemporaryDirectory() as logs:
            model.train(max_epochs=params.max_epochs, batch_size=params.batch_size,
                        kappa=params.kappa,
                        accelerator="gpu" if device.type == "cuda" else "cpu",
                        devices=[device.index or 0] if device.type == "cuda" else 1,
                        enable_progress_bar=params.verbose, default_root_dir=logs)
        _, shares = model.get_imputed_values(normalized=True, batch_size=params.batch_size)
        target_sum = float(np.median(cell_totals(task.spatial.matrix, task.spatial.columns)))
        shared_share = np.maximum(shares[:, :n_shared].sum(axis=1, keepdims=True), 1e-12)
        return np.log1p(shares[:, n_shared:] / shared_share * target_sum)
