"""stPlus (Shengquan Chen et al. 2021, package ``stPlus``) as a peer method.

stPlus trains an autoencoder on spatial and reference cells together (the
spatial cells with the reference-only genes set to zero), embeds both, and
predicts each spatial cell as the weighted mean of its nearest reference cells
in that embedding; an ensemble of its best epochs is averaged.

What it is fed, as its documentation asks: log-normalised values (log1p of
library-size normalised counts, the task's views) of the shared genes for the
spatial cells and, for the reference cells, of the shared genes, the target
genes and the ``top_k`` most variable other reference genes (stPlus's own
selection rule, applied here so that only those columns are read). With no
other reference gene, one all-zero column stands in (stPlus needs one).

stPlus 0.0.6 assumes a GPU: it sets CUDA as torch's default tensor type when it
is imported and calls the tensors' ``cuda`` method; it also imports torchvision
without using it.
The wrapper neutralises the import-time switch, stands in for an absent
torchvision, sends ``cuda`` calls to tessella's device while stPlus runs, and sets
its data loader workers (4 in stPlus) to ``num_workers``. Everything is put
back afterwards; its checkpoints go to a temporary folder.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import tempfile
import types
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import torch

from tessella.data.task import ImputationTask
from tessella.device import resolve_device
from tessella.models.peers.common import (
    PeerGenes,
    PeerImputer,
    gene_ids,
    import_peer,
    patched,
)
from tessella.models.registry import register
from tessella.params import ImputerParams


@dataclass
class StplusParams(ImputerParams):
    """Hyper-parameters of ``stplus``.

    Attributes
    ----------
    top_k
        Most variable reference-only genes added to the autoencoder's input.
    t_min
        Models of the lowest-loss epochs averaged in the prediction.
    n_neighbors
        Reference neighbours per spatial cell.
    max_epochs
        Most training epochs (training stops earlier once the loss settles).
    batch_size
        Cells per minibatch.
    num_workers
        Data loader worker processes (stPlus uses 4; 0 loads in the main process).
    """

    top_k: int = 2000
    t_min: int = 5
    n_neighbors: int = 50
    max_epochs: int = 500
    batch_size: int = 512
    num_workers: int = 0


@contextlib.contextmanager
def _importable() -> Iterator[None]:
    """stPlus's import without its side effects: no switch of torch's default tensor
    type, and a stand-in for torchvision (imported, never used) when it is absent."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(torch, "set_default_tensor_type", lambda *_: None))
        if importlib.util.find_spec("torchvision") is None:
            stub = types.ModuleType("torchvision")
            stub.datasets = types.ModuleType("torchvision.datasets")
            stubs = {"torchvision": stub, "torchvision.datasets": stub.datasets}
            sys.modules.update(stubs)
            stack.callback(lambda: [sys.modules.pop(name, None) for name in stubs])
        yield


@contextlib.contextmanager
def _on_device(model_module: ModuleType, device: torch.device,
               num_workers: int) -> Iterator[None]:
    """While stPlus runs: ``cuda`` calls go to ``device`` and its data loaders use
    ``num_workers`` workers."""
    loader = model_module.DataLoader

    def data_loader(*args: Any, **kwargs: Any) -> Any:
        return loader(*args, **{**kwargs, "num_workers": num_workers})

    def to_device(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self.to(device)

    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(model_module, "DataLoader", data_loader))
        if device.type != "cuda":
            stack.enter_context(patched(torch.Tensor, "cuda", to_device))
            stack.enter_context(patched(torch.nn.Module, "cuda", to_device))
        yield


@register
class StplusImputer(PeerImputer):
    """stPlus: joint autoencoder embedding, then nearest reference cells."""

    name = "stplus"
    summary = "stPlus (peer, stplus): joint autoencoder embedding + nearest reference cells"
    params_class = StplusParams
    requires_package = "stPlus"
    package = "stplus"

    @classmethod
    def import_module(cls) -> ModuleType:
        with _importable():
            module = import_peer("stPlus", cls.package)
            importlib.import_module("stPlus.model")
        return module

    def run(self, module: ModuleType, task: ImputationTask, genes: PeerGenes) -> np.ndarray:
        params = self.params
        shared, targets = gene_ids("s", len(genes.shared)), gene_ids("t", len(genes.targets))
        reference = task.reference_genes(np.concatenate([genes.shared, genes.targets]))
        others = np.setdiff1d(np.arange(reference.matrix.shape[1]), reference.columns)
        if len(others):
            _, spread = reference.with_columns(others).moments()
            others = np.sort(others[np.argsort(-spread, kind="stable")[: params.top_k]])
            extra = reference.with_columns(others).to_array()
        else:
            extra = np.zeros((reference.n_obs, 1), dtype=np.float32)
        scrna = pd.DataFrame(np.hstack([reference.to_array(), extra]),
                             columns=shared + targets + gene_ids("o", extra.shape[1]))
        spatial = pd.DataFrame(task.measured(genes.shared).to_array(), columns=shared)
        device = resolve_device(params.device)
        with tempfile.TemporaryDirectory() as folder, _on_device(
                sys.modules["stPlus.model"], device, params.num_workers):
            result = module.stPlus(
                spatial, scrna, np.array(targets), save_path_prefix=os.path.join(folder, "m"),
                top_k=extra.shape[1], t_min=params.t_min, random_seed=params.seed,
                verbose=params.verbose, n_neighbors=min(params.n_neighbors, len(scrna)),
                max_epoch_num=params.max_epochs, batch_size=params.batch_size)
        return result[targets].to_numpy()
