"""The public functions: ``refine``, ``impute``, ``benchmark``, ``available_methods``,
and to train once and use many times ``fit``, ``predict``, ``load_model``,
``pretrain`` and ``fine_tune``.

The R package, the CLI and Python users all call these. Each validates its
inputs, never modifies them (nor a model passed in), and returns new objects.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from tessella.data.task import ImputationTask
from tessella.data.validate import InputScale
from tessella.embeddings import EmbeddingSource, load_embeddings
from tessella.errors import InputError
from tessella.evaluate.denoise import DEFAULT_DENOISERS, denoise_slide, run_denoise_benchmark
from tessella.evaluate.harness import run_benchmark
from tessella.inputs import AnnDataLike, Inputs, load_inputs
from tessella.models.interface import Imputer
from tessella.models.refine import fine_tuning_copy
from tessella.models.registry import get_method, registered_methods
from tessella.models.storage import load_model
from tessella.output import OutputScope, check_out, output_scope, write_h5ad
from tessella.params import ImputerParams, describe_params
from tessella.result import build_result
from tessella.runner import (
    build_method,
    fit_model,
    flag_omitted,
    full_prediction,
    record_preprocessing,
    task_for,
    task_for_model,
)


def available_methods(parameters: bool = False) -> pd.DataFrame:
    """The registered methods: name, summary, and what each one needs; with
    ``parameters``, one row per (method, hyper-parameter): its type, default,
    allowed range and one-line meaning (``seed``, ``device`` and ``verbose``,
    which every method takes, are left out)."""
    if parameters:
        common = {item.name for item in fields(ImputerParams)}
        return pd.DataFrame(
            [{"method": name, **row} for name, cls in sorted(registered_methods().items())
             for row in describe_params(cls.params_class) if row["parameter"] not in common],
            columns=["method", "parameter", "type", "default", "range", "meaning"])
    return pd.DataFrame(
        [{"method": name, "summary": cls.summary,
          "requires_reference": cls.requires_reference,
          "requires_embeddings": cls.requires_embeddings,
          # peers wrap optional packages: unavailable (with the command) until installed
          "available": cls.available(),
          "install": "" if cls.available() else cls.install_hint}
         for name, cls in sorted(registered_methods().items())]
    )


def _fit(inputs: Inputs, method: str, genes: Sequence[str] | None,
         params: dict[str, Any]) -> tuple[Imputer, ImputationTask]:
    model = build_method(method, params)
    task = task_for(inputs, type(model), genes=None if genes is None else list(genes))
    return fit_model(model, task, inputs), task


def _result(inputs: Inputs, model: Imputer, task: ImputationTask, start: float,
            scope: OutputScope, out: str | Path | None = None) -> ad.AnnData:
    """The result in memory, or with ``out`` written to that ``.h5ad`` block by block
    and returned opened backed."""
    task, prediction = full_prediction(task, model.predict(task))
    result = build_result(inputs.spatial, task, prediction, model, inputs.spatial_is_counts,
                          values=out is None)
    flag_omitted(result, task)
    provenance = result.uns["tessella"]
    provenance["notes"] = [*provenance["notes"], *scope.notes]
    provenance["output"] = scope.storage if out is None else "h5ad"
    provenance["seconds"] = time.perf_counter() - start
    if out is None:
        return result
    write_h5ad(out, result, prediction.values)
    del result, prediction  # a memory-mapped array is freed (and its file with it)
    written = ad.read_h5ad(out, backed="r")
    written.uns["tessella"] = provenance  # as in memory (the file turns lists into arrays)
    return written


def _run(inputs: Inputs, method: str, genes: Sequence[str] | None,
         params: dict[str, Any], out: str | Path | None = None) -> ad.AnnData:
    start = time.perf_counter()
    with output_scope(out) as scope:
        model, task = _fit(inputs, method, genes, params)
        return _result(inputs, model, task, start, scope, out)


def _fine_tune(inputs: Inputs, model: Imputer | str | Path, genes: Sequence[str] | None,
               options: dict[str, Any]) -> tuple[Imputer, ImputationTask]:
    tuned = fine_tuning_copy(_as_model(model, options["device"]), options)
    task = task_for(inputs, type(tuned), genes=None if genes is None else list(genes))
    tuned.fine_tune(task)
    record_preprocessing(tuned, task, inputs)
    return tuned, task


def _as_model(model: Imputer | str | Path, device: str | None) -> Imputer:
    if isinstance(model, (str, Path)):
        return load_model(model, device=device or "auto")
    if not isinstance(model, Imputer):
        raise InputError(f"model must be a fitted tessella model or the path of a saved one, "
                         f"not {type(model).__name__}.")
    return model


def refine(
    spatial: AnnDataLike,
    embeddings: EmbeddingSource | None = None,
    genes: Sequence[str] | None = None,
    *,
    model: Imputer | str | Path | None = None,
    layer: str | None = None,
    input_scale: InputScale = "auto",
    seed: int = 0,
    device: str = "auto",
    verbose: bool = True,
    out: str | Path | None = None,
    **params: Any,
) -> ad.AnnData:
    """Denoise the measured genes of any panel, and impute unmeasured ones from gene
    embeddings alone.

    Parameters
    ----------
    spatial
        Spatial data (AnnData or ``.h5ad`` path), cells x measured genes; raw
        counts or log-normalised values.
    embeddings
        Gene-embedding table (file path, DataFrame or ``EmbeddingTable``) covering
        the genes to impute and some or all measured genes (measured genes without
        a vector get one learned from the data). None: denoise only. Vectors
        from an expression atlas (:func:`coexpression_embeddings`) say far more
        about which genes go together than protein-language ones.
    genes
        Genes to impute; default every gene of the table that is not measured.
    model
        A refine model from :func:`pretrain` or :func:`fit` (or its saved file): a
        copy is fine-tuned on ``spatial`` as :func:`fine_tune` does, instead of
        training from scratch. To apply a model without training, use
        :func:`predict`.
    layer
        Layer of ``spatial`` holding expression (default ``X``).
    input_scale
        "auto" (integers = counts), "counts" or "log".
    seed, device, verbose
        Reproducibility seed, "auto"/"cpu"/"cuda", progress bars.
    out
        An ``.h5ad`` path: the result is written there block by block of cells,
        never held whole in memory, and returned opened backed
        (``anndata.read_h5ad(out, backed="r")``; ``X`` is read from the file).
        Without it the result is an AnnData in memory; either way output arrays
        above the memory budget (a share of the available memory;
        ``TESSELLA_MEMORY_BUDGET``, in bytes or e.g. ``"8GB"``, sets it) are
        memory-mapped on a temporary file (next to ``out``), and
        ``uns["tessella"]["output"]`` says where the values went
        (``"memory"``, ``"memory-mapped"`` or ``"h5ad"``).
    **params
        Hyper-parameters of the method (see ``tessella.models.refine.RefineParams``).

    Returns
    -------
    A new AnnData with the measured genes (denoised) and the imputed genes,
    log-normalised; ``var["measured"]``, ``obsm["X_tessella"]`` (cell embeddings)
    and ``uns["tessella"]`` (provenance: method, parameters, versions, and
    ``seconds`` spent preparing, fitting and predicting). ``spatial`` is not
    modified.
    """
    check_out(out)
    inputs = load_inputs([get_method("refine")], spatial, embeddings=embeddings, layer=layer,
                         input_scale=input_scale)
    options = {"seed": seed, "device": device, "verbose": verbose, **params}
    if model is None:
        return _run(inputs, "refine", genes, options, out)
    start = time.perf_counter()
    with output_scope(out) as scope:
        tuned, task = _fine_tune(inputs, model, genes, options)
        return _result(inputs, tuned, task, start, scope, out)


def impute(
    spatial: AnnDataLike,
    reference: AnnDataLike,
    method: str = "auto",
    genes: Sequence[str] | None = None,
    *,
    embeddings: EmbeddingSource | None = None,
    layer: str | None = None,
    reference_layer: str | None = None,
    input_scale: InputScale = "auto",
    reference_input_scale: InputScale = "auto",
    seed: int = 0,
    device: str = "auto",
    verbose: bool = True,
    out: str | Path | None = None,
    **params: Any,
) -> ad.AnnData:
    """Impute unmeasured genes from a scRNA-seq reference.

    Parameters
    ----------
    spatial
        Spatial data (AnnData or ``.h5ad`` path), raw counts or log-normalised.
    reference
        Single-cell reference (AnnData or path) measuring the shared genes and
        the genes to impute; raw counts or log-normalised.
    method
        A registered method (see :func:`available_methods`). The default "auto"
        weighs the shared genes by their reference correlation with each gene,
        averages over similar spatial cells, and chooses its settings by a
        cross-validation over the measured genes (the most accurate method in
        the benchmarks of the README); "ridge" and "spage" are baselines.
    genes
        Genes to impute; default every reference gene that is not measured. On a
        large slide with a whole-transcriptome reference that is a large result
        (1 M cells x 30k genes: 112 GB as float32): above
        ``tessella.runner.LARGE_RESULT_VALUES`` values (1e9, 4 GB) the default
        logs a warning with the size, and a line in ``uns["tessella"]["notes"]``.
    embeddings
        Gene-embedding table, for methods that use one.
    layer, reference_layer
        Layers holding expression (default ``X``).
    input_scale, reference_input_scale
        How to read the spatial and the reference values: "auto" (integers are
        counts), "counts" (normalise + log1p) or "log" (use as they are).
    seed, device, verbose
        Reproducibility seed, "auto"/"cpu"/"cuda", progress bars.
    out
        As for :func:`refine`: an ``.h5ad`` path to write the result to block by
        block (returned opened backed).
    **params
        The method's hyper-parameters.

    Returns
    -------
    A new AnnData like :func:`refine` returns; inputs are not modified.
    """
    cls = get_method(method)
    cls.check_available()
    check_out(out)
    inputs = load_inputs([cls], spatial, reference=reference, embeddings=embeddings,
                         layer=layer, reference_layer=reference_layer, input_scale=input_scale,
                         reference_input_scale=reference_input_scale)
    return _run(inputs, method, genes,
                {"seed": seed, "device": device, "verbose": verbose, **params}, out)


def benchmark(
    spatial: AnnDataLike,
    reference: AnnDataLike | None = None,
    embeddings: EmbeddingSource | None = None,
    methods: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    *,
    task: str = "impute",
    genes: Sequence[str] | None = None,
    layer: str | None = None,
    reference_layer: str | None = None,
    input_scale: InputScale = "auto",
    reference_input_scale: InputScale = "auto",
    device: str = "auto",
    verbose: bool = True,
    params: dict[str, dict[str, Any]] | None = None,
    labels: str | Sequence | None = None,
    clustering: bool = False,
    external: dict[str, Sequence[Any]] | None = None,
    external_seconds: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Compare imputation methods by k-fold cross-validation over the measured genes
    (``task="impute"``), or denoising methods by molecular cross-validation
    (``task="denoise"``).

    Imputation: each fold of genes is hidden from the spatial data (from training
    and from normalisation alike), imputed by every method, and scored against
    the held-out values.

    Denoising (:mod:`tessella.evaluate.denoise`): every count of ``spatial`` (raw
    integer counts) is split binomially into a training and a test half
    (seeded); each method denoises the training half and is scored against the
    test half (MSE on the normalised scale, Poisson loss), and its denoised
    profiles are clustered (Leiden) against ``labels``, or else against the
    clustering of the raw counts (NMI, ARI, ASW and their average). Methods:
    ``raw`` (the floor), ``knn_smoothing``, ``spatial_smoothing``, ``magic``,
    ``scvi`` and ``refine`` (:mod:`tessella.denoisers`); ``refine`` uses
    ``embeddings`` when given. ``reference``, ``folds``, ``genes``,
    ``clustering`` and ``external`` belong to imputation.

    Parameters
    ----------
    spatial, reference, embeddings
        As for :func:`impute` / :func:`refine`; give what the methods need.
    input_scale, reference_input_scale
        As for :func:`impute`.
    methods
        Registered method names (default ``refine``, ``knn``, ``mean``); with
        ``task="denoise"`` denoising methods (default ``raw``,
        ``knn_smoothing``, ``spatial_smoothing``, ``refine``).
    folds
        Number of gene folds.
    task
        "impute" (the default) or "denoise".
    seed
        Seeds the gene split and every method.
    genes
        Genes to evaluate (default: every measured gene all methods can predict).
    params
        Hyper-parameters per method, e.g. ``{"refine": {"max_epochs": 200}}``.
    labels
        With ``clustering`` (and always for denoising): an ``obs`` column (or array)
        of cell labels to compare clusterings against; default the Leiden
        clustering of the measured truth (denoising: of the raw counts).
    clustering
        Also cluster the imputed held-out genes (Leiden) and score the agreement.
    external
        Predictions of methods run outside the engine, scored like the others:
        ``{"seurat": [fold0, fold1, ...]}``, each cells x the fold's held-out genes
        (an array in the order of
        :func:`tessella.evaluate.harness.benchmark_folds`, or a DataFrame with
        gene columns), on the log-normalised scale of the truth. With a
        reference, folds then hold only reference genes.
    external_seconds
        Time each external method took, reported in ``attrs["seconds"]``.

    Returns
    -------
    One row per (method, gene): ``method, gene, fold, pearson, spearman, cosine,
    mse, rmse, ssim, js``. ``attrs["summary"]`` holds the medians per method
    (a methods x metrics DataFrame), ``attrs["seconds"]`` the fit + predict time
    per method, ``attrs["parameters"]`` the hyper-parameters each engine method
    ran with and, with ``clustering``, ``attrs["clustering"]`` ARI/AMI/NMI/...
    per method.
    Correlations of a constant prediction are NaN, not 0.

    Denoising: one row per method, ``method, mse, poisson, nmi, ari, asw, avg,
    seconds``; ``attrs["summary"]`` the scores (methods x scores),
    ``attrs["seconds"]``, ``attrs["parameters"]`` and
    ``attrs["clustering_reference"]`` ("labels" or "raw leiden").
    """
    if task == "denoise":
        return _benchmark_denoising(
            spatial, reference, embeddings, methods, seed, genes=genes, layer=layer,
            input_scale=input_scale, device=device, verbose=verbose, params=params,
            labels=labels, clustering=clustering, external=external)
    if task != "impute":
        raise InputError(f"task must be 'impute' or 'denoise', not {task!r}.",
                         f'task must be "impute" or "denoise", not "{task}".')
    methods = list(("refine", "knn", "mean") if methods is None else methods)
    if not methods and not external:
        raise InputError("give at least one method to benchmark.")
    classes = [get_method(m) for m in methods]
    for cls in classes:  # an uninstalled peer fails here, before any work
        cls.check_available()
    inputs = load_inputs(classes, spatial, reference=reference, embeddings=embeddings,
                         layer=layer, reference_layer=reference_layer, input_scale=input_scale,
                         reference_input_scale=reference_input_scale)
    labels = _cell_labels(inputs.spatial, labels)
    per_method = {m: {"device": device, **(params or {}).get(m, {})} for m in methods}
    return run_benchmark(inputs, methods, folds=folds, seed=seed,
                         genes=None if genes is None else list(genes), params=per_method,
                         labels=None if labels is None else np.asarray(labels),
                         clustering=clustering, verbose=verbose, external=external,
                         external_seconds=external_seconds)


