"""Gene-embedding tables: load, validate, align to genes, report coverage.

A table maps gene names to fixed-length vectors (Enformer, ESM-2, text
embeddings, ...). Supported files:

- ``.tsv``, ``.csv`` (optionally ``.gz``): first column the gene, then one column per dimension;
- ``.parquet``: a ``gene`` column (or the first column, or the index) plus numeric columns;
- ``.h5ad``: genes as observations, vectors in ``X``;
- ``.npz``: arrays ``genes`` and ``embeddings``, or one array per gene;
- ``.pt`` / ``.pth``: a torch ``{gene: tensor}`` dictionary, loaded with
  ``weights_only=True`` (arbitrary pickles are never executed).
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, Union

import numpy as np
import pandas as pd

from tessella.data.genes import describe_missing, match_genes
from tessella.errors import InputError

logger = logging.getLogger(__name__)

T = TypeVar("T")
EmbeddingSource = Union[str, Path, pd.DataFrame, "EmbeddingTable"]
SUFFIXES = (".tsv", ".tsv.gz", ".csv", ".csv.gz", ".txt", ".txt.gz", ".parquet", ".h5ad",
            ".npz", ".pt", ".pth")


@dataclass(frozen=True)
class EmbeddingTable:
    """Gene names and their vectors (float32, one row per gene)."""

    genes: pd.Index
    values: np.ndarray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[0] != len(self.genes):
            raise InputError(
                f"embedding table has {len(self.genes)} genes but values of shape "
                f"{self.values.shape}; expected one vector per gene."
            )
        if len(self.genes) == 0 or self.values.shape[1] == 0:
            raise InputError("embedding table is empty: it needs at least one gene and dimension.")
        if not np.isfinite(self.values).all():
            raise InputError("embedding table contains NaN or infinite values; fix the table.")
        if not self.genes.is_unique:
            dups = sorted(set(self.genes[self.genes.duplicated()]))
            raise InputError(
                f"embedding table lists {len(dups)} gene(s) twice: {describe_missing(dups)}; "
                "keep one vector per gene."
            )

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    def positions(self, genes: list[str]) -> np.ndarray:
        """Row of each gene in the table, or -1 (case-insensitive matching)."""
        return match_genes(genes, self.genes)

    def align(self, genes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for ``genes`` in order (zeros where missing) and the mask of genes found."""
        positions = self.positions(genes)
        found = positions >= 0
        out = np.zeros((len(genes), self.dim), dtype=np.float32)
        out[found] = self.values[positions[found]]
        return out, found

    def coverage(self, genes: list[str]) -> float:
        """Fraction of ``genes`` that have a vector."""
        return float((self.positions(genes) >= 0).mean()) if genes else 1.0


def _from_frame(frame: pd.DataFrame) -> EmbeddingTable:
    if "gene" in frame.columns:
        frame = frame.set_index("gene")
    elif not pd.api.types.is_numeric_dtype(frame.iloc[:, 0]):
        frame = frame.set_index(frame.columns[0])
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise InputError(
            f"embedding table has non-numeric columns {describe_missing(non_numeric)}; "
            "expected the gene name first and numbers after it."
        )
    genes = pd.Index(frame.index.astype(str), name="gene")
    return EmbeddingTable(genes, frame.to_numpy(dtype=np.float32))


#: What parsing a file that is not a valid table raises (pandas' parser errors and
#: numpy's are ValueErrors; a missing optional reader such as pyarrow an ImportError).
PARSE_ERRORS = (OSError, ValueError, KeyError, EOFError, ImportError, zipfile.BadZipFile)


def _parse(path: Path, read: Callable[[], T]) -> T:
    """``read()`` of a user's file; a file it cannot parse is the input's fault."""
    try:
        return read()
    except InputError:
        raise
    except PARSE_ERRORS as err:
        raise InputError(f"could not read the embedding table {path}: {err}") from err


def _npz_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        if {"genes", "embeddings"} <= set(archive.files):
            return archive["genes"].astype(str), archive["embeddings"]
        genes = np.array(archive.files)
        return genes, np.stack([np.asarray(archive[g], dtype=np.float32).ravel()
                                for g in genes])


def _read_npz(path: Path) -> EmbeddingTable:
    genes, values = _parse(path, lambda: _npz_arrays(path))
    return EmbeddingTable(pd.Index(genes, name="gene"), np.asarray(values, dtype=np.float32))


def _read_torch(path: Path) -> EmbeddingTable:
    import torch

    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for unsafe or broken files
        raise InputError(
            f"{path} is not a plain torch {{gene: tensor}} file that can be loaded safely "
            f"(weights_only=True): {err}"
        ) from err
    if not isinstance(content, dict) or not content:
        raise InputError(f"{path} must hold a non-empty {{gene name: tensor}} dictionary.")
    genes = [str(g) for g in content]
    values = _parse(path, lambda: np.stack([np.asarray(v, dtype=np.float32).ravel()
                                            for v in content.values()]))
    return EmbeddingTable(pd.Index(genes, name="gene"), values)


def _read_h5ad(path: Path) -> EmbeddingTable:
    import anndata as ad
    import scipy.sparse as sp

    table = _parse(path, lambda: ad.read_h5ad(path))
    values = table.X.toarray() if sp.issparse(table.X) else np.asarray(table.X)
    return EmbeddingTable(pd.Index(table.obs_names.astype(str), name="gene"),
                          values.astype(np.float32))


def read_embeddings(path: str | Path) -> EmbeddingTable:
    """Read a gene-embedding table from any supported file (see module docs).

    A file that is missing raises ``FileNotFoundError``; one that cannot be
    parsed as a table, :class:`tessella.InputError` naming it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"embedding file {path} does not exist.")
    name = path.name.lower()
    if name.endswith((".tsv", ".tsv.gz", ".txt", ".txt.gz", ".csv", ".csv.gz")):
        separator = "," if ".csv" in name else "\t"
        frame = _parse(path, lambda: pd.read_csv(path, sep=separator, index_col=0))
        return _from_frame(frame.rename_axis("gene").reset_index())  # first column: the gene
    if name.endswith(".parquet"):
        frame = _parse(path, lambda: pd.read_parquet(path))
        if "gene" not in frame.columns and pd.api.types.is_numeric_dtype(frame.iloc[:, 0]):
            frame = frame.rename_axis("gene").reset_index()
        return _from_frame(frame)
    if name.endswith(".h5ad"):
        return _read_h5ad(path)
    if name.endswith(".npz"):
        return _read_npz(path)
    if name.endswith((".pt", ".pth")):
        return _read_torch(path)
    raise InputError(
        f"cannot read embeddings from {path.name}: use one of {', '.join(SUFFIXES)}."
    )


def load_embeddings(source: EmbeddingSource) -> EmbeddingTable:
    """An :class:`EmbeddingTable` from a path, a DataFrame (genes as index or a
    ``gene`` column) or a table."""
    if isinstance(source, EmbeddingTable):
        return source
    if isinstance(source, pd.DataFrame):
        frame = source if "gene" in source.columns else source.rename_axis("gene").reset_index()
        return _from_frame(frame)
    if isinstance(source, (str, Path)):
        return read_embeddings(source)
    raise TypeError(
        "embeddings must be a file path, a pandas DataFrame or an EmbeddingTable, "
        f"not {type(source).__name__}."
    )
