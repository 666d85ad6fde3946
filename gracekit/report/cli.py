"""`gracekit report`: the regression report of a model update from the command line."""
import argparse
import sys

from gracekit.report.core import update_report
from gracekit.report.io import load_report_inputs

__all__ = ["main"]


def _parser():
    p = argparse.ArgumentParser(
        prog="gracekit report",
        description="The regression report of a model update: error, NFR, PFR, relative NFR, BTC, BEC, "
                    "error overlap, flip confusion and the most confident negative flips.",
        epilog="examples:\n  gracekit report --true y.npy --old old.csv --new new.csv --html report.html\n"
               "  gracekit report predictions.csv   (columns y_true, y_old, y_new)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("combined", nargs="?", help="one CSV with columns y_true, y_old, y_new")
    p.add_argument("--true", help="true labels: .npy, or CSV with a y_true column")
    p.add_argument("--old", help="old model's predictions: CSV (label or score_<class> columns) or .npy")
    p.add_argument("--new", help="new model's predictions, same formats")
    p.add_argument("--classes", help="class names in index order, comma-separated")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained HTML page")
    p.add_argument("--title", default="Update report")
    p.add_argument("--top", type=int, default=10, help="negative flips to list (default 10)")
    return p


def main(argv=None):
    """`gracekit report ...`: print the report; exit 0, or 2 with one error line for bad input."""
    args = _parser().parse_args(argv)
    try:
        classes = None if args.classes is None else [c.strip() for c in args.classes.split(",")]
        y_true, y_old, y_new, names, ids = load_report_inputs(args.combined, args.true, args.old, args.new,
                                                              classes)
        rep = update_report(y_true, y_old, y_new, class_names=names, ids=ids, title=args.title,
                            top=max(args.top, 0))
        print(rep.to_text())
        if args.html:
            import matplotlib

            matplotlib.use("Agg")
            rep.to_html(args.html)
            print(f"\nHTML report written to {args.html}")
    except (FileNotFoundError, ValueError) as err:
        print(f"gracekit report: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
