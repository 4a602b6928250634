"""Command line: ``tessella refine|impute|benchmark|info``, and to train once and
predict many ``tessella fit|predict|pretrain`` (models saved with ``--save``,
read with ``--model``).

Inputs and outputs are ``.h5ad`` files or ``.rds`` R objects
(SingleCellExperiment, SpatialExperiment, Seurat; needs ``tessella[r]``). A
result written to ``.rds`` from an ``.rds`` input is that object enriched, as
the R package returns it.

Exit statuses (also in ``tessella --help``): 0 success; 2 (``EXIT_USAGE``) a
problem with what was passed (bad arguments, an input error, a file that does
not exist), reported as one line ``tessella: error: ...`` on stderr; 70
(``EXIT_BUG``, sysexits' EX_SOFTWARE) an internal error, a bug in tessella:
the full traceback on stderr, then one line asking to report it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from tessella.errors import InputError

EXIT_USAGE = 2
EXIT_BUG = 70
EXIT_STATUSES = f"""exit status:
  0    success
  {EXIT_USAGE}    a problem with what was passed (arguments, input data, a missing file):
       one line "tessella: error: ..." on stderr
  {EXIT_BUG}   an internal error, a bug in tessella: the traceback on stderr and a request
       to report it"""


def one_line(message: object) -> str:
    """An error message as the one line the boundaries promise (a message that
    quotes another library's may hold line breaks)."""
    return " ".join(str(message).split())


def parse_value(text: str) -> Any:
    """``'200'`` -> 200, ``'1e-3'`` -> 0.001, ``'true'`` -> True, anything else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["max_epochs=200", "lr=1e-3"]`` -> a dict of hyper-parameters."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--param takes NAME=VALUE, not {item!r}.")
        params[key] = parse_value(value)
    return params


def split_names(text: str | None) -> list[str] | None:
    """Comma-separated names, or the lines of a file given as ``@path``."""
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"could not read the names in {path}: {err}") from err
        return [line.strip() for line in lines if line.strip()]
    return [name.strip() for name in text.split(",") if name.strip()]


def is_rds(path: str | None) -> bool:
    return path is not None and path.lower().endswith(".rds")


def load(path: str | None, assay: str, role: str = "x") -> Any:
    """An ``.rds`` file read as AnnData (its ``assay``); other paths pass through."""
    if not is_rds(path):
        return path
    from tessella import rbridge

    return rbridge.read_rds(path, assay=assay, role=role)


def check_output(path: str | None) -> None:
    """Refuse, before any work, an output file whose folder does not exist."""
    if path is not None and not Path(path).absolute().parent.is_dir():
        raise InputError(f"cannot write {path}: its folder {Path(path).parent} does not exist.")


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """A file the system refuses to write (permissions, a full disk) is reported
    as the problem it is, not as a bug."""
    try:
        yield
    except OSError as err:
        raise InputError(f"could not write {path}: {err}") from err


def save(result: Any, path: str, like: str) -> None:
    """Write a result to ``.h5ad``, or to ``.rds``: into ``like`` when it is an
    ``.rds``, into the SingleCellExperiment ``readH5adSpatial()`` makes of it when
    it is an ``.h5ad`` (counts, colData, coordinates and the result)."""
    with writing(path):
        if is_rds(path):
            from tessella import rbridge

            keep = is_rds(like) or str(like).lower().endswith(".h5ad")
            rbridge.write_rds(result, path, like=like if keep else None)
        else:
            result.write_h5ad(path)


def _input_options(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    """How the spatial input is read, and the run's seed, device and progress bars."""
    parser.add_argument("--layer", help="layer holding expression, for .h5ad (default X)")
    parser.add_argument("--assay", default="counts",
                        help="assay (SCE/SPE) or layer (Seurat) of an .rds input")
    parser.add_argument("--input-scale", default="auto", choices=("auto", "counts", "log"))
    if seed:
        parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _common(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    parser.add_argument("spatial", help="spatial data, .h5ad or .rds")
    _input_options(parser, seed)


def _genes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--genes", help="genes to impute: a,b,c or @file (default: all)")


def _param_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a hyper-parameter of the method (repeatable)")


def _out_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="result file, .h5ad or .rds")


def _save_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--save", required=True, metavar="MODEL.pt",
                        help="file to save the fitted model to (read it with --model)")


