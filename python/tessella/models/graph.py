"""Reference-based imputation over a gene graph (stImpute style).

Written from Commun. Biol. 2024 (docs METHODS.md, section 2):

1. An autoencoder on the shared genes of the spatial data embeds spatial and
   reference cells in one latent space (each data set standardised per gene).
   It is trained with random genes masked out, so it also embeds cells from
   part of their profile.
2. Each spatial cell takes its k most similar reference cells (cosine in the
   latent space; k = 50 below 10k spatial cells, 20 above).
3. GraphSAGE over a gene graph (see ``gene_graph``) turns what each gene shows
   in those neighbours (their values, nearest first, their weighted mean, and
   the gene's reference mean and spread) into the cell's expression of the gene.
   Loss: MSE plus cell-level and gene-level cosine on centred values.
4. Rounds (2): the autoencoder is fine-tuned towards the GNN's prediction, the
   neighbours are found again and the GNN trained further.
5. Output: ``alpha * GNN + (1 - alpha) * weighted neighbour mean``, and a
   per-gene reliability (``reliability``). The paper uses alpha 0.7 below 10k
   cells and 0.5 above; the default here is 0.5 at any size, which on osmFISH
   beat 0.7 (held-out Spearman 0.220 vs 0.213). Choosing alpha on validation
   cells does not work: the GNN learns each shared gene's behaviour, so cells it
   has not seen flatter it (it picked alpha 1.0); an honest choice needs genes
   it has not seen, i.e. another training pass.

Departures, and why:

- The GNN is trained the way it is used. A gene that chose a cell's
  neighbours is easy to predict from them, while a gene to impute never chose
  them; trained on all shared genes, the GNN over-trusts the neighbours. So
  the shared genes are split in two halves: neighbours are found from one half
  (the other masked in the autoencoder's input), and the loss falls on the
  masked half, as it does on unmeasured genes at prediction time.
- The encoder is linear (no ReLU before the latent space): cosine similarity in
  a rectified latent space picked worse neighbours on osmFISH (held-out
  Spearman 0.135 vs 0.213 for the same search on standardised genes).
- Graph edges are cosine similarities of centred embeddings, not distances;
  reliability uses data-set-independent gene features instead of one gene's
  predictions across all cells; a cell's result depends only on the cell (no
  batch statistics at prediction time); the neighbour search is exact, block by
  block, so memory grows with the block.

At scale: training uses a seeded sample of at most ``train_cells`` spatial cells
(all of them below that), read from the data by rows, so fitting memory does not
grow with the slide; the gene graph is built block by block of genes (never genes
x genes); node features (cells x k x genes) exist for one training batch at a
time, and batches shrink when genes are many (``FEATURE_BYTES``). Prediction
builds no node features (:meth:`GraphNetwork.predict_values`): the first layer
is linear in them, so it is two batched products of the neighbours' gathered
reference rows and their means over the gene graph (computed once per
prediction, reference cells x genes), and the rest runs genes first a few cells
at a time (5x faster than the feature path, the same values up to float
rounding). What still grows with the data is the reference (reference cells x
genes, dense, kept in the model for the features; twice that while predicting)
and the result itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from tessella.columns import cosine_columns
from tessella.data.normalize import column_moments, sample_cells, standardise
from tessella.data.task import ImputationTask
from tessella.models import reliability
from tessella.models.gene_graph import gene_graph
from tessella.models.interface import Prediction
from tessella.models.pca import principal_axes
from tessella.models.placement import locate_fitted, place_predictions
from tessella.models.registry import register
from tessella.models.sage import GeneSage, imputation_loss, to_csr
from tessella.models.torch_imputer import TorchImputer
from tessella.neighbors import block_size_for, neighbour_mean, neighbour_weights, unit_rows
from tessella.params import NeighborParams, TrainParams, bounded

#: Spatial cells from which the small-data default k = 50 changes to 20.
LARGE_DATA = 10_000
#: Spatial cells used to train the reliability model (sampled when there are more).
RELIABILITY_CELLS = 20_000
#: Bytes of one (cells x genes x features) tensor of the GNN; batches and
#: prediction blocks hold fewer cells when genes are many.
FEATURE_BYTES = 128 * 2**20
#: Cells per step of the GNN's prediction (:meth:`GraphNetwork.predict_values`).
PREDICT_CHUNK = 16


@dataclass
class GraphParams(NeighborParams, TrainParams):
    """Hyper-parameters of ``graph`` (training options: see ``TrainParams``).

    Attributes
    ----------
    k
        Reference neighbours per spatial cell; None: 50 below 10k cells, else 20.
    alpha
        Weight of the GNN in the final blend.
    latent
        Autoencoder latent size.
    hidden
        GraphSAGE width.
    graph_edges
        Edges kept per gene in the gene graph.
    rounds
        Autoencoder / GNN rounds.
    ae_epochs
        Autoencoder epochs per round (``max_epochs`` bounds GNN epochs per round).
    cosine_weight
        Weight of the cosine terms in the GNN loss.
    reliability_folds
        Folds of shared genes used to train the reliability model.
    neighbors
        Search of the reliability model's shared-PCA neighbours: "exact", "faiss",
        "hnsw" or "auto" (see tessella.neighbors); the GNN's own neighbours are
        found exactly, in torch on the training device.
    train_cells
        Most spatial cells fitting uses (100 to 10 million): a seeded sample of
        this many cells trains the autoencoder, the GNN and the reliability model,
        and gives the standardisation; all cells when there are fewer. Memory of a
        fit grows with this, not with the slide.
    """

    k: int | None = bounded(None, low=1)
    alpha: float = bounded(0.5, low=0.0, high=1.0)
    latent: int = bounded(100, low=1)
    hidden: int = bounded(50, low=1)
    graph_edges: int = bounded(10, low=1)
    rounds: int = bounded(2, low=1)
    ae_epochs: int = bounded(30, low=1)
    cosine_weight: float = bounded(2.0, low=0.0)
    reliability_folds: int = bounded(5, low=2)
    train_cells: int = bounded(50_000, low=100, high=10_000_000)
    max_epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-2
    patience: int = 5


#: Most genes masked in one autoencoder training sample (share drawn uniformly).
MAX_MASKED = 0.6


class Autoencoder(nn.Module):
    """Linear encoder, ReLU hidden layer and linear decoder on standardised genes."""

    def __init__(self, n_genes: int, latent: int) -> None:
        super().__init__()
        self.encoder = nn.Linear(n_genes, latent)
        self.decoder = nn.Sequential(nn.ReLU(), nn.Linear(latent, latent), nn.ReLU(),
                                     nn.Linear(latent, n_genes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def masked_reconstruction(module: Autoencoder, x: torch.Tensor, *target: torch.Tensor):
    """Reconstruct the full profile (and the optional target) from a randomly
    masked one (masked genes set to 0, the mean of standardised data)."""
    share = torch.rand(len(x), 1, device=x.device) * MAX_MASKED
    restored = module(x * (torch.rand_like(x) >= share))
    loss = functional.mse_loss(restored, x)
    return loss + functional.mse_loss(restored, target[0]) if target else loss


class GraphNetwork(nn.Module):
    """The autoencoder, the GNN and what they predict from: the reference values,
    each gene's reference mean and spread, the gene graph's edges and the
    reference cells' points in the latent space (buffers, saved with the weights)."""

    def __init__(self, n_shared: int, n_genes: int, n_reference: int, n_edges: int, k: int,
                 params: GraphParams) -> None:
        super().__init__()
        self.autoencoder = Autoencoder(n_shared, params.latent)
        self.gnn = GeneSage(k + 3, params.hidden)
        self.register_buffer("reference", torch.zeros(n_reference, n_genes))
        self.register_buffer("static", torch.zeros(1, n_genes, 2))
        self.register_buffer("edges", torch.zeros(2, n_edges, dtype=torch.long))
        self.register_buffer("edge_weights", torch.zeros(n_edges))
        self.register_buffer("reference_points", torch.zeros(n_reference, n_shared))

    @property
    def adjacency(self) -> torch.Tensor:
        """The gene graph as a sparse (genes x genes) matrix of row-normalised weights."""
        n = self.reference.shape[1]
        return torch.sparse_coo_tensor(self.edges, self.edge_weights, (n, n),
                                       is_coalesced=True, check_invariants=False)

    def embed_reference(self, reference_shared: torch.Tensor) -> None:
        with torch.no_grad():
            self.reference_points = functional.normalize(self.autoencoder(reference_shared),
                                                         dim=1)

    def neighbours(self, standardised: torch.Tensor, k: int):
        """Indices and weights of each cell's k nearest reference cells (cosine between
        the cells' reconstructions)."""
        # Exact top-k over all reference cells, in torch on the model's device (a GPU
        # does it fast). On CPU with a very large reference (say 100k+ cells and
        # millions of spatial cells), tessella.neighbors.NeighbourIndex (faiss HNSW
        # on the unit-length reference_points, inner product) would apply: the same
        # top-k up to its recall, rebuilt after each embed_reference.
        with torch.no_grad():
            points = functional.normalize(self.autoencoder(standardised), dim=1)
            similarity, index = torch.topk(points @ self.reference_points.T,
                                           min(k, len(self.reference_points)), dim=1)
        return index, neighbour_weights(similarity)

    def features(self, index: torch.Tensor, weights: torch.Tensor):
        """Node features (B x G x (k + 3)) and the weighted neighbour mean (B x G)."""
        values = self.reference[index]                      # B x k x G
        mean = (weights.unsqueeze(-1) * values).sum(dim=1)  # B x G
        static = self.static.expand(len(index), -1, -1)
        return torch.cat([values.permute(0, 2, 1), mean.unsqueeze(-1), static], -1), mean

    def graph_means(self, block: int = 4096) -> torch.Tensor:
        """Each reference cell's values averaged over the gene graph (reference cells x
        genes: ``reference @ adjacency.T``), what the GNN's first layer aggregates of a
        neighbour's values; for :meth:`predict_values`."""
        adjacency = to_csr(self.adjacency)
        out = torch.empty_like(self.reference)
        for start in range(0, len(out), block):
            out[start:start + block] = (adjacency @ self.reference[start:start + block].T).T
        return out

    def predict_values(self, index: torch.Tensor, weights: torch.Tensor,
                       graph_means: torch.Tensor, chunk: int = PREDICT_CHUNK):
        """``gnn(features(index, weights))`` and the weighted neighbour mean (each
        B x G), computed without node features (``graph_means``: :meth:`graph_means`).

        The first GraphSAGE layer is linear in the features, so for each cell it is
        the neighbours' values and their graph means (gathered rows of the reference
        and of ``graph_means``) times per-cell coefficients (the layer's weights of
        the k neighbours, plus each neighbour's weight times the weights of the mean
        feature; the static features and the bias are one genes x hidden constant):
        two batched products, which also give the neighbour mean. The rest runs
        genes first (:meth:`GeneSage.upper_layers`), ``chunk`` cells at a time so the
        intermediates stay in cache. Same values as the feature path up to float
        rounding.
        """
        gnn, k = self.gnn, index.shape[1]
        n_genes = self.reference.shape[1]
        own, graph = gnn.self1.weight, gnn.neighbours1.weight  # hidden x (k + 3)
        hidden = own.shape[0]
        adjacency = self.adjacency
        static = self.static[0]
        constant = torch.addmm(gnn.self1.bias, static, own[:, k + 1:].T)
        constant = constant.addmm_(torch.sparse.mm(adjacency, static), graph[:, k + 1:].T)
        csr = to_csr(adjacency)
        out = torch.empty(len(index), n_genes, device=index.device)
        mean = torch.empty(len(index), n_genes, device=index.device)
        for start in range(0, len(index), chunk):
            idx, w = index[start:start + chunk], weights[start:start + chunk]
            n = len(idx)
            rows = idx.reshape(-1)
            values = self.reference.index_select(0, rows).view(n, k, n_genes)
            means = graph_means.index_select(0, rows).view(n, k, n_genes)
            # coefficients of the neighbours' values (last column: their weights, the mean)
            # and of their graph means (last column 0), each n x k x (hidden + 1)
            on_values = torch.cat([own[:, :k].T + w[:, :, None] * own[:, k], w[:, :, None]], 2)
            on_means = torch.cat([graph[:, :k].T + w[:, :, None] * graph[:, k],
                                  torch.zeros_like(w)[:, :, None]], 2)
            first = torch.bmm(values.transpose(1, 2), on_values)
            first.baddbmm_(means.transpose(1, 2), on_means)
            mean[start:start + n] = first[..., hidden]
            genes_first = torch.empty(n_genes, n, hidden, device=index.device)
            torch.add(first[..., :hidden].transpose(0, 1), constant[:, None], out=genes_first)
            out[start:start + n] = gnn.upper_layers(genes_first.relu_(), csr)
        return out, mean


