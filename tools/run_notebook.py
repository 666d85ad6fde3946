"""Execute notebook sources (jupytext .py or .ipynb) and print the wall time of each.

Usage: python tools/run_notebook.py notebooks/01_negative_flips.py [...] [--allow-errors NAME]
Set GRACEKIT_FAST=1 for the small test sizes. Exits non-zero when a cell raises.
"""
import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def load(path):
    import jupytext
    import nbformat

    path = Path(path)
    if path.suffix == ".py":
        return jupytext.read(path)
    return nbformat.read(path, as_version=4)


def execute(path, timeout=600, allow_error_names=()):
    """Execute one notebook in its own folder; return (executed notebook, seconds)."""
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = load(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            allow_error_names=list(allow_error_names))
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--allow-errors", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    failed = 0
    for p in args.paths:
        try:
            _, seconds = execute(p, args.timeout, args.allow_errors)
            print(f"{p}: ok in {seconds:.1f} s")
        except Exception as err:  # report and go on with the others
            failed += 1
            print(f"{p}: FAILED\n{err}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
