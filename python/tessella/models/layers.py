"""Small torch building blocks shared by the methods."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

OUTPUTS = ("softplus", "identity")


def mlp(n_in: int, hidden: int, n_out: int, n_layers: int) -> nn.Sequential:
    """ReLU MLP with ``n_layers`` linear layers and no activation after the last."""
    if n_layers < 1:
        raise ValueError(f"an MLP needs at least one layer, not {n_layers}.")
    sizes = [n_in] + [hidden] * (n_layers - 1) + [n_out]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < n_layers - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def output_activation(name: str) -> callable:
    """The output function F: softplus (non-negative) or identity."""
    if name not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, not {name!r}.")
    return functional.softplus if name == "softplus" else torch.nn.Identity()
