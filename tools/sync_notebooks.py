"""Write each notebooks/NN_topic.py (jupytext percent source) to a stripped NN_topic.ipynb,
and a student copy notebooks/student/NN_topic.ipynb whose solution cells are stubs.

Usage: python tools/sync_notebooks.py          # write the .ipynb files
       python tools/sync_notebooks.py --check  # exit 1 when any file is out of date
The .py file is the source of truth; the .ipynb is what Colab opens. Outputs, execution
counts and widget state are never stored. Never edit the generated files by hand: a code cell
tagged `solution` in the source becomes, in the student copy, a cell tagged `exercise` holding only
its `# stub:` lines (uncommented), e.g. `# stub: ex1 = None  # your NFR` becomes `ex1 = None  # your
NFR`. The check cell after it (tagged `check`, kept in both copies) then says "not done yet", so Run All
goes on to the end of a student copy.
"""
import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student"
STUB_HEAD = "# Exercise: write your code here (the worked solution is in ../{name})"
STUB_PREFIX = "# stub: "


def stub(source, name):
    """The student's version of a solution cell: a header line and the cell's ``# stub:`` lines."""
    lines = [STUB_HEAD.format(name=name)]
    lines += [line[len(STUB_PREFIX):] for line in source.splitlines() if line.startswith(STUB_PREFIX)]
    return "\n".join(lines)
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def sources():
    """The numbered notebook sources, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def targets():
    """(source, generated file, is_student_copy) for every generated notebook."""
    for py in sources():
        yield py, py.with_suffix(".ipynb"), False
        yield py, STUDENT / (py.stem + ".ipynb"), True


def to_ipynb(py_path, student=False):
    """The stripped notebook for one source (or its student copy), as a string."""
    nb = jupytext.read(py_path)
    for cell in nb.cells:  # the full notebook shows the solution, not the stub lines
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []) and not student:
            cell.source = "\n".join(line for line in cell.source.splitlines()
                                    if not line.startswith(STUB_PREFIX)).strip("\n")
    if student:
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            if cell.cell_type == "code" and "solution" in tags:
                cell.source = stub(cell.source, Path(py_path).with_suffix(".ipynb").name)
                cell.metadata["tags"] = [t for t in tags if t != "solution"] + ["exercise"]
    # no jupytext pairing in what learners open: saving a notebook never rewrites the .py sources
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
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
    for py, target, student in targets():
        text = to_ipynb(py, student)
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target)
        if not args.check:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    if args.check and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"out of date: {names}\nrun `make notebooks` (python tools/sync_notebooks.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
