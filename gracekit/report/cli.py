"""`gracekit report`: the regression report of a model update from the command line."""
import argparse
import errno
import sys
from pathlib import Path

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


def os_message(err):
    """One line for an OSError: our own messages name the path already; the system's get it added."""
    if err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


def _check_output(path):
    """Refuse an output path that is a folder or lies under a file, before rendering anything."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "it is a folder; give a file name for the page", str(path))
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, f"{parent} is a file, not a folder", str(parent))
            break


def main(argv=None):
    """`gracekit report ...`: print the report; exit 0, or 2 with one error line for bad input.

    Every bad file, unreadable path or unwritable output gives exit code 2 and one line on stderr
    naming the path; nothing is half-written (the HTML page is written atomically).
    """
    args = _parser().parse_args(argv)
    try:
        classes = None if args.classes is None else [c.strip() for c in args.classes.split(",")]
        y_true, y_old, y_new, names, ids = load_report_inputs(args.combined, args.true, args.old, args.new,
                                                              classes)
        rep = update_report(y_true, y_old, y_new, class_names=names, ids=ids, title=args.title,
                            top=max(args.top, 0))
    except (OSError, ValueError) as err:
        msg = os_message(err) if isinstance(err, OSError) else str(err)
        print(f"gracekit report: error: {msg}", file=sys.stderr)
        return 2
    print(rep.to_text())
    if args.html:
        import matplotlib

        matplotlib.use("Agg")
        try:
            _check_output(Path(args.html))
            rep.to_html(args.html)
        except OSError as err:
            print(f"gracekit report: error: cannot write the HTML page {args.html}: {err.strerror or err}",
                  file=sys.stderr)
            return 2
        print(f"\nHTML report written to {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
