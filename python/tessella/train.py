"""The one training loop every torch model uses, plus batched inference.

``fit_module`` handles device placement, seeding, the validation split, Adam,
early stopping with best-checkpoint restore, mixed precision on CUDA and a
tqdm progress bar. A model supplies only its ``nn.Module`` and a loss function
``loss(module, *batch) -> scalar tensor``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from tessella.device import resolve_device
from tessella.models.base import ImputerParams
from tessella.models.params import bounded

logger = logging.getLogger(__name__)

LossFn = Callable[..., torch.Tensor]
PRECISIONS = ("32", "bf16")
#: Smallest learning rate accepted (the range is inclusive; a rate must be positive).
MIN_LR = 1e-8


@dataclass
class TrainParams(ImputerParams):
    """Training options shared by all torch methods.

    Attributes
    ----------
    max_epochs
        Upper bound on passes over the training cells.
    batch_size
        Cells per optimisation step (and per inference block).
    lr
        Adam learning rate (> 0).
    weight_decay
        Adam L2 weight decay.
    val_fraction
        Share of cells held out to decide early stopping.
    patience
        Epochs without validation improvement before stopping.
    precision
        "32" (float32) or "bf16" (bfloat16 autocast, CUDA only).
    """

    max_epochs: int = bounded(300, low=1)
    batch_size: int = bounded(1024, low=1)
    lr: float = bounded(1e-3, low=MIN_LR)
    weight_decay: float = bounded(0.0, low=0.0)
    val_fraction: float = bounded(0.1, low=0.0, high=0.9)
    patience: int = bounded(20, low=1)
    precision: str = bounded("32", choices=PRECISIONS)


@dataclass
class History:
    """Losses per epoch and where the restored checkpoint came from."""

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


def _autocast(device: torch.device, precision: str):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}.")
    enabled = precision == "bf16" and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def split_cells(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random train / validation row indices (no validation set below 20 cells)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction)) if n >= 20 else 0
    return order[n_val:], order[:n_val]


def _batches(n: int, batch_size: int, shuffle: torch.Generator | None) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=shuffle) if shuffle is not None else torch.arange(n)
    yield from torch.split(order, batch_size)


def _mean_loss(module: nn.Module, loss_fn: LossFn, data: tuple[torch.Tensor, ...],
               params: TrainParams, device: torch.device) -> float:
    module.eval()
    total, count = 0.0, 0
    with torch.no_grad(), _autocast(device, params.precision):
        for idx in _batches(len(data[0]), params.batch_size, None):
            batch = [d[idx].to(device, non_blocking=True) for d in data]
            total += float(loss_fn(module, *batch)) * len(idx)
            count += len(idx)
    return total / max(count, 1)


def fit_module(
    module: nn.Module,
    loss_fn: LossFn,
    data: tuple[np.ndarray | torch.Tensor, ...],
    params: TrainParams,
    description: str = "training",
) -> History:
    """Train ``module`` on row-aligned ``data`` arrays; returns the loss history.

    Call inside :func:`seeded` so that initialisation and training share one seed.
    The module ends on the chosen device with the weights of the best
    validation epoch.
    """
    device = resolve_device(params.device)
    tensors = tuple(torch.as_tensor(np.asarray(d) if not torch.is_tensor(d) else d) for d in data)
    train_idx, val_idx = split_cells(len(tensors[0]), params.val_fraction, params.seed)
    train = tuple(t[torch.as_tensor(train_idx)] for t in tensors)
    val = tuple(t[torch.as_tensor(val_idx)] for t in tensors) if len(val_idx) else train
    module.to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=params.lr,
                                 weight_decay=params.weight_decay)
    shuffle = torch.Generator().manual_seed(params.seed)
    history, best, best_state, waited = History(), float("inf"), None, 0
    bar = tqdm(range(params.max_epochs), desc=description, disable=not params.verbose,
               leave=False)
    for epoch in bar:
        module.train()
        running, seen = 0.0, 0
        for idx in _batches(len(train[0]), params.batch_size, shuffle):
            batch = [t[idx].to(device, non_blocking=True) for t in train]
            with _autocast(device, params.precision):
                loss = loss_fn(module, *batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += float(loss.detach()) * len(idx)
            seen += len(idx)
        history.train_loss.append(running / seen)
        history.val_loss.append(_mean_loss(module, loss_fn, val, params, device))
        bar.set_postfix(train=f"{history.train_loss[-1]:.4f}", val=f"{history.val_loss[-1]:.4f}")
        if history.val_loss[-1] < best - 1e-6:
            best, waited, history.best_epoch = history.val_loss[-1], 0, epoch
            best_state = copy.deepcopy(module.state_dict())
        else:
            waited += 1
            if waited >= params.patience:
                break
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    logger.info("%s: %d epochs, best validation loss %.4f at epoch %d", description,
                len(history.val_loss), best, history.best_epoch + 1)
    return history


def predict_blocks(
    blocks: Iterator[tuple[int, int, np.ndarray]],
    forward: Callable[..., torch.Tensor],
    n_obs: int,
    n_out: int,
    device: torch.device,
    verbose: bool = False,
    with_rows: bool = False,
) -> np.ndarray:
    """Run ``forward`` block by block and gather the outputs (cells x ``n_out``).

    ``forward`` takes the block as a tensor and, with ``with_rows``, also the
    block's row positions (a ``range``), for methods whose per-cell randomness is
    keyed on the cell. Memory beyond the output array grows with the block size,
    not with ``n_obs``.
    """
    out = np.empty((n_obs, n_out), dtype=np.float32)
    with torch.no_grad(), tqdm(total=n_obs, desc="predicting", disable=not verbose,
                               leave=False) as bar:
        for start, stop, block in blocks:
            tensor = torch.from_numpy(block).to(device)
            result = forward(tensor, range(start, stop)) if with_rows else forward(tensor)
            out[start:stop] = result.float().cpu().numpy()
            bar.update(stop - start)
    return out
