"""R objects and ``.rds`` files <-> AnnData, through rpy2 and anndata2ri.

For Python users and the CLI: ``read_rds`` turns a SingleCellExperiment,
SpatialExperiment or Seurat object into an AnnData, and ``write_rds`` puts a
tessella result back into the original object exactly as the R package does,
under the method's name (for knn: assay ``knn``, altExp ``imputed_knn``,
reducedDim ``TESSELLA_knn``, ``metadata(x)$tessella$knn``; for Seurat an assay
``knn``). Both call the tessella R package's own
conversion and assembly code, so the two faces of tessella cannot drift apart.

Needs ``pip install 'tessella[r]'`` (rpy2 3.5.17, anndata2ri) and the tessella R
package. Never used inside Python embedded in R (reticulate): rpy2 there
crashes R, so this module refuses to start in such a process.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from tessella.errors import InputError
from tessella.parts import anndata_from_parts, result_to_parts

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'tessella[r]'  (rpy2==3.5.17 and anndata2ri, with R >= 4.2)"


def _refuse_inside_r() -> None:
    """Stop when Python is embedded in R (reticulate's helper ``rpytools`` is
    loaded): rpy2 there crashes R."""
    if "rpytools" in sys.modules:
        raise RuntimeError("tessella.rbridge cannot run inside R (reticulate): rpy2 there "
                           "crashes R. In R, use the tessella R package directly.")


def _r():
    """The R interpreter (rpy2), with the tessella R package loaded."""
    _refuse_inside_r()  # on every call, before rpy2 is imported: it is cheap and must hold
    return _start_r()


@functools.cache
def _start_r():
    """Import rpy2 and load the tessella R package, once per process (only
    through :func:`_r`, which refuses to start inside R)."""
    try:
        import rpy2.robjects as robjects
    except ImportError as err:
        raise InputError(f"reading and writing .rds needs rpy2 and anndata2ri: "
                         f"{INSTALL_HINT}") from err
    # R's console output (package start-up notes, error echoes) is not for our
    # users; R errors still arrive as exceptions carrying their message.
    logging.getLogger("rpy2.rinterface_lib.callbacks").setLevel(logging.CRITICAL)
    available = robjects.r('suppressPackageStartupMessages(isTRUE(requireNamespace('
                           '"tessella", quietly = TRUE)))')[0]
    if not available:
        raise InputError("reading and writing .rds needs the tessella R package in R's "
                         "library path (.libPaths()); `make setup` in the tessella source "
                         "tree installs it into R's default library (scripts/install-r.sh).")
    return robjects


class RFailure(RuntimeError):
    """An R error that is not one of the tessella R package's refusals."""


def _call(function: str, *args: Any) -> Any:
    """Call an R function.

    The tessella R package refuses bad input with an R error without a call
    (``stop(call. = FALSE)``, R's "Error: ..."): that becomes
    :class:`tessella.InputError`. Any other R error ("Error in f(x) : ...") is
    a bug and becomes :class:`RFailure` carrying R's message.
    """
    robjects = _r()
    from rpy2.rinterface_lib.embedded import RRuntimeError

    try:
        return robjects.r(function)(*args)
    except RRuntimeError as err:
        message = str(err).strip()
        if message.startswith("Error:"):
            raise InputError(message.removeprefix("Error:").strip()) from err
        raise RFailure(f"R failed: {message}") from err


def _read_object(path: str | Path) -> Any:
    """The R object in a user's ``.rds`` file; a file R cannot read is the input's fault."""
    try:
        return _call("function(p) suppressPackageStartupMessages(readRDS(p))", str(path))
    except RFailure as err:
        raise InputError(f"could not read {path} as an R object: "
                         f"{str(err).removeprefix('R failed: ')}") from err


def _to_python(robj: Any) -> Any:
    """An R value converted with anndata2ri's rules (matrices, sparse, data frames)."""
    import anndata2ri
    from rpy2.robjects.conversion import localconverter

    robjects = _r()
    with localconverter(robjects.default_converter + anndata2ri.converter):
        return robjects.conversion.get_conversion().rpy2py(robj)