@register
class GraphImputer(TorchImputer):
    """Autoencoder neighbours + GraphSAGE over a gene graph, with reliability."""

    name = "graph"
    summary = "autoencoder neighbours + GraphSAGE over a gene graph, with reliability " \
              "(stImpute style)"
    params_class = GraphParams
    requires_reference = True

    def build_module(self) -> GraphNetwork:
        fitted = self.fitted
        return GraphNetwork(len(fitted["shared_genes"]), len(fitted["output_genes"]),
                            fitted["n_reference"], fitted["n_edges"], fitted["k"], self.params)

    def _k(self, n_cells: int) -> int:
        if "k" in self.fitted:
            return self.fitted["k"]
        return self.params.k or (50 if n_cells < LARGE_DATA else 20)

    def fit_torch(self, task: ImputationTask) -> None:
        device = self.device
        shared = task.shared_in_reference
        predictable = task.in_reference
        shared_columns = np.searchsorted(predictable, shared)
        reference = task.reference_genes(predictable).to_array()
        n_cells = task.spatial.n_obs
        spatial = sample_cells(task.measured(shared), self.params.train_cells,
                               self.params.seed)
        spatial_z, spatial_mean, spatial_std = standardise(spatial)
        reference_z, _, _ = standardise(reference[:, shared_columns])
        embeddings = None if task.embeddings is None else task.embeddings[predictable]
        embedded = None if task.embedded is None else task.embedded[predictable]
        adjacency, to_shared = gene_graph(reference, embeddings, embedded,
                                          self.params.graph_edges, shared_columns)
        self.fitted = {}
        k = self._k(n_cells)
        if k > len(reference):
            if self.params.k is not None:
                self.note(f"parameter 'k' = {k} is more than the reference cells "
                          f"({len(reference)}); using {len(reference)}.")
            k = len(reference)
        self.fitted.update({
            "k": k,
            "shared_genes": [task.output_genes[i] for i in shared],
            "output_genes": [task.output_genes[i] for i in predictable],
            "n_reference": len(reference), "n_edges": int(adjacency.values().numel()),
            "n_cells": n_cells,
            "spatial_mean": spatial_mean.astype(np.float32),
            "spatial_std": spatial_std.astype(np.float32),
        })
        network = self.new_module()
        network.edges, network.edge_weights = (adjacency.indices().to(device),
                                               adjacency.values().to(device))
        network.reference = torch.as_tensor(reference, device=device)
        static = np.column_stack([reference.mean(axis=0), reference.std(axis=0)])
        network.static = torch.as_tensor(static, dtype=torch.float32, device=device)[None]
        self._train_rounds(spatial, spatial_z, reference_z, shared_columns, k, device)
        network.embed_reference(torch.as_tensor(reference_z, device=device))
        targets = predictable >= task.n_measured
        self.fitted["reliability"] = np.full(len(predictable), np.nan)
        self.fitted["reliability"][targets] = self._reliability(
            spatial, spatial_z, reference, reference_z, shared_columns, to_shared)[targets]

    def _train_rounds(self, spatial, spatial_z, reference_z, shared_columns, k, device):
        state = self.module
        weight = self.params.cosine_weight
        halves = np.array_split(np.random.default_rng(self.params.seed).permutation(
            len(shared_columns)), 2)
        size = min(len(h) for h in halves)
        target = ()
        for round_ in range(self.params.rounds):
            self.train_module(state.autoencoder, masked_reconstruction, (spatial_z, *target),
                              f"autoencoder, round {round_ + 1}",
                              max_epochs=self.params.ae_epochs)
            data = [self._half_examples(spatial, spatial_z, reference_z, shared_columns,
                                        half[:size], group, k, device)
                    for group, half in enumerate(halves)]

            def gnn_loss(module, idx, w, truth, columns, groups):
                features, _ = state.features(idx, w)
                predicted = module(features, state.adjacency).gather(1, columns)
                return imputation_loss(predicted, truth, weight, groups)

            examples = tuple(torch.cat(parts) for parts in zip(*data))
            self.train_module(state.gnn, gnn_loss, examples, f"gene graph, round {round_ + 1}",
                              batch_size=self._cells_per_batch(self.params.batch_size))
            if round_ + 1 < self.params.rounds:
                index, weights = self._all_neighbours(spatial_z, reference_z, k, device)
                predicted = self._predict_gnn(index, weights)[:, shared_columns]
                target = (standardise_like(predicted, spatial),)

    def _half_examples(self, spatial, spatial_z, reference_z, shared_columns, masked, group,
                       k, device):
        """Training examples for one gene half: neighbours found with the half
        masked, targets the half's measured values."""
        keep = np.ones(spatial_z.shape[1], dtype=np.float32)
        keep[masked] = 0.0
        index, weights = self._all_neighbours(spatial_z * keep, reference_z * keep, k, device)
        n = len(spatial)
        columns = torch.as_tensor(np.tile(shared_columns[masked], (n, 1)))
        return (index, weights, torch.as_tensor(spatial[:, masked]), columns,
                torch.full((n,), group))

    def _all_neighbours(self, spatial_z: np.ndarray, reference_z: np.ndarray, k: int,
                        device: torch.device):
        """Neighbours of every spatial cell (reference embedded with the same genes)."""
        self.module.embed_reference(torch.as_tensor(reference_z, device=device))
        step = block_size_for(len(self.module.reference), 4096)
        parts = [self.module.neighbours(torch.as_tensor(spatial_z[i:i + step], device=device), k)
                 for i in range(0, len(spatial_z), step)]
        return (torch.cat([p[0] for p in parts]).cpu(), torch.cat([p[1] for p in parts]).cpu())

    def _cells_per_batch(self, cells: int) -> int:
        """``cells``, or fewer where one (cells x genes x features) tensor of the GNN
        would pass ``FEATURE_BYTES`` (many genes)."""
        genes = len(self.fitted["output_genes"])
        width = max(self.fitted["k"] + 3, self.params.hidden)
        return max(1, min(cells, FEATURE_BYTES // (4 * genes * width)))

    def _predict_gnn(self, index: torch.Tensor, weights: torch.Tensor) -> np.ndarray:
        state, out = self.module, []
        device = state.reference.device
        step = self._cells_per_batch(self.params.batch_size)
        with torch.no_grad():
            graph_means = state.graph_means()
            for i in range(0, len(index), step):
                gnn, _ = state.predict_values(index[i:i + step].to(device),
                                              weights[i:i + step].to(device), graph_means)
                out.append(gnn.cpu())
        return torch.cat(out).numpy()

    def _reliability(self, spatial, spatial_z, reference, reference_z, shared_columns,
                     to_shared) -> np.ndarray:
        """Expected cosine per predictable gene, learnt by cross-validation over the
        shared genes with a shared-PCA neighbour search as the imputation
        (``to_shared``: gene-graph similarities of every gene to the shared ones)."""
        rng = np.random.default_rng(self.params.seed)
        cells = rng.permutation(len(spatial))[:RELIABILITY_CELLS]
        n_shared = len(shared_columns)
        folds = np.array_split(rng.permutation(n_shared),
                               max(2, min(self.params.reliability_folds, n_shared // 2)))
        features, accuracy = [], []
        for fold in folds:
            kept = np.setdiff1d(np.arange(n_shared), fold)
            mean = self._proxy_mean(spatial_z[cells][:, kept], reference_z[:, kept], reference)
            graph = to_shared[:, kept].max(axis=1)
            features.append(reliability.gene_features(reference, mean, graph)
                            [shared_columns[fold]])
            accuracy.append(cosine_columns(spatial[cells][:, fold],
                                           mean[:, shared_columns[fold]]))
        model = reliability.fit_reliability(np.vstack(features), np.concatenate(accuracy))
        mean = self._proxy_mean(spatial_z[cells], reference_z, reference)
        graph = to_shared.max(axis=1)
        return reliability.predict_reliability(
            model, reliability.gene_features(reference, mean, graph))

    def _proxy_mean(self, spatial_z, reference_z, reference) -> np.ndarray:
        """The knn imputation (shared PCA, cosine neighbours) the reliability model
        learns from."""
        axes = principal_axes(reference_z, max(1, min(30, reference_z.shape[1] - 1)))
        return neighbour_mean(unit_rows(spatial_z @ axes), unit_rows(reference_z @ axes),
                              reference, self._k(self.fitted.get("n_cells", len(spatial_z))),
                              neighbors=self.params.neighbors, device=self.device)

    def predict(self, task: ImputationTask) -> Prediction:
        state = self.require_module()
        genes = locate_fitted(task, self.fitted["shared_genes"], self.fitted["output_genes"],
                              self.name)
        query = task.measured(genes.shared)
        mean, std = self.fitted["spatial_mean"], self.fitted["spatial_std"]
        k, alpha, device = self._k(self.fitted["n_cells"]), self.params.alpha, self.device
        mean_t, std_t = (torch.as_tensor(v, device=device) for v in (mean, std))

        with torch.no_grad():
            graph_means = state.graph_means()

        def cells(block: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():  # grad mode is per thread
                standardised = (block - mean_t) / std_t
                index, weights = state.neighbours(standardised, k)
                gnn, neighbour_mean = state.predict_values(index, weights, graph_means)
                blend = alpha * gnn + (1 - alpha) * neighbour_mean
                return torch.cat([blend, state.autoencoder.encoder(standardised)], 1)

        blocks = query.blocks(self._cells_per_batch(min(
            self.params.batch_size * 4, block_size_for(len(state.reference), 4096))))
        widths = (len(self.fitted["output_genes"]), state.autoencoder.encoder.out_features)
        workers = torch.get_num_threads() if device.type == "cpu" else 1
        with parts_in_parallel(workers) as run:
            predicted, latent = self.predict_in_blocks(
                blocks, lambda block: run(cells, block).split(widths, dim=1),
                task.spatial.n_obs, widths)
        values = place_predictions(task, genes, predicted, self.name,
                                   take=np.flatnonzero(genes.wanted))
        del predicted  # a memory-mapped array is freed (and its file with it)
        scores = np.full(len(task.output_genes), np.nan)
        scores[genes.columns[genes.wanted]] = self.fitted["reliability"][genes.wanted]
        return Prediction(values=values, reliability=scores, latent=latent)


@contextmanager
def parts_in_parallel(workers: int) -> Iterator[Callable]:
    """Within the block, ``run(function, block)`` applies ``function`` to ``workers``
    parts of a block of cells at once (threads, each with one torch thread: torch's
    thread count is 1 meanwhile, restored after) and joins the results by rows.

    Prediction runs many small operations (a few cells at a time, to stay in cache);
    splitting each across threads costs a synchronisation per operation, which on a
    busy machine made two threads slower than one. Cells are independent, so each
    thread takes its own cells instead. With one worker, ``function(block)``.
    """
    if workers <= 1:
        yield lambda function, block: function(block)
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            def run(function: Callable, block: torch.Tensor) -> torch.Tensor:
                parts = [part for part in torch.tensor_split(block, workers) if len(part)]
                return torch.cat(list(pool.map(function, parts)))

            yield run
    finally:
        torch.set_num_threads(previous)


def standardise_like(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``values`` z-scored with the per-gene mean and spread of ``reference``."""
    mean, std = column_moments(reference)
    return ((values - mean) / std).astype(np.float32)
