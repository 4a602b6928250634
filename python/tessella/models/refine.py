"""Reference-free refinement with gene embeddings (spRefine style).

Written from Genome Research 2026 (see docs METHODS.md, section 1). A cell
encoder maps a cell's measured expression to ``z_c``; each gene has a latent
vector ``z_g`` (from a gene encoder on its embedding: Enformer, ESM-2, ...);
expression is ``F(z_c . z_g)``. Training fits the measured genes only, so
measured genes come back denoised and unmeasured genes with an embedding are
imputed from it.

Departures from the paper, and why (figures: molecular cross-validation,
``make bench-denoise``; imputation, 5-fold over genes):

- Training splits each cell's counts binomially into two halves, every batch
  anew, and the network predicts one half from the other ("count_split",
  noise2noise; molecular cross-validation scores denoising the same way).
  Trained to reconstruct its own input, as in the paper, the network learns to
  copy the noise: on osmFISH its MCV loss was 0.327 against raw 0.378 and a
  15-nearest-cell smoother's 0.295; split, 0.274-0.278 over five splits.
- Measured genes without an embedding (or all genes, without a table) get a
  free latent vector trained with the rest, so any panel can be denoised
  (MOB: 15,928 genes; the paper needs an embedding for every gene).
- Cell encoder 256 wide rather than 64: on osmFISH MCV loss 0.276 against
  0.285 and a clustering of the refined profiles above the raw data's on each
  of five splits (64: below it on two); on MOB the same loss.
- Gene vectors are centred on the table's mean and scaled to unit length before
  the gene encoder, so tables with very different value ranges (Enformer,
  ESM-2, text models) behave alike.
- Unmeasured genes do not go through the gene encoder. Fit on a panel of tens
  or hundreds of genes in a space of thousands of dimensions, the encoder
  extrapolates arbitrarily to a new gene; on osmFISH that gave a median
  held-out Spearman of 0.09, no better than shuffled embeddings. Instead an
  unmeasured gene's latent vector is the mean of the measured genes' learned
  latent vectors weighted by a power of the positive cosine similarity of
  embeddings (kernel smoothing in gene space), the power chosen by predicting
  each measured gene from the others. ESM-2 vectors say almost nothing about
  co-expression (rank correlation of cosine with expression correlation: 0.03
  on osmFISH, 0.01 on MOB's 149 covered genes), so the choice there is near 0
  (all genes alike); vectors from an atlas (:mod:`tessella.coexpression`,
  0.35) are used sharply.
- Default learning rate 1e-3 and batch 512 rather than 1e-4 and 2048, with
  early stopping, so a slide trains in seconds on a CPU; the paper's settings
  are parameters away.
- The optional corruption (``corruption="poisson"``) follows the authors'
  code: ``input = max((x - Poisson(x * mask_rate)) * keep, 0)`` with ``keep``
  a Bernoulli(1 - mask_rate) mask.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from tessella.columns import pearson_columns
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

logger = logging.getLogger(__name__)

#: Kernel powers tried on held-out measured genes when ``kernel_power`` is None.
KERNEL_POWERS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Cells the held-out-gene choice of the kernel power reads (the first ones).
KERNEL_CHOICE_CELLS = 2000

CORRUPTIONS = ("none", "poisson")
OBJECTIVES = ("count_split", "reconstruction")


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
        their latent vector (0: all measured genes alike; 1: proportional to
        positive cosine similarity). Default: chosen after training on held-out
        measured genes (each measured gene predicted from the others through the
        kernel, see :data:`KERNEL_POWERS`), so a table that says nothing about
        co-expression falls back to what all genes share.
    objective
        What training predicts. "count_split" (noise2noise, the way molecular
        cross-validation scores denoising): each batch, every count is split
        binomially into two halves; the network reads one half and predicts the
        other, so it cannot learn to copy the noise. On log-normalised input
        (nothing to split) it falls back to "reconstruction", the paper's: the
        network reads a profile and predicts it back.
    corruption
        "none", or "poisson" to corrupt the network's input in training (the
        masked-reconstruction objective of the paper's pretraining).
    mask_rate
        Strength of the Poisson corruption.
    """

    hidden: int = bounded(256, low=1)
    latent: int = bounded(64, low=1)
    n_layers: int = bounded(3, low=1)
    gene_layers: int = bounded(3, low=1)
    kernel_power: float | None = bounded(None, low=0.0)
    output: str = bounded("softplus", choices=OUTPUTS)
    objective: str = bounded("count_split", choices=OBJECTIVES)
    corruption: str = bounded("none", choices=CORRUPTIONS)
    mask_rate: float = bounded(0.275, low=0.0, high=1.0)
    max_epochs: int = 200
    batch_size: int = 512


