# make bench-accuracy: every method tessella offers and every installed peer,
# in one benchmarkImputation() call per dev pair (the same folds, truth and
# metric code for all), with Seurat's anchor transfer from R.
# Pairs: osmFISH + Allen SSp; breast cancer section 2 on a 150-gene panel +
# section 1 (written by bench/accuracy_pairs.py). 5 folds over genes, seed 0.
# Prints method x (Pearson, Spearman, cosine, ARI, AMI, seconds), the genes
# whose correlation is undefined (a constant prediction; medians skip them),
# and a paired one-sided Wilcoxon test over genes of the default ("auto")
# against each row.
# Run: make bench-accuracy [BENCH_METHODS=auto,ridge,seurat]
suppressPackageStartupMessages(library(tessella))
options(width = 200)
args <- commandArgs(trailingOnly = TRUE)
pairsDir <- args[1]
outDir <- args[2]
dir.create(outDir, showWarnings = FALSE, recursive = TRUE)

offered <- tessellaMethods()
usable <- offered$method[offered$requires_reference & offered$available]
wanted <- Sys.getenv("BENCH_METHODS", "")
methods <- if (nzchar(wanted)) strsplit(wanted, ",")[[1]] else
    c("auto", setdiff(usable, "auto"), "seurat")
if (!requireNamespace("Seurat", quietly = TRUE)) {
    methods <- setdiff(methods, "seurat")
}

pairs <- list(
    osmfish = list(
        spatial = tessellaDataFile("osmfish", "osmfish_spatial.h5ad"),
        reference = tessellaDataFile("osmfish", "allen_ssp_reference.h5ad")),
    breast_cancer = list(
        spatial = file.path(pairsDir, "breast_cancer_spatial.h5ad"),
        reference = file.path(pairsDir, "breast_cancer_reference.h5ad")))

pairedTest <- function(scores, metric, other) {
    wide <- stats::reshape(scores[scores$method %in% c("auto", other),
        c("gene", "method", metric)], idvar = "gene", timevar = "method",
        direction = "wide")
    a <- wide[[paste0(metric, ".auto")]]
    b <- wide[[paste0(metric, ".", other)]]
    ok <- is.finite(a) & is.finite(b)
    p <- stats::wilcox.test(a[ok], b[ok], paired = TRUE,
        alternative = "greater", exact = FALSE)$p.value
    sprintf("%d/%d, p = %.2g", sum(a[ok] > b[ok]), sum(ok), p)
}

for (name in names(pairs)) {
    spatial <- readH5adSpatial(pairs[[name]]$spatial)
    reference <- readH5adSpatial(pairs[[name]]$reference)
    scores <- benchmarkImputation(spatial, reference, methods = methods,
        folds = 5, seed = 0, clustering = TRUE, verbose = FALSE)
    summary <- attr(scores, "summary")
    clusters <- attr(scores, "clustering")
    table <- data.frame(method = rownames(summary),
        pearson = summary$pearson, spearman = summary$spearman,
        cosine = summary$cosine, ari = clusters[rownames(summary), "ari"],
        ami = clusters[rownames(summary), "ami"], seconds = summary$seconds,
        undefined = vapply(rownames(summary), function(m)
            sum(is.na(scores$pearson[scores$method == m])), integer(1)))
    others <- setdiff(table$method, c("auto", "mean"))
    table$auto_wins_pearson <- vapply(table$method, function(m)
        if (m %in% others) pairedTest(scores, "pearson", m) else "",
        character(1))
    table$auto_wins_spearman <- vapply(table$method, function(m)
        if (m %in% others) pairedTest(scores, "spearman", m) else "",
        character(1))
    table <- table[order(-table$pearson), ]
    utils::write.csv(table, file.path(outDir, paste0("accuracy_", name,
        ".csv")), row.names = FALSE)
    utils::write.csv(scores, file.path(outDir, paste0("accuracy_", name,
        "_genes.csv")), row.names = FALSE)
    message("\n", name, ": ", nrow(spatial), " genes, ", ncol(spatial),
        " cells; medians over held-out genes, 5 folds, seed 0")
    numeric <- vapply(table, is.numeric, logical(1))
    table[numeric] <- lapply(table[numeric], round, 3)
    print(table, row.names = FALSE)
}
versions <- utils::read.delim(file.path(pairsDir, "versions.tsv"),
    header = FALSE)
message("\nversions: ", paste(versions[[1]], versions[[2]], sep = " ",
    collapse = "; "), "; Seurat ",
    if (requireNamespace("Seurat", quietly = TRUE))
        as.character(utils::packageVersion("Seurat")) else "not installed")
