"""The ``tessella`` command line, run in-process on files written from simulate()."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tessella
from tessella.cli import EXIT_BUG, EXIT_USAGE, main
from tessella.models import registered_methods

N_MEASURED = 30


@pytest.fixture()
def files(tmp_path: Path) -> SimpleNamespace:
    """Spatial (30 genes), reference (40 genes) and embedding table (50 genes) on disk."""
    sim = tessella.datasets.simulate(n_cells=200, n_genes=40, n_reference=300, seed=0)
    spatial, reference, table = (tmp_path / "spatial.h5ad", tmp_path / "reference.h5ad",
                                 tmp_path / "embeddings.tsv")
    sim.spatial[:, :N_MEASURED].copy().write_h5ad(spatial)
    sim.reference.write_h5ad(reference)
    sim.embeddings.to_csv(table, sep="\t")
    return SimpleNamespace(spatial=str(spatial), reference=str(reference), embeddings=str(table),
                           dir=tmp_path)


def test_info_lists_versions_and_methods(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "tessella:" in out and "torch:" in out and "cuda available:" in out
    header, *rows = out.split("methods:", 1)[1].split("hyper-parameters", 1)[0].strip() \
        .splitlines()
    assert header.split()[:2] == ["method", "summary"]
    listed = [row.split()[0] for row in rows]
    assert listed == sorted(registered_methods())
    assert {"refine", "knn", "mean", "graph"} <= set(listed)


def test_impute_writes_a_result(files, capsys):
    out = files.dir / "imputed.h5ad"
    code = main(["impute", files.spatial, "--reference", files.reference, "--method", "knn",
                 "--out", str(out), "--quiet"])
    assert code == 0
    assert f"wrote {out}: 200 cells x 40 genes ({N_MEASURED} measured)" in capsys.readouterr().out
    result = ad.read_h5ad(out)
    assert result.shape == (200, 40)
    assert result.var["measured"].dtype == bool
    assert int(result.var["measured"].sum()) == N_MEASURED
    assert not result.var["measured"].iloc[N_MEASURED:].any()
    assert result.uns["tessella"]["method"] == "knn"


def test_impute_genes_and_params(files):
    out = files.dir / "imputed.h5ad"
    genes = files.dir / "genes.txt"
    genes.write_text("Gene031\n\nGene035\n")
    code = main(["impute", files.spatial, "--reference", files.reference, "--method", "knn",
                 "--genes", f"@{genes}", "--param", "k=7", "--out", str(out), "--quiet"])
    assert code == 0
    result = ad.read_h5ad(out)
    assert list(result.var_names[N_MEASURED:]) == ["Gene031", "Gene035"]
    assert result.uns["tessella"]["params"]["k"] == 7


def test_refine_writes_a_result(files, capsys):
    out = files.dir / "refined.h5ad"
    code = main(["refine", files.spatial, "--embeddings", files.embeddings,
                 "--param", "max_epochs=3", "--genes", "Gene040,Gene045", "--out", str(out),
                 "--quiet"])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    result = ad.read_h5ad(out)
    assert list(result.var_names[N_MEASURED:]) == ["Gene040", "Gene045"]
    assert int(result.var["measured"].sum()) == N_MEASURED
    assert result.uns["tessella"]["params"]["max_epochs"] == 3
    assert "X_tessella" in result.obsm


def test_benchmark_writes_scores(files, capsys):
    scores = files.dir / "scores.csv"
    code = main(["benchmark", files.spatial, "--reference", files.reference,
                 "--embeddings", files.embeddings, "--methods", "knn,mean", "--folds", "3",
                 "--out", str(scores), "--quiet"])
    assert code == 0
    table = pd.read_csv(scores)
    assert list(table.columns[:5]) == ["method", "gene", "fold", "pearson", "spearman"]
    assert {"cosine", "mse", "rmse", "ssim", "js"} <= set(table.columns)
    assert len(table) == 2 * N_MEASURED
    assert set(table["method"]) == {"knn", "mean"}
    assert set(table["fold"]) == {0, 1, 2}
    assert table.groupby("method")["gene"].nunique().eq(N_MEASURED).all()
    out = capsys.readouterr().out
    summary = out.split("median per method:", 1)[1]
    lines = summary.strip().splitlines()
    assert "pearson" in lines[0] and "spearman" in lines[0]
    assert any(line.startswith("knn") for line in lines)
    assert any(line.startswith("mean") for line in lines)
    assert f"wrote {scores}" in out


def test_benchmark_method_params(files):
    scores = files.dir / "scores.csv"
    code = main(["benchmark", files.spatial, "--embeddings", files.embeddings,
                 "--methods", "refine", "--folds", "2", "--param", "refine.max_epochs=2",
                 "--out", str(scores), "--quiet"])
    assert code == 0
    assert set(pd.read_csv(scores)["method"]) == {"refine"}


def _error_cases(files) -> dict[str, tuple[list[str], str]]:
    out = str(files.dir / "out.h5ad")
    return {
        "missing-spatial": (["impute", str(files.dir / "absent.h5ad"), "--reference",
                             files.reference, "--out", out], "does not exist"),
        "missing-embeddings": (["refine", files.spatial, "--embeddings",
                                str(files.dir / "absent.tsv"), "--out", out], "does not exist"),
        "unknown-method": (["impute", files.spatial, "--reference", files.reference,
                            "--method", "bogus", "--out", out], "unknown method 'bogus'"),
        "unknown-benchmark-method": (["benchmark", files.spatial, "--reference",
                                      files.reference, "--methods", "knn,bogus"],
                                     "unknown method 'bogus'"),
        "unknown-param": (["impute", files.spatial, "--reference", files.reference,
                           "--param", "bogus=1", "--out", out], "no parameter(s) bogus"),
        "bad-param": (["refine", files.spatial, "--embeddings", files.embeddings,
                       "--param", "max_epochs", "--out", out], "--param takes NAME=VALUE"),
        "bad-benchmark-param": (["benchmark", files.spatial, "--reference", files.reference,
                                 "--methods", "knn", "--param", "k=5"], "METHOD.NAME=VALUE"),
        "not-h5ad": (["refine", files.embeddings, "--embeddings", files.embeddings,
                      "--out", out], "is not .h5ad"),
        "broken-h5ad": (["refine", files.embeddings.replace(".tsv", ".h5ad"), "--embeddings",
                         files.embeddings, "--out", out], "could not read spatial file"),
        "broken-embeddings": (["refine", files.spatial, "--embeddings",
                               str(files.dir / "broken.npz"), "--out", out],
                              "could not read the embedding table"),
        "missing-genes-file": (["impute", files.spatial, "--reference", files.reference,
                                "--genes", f"@{files.dir / 'absent.txt'}", "--out", out],
                               "could not read the names in"),
        "unknown-device": (["impute", files.spatial, "--reference", files.reference,
                            "--method", "knn", "--device", "tpu", "--out", out],
                           "device must be 'auto', 'cpu' or 'cuda', not 'tpu'"),
        "no-output-folder": (["impute", files.spatial, "--reference", files.reference,
                              "--out", str(files.dir / "absent" / "out.h5ad")],
                             "its folder"),
    }


@pytest.mark.parametrize("case", ["missing-spatial", "missing-embeddings", "unknown-method",
                                  "unknown-benchmark-method", "unknown-param", "bad-param",
                                  "bad-benchmark-param", "not-h5ad", "broken-h5ad",
                                  "broken-embeddings", "missing-genes-file", "unknown-device",
                                  "no-output-folder"])
def test_bad_input_is_one_line_on_stderr(files, capsys, case):
    argv, message = _error_cases(files)[case]
    (files.dir / "embeddings.h5ad").write_bytes(b"not an HDF5 file")
    (files.dir / "broken.npz").write_bytes(b"not a zip archive")
    assert main([*argv, "--quiet"]) == EXIT_USAGE
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("tessella: error: ")
    assert message in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in captured.err + captured.out
    assert not (files.dir / "out.h5ad").exists()


@pytest.mark.parametrize("error", [RuntimeError("deliberate internal error"),
                                   KeyError("deliberate internal error")])
def test_internal_error_shows_its_traceback_and_asks_for_a_report(files, capsys, monkeypatch,
                                                                   error):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(tessella, "impute", broken)  # what `tessella impute` calls
    code = main(["impute", files.spatial, "--reference", files.reference,
                 "--out", str(files.dir / "out.h5ad"), "--quiet"])
    assert code == EXIT_BUG == 70
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "in broken" in err
    assert f"{type(error).__name__}: {error}" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tessella: internal error: this is a bug in tessella ")
    assert tessella.__version__ in last and "report it" in last
    assert "tessella: error:" not in err


def test_exit_statuses_are_documented(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    assert f"{EXIT_USAGE}    a problem with what was passed" in help_text
    assert f"{EXIT_BUG}   an internal error, a bug in tessella" in help_text


def test_usage_errors_exit_with_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["impute", "spatial.h5ad"])  # --reference and --out are required
    assert exit_info.value.code == 2
    assert "required" in capsys.readouterr().err


def test_installed_console_script():
    script = Path(sys.executable).parent / "tessella"
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    done = subprocess.run([str(script), "info"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "methods:" in done.stdout and "refine" in done.stdout


def test_numeric_values_for_text_parameters(tmp_path):
    sim = tessella.datasets.simulate(n_cells=80, n_genes=12, n_reference=60, seed=2)
    spatial = tmp_path / "s.h5ad"
    sim.spatial.write_h5ad(spatial)
    table = tmp_path / "e.tsv"
    sim.embeddings.rename_axis("gene").to_csv(table, sep="\t")
    out = tmp_path / "o.h5ad"
    assert main(["refine", str(spatial), "--embeddings", str(table), "--param", "precision=32",
                 "--param", "max_epochs=2", "--out", str(out), "--quiet"]) == 0
    assert ad.read_h5ad(out).uns["tessella"]["params"]["precision"] == "32"


@pytest.fixture()
def slides(tmp_path: Path) -> SimpleNamespace:
    """Two slides measuring different genes (20 of 30 each), a third, the reference
    (30 genes) and the embedding table (40 genes) on disk."""
    sim = tessella.datasets.simulate(n_cells=400, n_genes=30, n_reference=500, seed=1)
    paths = SimpleNamespace(dir=tmp_path, **{name: str(tmp_path / f"{name}.h5ad") for name in
                                              ("a", "b", "c", "reference")})
    sim.spatial[:150, :20].copy().write_h5ad(paths.a)
    sim.spatial[150:300, 10:].copy().write_h5ad(paths.b)
    sim.spatial[300:, :20].copy().write_h5ad(paths.c)
    sim.reference.write_h5ad(paths.reference)
    paths.embeddings = str(tmp_path / "embeddings.tsv")
    sim.embeddings.to_csv(paths.embeddings, sep="\t")
    return paths


def _x(path: Path) -> np.ndarray:
    return np.asarray(ad.read_h5ad(path).X)


@pytest.mark.parametrize("method", ["knn", "refine"])
def test_fit_then_predict_equals_the_one_shot_command(slides, capsys, method):
    model, out, once = (slides.dir / "model.pt", slides.dir / "predicted.h5ad",
                        slides.dir / "once.h5ad")
    inputs = (["--reference", slides.reference] if method == "knn" else
              ["--embeddings", slides.embeddings, "--param", "max_epochs=3"])
    assert main(["fit", slides.a, "--method", method, *inputs, "--save", str(model),
                 "--quiet"]) == 0
    assert (f"saved {model}: {method} model reading 20 genes, imputing "
            f"{10 if method == 'knn' else 20}") in capsys.readouterr().out
    extra = ["--embeddings", slides.embeddings] if method == "refine" else []
    assert main(["predict", slides.a, "--model", str(model), *extra, "--out", str(out)]) == 0
    assert f"wrote {out}: 150 cells x" in capsys.readouterr().out
    one_shot = (["impute", slides.a, "--method", "knn", "--reference", slides.reference]
                if method == "knn" else ["refine", slides.a, "--embeddings", slides.embeddings,
                                         "--param", "max_epochs=3"])
    assert main([*one_shot, "--out", str(once), "--quiet"]) == 0
    predicted, expected = ad.read_h5ad(out), ad.read_h5ad(once)
    assert list(predicted.var_names) == list(expected.var_names)
    np.testing.assert_array_equal(np.asarray(predicted.X), np.asarray(expected.X))
    assert predicted.uns["tessella"]["method"] == method


def test_a_saved_model_predicts_another_slide(slides):
    model, out = slides.dir / "knn.pt", slides.dir / "c.h5ad"
    assert main(["fit", slides.a, "--reference", slides.reference, "--method", "knn",
                 "--param", "k=7", "--save", str(model), "--quiet"]) == 0
    assert main(["predict", slides.c, "--model", str(model), "--genes", "Gene020,Gene025",
                 "--out", str(out)]) == 0
    result = ad.read_h5ad(out)
    assert result.n_obs == 100
    assert list(result.var_names[20:]) == ["Gene020", "Gene025"]
    assert result.uns["tessella"]["params"]["k"] == 7


def test_pretrain_then_fine_tune_with_refine_model(slides, capsys):
    model, out = slides.dir / "pretrained.pt", slides.dir / "tuned.h5ad"
    assert main(["pretrain", slides.a, slides.b, "--embeddings", slides.embeddings,
                 "--param", "max_epochs=2", "--save", str(model), "--quiet"]) == 0
    assert f"saved {model}: refine model reading 30 genes" in capsys.readouterr().out
    assert main(["refine", slides.c, "--embeddings", slides.embeddings, "--model", str(model),
                 "--param", "max_epochs=2", "--out", str(out), "--quiet"]) == 0
    tuned = ad.read_h5ad(out)
    assert tuned.n_obs == 100 and int(tuned.var["measured"].sum()) == 20
    assert np.isfinite(np.asarray(tuned.X)).all()
    applied = slides.dir / "applied.h5ad"
    assert main(["predict", slides.c, "--model", str(model), "--embeddings", slides.embeddings,
                 "--out", str(applied)]) == 0
    assert not np.array_equal(_x(applied), np.asarray(tuned.X))  # fine-tuning changed it


def _train_once_errors(slides) -> dict[str, tuple[list[str], str]]:
    out, absent = str(slides.dir / "out.h5ad"), str(slides.dir / "absent.pt")
    return {
        "missing-model": (["predict", slides.a, "--model", absent, "--out", out],
                          f"no model file at {absent}"),
        "missing-model-refine": (["refine", slides.a, "--embeddings", slides.embeddings,
                                  "--model", absent, "--out", out], "no model file at"),
        "not-a-model": (["predict", slides.a, "--model", slides.embeddings, "--out", out],
                        "is not a tessella model file"),
        "one-slide": (["pretrain", slides.a, "--embeddings", slides.embeddings,
                       "--save", str(slides.dir / "m.pt")], "two or more slides"),
        "no-save-folder": (["fit", slides.a, "--reference", slides.reference, "--method", "knn",
                            "--save", str(slides.dir / "absent" / "m.pt")], "its folder"),
    }


@pytest.mark.parametrize("case", ["missing-model", "missing-model-refine", "not-a-model",
                                  "one-slide", "no-save-folder"])
def test_train_once_bad_input_is_one_line(slides, capsys, case):
    argv, message = _train_once_errors(slides)[case]
    assert main([*argv, "--quiet"]) == EXIT_USAGE
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("tessella: error: ") and message in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in captured.err + captured.out
    assert not (slides.dir / "out.h5ad").exists() and not (slides.dir / "m.pt").exists()
