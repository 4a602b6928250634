"""Plain parts in, plain parts out: the engine's face towards the R package.

The R package hands over matrices, names and coordinates (converted by
reticulate: ``dgCMatrix`` -> scipy CSC, base matrices -> numpy), and gets
back numpy arrays, lists and dictionaries that convert to plain R objects.
No Python object crosses back into R. Matrices travel genes x cells, the
orientation of SingleCellExperiment and Seurat: a CSC genes x cells matrix
transposes to CSR cells x genes without a copy.

Never import rpy2 here: this module runs inside Python embedded in R.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from tessella import api
from tessella.cli import check_output, one_line, writing
from tessella.coexpression import coexpression_embeddings
from tessella.data.empty import EMPTY_COLUMN
from tessella.data.genes import match_genes
from tessella.data.normalize import normalized_view
from tessella.data.validate import expression_matrix
from tessella.denoisers import get_denoiser
from tessella.embeddings import EmbeddingTable
from tessella.errors import InputError
from tessella.evaluate.denoise import DEFAULT_DENOISERS
from tessella.evaluate.harness import benchmark_folds, summary_table
from tessella.inputs import load_inputs
from tessella.models.interface import notes_unlogged
from tessella.models.registry import get_method
from tessella.output import write_h5ad
from tessella.runner import omitted_unlogged


def _names(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def anndata_from_parts(
    x: Any, genes: Sequence[str], cells: Sequence[str], coords: Any = None
) -> ad.AnnData:
    """An AnnData (cells x genes) from a genes x cells matrix and its names."""
    matrix = x.T.tocsr() if sp.issparse(x) else np.asarray(x).T
    genes, cells = _names(genes), _names(cells)
    if matrix.shape != (len(cells), len(genes)):
        raise ValueError(
            f"matrix of shape {matrix.shape[::-1]} (genes x cells) does not match "
            f"{len(genes)} gene and {len(cells)} cell names."
        )
    adata = ad.AnnData(X=matrix, obs=pd.DataFrame(index=pd.Index(cells)),
                       var=pd.DataFrame(index=pd.Index(genes)))
    if coords is not None:
        adata.obsm["spatial"] = np.asarray(coords, dtype=np.float64)
    return adata


def embedding_table(values: Any, genes: Sequence[str]) -> EmbeddingTable:
    """An embedding table from a genes x dimensions matrix and its gene names."""
    return EmbeddingTable(pd.Index(_names(genes), name="gene"),
                          np.asarray(values, dtype=np.float32))


def result_to_parts(result: ad.AnnData, h5ad: str | None = None) -> dict[str, Any]:
    """A result as plain parts: refined measured genes and imputed genes, their
    names, reliability, latent space, provenance, ``empty`` (cells without
    counts, flagged in ``obs["tessella_empty"]``) and ``file``.

    Values stay float32 and cross in the layout R needs, without a copy:
    ``refined`` and ``imputed`` are genes x cells views of the cells x genes
    result (transposed views of a C-ordered array are R's column-major
    matrices), so reticulate makes the only copies (its float64 cast and R's
    matrix). With ``h5ad``, the values go to that ``.h5ad`` file instead
    (``X``, cells x genes float32, written a block of cells at a time; ``var``
    holds ``measured`` and ``reliability``), ``refined`` and ``imputed`` are
    None and ``file`` is the path: R reads ``X`` as an HDF5-backed matrix,
    genes x cells as rhdf5 reverses the dimensions, so nothing is transposed.
    A result opened backed (written with ``out=``) is already in its file: its
    parts name that file, and the file is closed for R to read.
    """
    measured = result.var["measured"].to_numpy(dtype=bool)
    latent = result.obsm.get("X_tessella") if "X_tessella" in result.obsm else None
    parts = {
        "refined": None,
        "imputed": None,
        "measured_genes": list(result.var_names[measured]),
        "imputed_genes": list(result.var_names[~measured]),
        "reliability": result.var["reliability"].to_numpy(dtype=np.float64)[~measured],
        "latent": None if latent is None else np.asarray(latent, dtype=np.float64),
        "provenance": result.uns["tessella"],
        "empty": (result.obs[EMPTY_COLUMN].to_numpy(dtype=bool) if EMPTY_COLUMN in result.obs
                  else np.zeros(result.n_obs, dtype=bool)),
        "file": None,
    }
    if result.isbacked:
        parts["file"] = str(result.filename)
        result.file.close()
    elif h5ad is not None:
        write_values(h5ad, result)
        parts["file"] = str(h5ad)
    else:
        parts["refined"], parts["imputed"] = gene_blocks(result.X, measured)
    return parts


def gene_blocks(values: Any, measured: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Measured and imputed genes of a cells x genes float32 array, each genes x
    cells: views when the measured genes come first (as every method returns
    them), else float32 copies of the columns."""
    values = np.asarray(values, dtype=np.float32)
    n_measured = int(measured.sum())
    if measured[:n_measured].all():
        return values[:, :n_measured].T, values[:, n_measured:].T
    return values[:, measured].T, values[:, ~measured].T