def _to_r(value: Any) -> Any:
    """A Python value as an R object: arrays, sparse matrices, lists, dicts, scalars."""
    import anndata2ri
    from rpy2.robjects.conversion import localconverter

    robjects = _r()
    if value is None:
        return robjects.NULL
    if isinstance(value, dict):
        return robjects.ListVector({str(k): _to_r(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) or v is None for v in value):
            return robjects.StrVector([robjects.NA_Character if v is None else v
                                       for v in value])
        if value and all(isinstance(v, bool) or v is None for v in value):
            return robjects.BoolVector([robjects.NA_Logical if v is None else v
                                        for v in value])
        return robjects.ListVector({str(i): _to_r(v) for i, v in enumerate(value)}) \
            if any(isinstance(v, (dict, list)) for v in value) else _to_r(np.asarray(value))
    if isinstance(value, (bool, np.bool_)):
        return robjects.BoolVector([bool(value)])
    if isinstance(value, (int, np.integer)):
        return robjects.IntVector([int(value)])
    if isinstance(value, (float, np.floating)):
        return robjects.FloatVector([float(value)])
    if isinstance(value, str):
        return robjects.StrVector([value])
    if sp.issparse(value) or isinstance(value, np.ndarray):
        array = value if sp.issparse(value) else np.asarray(value, dtype=np.float64)
        if not sp.issparse(array) and array.ndim == 1:
            return robjects.FloatVector(array)
        with localconverter(robjects.default_converter + anndata2ri.converter):
            return robjects.conversion.get_conversion().py2rpy(array)
    raise TypeError(f"cannot pass a {type(value).__name__} to R")


def _obs_frame(robjects: Any, robj: Any, cells: list[str]) -> pd.DataFrame:
    """Cell metadata (colData / meta.data) with logicals kept as booleans."""
    frame = robjects.r("""function(x) {
        d <- if (methods::is(x, "Seurat")) x[[]] else
            as.data.frame(SummarizedExperiment::colData(x))
        keep <- vapply(d, function(v) is.atomic(v) && is.null(dim(v)), logical(1))
        d[, keep, drop = FALSE]
    }""")(robj)
    logical = [str(n) for n, is_logical in zip(
        robjects.r("names")(frame),
        robjects.r("function(d) vapply(d, is.logical, logical(1))")(frame)) if is_logical]
    obs = _to_python(frame)
    obs.index = pd.Index(cells)
    for column in logical:  # anndata2ri turns logicals into int32
        obs[column] = obs[column].astype(bool)
    return obs


def _report_uncarried(robjects: Any, robj: Any, assay: str) -> list[str]:
    """Slots of the R object that the AnnData does not carry."""
    left = robjects.r("""function(x, assay) {
        label <- function(kind, names) if (length(names)) paste(kind, names) else NULL
        if (methods::is(x, "Seurat")) {
            return(c(label("assay", setdiff(SeuratObject::Assays(x),
                SeuratObject::DefaultAssay(x))),
                label("reduction", SeuratObject::Reductions(x)),
                label("image", SeuratObject::Images(x)), character(0)))
        }
        c(label("assay", setdiff(SummarizedExperiment::assayNames(x), assay)),
          label("reducedDim", setdiff(SingleCellExperiment::reducedDimNames(x), "spatial")),
          label("altExp", SingleCellExperiment::altExpNames(x)),
          if (length(S4Vectors::metadata(x))) "metadata", character(0))
    }""")(robj, assay)
    return [str(s) for s in left]


def read_rds(path: str | Path, assay: str = "counts", role: str = "x") -> ad.AnnData:
    """Read a SingleCellExperiment, SpatialExperiment or Seurat ``.rds`` as AnnData.

    Parameters
    ----------
    path
        The ``.rds`` file.
    assay
        Assay (SCE/SPE) or layer of the default assay (Seurat) to put in ``X``.
    role
        How to name the object in error messages ("x", "reference").

    Returns
    -------
    AnnData with cells as observations, colData / meta.data in ``obs`` (logicals
    stay booleans), spatial coordinates in ``obsm["spatial"]`` (spatialCoords,
    a ``spatial`` reducedDim or Seurat image coordinates), and ``uns["rds"]``
    naming the class and assay. Slots not carried (other assays, reductions,
    images, metadata) are reported as a warning; the file is not changed.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    robjects = _r()
    robj = _read_object(path)
    parts = _call("tessella:::.objectParts", robj, assay, role)
    names = dict(zip(parts.names, parts))
    matrix = _to_python(names["x"])
    coords = names["coords"]
    adata = anndata_from_parts(
        sp.csc_matrix(matrix) if sp.issparse(matrix) else np.asarray(matrix),
        list(names["genes"]), list(names["cells"]),
        None if coords is robjects.NULL else np.asarray(coords))
    adata.obs = _obs_frame(robjects, robj, list(adata.obs_names))
    adata.uns["rds"] = {"class": str(robjects.r("class")(robj)[0]), "assay": assay}
    left = _report_uncarried(robjects, robj, assay)
    if left:
        logger.warning("%s: not carried into the AnnData: %s", path.name, ", ".join(left))
    return adata


def _from_h5ad(path: str | Path) -> Any:
    """The SingleCellExperiment ``readH5adSpatial()`` makes of an ``.h5ad`` file,
    built by the R package's own code from :func:`tessella.h5ad.h5ad_parts`."""
    from tessella.h5ad import h5ad_parts
    from tessella.inputs import read_anndata

    parts = h5ad_parts(read_anndata(path, "spatial"))
    left = parts.pop("not_carried")
    if left:
        logger.warning("%s: not carried into the .rds: %s", Path(path).name, ", ".join(left))
    return _call("function(p) tessella:::.spatialFromParts(p, spatialExperiment = FALSE, "
                 "verbose = FALSE)", _to_r(parts))


def _skeleton(robjects: Any, genes: list[str], cells: list[str]) -> Any:
    """An empty SingleCellExperiment with the given genes and cells."""
    return robjects.r("""function(genes, cells) SingleCellExperiment::SingleCellExperiment(
        rowData = S4Vectors::DataFrame(row.names = genes),
        colData = S4Vectors::DataFrame(row.names = cells))""")(
        robjects.StrVector(genes), robjects.StrVector(cells))


def save_rds(robjects: Any, robj: Any, path: str | Path, compress: int | bool) -> None:
    """``saveRDS`` with gzip at level ``compress`` (1-9), or none when False."""
    robjects.r("""function(x, path, level) {
        if (level == 0) return(saveRDS(x, path, compress = FALSE))
        con <- gzfile(path, "wb", compression = level)
        on.exit(close(con))
        saveRDS(x, con)
    }""")(robj, str(path), int(compress))


def write_rds(result: ad.AnnData, path: str | Path, like: str | Path | None = None,
              compress: int | bool = 1) -> None:
    """Write a tessella result as an ``.rds`` R object.

    Parameters
    ----------
    result
        What ``tessella.refine`` / ``tessella.impute`` returned.
    path
        The ``.rds`` file to write.
    like
        The ``.rds`` the input came from: the result is added to that object
        exactly as the R package's ``refineSpatial()`` / ``imputeSpatial()`` add
        it (its own assays untouched). An ``.h5ad`` input: the result is added
        to the SingleCellExperiment that ``readH5adSpatial()`` makes of it (X as
        assay ``counts``, layers, obs, var, coordinates). Without it, a new
        SingleCellExperiment.
    compress
        gzip level (1-9) or False. Refined and imputed values are dense doubles,
        which gzip hardly shrinks: level 1 writes a 100k-cell x 320-gene result
        several times faster than R's default level 6, and any level reads back
        with ``readRDS()``.
    """
    if "tessella" not in result.uns or "measured" not in result.var:
        raise InputError("write_rds takes a result of tessella.refine or tessella.impute.")
    robjects = _r()
    parts = result_to_parts(result)
    cells = [str(c) for c in result.obs_names]
    if like is None:
        original = _skeleton(robjects, [str(g) for g in parts["measured_genes"]], cells)
    else:
        original = (_from_h5ad(like) if str(like).lower().endswith(".h5ad")
                    else _read_object(like))
        if [str(c) for c in robjects.r("colnames")(original)] != cells:
            raise InputError(f"the result's cells do not match those of {like}.")
    enriched = _call("tessella:::.assemble", original, _to_r(parts))
    save_rds(robjects, enriched, path, compress)