def _predict_parser(sub: argparse._SubParsersAction, name: str, help_text: str):
    parser = sub.add_parser(name, help=help_text)
    _common(parser)
    _genes_option(parser)
    _param_option(parser)
    _out_option(parser)
    return parser


def _reference_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--reference", required=required,
                        help="scRNA-seq reference, .h5ad or .rds")
    parser.add_argument("--reference-layer", help="layer holding expression, for .h5ad")
    parser.add_argument("--reference-assay", default="counts",
                        help="assay (SCE/SPE) or layer (Seurat) of an .rds reference")
    parser.add_argument("--reference-input-scale", default="auto",
                        choices=("auto", "counts", "log"))


def _train_once_parsers(sub: argparse._SubParsersAction) -> None:
    """``fit`` (saves a model), ``predict`` (applies one) and ``pretrain``."""
    fit = sub.add_parser("fit", help="fit a method once and save the model (--save)")
    _common(fit)
    _reference_options(fit, required=False)
    fit.add_argument("--method", default="auto")
    fit.add_argument("--embeddings", help="gene-embedding table, for methods that use one")
    _genes_option(fit)
    _param_option(fit)
    _save_option(fit)
    predict = sub.add_parser("predict", help="impute a slide with a saved model, no training")
    _common(predict, seed=False)
    predict.add_argument("--model", required=True, metavar="MODEL.pt",
                         help="a model saved by tessella fit or pretrain")
    _reference_options(predict, required=False)
    predict.add_argument("--embeddings", help="gene-embedding table (needed by refine)")
    _genes_option(predict)
    _out_option(predict)
    pretrain = sub.add_parser("pretrain", help="pretrain refine on two or more slides")
    pretrain.add_argument("slides", nargs="+", help="spatial slides, .h5ad or .rds")
    _input_options(pretrain)
    pretrain.add_argument("--embeddings", required=True, help="gene-embedding table")
    _param_option(pretrain)
    _save_option(pretrain)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tessella",
        description="Impute and denoise genes in spatial transcriptomics.",
        epilog=EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    refine = _predict_parser(sub, "refine", "reference-free: denoise any panel, impute "
                                            "genes from their embeddings")
    refine.add_argument("--embeddings", help="gene-embedding table (without one, refine "
                                              "denoises the measured genes only)")
    refine.add_argument("--model", metavar="MODEL.pt",
                        help="a refine model (pretrain, fit) to fine-tune instead of "
                             "training from scratch")
    impute = _predict_parser(sub, "impute", "reference-based imputation")
    _reference_options(impute, required=True)
    impute.add_argument("--method", default="auto")
    impute.add_argument("--embeddings", help="gene-embedding table, for methods that use one")
    bench = sub.add_parser("benchmark", help="compare methods: imputation (k-fold over "
                           "genes) or denoising (molecular cross-validation)")
    _common(bench)
    _reference_options(bench, required=False)
    bench.add_argument("--task", choices=("impute", "denoise"), default="impute",
                       help="impute: hide folds of genes and impute them; denoise: split "
                            "the counts in halves, denoise one, score against the other")
    bench.add_argument("--embeddings")
    bench.add_argument("--methods", help="comma-separated (default impute: refine,knn,mean; "
                                         "denoise: raw,knn_smoothing,spatial_smoothing,refine)")
    bench.add_argument("--folds", type=int, default=5)
    bench.add_argument("--genes", help="genes to evaluate: a,b,c or @file")
    bench.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE")
    bench.add_argument("--clustering", action="store_true",
                       help="also score Leiden clusterings of the imputed genes")
    bench.add_argument("--labels", help="obs column of cell labels for --clustering (and "
                                        "for the denoising clustering scores)")
    bench.add_argument("--out", help="per-gene scores, .csv")
    _train_once_parsers(sub)
    sub.add_parser("info", help="versions, devices and available methods")
    return parser