def write_values(path: str, result: ad.AnnData) -> None:
    """Write a result's values to ``path`` as an ``.h5ad``: ``X`` (cells x genes,
    float32) a block of cells at a time, obs names and ``var`` (``measured``,
    ``reliability``); nothing else of the result."""
    shell = ad.AnnData(obs=pd.DataFrame(index=result.obs_names.copy()),
                       var=result.var[["measured", "reliability"]].copy())
    write_h5ad(path, shell, result.X)


def _result_parts(result: ad.AnnData, options: dict[str, Any]) -> dict[str, Any]:
    """A result's parts; through ``options["hdf5_file"]`` when it holds at least
    ``options["hdf5_threshold"]`` values (cells x genes)."""
    if options.get("hdf5_file") is not None and _large(result.shape, options):
        return result_to_parts(result, h5ad=str(options["hdf5_file"]))
    return result_to_parts(result)


def _large(shape: tuple[int, int], options: dict[str, Any]) -> bool:
    threshold = options.get("hdf5_threshold")
    return threshold is not None and shape[0] * shape[1] >= float(threshold)


def _out_file(spatial: ad.AnnData, reference: ad.AnnData | None,
              options: dict[str, Any], handover: dict[str, Any]) -> str | None:
    """``handover["hdf5_file"]`` when the result is expected to reach the threshold,
    so that the engine writes it there block by block (``out=``) instead of
    holding it whole: the expected genes are the slide's and the requested ones
    (without ``genes``, the reference's)."""
    if handover.get("hdf5_file") is None:
        return None
    requested = options.get("genes")
    extra = (len(requested) if requested is not None
             else 0 if reference is None else reference.n_vars)
    return (str(handover["hdf5_file"])
            if _large((spatial.n_obs, spatial.n_vars + extra), handover) else None)


