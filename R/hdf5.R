# Large results cross from the engine through an .h5ad file and stay on disk
# as HDF5-backed matrices (HDF5Array); small ones cross in memory.

.hdf5Default <- 2e8

# The number of values (cells x genes) from which a result is kept on disk:
# getOption("tessella.hdf5Threshold"), Inf when HDF5Array is not installed.
.hdf5Threshold <- function() {
    threshold <- getOption("tessella.hdf5Threshold", .hdf5Default)
    if (!is.numeric(threshold) || length(threshold) != 1 ||
        is.na(threshold) || threshold < 0) {
        .tessellaStop("options(tessella.hdf5Threshold) must be one number ",
            ">= 0 (0: always on disk, Inf: always in memory), got ",
            deparse(threshold), ".")
    }
    if (is.finite(threshold) && !.hasHDF5Array()) {
        return(Inf)
    }
    as.numeric(threshold)
}

.hasHDF5Array <- function() {
    requireNamespace("HDF5Array", quietly = TRUE)
}

# The options that tell the engine where a large result goes: a new file in
# getOption("tessella.hdf5Dir", tempdir()).
.hdf5Options <- function() {
    threshold <- .hdf5Threshold()
    if (!is.finite(threshold)) {
        return(list(hdf5_threshold = Inf))
    }
    folder <- getOption("tessella.hdf5Dir", tempdir())
    if (!is.character(folder) || length(folder) != 1 || !dir.exists(folder)) {
        .tessellaStop("options(tessella.hdf5Dir) must name a folder that ",
            "exists, got ", deparse(folder), ".")
    }
    list(hdf5_threshold = threshold, hdf5_file = tempfile("tessella-",
        tmpdir = normalizePath(folder), fileext = ".h5ad"))
}

# A result whose values came through a file: refined and imputed genes as
# HDF5-backed matrices (genes x cells: rhdf5 reads the file's cells x genes
# `X` reversed, so nothing is transposed).
.readResultFile <- function(result) {
    if (is.null(result$file)) {
        .noteWithoutHDF5Array(result)
        return(result)
    }
    values <- HDF5Array::HDF5Array(result$file, "X")
    nMeasured <- length(result$measured_genes)
    nImputed <- length(result$imputed_genes)
    result$refined <- values[seq_len(nMeasured), , drop = FALSE]
    result$imputed <- values[nMeasured + seq_len(nImputed), , drop = FALSE]
    result
}

# A result over the threshold that stayed in memory for want of HDF5Array.
.noteWithoutHDF5Array <- function(result) {
    threshold <- getOption("tessella.hdf5Threshold", .hdf5Default)
    size <- as.numeric(length(result$empty)) * (length(result$measured_genes) +
        length(result$imputed_genes))
    if (is.numeric(threshold) && length(threshold) == 1 && !is.na(threshold) &&
        size > 0 && size >= threshold && !.hasHDF5Array()) {
        .tessellaMessage("tessella: the result (", format(size, big.mark = ","),
            " values) is held in memory; install HDF5Array (Bioconductor; ",
            "Debian: r-bioc-hdf5array) to keep results of this size on disk.")
    }
}