def _cell_labels(spatial: ad.AnnData, labels: str | Sequence | None) -> np.ndarray | None:
    """Cell labels from an ``obs`` column name or one value per cell."""
    if isinstance(labels, str):
        if labels not in spatial.obs:
            raise InputError(f"labels column {labels!r} is not in spatial.obs.")
        return spatial.obs[labels].to_numpy()
    return None if labels is None else np.asarray(labels)


def _benchmark_denoising(
    spatial: AnnDataLike, reference: AnnDataLike | None, embeddings: EmbeddingSource | None,
    methods: Sequence[str] | None, seed: int, *, genes: Sequence[str] | None,
    layer: str | None, input_scale: InputScale, device: str, verbose: bool,
    params: dict[str, dict[str, Any]] | None, labels: str | Sequence | None,
    clustering: bool, external: dict[str, Sequence[Any]] | None,
) -> pd.DataFrame:
    """``benchmark(task="denoise")``: molecular cross-validation of denoisers."""
    given = [name for name, value in (("reference", reference), ("genes", genes),
                                      ("external", external)) if value is not None]
    if given:
        raise InputError(f"{', '.join(given)} belong to task='impute'; the denoising "
                         "benchmark scores every measured gene of the slide alone.")
    if input_scale == "log":
        raise InputError("molecular cross-validation splits molecules, so it needs raw "
                         "integer counts, not log-normalised values (input_scale='log').")
    del clustering  # denoising always scores the clustering
    inputs = load_inputs([], spatial, embeddings=embeddings, layer=layer,
                         input_scale=input_scale)
    labels = _cell_labels(inputs.spatial, labels)
    return run_denoise_benchmark(
        denoise_slide(inputs), DEFAULT_DENOISERS if methods is None else list(methods),
        seed=seed, labels=labels, params=params, device=device, verbose=verbose)