def run_parts(
    verb: str,
    spatial: dict[str, Any],
    reference: dict[str, Any] | None = None,
    embeddings: dict[str, Any] | str | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``refine``, ``impute``, ``fit``, ``predict``, ``benchmark``, ``folds`` or
    ``coexpression`` on parts.

    Parameters
    ----------
    verb
        "refine", "impute", "fit" (fit a method once and save it, see
        :func:`fit_parts`), "predict" (apply a saved model), "benchmark" or
        "folds" (the benchmark's gene folds, see :func:`folds_parts`) or
        "coexpression" (gene vectors from the atlas given as ``spatial``, see
        :func:`coexpression_parts`).
    spatial, reference
        Dictionaries with ``x`` (genes x cells), ``genes``, ``cells`` and, for
        spatial, optional ``coords``.
    embeddings
        A file path, or a dictionary with ``values`` (genes x dimensions) and ``genes``.
    options
        Keyword arguments of the API function (``genes``, ``method``, ``seed``,
        hyper-parameters, ...; for ``refine`` also ``model``, the path of a saved
        refine model to fine-tune). For ``fit`` and ``predict`` also
        ``model_file``: the path the model is saved to, or read from. For
        ``benchmark`` and ``folds`` also ``flat``
        (hyper-parameters for every method that has them, see
        :func:`resolve_params`) and ``external`` (see :func:`external_parts`).
        ``audience="R"`` (the R package sets it) words input errors for R users
        (``assay =``, ``subset()``) instead of Python ones. For ``refine``,
        ``impute`` and ``predict`` also ``hdf5_file`` and ``hdf5_threshold``:
        a result of at least that many values (cells x genes) is written to
        that ``.h5ad`` file instead of crossing in memory (see
        :func:`result_to_parts`).

    Returns
    -------
    The result's parts (``refine``, ``impute`` and ``predict``: see
    :func:`result_to_parts`; ``fit``: see :func:`fit_parts`), or
    ``{"error": message}`` (one line) when the input is at fault:
    an :class:`tessella.InputError` (its R wording for ``audience="R"``) or a
    file that does not exist. Any other exception is a bug in tessella and
    propagates with its traceback, which the R package reports as one.
    """
    options = dict(options or {})
    audience = options.pop("audience", "python")
    try:
        if verb in ("refine", "impute", "fit", "predict"):  # R shows the notes itself
            with notes_unlogged(), omitted_unlogged():
                return _run(verb, spatial, reference, embeddings, options)
        return _run(verb, spatial, reference, embeddings, options)
    except InputError as err:
        return {"error": one_line(err.r_message if audience == "R" else err)}
    except FileNotFoundError as err:
        return {"error": one_line(err)}


def _run(verb: str, spatial: dict[str, Any], reference: dict[str, Any] | None,
         embeddings: dict[str, Any] | str | None, options: dict[str, Any]) -> dict[str, Any]:
    handover = {k: options.pop(k) for k in ("hdf5_file", "hdf5_threshold") if k in options}
    if "genes" in options and options["genes"] is not None:
        options["genes"] = _names(options["genes"])
    spatial_data = anndata_from_parts(**spatial)
    reference_data = None if reference is None else anndata_from_parts(**reference)
    table = embedding_table(**embeddings) if isinstance(embeddings, dict) else embeddings
    if verb in ("refine", "impute"):
        out = _out_file(spatial_data, reference_data, options, handover)
        result = (api.refine(spatial_data, table, out=out, **options) if verb == "refine"
                  else api.impute(spatial_data, reference_data, embeddings=table, out=out,
                                  **options))
        return _result_parts(result, handover)
    if verb == "fit":
        return fit_parts(spatial_data, reference_data, table, options)
    if verb == "predict":
        model_file = options.pop("model_file")
        return _result_parts(api.predict(model_file, spatial_data, reference=reference_data,
                                         embeddings=table, **options), handover)
    if verb == "benchmark":
        return _benchmark(spatial_data, reference_data, table, options)
    if verb == "folds":
        return folds_parts(spatial_data, reference_data, table, options)
    if verb == "coexpression":
        return coexpression_parts(spatial_data, options)
    raise ValueError(f"unknown verb {verb!r}; use refine, impute, fit, predict, benchmark, "
                     "folds or coexpression.")


def coexpression_parts(atlas: ad.AnnData, options: dict[str, Any]) -> dict[str, Any]:
    """Gene vectors from an atlas (:func:`tessella.coexpression_embeddings`):
    ``values`` (genes x components, float32) and ``genes``."""
    table = coexpression_embeddings(atlas, **options)
    return {"values": table.to_numpy(), "genes": [str(g) for g in table.index]}


def fit_parts(spatial: ad.AnnData, reference: ad.AnnData | None,
              embeddings: EmbeddingTable | str | None,
              options: dict[str, Any]) -> dict[str, Any]:
    """Fit a method (:func:`tessella.fit`) and save it to ``options["model_file"]``.

    Returns ``model_file``, ``method``, ``measured_genes`` (the genes the model
    reads), ``target_genes`` (those it imputes), ``version`` (of tessella) and
    ``notes`` (what the method noted while fitting, e.g. capped parameters).
    """
    from tessella import __version__

    model_file = str(options.pop("model_file"))
    check_output(model_file)  # before the work
    model = api.fit(spatial, reference, embeddings=embeddings, **options)
    with writing(model_file):
        model.save(model_file)
    return {
        "model_file": model_file,
        "method": model.name,
        "measured_genes": [str(g) for g in model.preprocessing["measured_genes"]],
        "target_genes": [str(g) for g in model.preprocessing["target_genes"]],
        "version": __version__,
        "notes": list(model.notes),
    }


def method_parameters(methods: Sequence[str], task: str = "impute") -> dict[str, list[str]]:
    """The hyper-parameter names of each method (fields of its params dataclass; for
    ``task="denoise"`` those of the denoiser, :mod:`tessella.denoisers`)."""
    if task == "denoise":
        return {m: get_denoiser(m).parameter_names() for m in methods}
    return {m: [f.name for f in fields(get_method(m).params_class)] for m in methods}


def resolve_params(methods: Sequence[str], params: dict[str, dict[str, Any]] | None,
                   flat: dict[str, Any] | None,
                   task: str = "impute") -> dict[str, dict[str, Any]]:
    """Hyper-parameters per method from per-method ones and flat ones.

    A flat parameter goes to every method in ``methods`` that has a parameter of
    that name; per-method values win. A flat name no method has, or parameters
    for a method that is not benchmarked, is an error naming it.
    """
    params, flat = dict(params or {}), dict(flat or {})
    names = method_parameters(methods, task)
    stray = [m for m in params if m not in names]
    if stray:
        raise InputError(
            f"parameters are given for {', '.join(map(repr, stray))}, which is not among "
            f"the benchmarked methods ({', '.join(methods) or 'none'})."
        )
    unknown = [k for k in flat if not any(k in taken for taken in names.values())]
    if unknown:
        raise InputError(
            f"no benchmarked method ({', '.join(methods) or 'none'}) has a parameter named "
            f"{', '.join(map(repr, unknown))}; give parameters of one method as a list, "
            "e.g. refine = list(max_epochs = 100)."
        )
    return {m: {**{k: v for k, v in flat.items() if k in names[m]}, **params.get(m, {})}
            for m in methods}


def _benchmark_options(options: dict[str, Any]) -> dict[str, Any]:
    if "methods" in options:
        options["methods"] = _names(options["methods"])
    task = options.get("task", "impute")
    methods = options.get("methods", DEFAULT_DENOISERS if task == "denoise"
                          else ("refine", "knn", "mean"))
    options["params"] = resolve_params(methods, options.get("params"), options.pop("flat", None),
                                       task)
    if options.get("labels") is not None:
        options["labels"] = [str(v) for v in options["labels"]]
    return options


def external_parts(external: dict[str, Any]) -> dict[str, list[pd.DataFrame]]:
    """External predictions from R: per method, one ``{"x": genes x cells, "genes":
    names}`` per fold, as cells x genes DataFrames the harness matches by name."""
    out = {}
    for name, predictions in external.items():
        if isinstance(predictions, dict):  # one fold: R's list(x = , genes = )
            predictions = [predictions]
        out[str(name)] = [pd.DataFrame(np.asarray(p["x"], dtype=np.float32).reshape(
            len(_names(p["genes"])), -1).T, columns=_names(p["genes"])) for p in predictions]
    return out


def _benchmark(spatial: ad.AnnData, reference: ad.AnnData | None,
               embeddings: EmbeddingTable | str | None,
               options: dict[str, Any]) -> dict[str, Any]:
    options = _benchmark_options(options)
    if options.get("external"):
        options["external"] = external_parts(options["external"])
    scores = api.benchmark(spatial, reference, embeddings, **options)
    summary = summary_table(scores).rename_axis("method").reset_index()
    clustering = scores.attrs.get("clustering")
    return {
        "scores": _columns(scores),
        "summary": _columns(summary),
        "seconds": {str(k): float(v) for k, v in scores.attrs["seconds"].items()},
        "parameters": scores.attrs["parameters"],
        "clustering": None if clustering is None else _columns(
            pd.DataFrame(clustering).rename_axis("method").reset_index()),
    }


def folds_parts(spatial: ad.AnnData, reference: ad.AnnData | None,
                embeddings: EmbeddingTable | str | None,
                options: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's folds, for a tool that runs outside the engine.

    ``options`` are those of ``benchmark`` plus ``external`` (names of the
    external methods). Returns ``folds`` (held-out genes per fold, as
    ``run_benchmark`` splits them), ``target_sums`` (per fold, the total every
    cell is scaled to over its measured genes; NaN for log-normalised input),
    ``spatial_genes`` with their ``reference_genes`` ("" when absent) and
    whether each input holds counts. Parameters are checked as the benchmark
    checks them.
    """
    options = _benchmark_options(options)
    methods = options.get("methods", ["refine", "knn", "mean"])
    inputs = load_inputs([get_method(m) for m in methods], spatial, reference=reference,
                         embeddings=embeddings, input_scale=options.get("input_scale", "auto"),
                         reference_input_scale=options.get("reference_input_scale", "auto"))
    split = benchmark_folds(inputs, methods, options.get("folds", 5), options.get("seed", 0),
                            options.get("genes"), _names(options.get("external")))
    matrix = expression_matrix(inputs.spatial, None, "spatial")
    sums = []
    for held_out in split:
        measured = np.setdiff1d(np.arange(spatial.n_vars), match_genes(held_out,
                                                                         spatial.var_names))
        sums.append(normalized_view(matrix, measured, inputs.spatial_is_counts)[1])
    genes = [str(g) for g in spatial.var_names]
    matched = (np.full(len(genes), -1) if reference is None
               else match_genes(genes, reference.var_names))
    return {
        "folds": [list(f) for f in split],
        "target_sums": [np.nan if t is None else float(t) for t in sums],
        "spatial_genes": genes,
        "reference_genes": ["" if i < 0 else str(reference.var_names[i]) for i in matched],
        "spatial_is_counts": bool(inputs.spatial_is_counts),
        "reference_is_counts": bool(inputs.reference_is_counts),
    }


def _columns(table: pd.DataFrame) -> dict[str, Any]:
    """A table as columns that reticulate turns into R vectors (NaN stays NaN)."""
    return {str(c): table[c].to_numpy() if pd.api.types.is_numeric_dtype(table[c])
            else [str(v) for v in table[c]] for c in table.columns}


def methods_parts(parameters: bool = False) -> dict[str, Any]:
    """The registered methods as columns (method, summary, requirements); with
    ``parameters``, their hyper-parameters (defaults as text)."""
    return _columns(api.available_methods(parameters=parameters))


def read_h5ad_parts(path: str) -> dict[str, Any]:
    """An ``.h5ad`` file as parts for R's ``readH5adSpatial()``: see
    :func:`tessella.h5ad.h5ad_parts`."""
    from tessella.h5ad import read_h5ad_parts as read

    return read(path)
