"""Principal axes of the shared genes, the space knn, spage and graph's
reliability model search neighbours in."""

from __future__ import annotations

import numpy as np


def principal_axes(data: np.ndarray, n_components: int) -> np.ndarray:
    """Top right-singular vectors of centred ``data`` (genes x components)."""
    _, _, vt = np.linalg.svd(data - data.mean(axis=0), full_matrices=False)
    return vt[:n_components].T.astype(np.float32)
