"""Saved models that travel: one file per fitted model, loadable on any device.

The file (``torch.save`` of plain containers, read back with
``weights_only=True``, so it holds nothing executable) stores the method's
name, its hyper-parameters, its state (weights, arrays, the constructor
arguments that rebuild its module), the preprocessing it was fitted with (the
input scale, the size-factor target sum, the measured and target genes) and the
tessella version that wrote it. Tensors are stored on the CPU; the device is
chosen when loading.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from tessella.errors import InputError
from tessella.models.interface import Imputer
from tessella.models.registry import get_method

#: Version of the file layout; a file with another one is refused.
FORMAT = 1


def save_model(model: Imputer, path: str | Path) -> Path:
    """Write a fitted ``model`` to ``path``; returns the path."""
    from tessella import __version__

    path = Path(path)
    torch.save({"format": FORMAT, "tessella_version": __version__, "method": model.name,
                "params": asdict(model.params), "preprocessing": model.preprocessing,
                "state": model.state()}, path)
    return path


def load_model(path: str | Path, device: str = "auto") -> Imputer:
    """Rebuild a model written by :func:`save_model`, on ``device`` ("auto", "cpu"
    or "cuda"), whatever device it was saved from.

    Raises
    ------
    InputError
        When ``path`` is not a tessella model, or one written by another file layout.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}.")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and unpickler errors: not a saved model
        raise InputError(f"{path} is not a tessella model file.") from err
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise InputError(f"{path} is not a tessella model file of format {FORMAT}; save "
                         "the model again with this version of tessella.")
    method = get_method(content["method"])
    known = {item.name for item in fields(method.params_class)}
    params: dict[str, Any] = {k: v for k, v in content["params"].items() if k in known}
    model = method(method.params_class(**{**params, "device": device}))
    model.preprocessing = content["preprocessing"]
    model.load_state(content["state"])
    return model