class RefineNetwork(nn.Module):
    """Cell encoder and gene vectors whose inner product gives expression.

    A gene with an embedding gets its latent vector from the gene encoder; a gene
    without one (or every gene, without a table) gets a free latent vector trained
    with the rest. ``embedded`` marks, among the input genes, those with an
    embedding; :meth:`gene_latent` takes their vectors in that order.
    """

    def __init__(self, n_input: int, embedding_dim: int, embedded: np.ndarray,
                 params: RefineParams) -> None:
        super().__init__()
        self.cell_encoder = mlp(n_input, params.hidden, params.latent, params.n_layers)
        self.gene_encoder = (mlp(embedding_dim, params.hidden, params.latent, params.gene_layers)
                             if embedding_dim > 0 else None)
        embedded = torch.as_tensor(np.asarray(embedded, dtype=bool))
        self.register_buffer("embedded_rows", torch.nonzero(embedded).flatten())
        self.register_buffer("free_rows", torch.nonzero(~embedded).flatten())
        self.free_genes = nn.Parameter(0.1 * torch.randn(len(self.free_rows), params.latent))
        self.activation = output_activation(params.output)

    def gene_latent(self, vectors: torch.Tensor) -> torch.Tensor:
        """Latent vectors of the input genes (genes x latent), from the embedding
        ``vectors`` of the embedded ones and the free vectors of the others."""
        latent = self.free_genes.new_zeros(len(self.embedded_rows) + len(self.free_rows),
                                           self.free_genes.shape[1])
        latent = latent.index_copy(0, self.free_rows, self.free_genes)
        if self.gene_encoder is not None and len(self.embedded_rows):
            latent = latent.index_copy(0, self.embedded_rows, self.gene_encoder(vectors))
        return latent

    def forward(self, cells: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        return self.activation(self.cell_encoder(cells) @ self.gene_latent(vectors).T)


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


def split_counts(counts: torch.Tensor, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each count split binomially (probability 1/2) into two independent halves."""
    counts = torch.round(counts)
    first = torch.binomial(counts, torch.full_like(counts, 0.5), generator=generator)
    return first, counts - first


def log_normalise(counts: torch.Tensor, target_sum: float) -> torch.Tensor:
    """Counts scaled to ``target_sum`` per cell and log1p'd (cells without counts: 0)."""
    totals = counts.sum(dim=1, keepdim=True)
    return torch.log1p(counts * (target_sum / totals.clamp(min=1e-12)))


def validation_generator(counts: torch.Tensor) -> torch.Generator:
    """A generator seeded from a batch's counts, so that a validation batch is split
    the same way every epoch and validation losses compare across epochs."""
    generator = torch.Generator(device=counts.device)
    generator.manual_seed(int(counts.sum().item()) % (2**31 - 1))
    return generator


@register
class RefineImputer(TorchImputer):
    """Reference-free denoising, and imputation from gene embeddings.

    The cell encoder reads the model's *input genes* (the measured genes of the
    slide it was fitted on, or the union of the slides it was pretrained on,
    see :func:`tessella.pretrain`); a slide that lacks some of them reads 0
    there, and they are left out of its loss. Input genes with an embedding get
    their latent vector from the gene encoder, the others a free one, so any
    panel can be denoised; only imputing unmeasured genes needs embeddings.
    """

    name = "refine"
    summary = ("reference-free: denoises any panel; imputes genes from their embeddings "
               "(spRefine style)")
    params_class = RefineParams
    requires_embeddings = True
    denoises_without_embeddings = True

    def build_module(self) -> RefineNetwork:
        return RefineNetwork(len(self.fitted["input_genes"]), int(self.fitted["embedding_dim"]),
                             self.fitted["embedded"], self.params)

    def _check_task(self, task: ImputationTask) -> None:
        if not task.target_genes:
            return
        if task.embeddings is None:
            raise InputError("refine imputes unmeasured genes from gene embeddings: pass "
                             "embeddings=...; without a table it only denoises the measured "
                             "genes.")
        missing = [g for g, ok in zip(task.target_genes, task.embedded[task.n_measured:])
                   if not ok]
        if missing:
            raise InputError(
                f"{len(missing)} gene(s) to impute have no embedding: {describe_missing(missing)}."
            )
        if not task.embedded[: task.n_measured].any():
            raise InputError(
                "none of the measured genes has an embedding, so refine cannot impute from the "
                "table; check that the table uses the same gene names as the data (without "
                "genes to impute, refine denoises any panel).")

    @staticmethod
    def _embedded(task: ImputationTask) -> np.ndarray:
        """Which output genes of ``task`` have an embedding (none without a table)."""
        if task.embedded is None:
            return np.zeros(len(task.output_genes), dtype=bool)
        return np.asarray(task.embedded, dtype=bool)

    def _objective(self, is_counts: bool) -> str:
        """The training objective: ``params.objective``, except that splitting counts
        needs counts (log-normalised input falls back to reconstruction)."""
        if self.params.objective == "count_split" and not is_counts:
            logger.info("refine: the input is not counts, so it cannot be split; training "
                        "with objective='reconstruction'.")
            return "reconstruction"
        return self.params.objective

    def _loss(self):
        """``loss(module, x, observed=None)`` of the fitted objective: ``x`` is a batch
        of counts ("count_split") or of log-normalised values ("reconstruction")."""
        vectors = torch.from_numpy(self.fitted["gene_vectors"])
        mask_rate, corrupted = self.params.mask_rate, self.params.corruption == "poisson"
        split, target_sum = (self.fitted["objective"] == "count_split",
                             float(self.fitted["target_sum"]))

        def loss(module: nn.Module, x: torch.Tensor,
                 observed: torch.Tensor | None = None) -> torch.Tensor:
            if split:
                first, second = split_counts(
                    x, None if module.training else validation_generator(x))
                inputs, target = log_normalise(first, target_sum), log_normalise(second,
                                                                                  target_sum)
            else:
                inputs, target = x, x
            if corrupted and module.training:
                inputs = corrupt(inputs, mask_rate)
            return masked_mse(module(inputs, vectors.to(x.device)), target, observed)

        return loss

    def _fitted(self, genes: list[str], embedded: np.ndarray, vectors: np.ndarray | None,
                objective: str, target_sum: float | None) -> dict[str, Any]:
        dim = 0 if vectors is None else int(vectors.shape[1])
        return {"input_genes": genes, "embedded": embedded,
                "gene_vectors": (unit_vectors(vectors[embedded]) if dim else
                                 np.zeros((0, 0), dtype=np.float32)),
                "embedding_dim": dim, "objective": objective,
                "target_sum": 1.0 if target_sum is None else float(target_sum)}

    def fit_torch(self, task: ImputationTask) -> None:
        self._check_task(task)
        is_counts = task.spatial.scale is not None
        self.fitted = self._fitted(
            list(task.measured_genes), self._embedded(task)[: task.n_measured],
            None if task.embeddings is None else task.embeddings[: task.n_measured],
            self._objective(is_counts), task.target_sum)
        rows = (replace(task.spatial, scale=None) if self.fitted["objective"] == "count_split"
                else task.spatial)
        self.train_module(self.new_module(), self._loss(), (rows,), "refine")
        self._set_kernel_power(task)

    def pretrain(self, tasks: Sequence[ImputationTask]) -> RefineImputer:
        """Fit on several slides at once (see :func:`tessella.pretrain`): the input
        genes are the union of their measured genes; a share ``val_fraction`` of
        each slide's cells is held out for validation. Counts are split on the
        first slide's scale (its median total) when every slide is counts."""
        for task in tasks:
            self._check_task(task)
        genes, vectors = _union_genes(tasks)
        embedded = np.array([vector is not None for vector in vectors])
        table = None
        if embedded.any():
            dim = len(next(v for v in vectors if v is not None))
            table = np.stack([np.zeros(dim, np.float32) if v is None else v for v in vectors])
        is_counts = all(task.spatial.scale is not None for task in tasks)
        self.fitted = self._fitted(genes, embedded, table, self._objective(is_counts),
                                   tasks[0].target_sum)
        parts = [self._input_matrix(task) for task in tasks]
        data = tuple(np.concatenate(columns) for columns in zip(*parts))
        starts = np.cumsum([0] + [len(inputs) for inputs, _ in parts])
        halves = [split_cells(len(inputs), self.params.val_fraction, self.params.seed)
                  for inputs, _ in parts]
        split = tuple(np.concatenate([rows + start for rows, start in zip(side, starts)])
                      for side in zip(*halves))
        self.history_ = {}
        self.seeded_training(lambda: self.train_module(
            self.new_module(), self._loss(), data, "pretraining", split=split))
        return self._set_kernel_power(tasks[0])

    def fine_tune(self, task: ImputationTask) -> RefineImputer:
        """Train the fitted model further on ``task``'s slide; input genes the slide
        does not measure read 0 and are left out of the loss."""
        self._check_task(task)
        module = self.require_module()
        self.seeded_training(lambda: self.train_module(
            module, self._loss(), self._input_matrix(task), "fine-tuning"))
        return self._set_kernel_power(task)

    def _set_kernel_power(self, task: ImputationTask) -> RefineImputer:
        """Record the kernel power imputation uses (None without embeddings)."""
        self.require_module().eval()
        self.fitted["kernel_power"] = (self._choose_kernel_power(task)
                                       if self.fitted["embedding_dim"] else None)
        return self

    def _input_columns(self, task: ImputationTask) -> tuple[np.ndarray, np.ndarray]:
        """For each input gene, its position among the task's measured genes (-1 where
        not measured), and whether it is measured."""
        columns = match_genes(self.fitted["input_genes"], task.measured_genes)
        found = columns >= 0
        if not found.any():
            raise InputError("the data measures none of the genes the refine model was fit on.")
        return columns, found

    def _input_matrix(self, task: ImputationTask) -> tuple[np.ndarray, np.ndarray]:
        """The task's cells over the input genes (0 where not measured), as counts
        or log-normalised values as the objective reads them, and the mask of
        measured entries (cells x input genes, float32)."""
        columns, found = self._input_columns(task)
        view = task.measured(columns[found])
        if self.fitted["objective"] == "count_split":
            if view.scale is None:
                raise InputError("this refine model splits counts in training; the data is "
                                 "log-normalised, so it can be predicted but not trained on.")
            view = replace(view, scale=None)
        inputs = np.zeros((task.spatial.n_obs, len(columns)), dtype=np.float32)
        inputs[:, found] = view.to_array()
        return inputs, np.broadcast_to(found.astype(np.float32), inputs.shape).copy()

    def predict(self, task: ImputationTask) -> Prediction:
        network = self.require_module()
        self._check_task(task)
        device = self.device
        columns, found = self._input_columns(task)
        input_genes = self.fitted["input_genes"]
        own = match_genes(task.output_genes, input_genes)
        own[task.n_measured:] = -1  # genes to impute come from their neighbours in gene space
        smoothed = self._embedded(task) & (own < 0)
        if not len(self.fitted["gene_vectors"]):  # no kernel: new measured genes stay as read
            smoothed[: task.n_measured] = False
        with torch.no_grad():
            vectors = torch.from_numpy(self.fitted["gene_vectors"]).to(device)
            input_latent = network.gene_latent(vectors)
            gene_latent = torch.zeros(len(task.output_genes), input_latent.shape[1],
                                      device=device)
            known = torch.as_tensor(own >= 0, device=device)
            gene_latent[known] = input_latent[torch.as_tensor(own[own >= 0], device=device)]
            if smoothed.any():
                weights = torch.from_numpy(self._kernel_weights(task.embeddings[smoothed]))
                embedded_latent = input_latent[network.embedded_rows]
                gene_latent[torch.as_tensor(smoothed, device=device)] = (
                    weights.to(device) @ embedded_latent)
        measured = task.measured(columns[found])

        def forward(cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            inputs = torch.zeros(len(cells), len(found), device=device)
            inputs[:, torch.as_tensor(found, device=device)] = cells
            cell_latent = network.cell_encoder(inputs)
            return network.activation(cell_latent @ gene_latent.T), cell_latent

        values, latent = self.predict_in_blocks(
            measured.blocks(self.params.batch_size), forward, task.spatial.n_obs,
            (len(task.output_genes), self.params.latent))
        keep_measured(values, task, np.flatnonzero((own < 0)[: task.n_measured]
                                                   & ~smoothed[: task.n_measured]))
        return Prediction(values=values, latent=latent)

    def _kernel_weights(self, vectors: np.ndarray) -> np.ndarray:
        """Kernel weights (genes x embedded input genes) at the fitted kernel power."""
        if not len(self.fitted["gene_vectors"]):
            raise InputError("this refine model was fitted without gene embeddings, so it "
                             "cannot impute unmeasured genes; it denoises measured ones.")
        similarity = unit_vectors(vectors) @ self.fitted["gene_vectors"].T
        return kernel_weights(similarity, self.fitted["kernel_power"])

    def _choose_kernel_power(self, task: ImputationTask) -> float:
        """``params.kernel_power``, or when None the power of :data:`KERNEL_POWERS`
        whose kernel best predicts each embedded measured gene from the other
        ones (median Pearson over genes, on the first cells of ``task``)."""
        if self.params.kernel_power is not None:
            return float(self.params.kernel_power)
        network, device = self.require_module(), self.device
        columns, found = self._input_columns(task)
        embedded = np.asarray(self.fitted["embedded"], dtype=bool)
        held = np.flatnonzero(embedded & found)
        if held.size < 3:
            return 1.0
        n_cells = min(task.spatial.n_obs, KERNEL_CHOICE_CELLS)
        values = np.zeros((n_cells, len(columns)), dtype=np.float32)
        values[:, found] = task.measured(columns[found]).block(0, n_cells)
        vectors = self.fitted["gene_vectors"]
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -np.inf)  # a gene never predicts itself
        rows = np.flatnonzero(embedded)  # positions of the embedded genes among input genes
        keep = np.isin(rows, held)
        with torch.no_grad():
            cells = network.cell_encoder(torch.from_numpy(values).to(device))
            latent = network.gene_latent(torch.from_numpy(vectors).to(device))[
                network.embedded_rows]
            scores = {}
            for power in KERNEL_POWERS:
                weights = torch.from_numpy(kernel_weights(similarity[keep], power)).to(device)
                predicted = network.activation(cells @ (weights @ latent).T).cpu().numpy()
                scores[power] = np.nanmedian(pearson_columns(predicted, values[:, held]))
        best = max(scores, key=lambda power: (scores[power], -power))
        logger.info("refine: kernel power %g (held-out measured genes, median Pearson %s)",
                    best, ", ".join(f"{p:g}: {r:.3f}" for p, r in scores.items()))
        return float(best)


def kernel_weights(similarity: np.ndarray, power: float) -> np.ndarray:
    """Rows of positive ``similarity`` raised to ``power`` and normalised to sum to one
    (uniform over the finite entries where none is positive)."""
    finite = np.isfinite(similarity)
    positive = np.maximum(np.where(finite, similarity, 0.0), 0.0)
    weights = positive ** power if power > 0 else finite.astype(float)
    totals = weights.sum(axis=1, keepdims=True)
    uniform = finite / np.maximum(finite.sum(axis=1, keepdims=True), 1)
    return np.where(totals > 0, weights / np.where(totals > 0, totals, 1.0),
                    uniform).astype(np.float32)


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
        raise InputError(f"parameter(s) {', '.join(fixed)} are fixed by the pretrained model "
                         "(its network's shape and training objective) and cannot change "
                         "when fine-tuning.")
    tuned = RefineImputer(model.params, **{"lr": FINE_TUNING_LR, **options})
    tuned.fitted = copy.deepcopy(model.fitted)
    tuned.module = copy.deepcopy(model.require_module()).to(tuned.device)
    tuned.history_ = copy.deepcopy(model.history_)
    return tuned
