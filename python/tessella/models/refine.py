"""Reference-free refinement with gene embeddings (spRefine style).

Written from Genome Research 2026 (see docs METHODS.md, section 1). A cell
encoder maps a cell's measured expression to ``z_c``; a gene encoder maps a
gene's embedding (Enformer, ESM-2, ...) to ``z_g``; expression is
``F(z_c . z_g)``. Training fits the measured genes only (MSE), so every gene
with an embedding, measured or not, gets a value: measured genes come back
denoised, unmeasured genes imputed from their embedding alone.

Departures from the paper, and why:

- Gene vectors are centred on the table's mean and scaled to unit length before
  the gene encoder, so tables with very different value ranges (Enformer,
  ESM-2, text models) behave alike.
- Unmeasured genes do not go through the gene encoder. Fit on a panel of tens
  or hundreds of genes in a space of thousands of dimensions, the encoder
  extrapolates arbitrarily to a new gene; on osmFISH (5-fold over genes) that
  gave a median held-out Spearman of 0.09, no better than shuffled embeddings.
  Instead an unmeasured gene's latent vector is the mean of the measured genes'
  learned latent vectors weighted by positive cosine similarity of embeddings
  (kernel smoothing in gene space): 0.16, above shuffled embeddings (0.15 on
  average over three permutations; the signal in ESM-2 vectors about
  co-expression is weak for this panel).
  Measured genes keep their own encoded vectors, so denoising is as in the paper.
- Default learning rate 1e-3 and batch 512 rather than 1e-4 and 2048, with
  early stopping, so a slide trains in seconds on a CPU; the paper's settings
  are parameters away.
- The optional corruption (``corruption="poisson"``) follows the authors'
  code: ``input = max((x - Poisson(x * mask_rate)) * keep, 0)`` with ``keep``
  a Bernoulli(1 - mask_rate) mask; the target is the clean profile.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from tessella.data.genes import describe_missing, gene_key, match_genes
from tessella.data.task import ImputationTask
from tessella.errors import InputError
from tessella.models.interface import Imputer, Prediction
from tessella.models.layers import OUTPUTS, mlp, output_activation
from tessella.models.placement import keep_measured
from tessella.models.registry import register
from tessella.models.torch_imputer import TorchImputer
from tessella.neighbors import unit_rows
from tessella.params import TrainParams, bounded
from tessella.train import split_cells

CORRUPTIONS = ("none", "poisson")


@dataclass
class RefineParams(TrainParams):
    """Hyper-parameters of ``refine`` (training options: see ``TrainParams``).

    Attributes
    ----------
    hidden
        Width of both encoders (paper code: 64).
    latent
        Size of the cell and gene latent vectors, the ``TESSELLA`` cell embedding
        (paper code: 64).
    n_layers
        Depth of the cell encoder (paper code: 3).
    output
        "softplus" (non-negative output) or "identity".
    gene_layers
        Depth of the gene encoder (paper code: 3).
    kernel_power
        Sharpness of the embedding-similarity weights that give unmeasured genes
        their latent vector (1: proportional to positive cosine similarity).
    corruption
        "none", or "poisson" for the masked-reconstruction objective used in pretraining.
    mask_rate
        Strength of the Poisson corruption.
    """

    hidden: int = bounded(64, low=1)
    latent: int = bounded(64, low=1)
    n_layers: int = bounded(3, low=1)
    gene_layers: int = bounded(3, low=1)
    kernel_power: float = bounded(1.0, low=0.0)
    output: str = bounded("softplus", choices=OUTPUTS)
    corruption: str = bounded("none", choices=CORRUPTIONS)
    mask_rate: float = bounded(0.275, low=0.0, high=1.0)
    max_epochs: int = 200
    batch_size: int = 512


class RefineNetwork(nn.Module):
    """Cell encoder and gene encoder whose inner product gives expression."""

    def __init__(self, n_measured: int, embedding_dim: int, params: RefineParams) -> None:
        super().__init__()
        self.cell_encoder = mlp(n_measured, params.hidden, params.latent, params.n_layers)
        self.gene_encoder = mlp(embedding_dim, params.hidden, params.latent, params.gene_layers)
        self.activation = output_activation(params.output)

    def forward(self, cells: torch.Tensor, genes: torch.Tensor) -> torch.Tensor:
        return self.activation(self.cell_encoder(cells) @ self.gene_encoder(genes).T)


def unit_vectors(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length one, as float32 for the encoders."""
    return unit_rows(vectors).astype(np.float32)


def corrupt(x: torch.Tensor, mask_rate: float) -> torch.Tensor:
    """Poisson-subtract and drop out entries (expression-proportional masking)."""
    removed = torch.poisson(x * mask_rate)
    keep = torch.bernoulli(torch.full_like(x, 1.0 - mask_rate))
    return torch.clamp((x - removed) * keep, min=0.0)


