"""Training on Lightning, saved models that travel, and train-once verbs (issue 13),
plus the early-stopping promise over seeded draws (issue 12)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import tessella
from tessella.models.storage import load_model
from tessella.params import TrainParams
from tessella.train import fit_module, seeded, split_cells

#: Small settings per method, so each trains in about a second.
FAST = {"refine": {"max_epochs": 15}, "graph": {"max_epochs": 3, "ae_epochs": 3},
        "diffusion": {"max_epochs": 3, "samples": 2}}


def _linear_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 4, generator=generator)
    noise = 0.3 * torch.randn(200, 1, generator=generator)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + noise


def _mse(module, a, b):
    return torch.nn.functional.mse_loss(module(a), b)


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    """What the loop promises, for 40 seeded data draws: the run ends ``patience``
    epochs after its best epoch (or at ``max_epochs``), no later epoch beat the
    best by ``MIN_DELTA``, and the module ends with the best epoch's weights."""
    for seed in range(40):
        x, y = _linear_data(seed)
        params = TrainParams(max_epochs=200, patience=5, lr=0.05, batch_size=50, seed=seed,
                             verbose=False)
        with seeded(seed):
            module = torch.nn.Linear(4, 1)
            history = fit_module(module, _mse, (x, y), params)
        best, n = history.best_epoch, len(history.val_loss)
        assert n == params.max_epochs or n == best + params.patience + 1, seed
        assert history.val_loss[best] == min(history.val_loss), seed
        _, val = split_cells(len(x), params.val_fraction, seed)
        with torch.no_grad():
            restored = float(_mse(module, x[val], y[val]))
        assert restored == pytest.approx(history.val_loss[best], rel=1e-5), seed


def test_lightning_training_equals_a_plain_adam_loop():
    """The training plan is the loop tessella had before Lightning: the same
    split, one seeded shuffle per epoch, Adam, the same weights."""
    x, y = _linear_data(0)
    params = TrainParams(max_epochs=4, patience=100, lr=0.05, batch_size=32, verbose=False)
    with seeded(0):
        module = torch.nn.Linear(4, 1)
        fit_module(module, _mse, (x, y), params)
    with seeded(0):
        plain = torch.nn.Linear(4, 1)
    train, _ = split_cells(len(x), params.val_fraction, params.seed)
    optimizer = torch.optim.Adam(plain.parameters(), lr=params.lr)
    shuffle = torch.Generator().manual_seed(params.seed)
    for _ in range(params.max_epochs):
        for rows in torch.split(torch.randperm(len(train), generator=shuffle), params.batch_size):
            optimizer.zero_grad()
            _mse(plain, x[train][rows], y[train][rows]).backward()
            optimizer.step()
    for ours, theirs in zip(module.parameters(), plain.parameters()):
        torch.testing.assert_close(ours.detach(), theirs.detach())


def _fit(sim, method, spatial=None, **params):
    reference = None if method == "refine" else sim.reference
    return tessella.fit(sim.spatial if spatial is None else spatial, reference, method=method,
                        embeddings=sim.embeddings, verbose=False, device="cpu",
                        **{**FAST.get(method, {}), **params})


@pytest.mark.parametrize("method", ["refine", "graph", "diffusion"])
def test_seeded_training_gives_identical_predictions_twice(sim, method):
    panel = sim.spatial[:, :24].copy()  # six genes to impute

    def predicted(**params):
        model = _fit(sim, method, spatial=panel, **params)
        return tessella.predict(model, panel, embeddings=sim.embeddings).X

    first = predicted()
    np.testing.assert_array_equal(first, predicted())
    assert not np.allclose(first, predicted(seed=1))


def test_the_model_keeps_its_loss_history(sim):
    model = _fit(sim, "graph", rounds=2)
    assert list(model.history_) == ["autoencoder, round 1", "gene graph, round 1",
                                    "autoencoder, round 2", "gene graph, round 2"]
    assert all(len(h.train_loss) == len(h.val_loss) >= 1 for h in model.history_.values())


@pytest.mark.parametrize("method", ["refine", "graph", "diffusion", "knn", "auto"])
def test_a_model_saved_with_a_cuda_label_loads_on_cpu(sim, tmp_path, method):
    model = _fit(sim, method)
    before = tessella.predict(model, sim.spatial, embeddings=sim.embeddings)
    model.params = replace(model.params, device="cuda")  # as if fitted on a GPU machine
    model.save(tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt", device="cpu")
    assert loaded.params.device == "cpu"
    after = tessella.predict(loaded, sim.spatial, embeddings=sim.embeddings)
    np.testing.assert_array_equal(before.X, after.X)
    content = torch.load(tmp_path / "model.pt", weights_only=True)  # nothing executable
    assert content["tessella_version"] == tessella.__version__
    assert content["preprocessing"]["measured_genes"] == list(sim.spatial.var_names)
    assert content["preprocessing"]["spatial_input_scale"] == "counts"
    assert content["preprocessing"]["target_sum"] > 0


@pytest.mark.parametrize("method", ["refine", "graph", "diffusion", "knn", "auto", "mean"])
def test_fit_then_predict_equals_the_one_shot_call(sim, method):
    options = {"verbose": False, "device": "cpu", **FAST.get(method, {})}
    if method == "refine":
        once = tessella.refine(sim.spatial, sim.embeddings, **options)
    else:
        once = tessella.impute(sim.spatial, sim.reference, method=method,
                               embeddings=sim.embeddings, **options)
    model = _fit(sim, method)
    twice = tessella.predict(model, sim.spatial, embeddings=sim.embeddings)
    np.testing.assert_array_equal(once.X, twice.X)
    assert list(once.var_names) == list(twice.var_names)
    np.testing.assert_array_equal(once.var["measured"], twice.var["measured"])


def test_predict_from_a_file_on_another_slide_checks_its_genes(sim, tmp_path):
    model = _fit(sim, "knn")
    model.save(tmp_path / "knn.pt")
    half = sim.spatial[:200].copy()
    result = tessella.predict(tmp_path / "knn.pt", half)
    assert result.n_obs == 200
    lacking = sim.spatial[:, 3:].copy()
    with pytest.raises(tessella.InputError, match=r"lacks 3 measured gene\(s\)"):
        tessella.predict(tmp_path / "knn.pt", lacking)
    with pytest.raises(tessella.InputError, match="not a tessella model"):
        (tmp_path / "junk.pt").write_bytes(b"not a model")
        tessella.load_model(tmp_path / "junk.pt")


def test_resumed_training_ends_like_an_uninterrupted_run(sim, tmp_path):
    """A run stopped after 4 epochs (its ``last.ckpt`` is what a killed run
    leaves) and resumed to 8 matches an uninterrupted run of 8 epochs: the same
    epochs, the first four identical, the last loss close (the resumed run
    restarts its shuffling generator, so later batches differ)."""
    settings = {"patience": 100, "batch_size": 64}
    whole = _fit(sim, "refine", max_epochs=8, **settings).history_["refine"]
    _fit(sim, "refine", max_epochs=4, checkpoint_dir=str(tmp_path), **settings)
    assert (tmp_path / "last.ckpt").is_file()
    resumed = _fit(sim, "refine", max_epochs=8, resume=str(tmp_path / "last.ckpt"),
                   **settings).history_["refine"]
    assert len(resumed.val_loss) == len(whole.val_loss) == 8
    assert resumed.val_loss[:4] == whole.val_loss[:4]
    assert resumed.val_loss[-1] == pytest.approx(whole.val_loss[-1], rel=0.05)