def _run_predict(args: argparse.Namespace) -> None:
    import tessella

    check_output(args.out)
    common = dict(layer=args.layer, input_scale=args.input_scale, seed=args.seed,
                  device=args.device, verbose=not args.quiet, **parse_params(args.param))
    genes = split_names(args.genes)
    spatial = load(args.spatial, args.assay)
    if args.command == "refine":
        result = tessella.refine(spatial, args.embeddings, genes, model=args.model,
                                 out=_h5ad_out(args.out), **common)
    else:
        result = tessella.impute(spatial,
                                 load(args.reference, args.reference_assay, "reference"),
                                 args.method, genes, embeddings=args.embeddings,
                                 reference_layer=args.reference_layer,
                                 reference_input_scale=args.reference_input_scale,
                                 out=_h5ad_out(args.out), **common)
    _write_result(result, args)


def _h5ad_out(path: str) -> str | None:
    """An ``.h5ad`` result is written by the engine itself, block by block
    (:func:`tessella.output.write_h5ad`); others (``.rds``) here, from memory."""
    return path if path.lower().endswith(".h5ad") else None


def _write_result(result: Any, args: argparse.Namespace) -> None:
    if _h5ad_out(args.out) is None:
        save(result, args.out, like=args.spatial)
    print(f"wrote {args.out}: {result.n_obs} cells x {result.n_vars} genes "
          f"({int(result.var['measured'].sum())} measured)")
    if result.isbacked:
        result.file.close()


def _save_model(model: Any, path: str) -> None:
    with writing(path):
        model.save(path)
    genes = model.preprocessing
    print(f"saved {path}: {model.name} model reading {len(genes['measured_genes'])} genes, "
          f"imputing {len(genes['target_genes'])}")


def _run_fit(args: argparse.Namespace) -> None:
    import tessella

    check_output(args.save)
    model = tessella.fit(
        load(args.spatial, args.assay), load(args.reference, args.reference_assay, "reference"),
        args.method, split_names(args.genes), embeddings=args.embeddings, layer=args.layer,
        reference_layer=args.reference_layer, input_scale=args.input_scale,
        reference_input_scale=args.reference_input_scale, seed=args.seed, device=args.device,
        verbose=not args.quiet, **parse_params(args.param))
    _save_model(model, args.save)


def _run_model_predict(args: argparse.Namespace) -> None:
    import tessella

    check_output(args.out)
    result = tessella.predict(
        args.model, load(args.spatial, args.assay), split_names(args.genes),
        reference=load(args.reference, args.reference_assay, "reference"),
        embeddings=args.embeddings, layer=args.layer, reference_layer=args.reference_layer,
        input_scale=args.input_scale, reference_input_scale=args.reference_input_scale,
        device=args.device, out=_h5ad_out(args.out))
    _write_result(result, args)


def _run_pretrain(args: argparse.Namespace) -> None:
    import tessella

    check_output(args.save)
    model = tessella.pretrain(
        [load(path, args.assay) for path in args.slides], args.embeddings, layer=args.layer,
        input_scale=args.input_scale, seed=args.seed, device=args.device,
        verbose=not args.quiet, **parse_params(args.param))
    _save_model(model, args.save)


