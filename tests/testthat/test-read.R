# readH5adSpatial() carries every slot an SCE can hold and names the rest.

writeRichH5ad <- function(path) {
    python <- tessellaPython()$python
    if (is.na(python)) {
        skip("needs a tessella Python to write the test file")
    }
    script <- tempfile(fileext = ".py")
    writeLines(c(
        "import sys, numpy as np, pandas as pd, scipy.sparse as sp",
        "import anndata as ad",
        "rng = np.random.default_rng(0)",
        "x = sp.random(6, 4, density=0.5, format='csr', random_state=0) * 10",
        "x.data = np.round(x.data) + 1",
        "obs = pd.DataFrame({'n': [1.5, 2, np.nan, 4, 5, 6],",
        "    'k': np.arange(6), 'ok': [True, False] * 3,",
        "    'type': pd.Categorical(['a', 'b', None, 'a', 'b', 'a'],",
        "        categories=['b', 'a']),",
        "    'name': ['u', None, 'w', 'x', 'y', 'z']},",
        "    index=[f'c{i}' for i in range(6)])",
        "var = pd.DataFrame({'id': list('ABCD'), 'len': [1.0, 2, 3, 4]},",
        "    index=[f'g{i}' for i in range(4)])",
        "a = ad.AnnData(x, obs=obs, var=var)",
        "a.layers['dense'] = x.toarray() * 2",
        "a.layers['sparse_csc'] = sp.csc_matrix(x)",
        "a.obsm['spatial'] = rng.random((6, 2))",
        "a.obsm['X_umap'] = rng.random((6, 2))",
        "a.obsm['table'] = pd.DataFrame({'q': range(6)}, index=a.obs_names)",
        "a.uns['colors'] = ['red']; a.uns['note'] = 'x'",
        "a.obsp['distances'] = sp.identity(6, format='csr')",
        "a.write_h5ad(sys.argv[1])"), script)
    status <- system2(python, c(script, path))
    expect_equal(status, 0)
}

test_that("sparse and dense matrices, obs, var and obsm are carried", {
    skipWithoutEngine()
    path <- tempfile(fileext = ".h5ad")
    writeRichH5ad(path)
    expect_message(x <- readH5adSpatial(path, spatialExperiment = FALSE),
        "Not carried.*obsm table.*obsp distances.*uns \\(2 keys")
    counts <- SummarizedExperiment::assay(x, "counts")
    expect_s4_class(counts, "dgCMatrix")
    expect_identical(dim(x), c(4L, 6L))
    expect_equal(as.matrix(SummarizedExperiment::assay(x, "dense")),
        2 * as.matrix(counts), ignore_attr = TRUE)
    expect_equal(as.matrix(SummarizedExperiment::assay(x, "sparse_csc")),
        as.matrix(counts))
    cd <- SummarizedExperiment::colData(x)
    expect_identical(cd$n, c(1.5, 2, NA, 4, 5, 6))
    expect_identical(cd$k, 0:5)
    expect_identical(cd$ok, rep(c(TRUE, FALSE), 3))
    expect_identical(cd$type, factor(c("a", "b", NA, "a", "b", "a"),
        levels = c("b", "a")))
    # anndata stores string columns as categoricals
    expect_identical(as.character(cd$name), c("u", NA, "w", "x", "y", "z"))
    expect_null(dim(cd$n))
    rd <- SummarizedExperiment::rowData(x)
    expect_identical(rd$id, c("A", "B", "C", "D"))
    expect_setequal(SingleCellExperiment::reducedDimNames(x),
        c("spatial", "X_umap"))
    expect_identical(colnames(x), paste0("c", 0:5))
})

test_that("the shipped sparse data sets read as dgCMatrix", {
    skipWithoutEngine()
    path <- dataFile("visium_subset", "visium_mouse_brain.h5ad")
    x <- readH5adSpatial(path, spatialExperiment = FALSE)
    expect_s4_class(SummarizedExperiment::assay(x), "dgCMatrix")
    expect_identical(dim(x), c(100L, 2695L))
    expect_equal(sum(SummarizedExperiment::assay(x)), 132231)
    expect_true(is.integer(x$array_row) && is.null(dim(x$array_row)))
    expect_identical(dim(SingleCellExperiment::reducedDim(x, "spatial")),
        c(2695L, 2L))
    mob <- readH5adSpatial(dataFile("mob", "mob_st.h5ad"),
        spatialExperiment = FALSE)
    expect_s4_class(SummarizedExperiment::assay(mob), "dgCMatrix")
    expect_true(is.factor(mob$layer))
})
