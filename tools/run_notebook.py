"""Execute notebook sources (jupytext .py or .ipynb) and print the wall time of each.

Usage: python tools/run_notebook.py notebooks/01_negative_flips.py [...] [--allow-errors NAME]
Set GRACEKIT_FAST=1 for the small test sizes. Exits non-zero when a cell raises.
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

from nbrun import execute_notebook, notebook_errors  # noqa: E402

execute = execute_notebook  # name kept for older scripts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--allow-errors", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    failed = 0
    for p in args.paths:
        try:
            nb, seconds = execute_notebook(p, args.timeout, args.allow_errors)
            errors = notebook_errors(nb, args.allow_errors)
            if errors:
                raise RuntimeError(f"{errors[0]['ename']}: {errors[0]['evalue']}")
            print(f"{p}: ok in {seconds:.1f} s")
        except Exception as err:  # report and go on with the others
            failed += 1
            print(f"{p}: FAILED\n{err}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
