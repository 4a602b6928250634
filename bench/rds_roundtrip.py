"""Round-trip times of the .rds bridge for a 100k-cell object.

An SCE and a Seurat object of 100,000 cells x 300 genes (sparse counts, a
Xenium-sized panel) are written in R; read_rds, an imputation of 20 genes
(knn, 2,000-cell reference) and write_rds into the original object are timed.
Run: make bench-rds   (BENCH_CELLS to change the size)
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import rpy2.robjects as robjects

import tessella
from tessella import rbridge

N_CELLS = int(os.environ.get("BENCH_CELLS", "100000"))


def timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    print(f"  {label:<34s} {time.perf_counter() - start:6.2f} s")
    return value


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="tessella-rds-"))
    robjects.r(f"""
        set.seed(1)
        genes <- sprintf("Gene%03d", 1:320)
        make <- function(n) Matrix::rsparsematrix(320, n, density = 0.1,
            rand.x = function(k) as.numeric(rpois(k, 3) + 1),
            dimnames = list(genes, sprintf("cell%06d", seq_len(n))))
        counts <- make({N_CELLS})
        sce <- SingleCellExperiment::SingleCellExperiment(assays = list(counts = counts[1:300, ]))
        saveRDS(sce, "{folder}/spatial.rds")
        saveRDS(SeuratObject::CreateSeuratObject(counts = counts[1:300, ]),
            "{folder}/seurat.rds")
        saveRDS(SingleCellExperiment::SingleCellExperiment(assays = list(counts = make(2000))),
            "{folder}/reference.rds")
    """)
    reference = rbridge.read_rds(folder / "reference.rds")
    for kind in ("spatial", "seurat"):
        print(f"{kind} ({N_CELLS} cells x 300 genes):")
        source = folder / f"{kind}.rds"
        adata = timed("read_rds", rbridge.read_rds, source)
        result = timed("impute (knn, 20 genes)", tessella.impute, adata, reference, "knn",
                       verbose=False)
        timed("write_rds into the original", rbridge.write_rds, result,
              folder / f"{kind}_out.rds", like=source)


if __name__ == "__main__":
    main()
