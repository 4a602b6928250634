"""Write the breast-cancer dev pair (tessella.datasets.breast_cancer_pair) as .h5ad
files for bench/accuracy.R, and the versions of the Python peers.

Run: make bench-accuracy (this is its first step).
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import tessella

PEERS = {"tangram": "tangram-sc", "gimvi": "scvi-tools", "stplus": "stPlus"}


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    spatial, reference = tessella.datasets.breast_cancer_pair()
    spatial.write_h5ad(out / "breast_cancer_spatial.h5ad")
    reference.write_h5ad(out / "breast_cancer_reference.h5ad")
    lines = [f"tessella\t{tessella.__version__}"]
    for method, package in PEERS.items():
        try:
            lines.append(f"{method}\t{package} {version(package)}")
        except PackageNotFoundError:
            lines.append(f"{method}\tnot installed (pip install 'tessella[peers]')")
    (out / "versions.tsv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
