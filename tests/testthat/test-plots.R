# plotImputed() and plotReliability(): the built ggplot's panels and data.

panelLayout <- function(plot) {
    layout <- ggplot2::ggplot_build(plot)$layout$layout
    data.frame(label = as.character(layout$label),
        source = as.character(layout$source))
}

test_that("plotImputed draws measured and imputed genes side by side", {
    data <- downstreamData()
    genes <- c("Plp1", "Gad2", "Aldoc")
    plot <- plotImputed(data$sce, genes, measured = data$spatial)
    expect_s3_class(plot, "ggplot")
    built <- ggplot2::ggplot_build(plot)
    reliability <- storedReliability(data$sce, "auto")
    labels <- c(sprintf("%s (reliability %.2f)", genes[1:2],
        reliability[genes[1:2]]), "Aldoc")
    layout <- panelLayout(plot)
    expect_identical(layout$label, rep(labels, each = 2))
    expect_identical(layout$source, rep(c("measured", "auto"), 3))
    frame <- plot$data
    expect_identical(levels(frame$gene), genes)
    stored <- storedValues(data$sce, "auto")
    # the engine's normalisation: to the median of the non-zero totals
    counts <- as.matrix(SummarizedExperiment::assay(data$spatial, "counts"))
    totals <- colSums(counts)
    truth <- log1p(sweep(counts, 2, totals, "/") *
        stats::median(totals[totals > 0]))
    for (gene in genes) {
        imputed <- frame[frame$gene == gene & frame$source == "auto", ]
        measured <- frame[frame$gene == gene & frame$source == "measured", ]
        expect_identical(imputed$cell, colnames(data$sce))
        expect_equal(imputed$value, unname(stored[gene, ]))
        expect_equal(measured$value, unname(truth[gene, ]))
        scaled <- c(imputed$scaled, measured$scaled)
        expect_true(all(scaled[is.finite(scaled)] >= 0 &
            scaled[is.finite(scaled)] <= 1))
    }
    points <- built$data[[1]]
    expect_equal(nrow(points), nrow(frame))
    expect_equal(sort(unique(points$PANEL)), factor(1:6))
    xy <- SingleCellExperiment::reducedDim(data$sce, "spatial")
    expect_equal(points$x[points$PANEL == 2], unname(xy[, 1]))
})

test_that("an imputed gene without a measurement has its imputed panel", {
    data <- downstreamData()
    plot <- plotImputed(data$sce, c("Vip", "Aldoc"))
    frame <- plot$data
    expect_identical(unique(as.character(frame$source[frame$gene == "Vip"])),
        "auto")
    expect_identical(sort(unique(as.character(
        frame$source[frame$gene == "Aldoc"]))), c("auto", "measured"))
    layout <- panelLayout(plot)
    expect_equal(nrow(layout), 4)
    expect_error(plotImputed(data$sce, "NotAGene"), "has no gene\\(s\\)")
})

test_that("plotImputed works on a Seurat object and renders to PNG", {
    skip_if_not_installed("Seurat")
    seurat <- downstreamSeurat()
    plot <- plotImputed(seurat, c("Plp1", "Aldoc"))
    frame <- plot$data
    values <- as.matrix(SeuratObject::GetAssayData(seurat, assay = "auto",
        slot = "data"))
    imputed <- frame[frame$gene == "Plp1" & frame$source == "auto", ]
    expect_equal(imputed$value, unname(values["Plp1", ]))
    coords <- SeuratObject::GetTissueCoordinates(seurat[["fov"]])
    expect_equal(imputed$x, coords$x[match(colnames(seurat), coords$cell)])
    # Plp1 is not measured in the Seurat object: its measured panel is empty
    expect_equal(nrow(panelLayout(plot)), 4)
    expect_equal(length(unique(ggplot2::ggplot_build(plot)$data[[1]]$PANEL)),
        3)
    file <- tempfile(fileext = ".png")
    ggplot2::ggsave(file, plot, width = 6, height = 6, dpi = 50)
    expect_gt(file.size(file), 1000)
})

test_that("plotImputed on a SpatialExperiment reads spatialCoords", {
    if (!requireNamespace("SpatialExperiment", quietly = TRUE)) {
        skip(paste("SpatialExperiment is not installed: no registry reachable",
            "here has it (Debian 12 does not package it)"))
    }
    data <- downstreamData()
    sce <- data$sce
    spe <- SpatialExperiment::SpatialExperiment(
        assays = list(counts = SummarizedExperiment::assay(sce, "counts")),
        spatialCoords = SingleCellExperiment::reducedDim(sce, "spatial"))
    spe <- suppressMessages(imputeSpatial(spe, data$reference,
        method = "mean", genes = "Vip", verbose = FALSE))
    plot <- plotImputed(spe, "Vip")
    expect_equal(plot$data$x,
        unname(SpatialExperiment::spatialCoords(spe)[, 1]))
})

test_that("plotReliability sorts the imputed genes by reliability", {
    data <- downstreamData()
    plot <- plotReliability(data$both, name = "auto")
    expect_s3_class(plot, "ggplot")
    reliability <- sort(storedReliability(data$sce, "auto"),
        decreasing = TRUE)
    expect_identical(as.character(plot$data$gene), names(reliability))
    expect_equal(plot$data$reliability, unname(reliability))
    # highest at the top: the first level is drawn at the bottom
    expect_identical(levels(plot$data$gene), rev(names(reliability)))
    bars <- ggplot2::ggplot_build(plot)$data[[1]]
    expect_equal(bars$xmax[order(bars$y, decreasing = TRUE)],
        unname(reliability))
    expect_error(plotReliability(data$both, name = "knn"),
        "no reliability estimate .*\"auto\" and \"graph\"")
    expect_error(plotReliability(data$both), "choose one with name =")
})

test_that("plotReliability works on a Seurat object", {
    skip_if_not_installed("Seurat")
    seurat <- downstreamSeurat()
    plot <- plotReliability(seurat)
    features <- seurat[["auto"]][[]]
    imputed <- features[!features$measured, ]
    expect_setequal(as.character(plot$data$gene), rownames(imputed))
    expect_equal(plot$data$reliability, sort(imputed$reliability,
        decreasing = TRUE))
})
