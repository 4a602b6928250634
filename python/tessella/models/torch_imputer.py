"""The base of the torch methods (refine, graph, diffusion), in the scvi-tools
layering: each method is a small ``nn.Module`` and a loss; training runs on
Lightning (:mod:`tessella.train`); this class is the thin model around them.

It owns the device, the seeded construction of the module, the training call
(each stage's loss history goes to ``history_``), batched prediction, and the
saved state: the module's weights plus the plain values and arrays in
``fitted`` from which :meth:`TorchImputer.build_module` rebuilds the module,
so a model saved on a GPU loads on a CPU.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from tessella.data.task import ImputationTask
from tessella.device import resolve_device
from tessella.errors import InputError
from tessella.models.fitted import FittedImputer, fitted_from_state, fitted_to_state
from tessella.params import TrainParams
from tessella.train import History, LossFn, RowSource, fit_module, predict_blocks, seeded


class TorchImputer(FittedImputer):
    """A method whose model is one ``nn.Module`` (``module``) trained on Lightning.

    Subclasses implement :meth:`fit_torch` (put the constructor arguments of the
    module in ``fitted``, call :meth:`new_module`, then :meth:`train_module`) and
    :meth:`build_module`; ``predict`` calls :meth:`require_module` and
    :meth:`predict_in_blocks`. Every random draw of ``fit`` (initial weights,
    masks, noise, batch order) follows from ``params.seed``.

    Attributes
    ----------
    module
        The fitted module (None before ``fit``), on ``device``, in evaluation mode.
    history_
        Loss history of each training stage, by stage name.
    """

    params_class = TrainParams

    def __init__(self, params: TrainParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.module: nn.Module | None = None
        self.history_: dict[str, History] = {}

    @property
    def device(self) -> torch.device:
        """The device of ``params.device`` (``"auto"``: CUDA when available)."""
        return resolve_device(self.params.device)

    @abstractmethod
    def build_module(self) -> nn.Module:
        """A fresh module of the right shape, from the constructor arguments in ``fitted``."""

    def fit(self, task: ImputationTask) -> TorchImputer:
        """Fit the module on ``task`` with torch's generators seeded from ``params.seed``."""
        if self.requires_reference and task.reference is None:
            raise InputError(f"{self.name} needs a reference: pass reference=...")
        self.history_ = {}
        return self.seeded_training(lambda: self.fit_torch(task))

    def seeded_training(self, train: Callable[[], None]) -> TorchImputer:
        """Run ``train`` (which builds or reuses the module and trains it) with torch's
        generators seeded from ``params.seed``; the module ends in evaluation mode
        on the device."""
        with seeded(self.params.seed):
            train()
        self.require_module().to(self.device).eval()
        return self

    @abstractmethod
    def fit_torch(self, task: ImputationTask) -> None:
        """Build the module (:meth:`new_module`) and train it (:meth:`train_module`)."""

    def new_module(self) -> nn.Module:
        """A fresh module on the device, kept as ``module``."""
        self.module = self.build_module().to(self.device)
        return self.module

    def train_module(self, module: nn.Module, loss: LossFn,
                     data: tuple[np.ndarray | RowSource, ...], stage: str,
                     split: tuple[np.ndarray, np.ndarray] | None = None,
                     **overrides: Any) -> History:
        """Train ``module`` (the model's or a part of it) on row-aligned ``data``
        with the training options, ``overrides`` replacing some (``max_epochs``);
        ``split``: training and validation rows (default a random ``val_fraction``)."""
        history = fit_module(module, loss, data, replace(self.params, **overrides),
                             description=stage, split=split)
        self.history_[stage] = history
        return history

    def require_module(self) -> nn.Module:
        """The fitted module; a ``RuntimeError`` before ``fit``."""
        if self.module is None:
            raise RuntimeError("call fit() before predict().")
        return self.module

    def predict_in_blocks(self, blocks: Iterator[tuple[int, int, np.ndarray]],
                          forward: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]],
                          n_obs: int, n_out: int | tuple[int, ...], with_rows: bool = False
                          ) -> np.ndarray | tuple[np.ndarray, ...]:
        """``forward`` over blocks of cells without gradients (cells x ``n_out``; one
        array per width when ``n_out`` is a tuple, see :func:`predict_blocks`)."""
        self.require_module().eval()
        return predict_blocks(blocks, forward, n_obs, n_out, self.device, self.params.verbose,
                              with_rows=with_rows)

    def state(self) -> dict[str, Any]:
        return {"module": {k: v.cpu() for k, v in self.require_module().state_dict().items()},
                "history": {stage: asdict(h) for stage, h in self.history_.items()},
                **fitted_to_state(self.fitted)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.fitted = fitted_from_state(state)
        self.module = self.build_module()
        self.module.load_state_dict(state["module"])
        self.module.to(self.device).eval()
        self.history_ = {stage: History(**h) for stage, h in state["history"].items()}
