"""Transformer blocks with cross-covariance attention (XCA) and adaptive layer norm.

XCA (El-Nouby et al. 2021) attends over feature channels rather than tokens:
queries and keys are L2-normalised along the token axis and the attention map
is channels x channels. Here the tokens are those of one cell, so every
statistic is taken within the cell and its output never depends on the other
cells of a batch. The condition (time step + profile encoding) enters through
adaptive layer norm, ``norm(x) * (1 + scale(c)) + shift(c)``, with a gate on
each residual branch; the modulation starts at zero, so each block starts as a
plain pre-norm transformer block.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional


class CrossCovarianceAttention(nn.Module):
    """Multi-head XCA over the channels of a token set (batch x tokens x width)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads.")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 4, 1)  # each batch x heads x channels x tokens
        q, k = functional.normalize(q, dim=-1), functional.normalize(k, dim=-1)
        attention = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.out((attention @ v).permute(0, 3, 1, 2).reshape(batch, tokens, width))


class AdaptiveNorm(nn.Module):
    """Layer norm whose scale and shift, and the gate of the branch it feeds,
    come from the condition."""

    def __init__(self, width: int, condition: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.modulation = nn.Linear(condition, 3 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor,
                condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, shift, gate = self.modulation(condition).unsqueeze(1).chunk(3, dim=-1)
        return self.norm(x) * (1 + scale) + shift, 1 + gate


class XcaBlock(nn.Module):
    """XCA and a feed-forward layer, each behind an adaptive norm and a gated residual."""

    def __init__(self, width: int, heads: int, condition: int) -> None:
        super().__init__()
        self.attention_norm = AdaptiveNorm(width, condition)
        self.attention = CrossCovarianceAttention(width, heads)
        self.feed_forward_norm = AdaptiveNorm(width, condition)
        self.feed_forward = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(),
                                          nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        normed, gate = self.attention_norm(x, condition)
        x = x + gate * self.attention(normed)
        normed, gate = self.feed_forward_norm(x, condition)
        return x + gate * self.feed_forward(normed)


def timestep_embedding(steps: torch.Tensor, width: int) -> torch.Tensor:
    """Sinusoidal embedding of diffusion time steps: (batch,) -> batch x width."""
    half = width // 2
    frequencies = torch.exp(-math.log(10_000) * torch.arange(half, device=steps.device) / half)
    angles = steps.float().unsqueeze(1) * frequencies.unsqueeze(0)
    return torch.cat([angles.sin(), angles.cos()], dim=1)
