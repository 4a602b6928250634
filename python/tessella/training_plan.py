"""Lightning as the training engine: one training plan for every torch model.

:class:`TrainingPlan` (a ``LightningModule``) optimises ``loss(module, *batch)``
with Adam and logs the training and validation loss per epoch. The ``Trainer``
is built from :class:`~tessella.params.TrainParams`: ``device`` (the
accelerator), ``devices``, ``num_nodes``, ``strategy`` and ``precision``. Early
stopping and the restore of the best validation epoch are callbacks; with
``checkpoint_dir`` a ``last.ckpt`` is written after every epoch, and ``resume``
continues from one (the best weights so far and the loss history travel in it).

Several devices or machines (``devices=4, strategy="ddp"``) are launched the
standard way, one process per device: ``torchrun --nproc_per_node=4 script.py``
(or SLURM's ``srun``); Lightning reads the ranks from the environment. Every
process reads the same data and ends with the same weights.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from tessella.device import resolve_device
from tessella.errors import InputError
from tessella.params import TrainParams

if TYPE_CHECKING:
    from tessella.train import History, LossFn

#: Smallest improvement of the validation loss that resets the patience.
MIN_DELTA = 1e-6


class TrainingPlan(pl.LightningModule):
    """Adam on ``loss_fn(module, *batch)``; training and validation loss logged per epoch."""

    def __init__(self, module: nn.Module, loss_fn: LossFn, params: TrainParams) -> None:
        super().__init__()
        self.module, self.loss_fn = module, loss_fn
        self.lr, self.weight_decay = params.lr, params.weight_decay

    def _step(self, batch: tuple[torch.Tensor, ...], name: str) -> torch.Tensor:
        loss = self.loss_fn(self.module, *batch)
        self.log(name, loss, on_step=False, on_epoch=True, batch_size=len(batch[0]),
                 sync_dist=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train_loss")

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self._step(batch, "val_loss")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.module.parameters(), lr=self.lr,
                                weight_decay=self.weight_decay)


class BestWeights(pl.Callback):
    """Records each epoch's losses in ``history`` and keeps the weights of the best
    validation epoch, restored when training ends. Its state travels in
    checkpoints, so a resumed run ends on the same best epoch."""

    def __init__(self, history: History) -> None:
        self.history, self.best, self.weights = history, float("inf"), None

    def on_train_epoch_end(self, trainer: pl.Trainer, plan: TrainingPlan) -> None:
        metrics, history = trainer.callback_metrics, self.history
        history.train_loss.append(float(metrics["train_loss"]))
        history.val_loss.append(float(metrics["val_loss"]))
        if history.val_loss[-1] < self.best - MIN_DELTA:
            self.best, history.best_epoch = history.val_loss[-1], trainer.current_epoch
            self.weights = copy.deepcopy(plan.module.state_dict())

    def on_fit_end(self, trainer: pl.Trainer, plan: TrainingPlan) -> None:
        if self.weights is not None:
            plan.module.load_state_dict(self.weights)

    def state_dict(self) -> dict[str, Any]:
        history = self.history
        return {"best": self.best, "weights": self.weights, "train_loss": history.train_loss,
                "val_loss": history.val_loss, "best_epoch": history.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.weights = state["best"], state["weights"]
        self.history.train_loss = list(state["train_loss"])
        self.history.val_loss = list(state["val_loss"])
        self.history.best_epoch = state["best_epoch"]


def checkpoint_folder(params: TrainParams) -> str | None:
    """Where ``last.ckpt`` goes: ``checkpoint_dir``, else the folder of the checkpoint
    a run resumes from (so a resumed run keeps its checkpoint current), else none."""
    if params.checkpoint_dir is not None:
        return params.checkpoint_dir
    return None if params.resume is None else str(Path(params.resume).parent)


def build_trainer(params: TrainParams, history: History) -> pl.Trainer:
    """The ``Trainer`` for ``params``; nothing is logged to files."""
    device = resolve_device(params.device)
    callbacks: list[pl.Callback] = [
        BestWeights(history),
        pl.callbacks.EarlyStopping("val_loss", min_delta=MIN_DELTA, patience=params.patience,
                                   mode="min"),
    ]
    folder = checkpoint_folder(params)
    if folder is not None:
        callbacks.append(pl.callbacks.ModelCheckpoint(dirpath=folder, save_last=True,
                                                      save_top_k=0))
    bf16 = params.precision == "bf16" and device.type == "cuda"
    return pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=params.devices,
        num_nodes=params.num_nodes, strategy=params.strategy,
        precision="bf16-mixed" if bf16 else "32-true", max_epochs=params.max_epochs,
        callbacks=callbacks, logger=False, enable_checkpointing=folder is not None,
        enable_progress_bar=params.verbose, enable_model_summary=False, num_sanity_val_steps=0,
        default_root_dir=folder,
    )


def fit(module: nn.Module, loss_fn: LossFn, params: TrainParams, history: History,
        train: DataLoader, val: DataLoader) -> None:
    """Train ``module`` in place; ``history`` receives the losses."""
    if params.resume is not None and not Path(params.resume).is_file():
        raise InputError(f"resume = {params.resume}: there is no checkpoint there (training "
                         "writes last.ckpt into checkpoint_dir).")
    trainer = build_trainer(params, history)
    module.train()
    with warnings.catch_warnings():
        # one process reading in-memory tensors needs no loader workers
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        # Lightning 2.6 with torch >= 2.10 (not ours to fix)
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        trainer.fit(TrainingPlan(module, loss_fn, params), train_dataloaders=train,
                    val_dataloaders=val, ckpt_path=params.resume)


# Lightning's start-up lines (GPU available, TPU, ...) are not the user's business.
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
