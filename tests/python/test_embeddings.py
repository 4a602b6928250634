"""Gene-embedding tables: every file format, refusal of bad tables, gene matching."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import tessella
from tessella.data.genes import gene_key, match_genes
from tessella.embeddings import EmbeddingTable, load_embeddings, read_embeddings


@pytest.fixture()
def frame() -> pd.DataFrame:
    """50 genes x 16 dimensions, float32, genes as the index."""
    return tessella.datasets.simulate(n_cells=20, n_reference=20).embeddings


def _delimited(sep: str, label: str) -> Callable[[pd.DataFrame, Path], None]:
    def write(frame: pd.DataFrame, path: Path) -> None:
        frame.to_csv(path, sep=sep, index_label=label)  # .gz compresses by suffix

    return write


def _parquet(frame: pd.DataFrame, path: Path) -> None:
    pytest.importorskip("pyarrow", exc_type=ImportError)
    out = frame.rename(columns=lambda c: f"dim{c}").reset_index()
    genes = out.pop("gene")
    out["gene"] = genes  # the gene column need not be first
    out.to_parquet(path, index=False)


def _h5ad(frame: pd.DataFrame, path: Path) -> None:
    ad.AnnData(X=frame.to_numpy(), obs=pd.DataFrame(index=frame.index.astype(str))).write_h5ad(
        path)


def _npz_arrays(frame: pd.DataFrame, path: Path) -> None:
    np.savez(path, genes=frame.index.to_numpy(dtype=str), embeddings=frame.to_numpy())


def _npz_per_gene(frame: pd.DataFrame, path: Path) -> None:
    np.savez(path, **{gene: row.to_numpy() for gene, row in frame.iterrows()})


def _torch(frame: pd.DataFrame, path: Path) -> None:
    torch.save({gene: torch.from_numpy(row.to_numpy().copy()) for gene, row in frame.iterrows()},
               path)


WRITERS = [
    pytest.param("table.tsv", _delimited("\t", "gene"), id="tsv"),
    pytest.param("table.tsv.gz", _delimited("\t", "symbol"), id="tsv.gz"),
    pytest.param("table.TXT", _delimited("\t", "gene"), id="txt-upper-case"),
    pytest.param("table.csv", _delimited(",", "name"), id="csv"),
    pytest.param("table.csv.gz", _delimited(",", "gene"), id="csv.gz"),
    pytest.param("table.parquet", _parquet, id="parquet"),
    pytest.param("table.h5ad", _h5ad, id="h5ad"),
    pytest.param("table.npz", _npz_arrays, id="npz-arrays"),
    pytest.param("table_genes.npz", _npz_per_gene, id="npz-per-gene"),
    pytest.param("table.pt", _torch, id="pt"),
    pytest.param("table.pth", _torch, id="pth"),
]


@pytest.mark.parametrize(("name", "write"), WRITERS)
def test_every_format_reads_the_same_table(frame, tmp_path, name, write):
    path = tmp_path / name
    write(frame, path)
    for source in (path, str(path)):
        table = read_embeddings(source)
        assert isinstance(table, EmbeddingTable)
        assert list(table.genes) == list(frame.index)
        assert table.values.dtype == np.float32 and table.dim == 16
        np.testing.assert_allclose(table.values, frame.to_numpy(), rtol=1e-6)
    loaded = load_embeddings(path)
    np.testing.assert_array_equal(loaded.values, table.values)


def test_dataframes_and_tables_are_accepted(frame):
    from_index = load_embeddings(frame)
    from_column = load_embeddings(frame.reset_index())
    unnamed = load_embeddings(frame.rename_axis(None))
    for table in (from_index, from_column, unnamed):
        assert list(table.genes) == list(frame.index)
        np.testing.assert_array_equal(table.values, frame.to_numpy())
    assert load_embeddings(from_index) is from_index
    with pytest.raises(TypeError, match="embeddings must be a file path.*not list"):
        load_embeddings([[1.0, 2.0]])


@pytest.mark.parametrize("layout", ["gene-column-last", "gene-index", "first-column"])
def test_parquet_layouts(frame, tmp_path, monkeypatch, layout):
    """How a parquet frame names its genes (runs without pyarrow: the reader is stubbed)."""
    numeric = frame.rename(columns=lambda c: f"dim{c}")
    stored = {
        "gene-column-last": numeric.reset_index().iloc[:, list(range(1, 17)) + [0]],
        "gene-index": numeric,
        "first-column": numeric.rename_axis("symbol").reset_index(),
    }[layout]
    path = tmp_path / "table.parquet"
    path.touch()
    monkeypatch.setattr(pd, "read_parquet", lambda _: stored.copy())
    table = read_embeddings(path)
    assert list(table.genes) == list(frame.index)
    np.testing.assert_array_equal(table.values, frame.to_numpy())


class Payload:
    """An arbitrary object: unpickling it would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_torch_file_with_arbitrary_object_is_refused_unexecuted(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pt"
    torch.save({"Gad2": Payload(marker)}, path)
    with pytest.raises(ValueError, match=r"evil\.pt is not a plain torch .*weights_only=True"):
        read_embeddings(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [torch.ones(3, 4), {}], ids=["tensor", "empty-dict"])
def test_torch_file_must_hold_a_gene_dictionary(tmp_path, content):
    path = tmp_path / "table.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=r"must hold a non-empty \{gene name: tensor\}"):
        read_embeddings(path)


def test_unsupported_suffix_is_refused(frame, tmp_path):
    path = tmp_path / "table.xlsx"
    frame.to_csv(path)
    with pytest.raises(ValueError, match=r"cannot read embeddings from table\.xlsx: .*\.tsv"):
        read_embeddings(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="embedding file .*absent.tsv does not exist"):
        read_embeddings(tmp_path / "absent.tsv")


def test_duplicated_genes_are_refused(frame, tmp_path):
    doubled = frame.rename(index={"Gene004": "Gene003", "Gene010": "Gene009"})
    path = tmp_path / "table.tsv"
    doubled.to_csv(path, sep="\t")
    with pytest.raises(ValueError, match=r"lists 2 gene\(s\) twice: Gene003, Gene009"):
        read_embeddings(path)
    with pytest.raises(ValueError, match="twice"):
        load_embeddings(doubled)


def test_nan_values_are_refused(frame, tmp_path):
    frame.iloc[3, 2] = np.nan
    path = tmp_path / "table.csv"
    frame.to_csv(path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        read_embeddings(path)
    frame.iloc[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        load_embeddings(frame)


def test_non_numeric_columns_are_refused(frame, tmp_path):
    frame["note"] = "x"
    path = tmp_path / "table.tsv"
    frame.to_csv(path, sep="\t")
    with pytest.raises(ValueError, match="non-numeric columns note"):
        read_embeddings(path)


def test_empty_or_misshapen_tables_are_refused():
    with pytest.raises(ValueError, match="embedding table is empty"):
        EmbeddingTable(pd.Index([], name="gene"), np.zeros((0, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="has 2 genes but values of shape"):
        EmbeddingTable(pd.Index(["A", "B"]), np.zeros((3, 4), dtype=np.float32))


# --- matching genes ---------------------------------------------------------------------------


@pytest.fixture()
def small_table() -> EmbeddingTable:
    values = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    return EmbeddingTable(pd.Index(["GAD2", "Sst", "ENSG00000141510", "Vip"]), values)


def test_align_matches_case_insensitively_and_zero_fills(small_table):
    vectors, found = small_table.align(["Gad2", "Missing", "sst", "ENSG00000141510.17", "VIP"])
    np.testing.assert_array_equal(found, [True, False, True, True, True])
    assert vectors.shape == (5, 3) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[0], small_table.values[0])
    np.testing.assert_array_equal(vectors[1], 0.0)
    np.testing.assert_array_equal(vectors[2], small_table.values[1])
    np.testing.assert_array_equal(vectors[3], small_table.values[2])
    np.testing.assert_array_equal(vectors[4], small_table.values[3])


def test_coverage_is_the_fraction_of_genes_found(small_table):
    assert small_table.coverage(["gad2", "Missing", "Sst", "Other"]) == pytest.approx(0.5)
    assert small_table.coverage(["gad2"]) == 1.0
    assert small_table.coverage(["none"]) == 0.0
    assert small_table.coverage([]) == 1.0


def test_match_genes_ignores_ensembl_versions():
    available = ["ENSG00000141510", "ENSMUSG00000026787.3", "Gad2"]
    query = ["ENSG00000141510.17", "ensmusg00000026787", "ENSMUSG00000026787.9", "ENSG1.2"]
    np.testing.assert_array_equal(match_genes(query, available), [0, 1, 1, -1])
    assert gene_key(" ENSG00000141510.17 ") == "ENSG00000141510"
    assert gene_key("Gad2.1") == "GAD2.1"  # only Ensembl identifiers lose a version


def test_match_genes_prefers_exact_matches():
    available = ["GAD2", "Gad2", "sst"]
    np.testing.assert_array_equal(match_genes(["Gad2", "GAD2", "gad2", "SST", "Vip"], available),
                                  [1, 0, 0, 2, -1])
    assert match_genes([], available).shape == (0,)
