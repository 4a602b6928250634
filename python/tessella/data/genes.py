"""Gene-name matching between data sets and embedding tables.

Names match case-insensitively (``Gad2`` = ``GAD2``) and Ensembl identifiers
match without their version suffix (``ENSG00000141510.17`` = ``ENSG00000141510``).
An exact match always wins over a case-folded one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

_ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*[GTP]\d+)\.\d+$", re.IGNORECASE)


def gene_key(name: str) -> str:
    """Normalised key of a gene name: upper case, Ensembl version removed."""
    name = str(name).strip()
    match = _ENSEMBL_VERSION.match(name)
    return (match.group(1) if match else name).upper()


def match_genes(query: Sequence[str], available: Iterable[str]) -> np.ndarray:
    """Position in ``available`` of each ``query`` gene, or -1 where it is absent."""
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    for position, name in enumerate(available):
        exact.setdefault(str(name), position)
        folded.setdefault(gene_key(name), position)
    return np.array(
        [exact.get(str(name), folded.get(gene_key(name), -1)) for name in query], dtype=np.int64
    )


def describe_missing(names: Sequence[str], limit: int = 8) -> str:
    """A short, readable list of gene names for error messages."""
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