def fit(
    spatial: AnnDataLike,
    reference: AnnDataLike | None = None,
    method: str = "auto",
    genes: Sequence[str] | None = None,
    *,
    embeddings: EmbeddingSource | None = None,
    layer: str | None = None,
    reference_layer: str | None = None,
    input_scale: InputScale = "auto",
    reference_input_scale: InputScale = "auto",
    seed: int = 0,
    device: str = "auto",
    verbose: bool = True,
    **params: Any,
) -> Imputer:
    """Fit a method once, to predict many slides with :func:`predict`.

    Parameters are those of :func:`impute` (``reference`` may be None for
    ``refine``, which needs ``embeddings`` instead). ``impute(...)`` equals
    ``predict(fit(...), spatial)``.

    Returns
    -------
    The fitted model. ``model.save(path)`` writes it to a file that
    :func:`load_model` reads on any device; ``model.history_`` holds the loss
    history of torch methods; ``model.preprocessing`` the genes, input scale and
    size-factor target it was fitted with.
    """
    cls = get_method(method)
    cls.check_available()
    inputs = load_inputs([cls], spatial, reference=reference, embeddings=embeddings,
                         layer=layer, reference_layer=reference_layer, input_scale=input_scale,
                         reference_input_scale=reference_input_scale)
    model, _ = _fit(inputs, method, genes,
                    {"seed": seed, "device": device, "verbose": verbose, **params})
    return model