def masked_mse(predicted: torch.Tensor, target: torch.Tensor,
               observed: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the observed entries (all entries without a mask)."""
    if observed is None:
        return functional.mse_loss(predicted, target)
    return ((predicted - target).square() * observed).sum() / observed.sum().clamp(min=1.0)


@register
class RefineImputer(TorchImputer):
    """Reference-free denoising and imputation from gene embeddings.

    The cell encoder reads the model's *input genes* (the measured genes of the
    slide it was fitted on, or the union of the slides it was pretrained on,
    see :func:`tessella.pretrain`); a slide that lacks some of them reads 0
    there, and they are left out of its loss. The gene encoder was trained on
    the *trained genes*, the input genes that have an embedding.
    """

    name = "refine"
    summary = "reference-free refinement with gene embeddings (spRefine style)"
    params_class = RefineParams
    requires_embeddings = True

    def build_module(self) -> RefineNetwork:
        return RefineNetwork(len(self.fitted["input_genes"]), int(self.fitted["embedding_dim"]),
                             self.params)

    def _check_task(self, task: ImputationTask) -> None:
        if task.embeddings is None:
            raise InputError("refine needs gene embeddings; pass embeddings=...")
        has_vector = task.embedded[task.n_measured:]
        missing = [g for g, ok in zip(task.target_genes, has_vector) if not ok]
        if missing:
            raise InputError(
                f"{len(missing)} gene(s) to impute have no embedding: {describe_missing(missing)}."
            )
        if not task.embedded[: task.n_measured].any():
            raise InputError(
                "none of the measured genes has an embedding, so refine has nothing to learn "
                "from; check that the table uses the same gene names as the data."
            )

    def _loss(self, trained: np.ndarray):
        mask_rate, corrupted = self.params.mask_rate, self.params.corruption == "poisson"
        vectors = torch.from_numpy(self.fitted["trained_vectors"])
        columns = torch.as_tensor(trained)

        def loss(module: nn.Module, x: torch.Tensor,
                 observed: torch.Tensor | None = None) -> torch.Tensor:
            inputs = corrupt(x, mask_rate) if corrupted and module.training else x
            predicted = module(inputs, vectors.to(x.device))
            mask = None if observed is None else observed[:, columns.to(x.device)]
            return masked_mse(predicted, x[:, columns.to(x.device)], mask)

        return loss

    def fit_torch(self, task: ImputationTask) -> None:
        self._check_task(task)
        trained = np.flatnonzero(task.embedded[: task.n_measured])
        self.fitted = {"input_genes": list(task.measured_genes),
                       "trained_genes": [task.measured_genes[i] for i in trained],
                       "trained_vectors": unit_vectors(task.embeddings[trained]),
                       "embedding_dim": int(task.embeddings.shape[1])}
        self.train_module(self.new_module(), self._loss(trained), (task.spatial,), "refine")

    def pretrain(self, tasks: Sequence[ImputationTask]) -> RefineImputer:
        """Fit on several slides at once (see :func:`tessella.pretrain`): the input
        genes are the union of their measured genes; a share ``val_fraction`` of
        each slide's cells is held out for validation."""
        for task in tasks:
            self._check_task(task)
        genes, vectors = _union_genes(tasks)
        trained = np.flatnonzero([vector is not None for vector in vectors])
        self.fitted = {"input_genes": genes, "trained_genes": [genes[i] for i in trained],
                       "trained_vectors": unit_vectors(np.stack([vectors[i] for i in trained])),
                       "embedding_dim": int(tasks[0].embeddings.shape[1])}
        parts = [self._input_matrix(task) for task in tasks]
        data = tuple(np.concatenate(columns) for columns in zip(*parts))
        starts = np.cumsum([0] + [len(inputs) for inputs, _ in parts])
        halves = [split_cells(len(inputs), self.params.val_fraction, self.params.seed)
                  for inputs, _ in parts]
        split = tuple(np.concatenate([rows + start for rows, start in zip(side, starts)])
                      for side in zip(*halves))
        self.history_ = {}
        return self.seeded_training(lambda: self.train_module(
            self.new_module(), self._loss(trained), data, "pretraining", split=split))

    def fine_tune(self, task: ImputationTask) -> RefineImputer:
        """Train the fitted model further on ``task``'s slide; input genes the slide
        does not measure read 0 and are left out of the loss."""
        self._check_task(task)
        module = self.require_module()
        trained = match_genes(self.fitted["trained_genes"], self.fitted["input_genes"])
        return self.seeded_training(lambda: self.train_module(
            module, self._loss(trained), self._input_matrix(task), "fine-tuning"))

    def _input_columns(self, task: ImputationTask) -> tuple[np.ndarray, np.ndarray]:
        """For each input gene, its position among the task's measured genes (-1 where
        not measured), and whether it is measured."""
        columns = match_genes(self.fitted["input_genes"], task.measured_genes)
        found = columns >= 0
        if not found.any():
            raise InputError("the data measures none of the genes the refine model was fit on.")
        return columns, found

    def _input_matrix(self, task: ImputationTask) -> tuple[np.ndarray, np.ndarray]:
        """The task's cells over the input genes (0 where not measured), and the mask
        of measured entries (cells x input genes, float32)."""
        columns, found = self._input_columns(task)
        inputs = np.zeros((task.spatial.n_obs, len(columns)), dtype=np.float32)
        inputs[:, found] = task.measured(columns[found]).to_array()
        return inputs, np.broadcast_to(found.astype(np.float32), inputs.shape).copy()

    def predict(self, task: ImputationTask) -> Prediction:
        network = self.require_module()
        self._check_task(task)
        device = self.device
        columns, found = self._input_columns(task)
        own = match_genes(task.output_genes, self.fitted["trained_genes"]) >= 0
        own[task.n_measured:] = False  # genes to impute come from their neighbours in gene space
        smoothed = task.embedded & ~own
        with torch.no_grad():
            gene_latent = network.gene_encoder(
                torch.from_numpy(unit_vectors(task.embeddings)).to(device))
            trained_latent = network.gene_encoder(
                torch.from_numpy(self.fitted["trained_vectors"]).to(device))
            weights = torch.from_numpy(self._kernel_weights(task.embeddings[smoothed]))
            gene_latent[torch.as_tensor(smoothed)] = weights.to(device) @ trained_latent
        measured = task.measured(columns[found])

        def forward(cells: torch.Tensor) -> torch.Tensor:
            inputs = torch.zeros(len(cells), len(found), device=device)
            inputs[:, torch.as_tensor(found, device=device)] = cells
            cell_latent = network.cell_encoder(inputs)
            return torch.cat([network.activation(cell_latent @ gene_latent.T), cell_latent], 1)

        n_out = len(task.output_genes)
        both = self.predict_in_blocks(measured.blocks(self.params.batch_size), forward,
                                      task.spatial.n_obs, n_out + self.params.latent)
        values, latent = both[:, :n_out], both[:, n_out:]
        keep_measured(values, task, np.flatnonzero(~task.embedded[: task.n_measured]))
        return Prediction(values=np.ascontiguousarray(values),
                          latent=np.ascontiguousarray(latent))

    def _kernel_weights(self, vectors: np.ndarray) -> np.ndarray:
        """Kernel weights (genes x trained genes): positive cosine similarity of
        centred embeddings, normalised per gene (uniform when none is positive)."""
        similarity = unit_vectors(vectors) @ self.fitted["trained_vectors"].T
        weights = np.maximum(similarity, 0.0) ** self.params.kernel_power
        totals = weights.sum(axis=1, keepdims=True)
        uniform = np.full_like(weights, 1.0 / max(weights.shape[1], 1))
        return np.where(totals > 0, weights / np.where(totals > 0, totals, 1.0), uniform)


