"""Choosing the torch device, once, from the user's "auto" / "cpu" / "cuda"."""

from __future__ import annotations

import torch

from tessella.errors import InputError


def resolve_device(name: str) -> torch.device:
    """Turn "auto" / "cpu" / "cuda[:i]" into a device, checking that it exists."""
    if not isinstance(name, str) or not (name in ("auto", "cpu") or name.startswith("cuda")):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda', not {name!r}.",
                         f'device must be "auto", "cpu" or "cuda", not {name!r}.')
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        problem = "was asked for but this torch build sees no CUDA device; use"
        raise InputError(f"device={name!r} {problem} device='cpu' or 'auto'.",
                         f'device = "{name}" {problem} device = "cpu" or "auto".')
    return torch.device(name)