def predict(
    model: Imputer | str | Path,
    spatial: AnnDataLike,
    genes: Sequence[str] | None = None,
    *,
    reference: AnnDataLike | None = None,
    embeddings: EmbeddingSource | None = None,
    layer: str | None = None,
    reference_layer: str | None = None,
    input_scale: InputScale = "auto",
    reference_input_scale: InputScale = "auto",
    device: str | None = None,
    out: str | Path | None = None,
) -> ad.AnnData:
    """Impute (and, for refine, denoise) a slide with a fitted model, without training.

    Parameters
    ----------
    model
        A model from :func:`fit` or :func:`pretrain`, or the path of a saved one.
    spatial
        The slide (AnnData or ``.h5ad`` path); it must measure the genes the
        model reads. Counts are scaled to the total the model was fitted with.
    genes
        Genes to impute; default those the model was fitted to impute.
    reference, embeddings
        Needed only by methods that read them when predicting: ``refine`` needs
        the embedding table, the peers the reference.
    layer, reference_layer, input_scale, reference_input_scale
        As for :func:`impute`.
    device
        Where a model read from a file runs ("auto", "cpu", "cuda"); default "auto".
    out
        As for :func:`refine`: an ``.h5ad`` path to write the result to block by
        block (returned opened backed).

    Returns
    -------
    A new AnnData like :func:`impute` returns.
    """
    start = time.perf_counter()
    check_out(out)
    model = _as_model(model, device)
    inputs = load_inputs([], spatial, reference=reference, embeddings=embeddings, layer=layer,
                         reference_layer=reference_layer, input_scale=input_scale,
                         reference_input_scale=reference_input_scale)
    with output_scope(out) as scope:
        task = task_for_model(inputs, model, genes=None if genes is None else list(genes))
        return _result(inputs, model, task, start, scope, out)


