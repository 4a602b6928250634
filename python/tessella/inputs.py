"""Read and validate the user's inputs once, at the boundary.

Files (``.h5ad``) are opened backed: their annotations are read, their matrix
stays on disk and is read a block of rows at a time by everything downstream
(validation, normalisation, fitting and prediction), so a slide or an atlas
larger than memory can be imputed. Objects are checked, and nothing the user
passed is ever modified: later steps read from the user's matrices through
normalised views and build new objects for the results.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anndata as ad

from tessella.data.validate import InputScale, require_anndata, validate_expression
from tessella.embeddings import EmbeddingSource, EmbeddingTable, load_embeddings
from tessella.errors import InputError

if TYPE_CHECKING:  # annotation only: importing the methods here would close an import cycle
    from tessella.models.interface import Imputer

AnnDataLike = ad.AnnData | str | Path


@dataclass(frozen=True)
class Inputs:
    """Validated inputs of one call."""

    spatial: ad.AnnData
    spatial_is_counts: bool
    layer: str | None = None
    reference: ad.AnnData | None = None
    reference_is_counts: bool = True
    reference_layer: str | None = None
    embeddings: EmbeddingTable | None = None


#: What reading a file that is not a valid ``.h5ad`` raises: h5py's OSError (not
#: HDF5, truncated, unreadable), anndata's KeyError / ValueError / TypeError (an
#: HDF5 file without the groups or encodings of an AnnData).
H5AD_READ_ERRORS = (OSError, KeyError, ValueError, TypeError)


def read_anndata(obj: Any, role: str, backed: bool = False) -> ad.AnnData:
    """An AnnData, or one read from an ``.h5ad`` path: whole, or with ``backed``
    opened read-only with ``X`` left on disk (what :func:`load_inputs` does).

    A missing file raises ``FileNotFoundError``; a file that is not a readable
    ``.h5ad``, :class:`tessella.InputError` naming it.
    """
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.exists():
            raise FileNotFoundError(f"{role} file {path} does not exist.")
        if path.suffix.lower() != ".h5ad":
            raise InputError(
                f"{role} file {path.name} is not .h5ad; convert it first "
                "(from R, the tessella package works on SingleCellExperiment and Seurat)."
            )
        try:
            return ad.read_h5ad(path, backed="r") if backed else ad.read_h5ad(path)
        except H5AD_READ_ERRORS as err:
            raise InputError(f"could not read {role} file {path}: {err}") from err
    return require_anndata(obj, role)


def missing_embeddings(method: str) -> InputError:
    """The error for running ``method``, which imputes from gene embeddings, without a table."""
    return InputError(
        f"method {method!r} needs gene embeddings: pass embeddings= a table file "
        "(.tsv/.csv/.parquet/.h5ad/.npz/.pt) or a DataFrame.",
        f"method \"{method}\" needs gene embeddings: pass embeddings = a table "
        "file (.tsv/.csv/.parquet/.h5ad/.npz/.pt) or a numeric matrix with gene names "
        "as rownames.")


def load_inputs(
    methods: list[type[Imputer]],
    spatial: AnnDataLike,
    reference: AnnDataLike | None = None,
    embeddings: EmbeddingSource | None = None,
    layer: str | None = None,
    reference_layer: str | None = None,
    input_scale: InputScale = "auto",
    reference_input_scale: InputScale = "auto",
) -> Inputs:
    """Read and check everything the given methods need."""
    for method in methods:
        if method.requires_reference and reference is None:
            raise InputError(f"method {method.name!r} needs a reference: pass reference=...",
                             f"method \"{method.name}\" needs a reference: pass reference = "
                             "a SingleCellExperiment or Seurat object.")
        if (method.requires_embeddings and embeddings is None
                and not method.denoises_without_embeddings):
            raise missing_embeddings(method.name)
    spatial = read_anndata(spatial, "spatial", backed=True)
    spatial_is_counts = validate_expression(spatial, layer, "spatial", input_scale)
    inputs = Inputs(spatial, spatial_is_counts, layer)
    if reference is not None:
        reference = read_anndata(reference, "reference", backed=True)
        reference_is_counts = validate_expression(
            reference, reference_layer, "reference", reference_input_scale,
            allow_empty_genes=True)
        inputs = replace(inputs, reference=reference, reference_is_counts=reference_is_counts,
                         reference_layer=reference_layer)
    if embeddings is not None:
        inputs = replace(inputs, embeddings=load_embeddings(embeddings))
    return inputs
