"""Train refine on simulated data with ``devices=2, strategy="ddp"`` on CPU (gloo).

Launched by tests/python/test_distributed.py the standard way::

    python -m torch.distributed.run --nproc_per_node=2 ddp_refine.py OUT.npy

Every process trains; rank 0 writes the predicted values to OUT.npy.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

import tessella

torch.set_num_threads(1)
SETTINGS = {"max_epochs": 30, "batch_size": 64, "device": "cpu", "verbose": False, "seed": 0}


def main(out: str) -> None:
    sim = tessella.datasets.simulate(n_cells=400, n_genes=30, n_reference=500, seed=1)
    result = tessella.refine(sim.spatial, sim.embeddings, devices=2, strategy="ddp",
                             **SETTINGS)
    if int(os.environ.get("RANK", "0")) == 0:
        np.save(out, np.asarray(result.X))


if __name__ == "__main__":
    main(sys.argv[1])