def pretrain(
    slides: Sequence[AnnDataLike],
    embeddings: EmbeddingSource,
    *,
    layer: str | None = None,
    input_scale: InputScale = "auto",
    seed: int = 0,
    device: str = "auto",
    verbose: bool = True,
    **params: Any,
) -> Imputer:
    """Pretrain ``refine`` on many slides (spRefine's headline use).

    The model reads the union of the slides' measured genes; each slide's
    missing genes read 0 and are left out of its loss. Training uses the
    Poisson-masking corruption (``corruption="poisson"`` unless set otherwise),
    and a share ``val_fraction`` of each slide's cells decides early stopping.
    Refine a new slide with ``refine(slide, embeddings, model=pretrained)``
    (fine-tuning) or ``predict(pretrained, slide, embeddings=...)``.

    Parameters
    ----------
    slides
        Two or more slides (AnnData or ``.h5ad`` paths), raw counts or log-normalised.
    embeddings
        Gene-embedding table covering the measured genes.
    layer, input_scale
        As for :func:`refine`, the same for every slide.
    seed, device, verbose
        Reproducibility seed, "auto"/"cpu"/"cuda", progress bars.
    **params
        Hyper-parameters of refine.

    Returns
    -------
    The pretrained refine model.
    """
    slides = list(slides)
    if len(slides) < 2:
        raise InputError(f"pretrain needs two or more slides, got {len(slides)}.")
    method = get_method("refine")
    table = load_embeddings(embeddings)
    inputs = [load_inputs([method], slide, embeddings=table, layer=layer,
                          input_scale=input_scale) for slide in slides]
    model = build_method("refine", {"corruption": "poisson", "seed": seed, "device": device,
                                    "verbose": verbose, **params})
    model.pretrain([task_for(each, method, genes=[]) for each in inputs])
    model.preprocessing = {
        "measured_genes": list(model.fitted["input_genes"]), "target_genes": [],
        "spatial_input_scale": ["counts" if each.spatial_is_counts else "log"
                                for each in inputs],
        "target_sum": None,  # each slide is scaled to its own median total
    }
    return model


