"""Write each notebooks/NN_topic.py (jupytext percent source) to a stripped NN_topic.ipynb.

Usage: python tools/sync_notebooks.py          # write the .ipynb files
       python tools/sync_notebooks.py --check  # exit 1 when any pair is out of date
The .py file is the source of truth; the .ipynb is what Colab opens. Outputs, execution
counts and widget state are never stored.
"""
import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def sources():
    """The numbered notebook sources, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def to_ipynb(py_path):
    """The stripped notebook for one source, as a string."""
    nb = jupytext.read(py_path)
    nb.metadata = {"kernelspec": KERNELSPEC,
                   "language_info": {"name": "python"},
                   "jupytext": {"formats": "ipynb,py:percent"}}
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:03d}"  # stable ids keep the diff of the .ipynb quiet
        cell.metadata.pop("lines_to_next_cell", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale pairs")
    args = parser.parse_args(argv)
    stale = []
    for py in sources():
        target = py.with_suffix(".ipynb")
        text = to_ipynb(py)
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target)
        if not args.check:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    if args.check and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"out of date: {names}\nrun `make notebooks` (python tools/sync_notebooks.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
