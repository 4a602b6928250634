"""Peer methods from the literature, wrapped as optional extras: ``tangram``
(tangram-sc), ``gimvi`` (scvi-tools) and ``stplus`` (stPlus).

They register like tessella's own methods, so the benchmark compares them on
the same folds, truth and metrics. Their packages are imported only when a
method is fit; without them the methods are listed as unavailable with the
install command ``pip install 'tessella[peers]'`` (or ``make setup-peers``).
"""

from tessella.models.peers import gimvi, stplus, tangram  # noqa: F401  (registers)