def fine_tune(
    model: Imputer | str | Path,
    spatial: AnnDataLike,
    embeddings: EmbeddingSource,
    genes: Sequence[str] | None = None,
    *,
    layer: str | None = None,
    input_scale: InputScale = "auto",
    seed: int = 0,
    device: str = "auto",
    verbose: bool = True,
    **params: Any,
) -> Imputer:
    """Fine-tune a copy of a refine model (from :func:`pretrain` or :func:`fit`, or
    its saved file) on a new slide, and return the copy.

    The slide may measure fewer or other genes than the model reads: the model's
    input genes it lacks read 0 and are left out of the loss. Only training
    options (``max_epochs``, ``lr``, ``patience``, ...; the learning rate
    defaults to 1e-4, spRefine's, instead of training's 1e-3, which undoes part
    of the pretraining) and ``kernel_power``, ``corruption``, ``mask_rate`` may
    change; the network's shape may not. The model passed in is not changed.
    ``refine(spatial, embeddings, model=model)`` is
    ``predict(fine_tune(model, spatial, embeddings), spatial, embeddings=embeddings)``.

    Returns
    -------
    The fine-tuned refine model (``history_["fine-tuning"]`` holds its losses).
    """
    inputs = load_inputs([get_method("refine")], spatial, embeddings=embeddings, layer=layer,
                         input_scale=input_scale)
    tuned, _ = _fine_tune(inputs, model, genes,
                          {"seed": seed, "device": device, "verbose": verbose, **params})
    return tuned
