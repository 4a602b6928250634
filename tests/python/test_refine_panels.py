"""refine on any panel: measured genes without an embedding get a learned gene
vector, no table means denoising only, counts are split in training, and the
kernel that imputes from the table is chosen on held-out measured genes."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import tessella
from tessella.coexpression import coexpression_embeddings
from tessella.datasets import data_file
from tessella.errors import InputError
from tessella.models.refine import KERNEL_POWERS, kernel_weights

FAST = {"max_epochs": 40, "batch_size": 64, "verbose": False}


def _normalised(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(1, keepdims=True)
    return np.log1p(counts / totals * np.median(totals))


def test_refine_without_a_table_denoises_the_measured_genes(sim):
    out = tessella.refine(sim.spatial, **FAST)
    assert list(out.var_names) == list(sim.spatial.var_names)
    assert out.var["measured"].all()
    assert out.obsm["X_tessella"].shape == (sim.spatial.n_obs, 64)
    truth = _normalised(sim.spatial.X)
    per_gene = [np.corrcoef(out.X[:, g], truth[:, g])[0, 1] for g in range(out.n_vars)]
    assert np.median(per_gene) > 0.7
    assert not np.allclose(out.X, truth, atol=0.05)  # denoised, not copied


def test_imputing_without_a_table_is_refused_in_python_and_r_words(sim):
    with pytest.raises(InputError, match="imputing genes needs gene embeddings") as caught:
        tessella.refine(sim.spatial, genes=["Gene045"], **FAST)
    assert "embeddings = ..." in caught.value.r_message
    # measured genes asked for are not imputed, so they need no table
    assert tessella.refine(sim.spatial, genes=["Gene001"], **FAST).n_vars == sim.spatial.n_vars


def test_measured_genes_without_an_embedding_get_a_learned_vector(sim):
    measured = list(sim.spatial.var_names)
    table = sim.embeddings.drop(index=measured[:10])
    model = tessella.fit(sim.spatial, embeddings=table, method="refine", **FAST)
    embedded = np.asarray(model.fitted["embedded"])
    assert embedded.sum() == len(measured) - 10 and not embedded[:10].any()
    assert tuple(model.module.free_genes.shape) == (10, model.params.latent)
    out = tessella.predict(model, sim.spatial, embeddings=table)
    assert out.n_vars == len(table) + 10  # all measured genes + the table's others
    truth = _normalised(sim.spatial.X)
    free = [np.corrcoef(out.X[:, g], truth[:, g])[0, 1] for g in range(10)]
    assert np.median(free) > 0.6  # the free vectors were trained with the rest
    assert not np.allclose(out.X[:, :10], truth[:, :10], atol=0.05)


def test_log_normalised_input_trains_by_reconstruction(sim):
    logged = sim.spatial.copy()
    logged.X = _normalised(logged.X).astype(np.float32)
    model = tessella.fit(logged, method="refine", input_scale="log", **FAST)
    assert model.fitted["objective"] == "reconstruction"
    counted = tessella.fit(sim.spatial, method="refine", **FAST)
    assert counted.fitted["objective"] == "count_split"


def test_kernel_weights_rows_sum_to_one_and_power_zero_is_uniform():
    similarity = np.array([[-np.inf, 0.5, -0.2], [0.5, -np.inf, 0.1]])
    for power in KERNEL_POWERS:
        weights = kernel_weights(similarity, power)
        np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-6)
        assert weights[0, 0] == 0 and weights[1, 1] == 0  # a gene never predicts itself
    np.testing.assert_allclose(kernel_weights(similarity, 0.0), [[0, .5, .5], [.5, 0, .5]])
    np.testing.assert_allclose(kernel_weights(similarity, 1.0)[0], [0, 1, 0])


def test_the_kernel_power_is_chosen_on_held_out_genes_unless_given(sim):
    chosen = tessella.fit(sim.spatial, embeddings=sim.embeddings, method="refine", **FAST)
    assert chosen.fitted["kernel_power"] > 0  # the simulated table carries co-expression
    given = tessella.fit(sim.spatial, embeddings=sim.embeddings, method="refine",
                         kernel_power=2.0, **FAST)
    assert given.fitted["kernel_power"] == 2.0
    assert tessella.fit(sim.spatial, method="refine", **FAST).fitted["kernel_power"] is None


def test_coexpression_vectors_give_gene_correlations(sim):
    table = coexpression_embeddings(sim.reference, n_components=100)
    normalised = _normalised(np.asarray(sim.reference.X, dtype=float))
    varying = normalised.std(0) > 0
    assert list(table.index) == list(sim.reference.var_names[varying])
    assert table.shape[1] == varying.sum()  # capped at the number of genes
    unit = table.to_numpy() / np.linalg.norm(table.to_numpy(), axis=1, keepdims=True)
    correlation = np.corrcoef(normalised[:, varying].T)
    np.testing.assert_allclose(unit @ unit.T, correlation, atol=1e-4)  # every axis kept
    few = coexpression_embeddings(sim.reference, genes=["Gene001", "gene002"], n_components=5)
    assert list(few.index) == ["Gene001", "Gene002"] and few.shape == (2, 2)
    with pytest.raises(InputError, match="1 gene\\(s\\) are not in the atlas: Nope"):
        coexpression_embeddings(sim.reference, genes=["Gene001", "Nope"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mob/mob_st.h5ad", "breast_cancer/bc_st_layer1.h5ad"])
def test_refine_denoises_a_whole_sequencing_slide_without_a_table(name):
    try:
        path = data_file(name)
    except (FileNotFoundError, InputError) as err:
        pytest.skip(f"real data not available: {err}")
    slide = ad.read_h5ad(path)
    out = tessella.refine(slide, max_epochs=3, verbose=False)
    assert out.shape == slide.shape  # 262 x 15,928 (MOB), 254 x 7,998 (layer 1)
    assert np.isfinite(out.X).all()


# The control (osmFISH, 5 folds over its 33 genes, refine imputing each fold from
# gene vectors alone): atlas vectors (Allen SSp, 20 axes) against the same table
# with its gene names permuted (seeds 0-2). At 60 epochs (this test): median
# Spearman 0.270 against 0.233, 0.186, 0.156 (mean 0.192 +- 0.032), so above
# every permuted run. At 200 epochs: 0.274 against 0.186 +- 0.004; ESM-2 0.161
# against 0.190 +- 0.012 (ESM-2 says almost nothing about co-expression). A
# second panel (breast cancer layer 1, its 300 most variable genes, vectors from
# layer 2): 0.293 against 0.201 +- 0.001.


@pytest.mark.slow
def test_atlas_vectors_impute_better_than_the_same_vectors_permuted(osmfish):
    spatial, reference, _ = osmfish
    table = coexpression_embeddings(reference, n_components=20)
    params = {"refine": {"max_epochs": 60}}

    def spearman(vectors):
        scores = tessella.benchmark(spatial, embeddings=vectors, methods=["refine"], folds=5,
                                    verbose=False, params=params)
        return scores.attrs["summary"].loc["refine", "spearman"]

    shuffled = []
    for seed in range(3):
        permuted = table.copy()
        permuted.index = np.random.default_rng(seed).permutation(permuted.index)
        shuffled.append(spearman(permuted))
    real = spearman(table)
    assert real > max(shuffled) + 0.02 and real > np.mean(shuffled) + 0.05, (real, shuffled)


def test_a_model_without_a_table_returns_new_measured_genes_as_read(sim):
    model = tessella.fit(sim.spatial[:, 5:], method="refine", **FAST)
    out = tessella.predict(model, sim.spatial, embeddings=sim.embeddings, genes=[])
    counts = np.asarray(sim.spatial.X, dtype=np.float64)  # scaled to the model's total
    read = np.log1p(counts / counts.sum(1, keepdims=True) * model.preprocessing["target_sum"])
    np.testing.assert_allclose(out.X[:, :5], read[:, :5], rtol=1e-5)
    unmeasured = [g for g in sim.embeddings.index if g not in set(sim.spatial.var_names)]
    with pytest.raises(InputError, match="fitted without gene embeddings"):
        tessella.predict(model, sim.spatial, embeddings=sim.embeddings, genes=unmeasured[:1])
