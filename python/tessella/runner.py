"""Run one method on validated inputs: the step the API, the benchmark and the
CLI share (prepare the task, build the method, fit, predict). Preparing a task
is where the engine starts work: the thread setting (:mod:`tessella.threads`)
is applied there, once per process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import anndata as ad
import numpy as np

from tessella.data.empty import EMPTY_COLUMN, fill_rows, insert_measured
from tessella.data.task import ImputationTask, prepare_task
from tessella.errors import InputError
from tessella.inputs import Inputs
from tessella.models.interface import Imputer, Prediction
from tessella.models.registry import get_method
from tessella.output import allocate, gigabytes
from tessella.output import note as add_note
from tessella.threads import apply_threads

logger = logging.getLogger(__name__)

#: Cells x output genes (1e9 values: 4 GB as float32) above which imputing every
#: gene by default (``genes=None``) logs a warning with the size and how to choose genes.
LARGE_RESULT_VALUES = 1_000_000_000


def task_for(
    inputs: Inputs,
    method: type[Imputer],
    genes: list[str] | None = None,
    measured: np.ndarray | None = None,
) -> ImputationTask:
    """The task ``method`` sees: measured genes (all, or the ``measured`` positions)
    and the genes to impute, drawn from the reference or the embedding table.
    Benchmark folds (``measured`` given) keep spatial cells without counts, so
    every cell is scored; whole-data tasks leave them out. Imputing every gene by
    default on a large slide is warned about (:func:`warn_large_default`)."""
    apply_threads()
    task = prepare_task(
        inputs.spatial,
        spatial_is_counts=inputs.spatial_is_counts,
        target_source="reference" if method.requires_reference else "embeddings",
        genes=genes,
        layer=inputs.layer,
        measured=measured,
        reference=inputs.reference,
        reference_layer=inputs.reference_layer,
        reference_is_counts=inputs.reference_is_counts,
        embeddings=inputs.embeddings,
        keep_cells=measured is not None,
    )
    if genes is None and measured is None:
        warn_large_default(task, "reference" if method.requires_reference else "embedding table")
    return task


def warn_large_default(task: ImputationTask, source: str) -> None:
    """Warn (log and result notes) when imputing every gene of ``source``, the
    default, makes a result above :data:`LARGE_RESULT_VALUES` values."""
    n_cells = task.spatial.n_obs if task.omitted is None else task.omitted.n_cells
    n_genes = (len(task.output_genes) if task.omitted is None else
               len(task.omitted.measured_genes) + len(task.target_genes))
    if n_cells * n_genes <= LARGE_RESULT_VALUES:
        return
    message = (f"genes=None imputes all {len(task.target_genes):,} genes of the {source} "
               f"the slide does not measure: a {n_cells:,} cells x {n_genes:,} genes result, "
               f"{gigabytes(4 * n_cells * n_genes)} as float32. Pass genes=[...] (CLI --genes, "
               "R genes =) to impute only the genes you need, or out='result.h5ad' (CLI --out) "
               "to write the result to disk block by block.")
    logger.warning(message)
    add_note(message)


def task_for_model(inputs: Inputs, model: Imputer, genes: list[str] | None = None
                   ) -> ImputationTask:
    """The task a fitted model predicts: every measured gene of ``inputs.spatial``
    and the model's genes to impute (or ``genes``), counts scaled to the total the
    model was fitted with."""
    apply_threads()
    fitted = model.preprocessing
    if not fitted:
        raise InputError("this model records no preprocessing (it was fitted with "
                         "model.fit(task)); fit it with tessella.fit() to predict new data.")
    return prepare_task(
        inputs.spatial,
        spatial_is_counts=inputs.spatial_is_counts,
        target_source="model",
        genes=list(fitted["target_genes"]) if genes is None else list(genes),
        layer=inputs.layer,
        reference=inputs.reference,
        reference_layer=inputs.reference_layer,
        reference_is_counts=inputs.reference_is_counts,
        embeddings=inputs.embeddings,
        target_sum=fitted["target_sum"] if inputs.spatial_is_counts else None,
    )


def build_method(name: str, params: dict[str, Any]) -> Imputer:
    """A fresh, unfitted method with the given hyper-parameters."""
    return get_method(name)(**params)


def record_preprocessing(model: Imputer, task: ImputationTask, inputs: Inputs) -> None:
    """Keep on ``model`` (and in its saved file) how its data was prepared: the
    genes, the input scale and the size-factor target sum."""
    model.preprocessing = {
        "measured_genes": list(task.measured_genes),
        "target_genes": list(task.target_genes),
        "spatial_input_scale": "counts" if inputs.spatial_is_counts else "log",
        "target_sum": task.target_sum,
        "reference_input_scale": (None if inputs.reference is None else
                                  "counts" if inputs.reference_is_counts else "log"),
    }


def fit_model(model: Imputer, task: ImputationTask, inputs: Inputs) -> Imputer:
    """Fit ``model`` on ``task`` and record its preprocessing."""
    model.fit(task)
    record_preprocessing(model, task, inputs)
    return model


def fit_predict(model: Imputer, task: ImputationTask) -> Prediction:
    """Fit ``model`` on ``task`` and predict its output genes."""
    return model.fit(task).predict(task)


def full_prediction(task: ImputationTask,
                    prediction: Prediction) -> tuple[ImputationTask, Prediction]:
    """A prediction for every spatial cell and every measured gene.

    Methods see only what ``task`` kept (:mod:`tessella.data.empty`). Cells
    without counts get NaN everywhere (values and latent space); measured genes
    never detected come back as measured, 0, with reliability NaN. The task
    returned names every measured gene (for assembling the result; its views
    are those the method saw). The full matrix is made once, memory-mapped when
    it exceeds the memory budget (:func:`tessella.output.allocate`), and filled a
    block of cells at a time.
    """
    omitted = task.omitted
    if omitted is None:
        return task, prediction
    n_measured, n_all = task.n_measured, len(omitted.measured_genes)
    values = prediction.values
    reliability = prediction.reliability
    if reliability is not None:
        reliability = insert_measured(np.asarray(reliability, dtype=np.float64), omitted,
                                      n_measured, np.nan)
    if n_measured != n_all or len(omitted.kept_cells) != omitted.n_cells:
        full = allocate((omitted.n_cells, n_all + values.shape[1] - n_measured), np.float32,
                        fill=np.nan)
        kept = np.asarray(omitted.kept_cells)
        step = max(1, 2**24 // max(full.shape[1], 1))
        for start in range(0, len(kept), step):
            full[kept[start:start + step]] = insert_measured(
                np.asarray(values[start:start + step], dtype=np.float32), omitted, n_measured,
                0.0)
        values = full
    latent = fill_rows(prediction.latent, omitted.kept_cells, omitted.n_cells)
    prediction = replace(prediction, values=values, latent=latent, reliability=reliability)
    return replace(task, measured_genes=list(omitted.measured_genes)), prediction


@contextmanager
def omitted_unlogged() -> Iterator[None]:
    """Within the block, what tasks leave out goes to the results' notes only, not to
    the log (the R package shows the notes itself)."""
    previous, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = previous


def flag_omitted(result: ad.AnnData, task: ImputationTask) -> None:
    """Flag cells without counts in ``result.obs["tessella_empty"]`` (always present)
    and report what was left out: a logging warning and ``uns["tessella"]["notes"]``."""
    omitted = task.omitted
    empty = (np.zeros(result.n_obs, dtype=bool) if omitted is None
             else omitted.empty_cells)
    result.obs[EMPTY_COLUMN] = empty
    notes = [] if omitted is None else omitted.notes()
    for note in notes:
        logger.warning(note)
    provenance = result.uns["tessella"]
    provenance["notes"] = [*notes, *provenance.get("notes", [])]
    provenance["empty_cells"] = int(empty.sum())
    provenance["undetected_genes"] = [] if omitted is None else omitted.undetected_genes
    provenance["reference_cells_left_out"] = (0 if omitted is None
                                              else int(omitted.reference_left_out))
