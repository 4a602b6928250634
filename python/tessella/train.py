"""Training and batched inference for every torch model.

A model supplies an ``nn.Module`` and a loss ``loss(module, *batch) -> scalar``;
:func:`fit_module` splits the cells into training and validation rows, batches
them, and trains with Lightning (:mod:`tessella.training_plan`, imported only
when training starts: it takes seconds to import). :func:`predict_blocks` runs
a fitted module over cells block by block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, SequentialSampler
from tqdm.auto import tqdm

from tessella.device import resolve_device
from tessella.output import allocate
from tessella.params import TrainParams

if TYPE_CHECKING:  # annotation only: train stays below tessella.data
    from tessella.data.normalize import NormalizedView

logger = logging.getLogger(__name__)

LossFn = Callable[..., torch.Tensor]
#: What training data can be: a tensor, or a normalised view of the data.
RowSource = Union[torch.Tensor, "NormalizedView"]
@dataclass
class History:
    """Losses per epoch and the epoch whose weights the model ends with."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's random generators seeded, restoring them afterwards."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def split_cells(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random train / validation row indices (no validation set below 20 cells)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction)) if n >= 20 else 0
    return order[n_val:], order[:n_val]


class RowDataset(Dataset):
    """Some rows of row-aligned sources, read a batch at a time (one read per batch,
    not per row). A source is a tensor, or a normalised view of the data
    (:class:`~tessella.data.normalize.NormalizedView`), whose rows are read and
    normalised when a batch asks for them."""

    def __init__(self, sources: tuple[RowSource, ...], index: np.ndarray) -> None:
        self.sources, self.index = sources, np.asarray(index, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, ...]:
        return tuple(rows[0] for rows in self.__getitems__([position]))

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, ...]:
        rows = self.index[np.asarray(positions, dtype=np.int64)]
        return tuple(source[torch.from_numpy(rows)] if torch.is_tensor(source)
                     else torch.from_numpy(source.rows(rows)) for source in self.sources)


class ShuffledRows(Sampler):
    """Every row once per epoch, in a new seeded random order each epoch (one
    ``randperm`` per epoch, as the order of the epochs' batches has always been)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.generator = n, torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


def _whole_batch(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Collate: :meth:`RowDataset.__getitems__` already returns the batch."""
    return batch


def _loader(dataset: RowDataset, batch_size: int, seed: int | None) -> DataLoader:
    """Batches in a seeded random order (``seed``), or in order (``None``). The
    loader's own generator is separate, so loading draws nothing from torch's
    global generator, which the losses use."""
    sampler = SequentialSampler(dataset) if seed is None else ShuffledRows(len(dataset), seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=_whole_batch,
                      generator=torch.Generator().manual_seed(0))


def fit_module(
    module: nn.Module,
    loss_fn: LossFn,
    data: tuple[np.ndarray | RowSource, ...],
    params: TrainParams,
    description: str = "training",
    split: tuple[np.ndarray, np.ndarray] | None = None,
) -> History:
    """Train ``module`` on row-aligned ``data`` (arrays, tensors or normalised views);
    returns the loss history.

    Call inside :func:`seeded` so that initialisation and training share one seed.
    A share ``val_fraction`` of the rows (none below 20 rows, when the training
    rows also serve for validation) decides early stopping and which epoch's
    weights the module ends with; ``split`` gives the training and validation
    rows instead. The module ends on the chosen device, in evaluation mode.
    """
    sources = tuple(torch.as_tensor(d) if isinstance(d, np.ndarray) else d for d in data)
    n_rows = len(sources[0]) if torch.is_tensor(sources[0]) else sources[0].n_obs
    train_idx, val_idx = split or split_cells(n_rows, params.val_fraction, params.seed)
    train = RowDataset(sources, train_idx)
    val = RowDataset(sources, val_idx) if len(val_idx) else train
    from tessella import training_plan  # deferred: Lightning takes seconds to import

    history = History()
    training_plan.fit(module, loss_fn, params, history,
                      _loader(train, params.batch_size, params.seed),
                      _loader(val, params.batch_size, None))
    module.to(resolve_device(params.device)).eval()
    logger.info("%s: %d epochs, best validation loss %.4f at epoch %d", description,
                len(history.val_loss), min(history.val_loss, default=float("nan")),
                history.best_epoch + 1)
    return history


def predict_blocks(
    blocks: Iterator[tuple[int, int, np.ndarray]],
    forward: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]],
    n_obs: int,
    n_out: int | tuple[int, ...],
    device: torch.device,
    verbose: bool = False,
    with_rows: bool = False,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Run ``forward`` block by block and gather the outputs (cells x ``n_out``).

    ``forward`` takes the block as a tensor and, with ``with_rows``, also the
    block's row positions (a ``range``), for methods whose per-cell randomness is
    keyed on the cell. It returns one tensor, or with ``n_out`` a tuple of widths
    one tensor per width, gathered into one array each (no copy to split them
    afterwards). Memory beyond the output arrays grows with the block size, not
    with ``n_obs``; an output array is memory-mapped when it exceeds the memory
    budget (:func:`tessella.output.allocate`).
    """
    widths = (n_out,) if isinstance(n_out, int) else tuple(n_out)
    outs = [allocate((n_obs, width), np.float32, what="predicted values") for width in widths]
    with torch.no_grad(), tqdm(total=n_obs, desc="predicting", disable=not verbose,
                               leave=False) as bar:
        for start, stop, block in blocks:
            tensor = torch.from_numpy(block).to(device)
            result = forward(tensor, range(start, stop)) if with_rows else forward(tensor)
            for out, part in zip(outs, (result,) if torch.is_tensor(result) else result):
                out[start:stop] = part.float().cpu().numpy()
            bar.update(stop - start)
    return outs[0] if isinstance(n_out, int) else tuple(outs)