def method_params(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["refine.max_epochs=200"]`` -> ``{"refine": {"max_epochs": 200}}``."""
    per_method: dict[str, dict[str, Any]] = {}
    for key, value in parse_params(items).items():
        method, sep, name = key.partition(".")
        if not sep:
            raise InputError(f"benchmark --param takes METHOD.NAME=VALUE, not {key!r}.")
        per_method.setdefault(method, {})[name] = value
    return per_method


def _run_benchmark(args: argparse.Namespace) -> None:
    import tessella

    check_output(args.out)
    if args.task == "denoise":
        _run_denoise_benchmark(args)
        return
    scores = tessella.benchmark(
        load(args.spatial, args.assay),
        reference=load(args.reference, args.reference_assay, "reference"),
        embeddings=args.embeddings,
        methods=split_names(args.methods), folds=args.folds, seed=args.seed,
        genes=split_names(args.genes), layer=args.layer, reference_layer=args.reference_layer,
        input_scale=args.input_scale, reference_input_scale=args.reference_input_scale,
        device=args.device, verbose=not args.quiet,
        params=method_params(args.param), labels=args.labels, clustering=args.clustering)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print("median per method:")
        print(pd.DataFrame(scores.attrs["summary"]).to_string())
        if "clustering" in scores.attrs:
            print("clustering agreement:")
            print(pd.DataFrame(scores.attrs["clustering"]).to_string())
    if args.out:
        with writing(args.out):
            scores.to_csv(args.out, index=False)
        print(f"wrote {args.out}")


def _run_denoise_benchmark(args: argparse.Namespace) -> None:
    import tessella

    if args.reference or args.genes:
        raise InputError("--reference and --genes belong to --task impute; the denoising "
                         "benchmark scores every measured gene of the slide alone.")
    scores = tessella.benchmark(
        load(args.spatial, args.assay), embeddings=args.embeddings,
        methods=split_names(args.methods), seed=args.seed, task="denoise",
        layer=args.layer, input_scale=args.input_scale, device=args.device,
        verbose=not args.quiet, params=method_params(args.param), labels=args.labels)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print(f"denoising (molecular cross-validation; clustering against "
              f"{scores.attrs['clustering_reference']}):")
        print(scores.to_string(index=False))
    if args.out:
        with writing(args.out):
            scores.to_csv(args.out, index=False)
        print(f"wrote {args.out}")


def _run_info() -> None:
    import torch

    import tessella
    from tessella.denoisers import available_denoisers
    from tessella.result import package_versions

    for name, value in package_versions().items():
        print(f"{name}: {value}")
    print(f"cuda available: {torch.cuda.is_available()}")
    print("methods:")
    print(tessella.available_methods().to_string(index=False))
    print("hyper-parameters (--param NAME=VALUE; --seed and --device apply to all methods):")
    for method, rows in tessella.available_methods(parameters=True).groupby("method"):
        print(f"  {method}:")
        for row in rows.itertuples():
            print(f"    {row.parameter} = {row.default}  ({row.range})  {row.meaning}")
    print("denoising methods (benchmark --task denoise):")
    print(available_denoisers().to_string(index=False))


#: What each command (but ``info``) runs.
COMMANDS = {"refine": _run_predict, "impute": _run_predict, "benchmark": _run_benchmark,
            "fit": _run_fit, "predict": _run_model_predict, "pretrain": _run_pretrain}


def _report_bug() -> None:
    """The traceback of the exception being handled, and a request to report it."""
    import tessella

    traceback.print_exc(file=sys.stderr)
    print(f"tessella: internal error: this is a bug in tessella {tessella.__version__}, not "
          "a problem with your input; please report it with the traceback above and the "
          "output of `tessella info`.", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tessella`` command; returns the exit status.

    0 on success; ``EXIT_USAGE`` (2) for a problem with what was passed
    (:class:`tessella.InputError`, a missing file: one line on stderr;
    argparse's usage errors exit with 2 too); ``EXIT_BUG`` (70) for any other
    exception, a bug: its traceback and a request to report it.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if args.command == "info":
            _run_info()
        else:
            COMMANDS[args.command](args)
    except (InputError, FileNotFoundError) as err:
        print(f"tessella: error: {one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # anything else is tessella's bug: show where it happened
        _report_bug()
        return EXIT_BUG
    return 0


if __name__ == "__main__":
    sys.exit(main())