def _union_genes(tasks: Sequence[ImputationTask]) -> tuple[list[str], list[np.ndarray | None]]:
    """The measured genes of all tasks (first spelling kept, in order of appearance)
    and each one's centred embedding vector (None without one)."""
    genes: list[str] = []
    vectors: list[np.ndarray | None] = []
    seen: dict[str, int] = {}
    for task in tasks:
        for position, gene in enumerate(task.measured_genes):
            index = seen.setdefault(gene_key(gene), len(genes))
            if index == len(genes):
                genes.append(gene)
                vectors.append(None)
            if vectors[index] is None and task.embedded[position]:
                vectors[index] = task.embeddings[position]
    return genes, vectors


#: Learning rate of fine-tuning unless one is given (spRefine's; training's 1e-3
#: undoes part of the pretraining on a small slide: bench/pretraining.py).
FINE_TUNING_LR = 1e-4
#: Parameters a fine-tuning run may change; the others set the network's shape.
TUNABLE = {item.name for item in fields(TrainParams)} | {"kernel_power", "corruption",
                                                          "mask_rate"}


def fine_tuning_copy(model: Imputer, options: dict[str, Any]) -> RefineImputer:
    """A copy of a fitted refine ``model`` to fine-tune, with training ``options``
    replaced; the model passed in is left as it is."""
    if not isinstance(model, RefineImputer):
        raise InputError(f"model = must be a refine model, not a {model.name!r} model.")
    fixed = sorted(name for name, value in options.items()
                   if name not in TUNABLE and value != getattr(model.params, name, value))
    if fixed:
        raise InputError(f"parameter(s) {', '.join(fixed)} set the shape of the pretrained "
                         "network and cannot change when fine-tuning.")
    tuned = RefineImputer(model.params, **{"lr": FINE_TUNING_LR, **options})
    tuned.fitted = copy.deepcopy(model.fitted)
    tuned.module = copy.deepcopy(model.require_module()).to(tuned.device)
    tuned.history_ = copy.deepcopy(model.history_)
    return tuned
