"""`gracekit gate`: decide from files whether a model update may ship (exit 0 pass, 1 regresses, 2 bad input)."""
import argparse
import sys
from pathlib import Path

from gracekit.report.cli import os_message

from gracekit.report.gate import CORRECTIONS, gate_update
from gracekit.report.gate_format import FORMATS, render
from gracekit.report.gate_io import load_retrain, load_slices
from gracekit.report.intervals import METHODS
from gracekit.report.io import load_report_inputs

__all__ = ["main", "emit", "add_output_options"]

EXAMPLES = """examples:
  gracekit gate --true y.npy --old old.csv --new new.csv --max-nfr 0.01
  gracekit gate --true y.npy --old old.npy --new new.npy --old-retrain retrain.npy --slices slices.csv
  gracekit gate predictions.csv --max-error-increase 0 --format junit --output gate.xml

exit status: 0 the update passes, 1 it regresses beyond the budget, 2 bad input (one error line).
A check fails only when the interval of its excess over the budget lies entirely above zero
(--strict: when the point estimate is over budget). Every true class is a slice; --slices adds
attribute columns. See docs/gate.md."""


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not -1 <= v <= 1:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1] (e.g. 0.01 for 1%), got {text!r}")
    return v


def _confidence(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.5 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a confidence in [0.5, 1), e.g. 0.95, got {text!r}")
    return v


def add_output_options(p):
    """--format, --output and --confidence (shared by gate and compat)."""
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="output format (default text; json has schema gracekit.gate/1 or gracekit.compat/1)")
    p.add_argument("--output", metavar="PATH", help="write the formatted result to PATH (the text summary "
                                                    "still goes to the terminal)")
    p.add_argument("--confidence", type=_confidence, default=0.95, help="coverage of the intervals (default 0.95)")
    p.add_argument("--strict", action="store_true", help="decide on point estimates, not intervals")


def _parser():
    p = argparse.ArgumentParser(prog="gracekit gate", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Regression gate for a model update: NFR, PFR and the error change "
                                            "with confidence intervals, checked against a budget, overall and "
                                            "per slice.")
    p.add_argument("combined", nargs="?", help="one CSV with columns y_true, y_old, y_new")
    p.add_argument("--true", help="true labels: .npy, or CSV with a y_true column")
    p.add_argument("--old", help="old model's predictions: CSV (label or score_<class> columns) or .npy")
    p.add_argument("--new", help="new model's predictions, same formats")
    p.add_argument("--classes", help="class names in index order, comma-separated")
    b = p.add_argument_group("budget (at least one)")
    b.add_argument("--max-nfr", type=_fraction, help="largest allowed negative flip rate, e.g. 0.01")
    b.add_argument("--max-nfi", type=_fraction, help="largest allowed negative flip impact NFR / Err_new")
    b.add_argument("--max-error-increase", type=_fraction,
                   help="largest allowed Err_new - Err_old (0: no increase; negative: require a gain)")
    b.add_argument("--old-retrain", metavar="FILE",
                   help="predictions of the old recipe retrained (other seed or data): its NFR is the budget")
    s = p.add_argument_group("slices")
    s.add_argument("--slices", metavar="FILE", help="CSV with one column per slice attribute, one row per sample")
    s.add_argument("--no-class-slices", action="store_true", help="do not check each true class as a slice")
    s.add_argument("--min-slice-size", type=int, default=30,
                   help="slices with fewer samples are reported, not judged (default 30)")
    s.add_argument("--slice-correction", choices=CORRECTIONS, default="bonferroni",
                   help="multiple-testing correction of the slice intervals (default bonferroni)")
    st = p.add_argument_group("statistics and output")
    st.add_argument("--ci", choices=METHODS, default="exact",
                    help="exact: Clopper-Pearson and McNemar-conditional intervals; bootstrap: percentile bootstrap")
    st.add_argument("--n-boot", type=int, default=2000, help="bootstrap draws (default 2000)")
    st.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    add_output_options(st)
    return p


def emit(prog, result, args):
    """Print (or write) ``result`` in ``args.format``; the text goes to the terminal when writing a file."""
    out = render(result, args.format)
    if args.output:
        path = Path(args.output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(out, encoding="utf-8")
        except OSError as err:
            raise ValueError(f"{path}: cannot write the output ({err.strerror or err})") from None
        print(render(result, "text"))
        print(f"\n{prog}: {args.format} written to {path}")
    else:
        print(out, end="" if out.endswith("\n") else "\n")


def main(argv=None):
    """`gracekit gate ...`: exit 0 when the update passes, 1 when it regresses, 2 for bad input."""
    p = _parser()
    args = p.parse_args(argv)
    if args.min_slice_size < 1:
        p.error(f"--min-slice-size must be >= 1, got {args.min_slice_size}")
    if args.n_boot < 100:
        p.error(f"--n-boot must be >= 100, got {args.n_boot}")
    if args.old_retrain is None and args.max_nfr is None and args.max_nfi is None and args.max_error_increase is None:
        p.error("no budget: give --max-nfr, --max-nfi, --max-error-increase and/or --old-retrain")
    try:
        classes = None if args.classes is None else [c.strip() for c in args.classes.split(",")]
        y_true, y_old, y_new, names, ids = load_report_inputs(args.combined, args.true, args.old, args.new, classes)
        retrain = None if args.old_retrain is None else load_retrain(args.old_retrain, names, len(y_true))
        slices = None if args.slices is None else load_slices(args.slices, len(y_true), ids)
        for name in ("max_nfr", "max_nfi"):
            if getattr(args, name) is not None and getattr(args, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(args, name)}")
        result = gate_update(y_true, y_old, y_new, y_retrain=retrain, max_nfr=args.max_nfr, max_nfi=args.max_nfi,
                             max_error_increase=args.max_error_increase, slices=slices,
                             class_slices=not args.no_class_slices, class_names=names,
                             confidence=args.confidence, method=args.ci, strict=args.strict,
                             min_slice_size=args.min_slice_size, correction=args.slice_correction,
                             n_boot=args.n_boot, seed=args.seed)
        emit("gracekit gate", result, args)
    except (OSError, ValueError) as err:  # every bad path or file: one line naming it, exit code 2
        msg = os_message(err) if isinstance(err, OSError) else str(err)
        print(f"gracekit gate: error: {msg}", file=sys.stderr)
        return 2
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
