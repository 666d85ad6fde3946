"""Every notebook: paired .ipynb up to date, the kit's structure, and a FAST end-to-end run."""
import importlib
import os
import re
import time
from pathlib import Path

import jupytext
import pytest

from nbrun import execute_notebook, notebook_errors

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def _tool(name):
    """A developer tool's module (tests/conftest.py puts tools/ on the path)."""
    return importlib.import_module(name)


def test_there_are_notebooks():
    assert SOURCES, "no notebooks/NN_topic.py sources found"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
@pytest.mark.parametrize("student", [False, True], ids=["notebook", "student-copy"])
def test_generated_ipynb_is_up_to_date(py, student):
    sync = _tool("sync_notebooks")
    ipynb = sync.STUDENT / (py.stem + ".ipynb") if student else py.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make notebooks`"
    text = ipynb.read_text()
    assert text == sync.to_ipynb(py, student), f"{ipynb.name} is stale: run `make notebooks`"
    assert '"output_type"' not in text, f"{ipynb.name} has outputs"
    if student:
        assert "# Exercise: write your code here" in text
    assert '"jupytext"' not in text, "no jupytext pairing in generated notebooks (saving must not touch sources)"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_notebook_structure(py):
    nb = jupytext.read(py)
    first = nb.cells[0].source
    assert first.startswith("# "), "the first cell is the title"
    assert "**Goal:**" in first and re.search(r"~\d+(-\d+)? min", first), "goal and time estimate up front"
    assert "colab.research.google.com" in first, "an Open-in-Colab badge"
    headings = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any("## Summary" in h for h in headings) and any("## Exercises" in h for h in headings)
    tags = [c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code"]
    assert any("parameters" in t for t in tags), "a cell tagged `parameters` holds the FAST switch"
    assert sum("solution" in t for t in tags) >= 2, "at least two exercises with tagged solutions"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        if "solution" in cell.metadata.get("tags", []):
            assert "# stub:" in cell.source, "a solution names the result the learner computes (# stub: ex = None)"
            later = [c.metadata.get("tags", []) for c in code[i + 1:i + 3]]
            assert any("check" in t for t in later), "every solution is followed by a check cell (tag check)"


@pytest.mark.notebook
@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_in_fast_mode(py, monkeypatch):
    """FAST mode: every cell runs and every claim not marked full-size-only holds."""
    monkeypatch.setenv("GRACEKIT_FAST", "1")
    monkeypatch.setenv("GRACEKIT_STRICT_CLAIMS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    start = time.perf_counter()
    nb, _ = execute_notebook(py, timeout=300, wall_timeout=300)
    assert not notebook_errors(nb)
    print(f"{py.name}: {time.perf_counter() - start:.1f} s")


def _claims(nb):
    """(held, not held) claim lines printed by gracekit.claims.claim in an executed notebook."""
    lines = [line for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
             for line in str(out.get("text", "")).splitlines()]
    return [x for x in lines if x.startswith("✓ ")], [x for x in lines if x.startswith("✗ ")]


@pytest.mark.notebook
@pytest.mark.full
@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_notebook_claims_hold_at_full_size(py, monkeypatch):
    """The learner's run: full size, and every claim the text makes is checked (a false one raises)."""
    monkeypatch.setenv("GRACEKIT_FAST", "0")
    monkeypatch.setenv("GRACEKIT_STRICT_CLAIMS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb, seconds = execute_notebook(py, timeout=900, wall_timeout=1500)
    assert not notebook_errors(nb)
    held, failed = _claims(nb)
    assert not failed
    print(f"{py.name}: full size in {seconds:.0f} s, {len(held)} claims checked")


@pytest.mark.notebook
@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_student_copy_runs_with_stubs(py, monkeypatch):
    """Student copies run end to end (Run All never stops at an exercise); the stubs hold no solution."""
    monkeypatch.setenv("GRACEKIT_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.delenv("GRACEKIT_STRICT_CLAIMS", raising=False)
    student = ROOT / "notebooks" / "student" / (py.stem + ".ipynb")
    nb, _ = execute_notebook(student, timeout=300, wall_timeout=300)
    assert not notebook_errors(nb)
    stubs = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(stubs) >= 2 and not any("solution" in c.metadata.get("tags", []) for c in nb.cells)


def _kernel_children():
    """Our child processes that are Jupyter kernels (Linux /proc); None where /proc is missing."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and "ipykernel" in cmd:
            found.append(int(entry.name))
    return found


def test_execute_notebook_stops_its_kernel(tmp_path):
    """A finished run leaves no kernel behind (nbclient does not stop a kernel it did not start)."""
    if _kernel_children() is None:
        pytest.skip("needs /proc")
    src = tmp_path / "tiny.py"
    src.write_text("# %%\nx = 6 * 7\nprint(x)\n")
    nb, seconds = execute_notebook(src, timeout=60, wall_timeout=120)
    assert nb.cells[0].outputs[0]["text"].strip() == "42" and seconds > 0
    deadline = time.time() + 10
    while _kernel_children() and time.time() < deadline:
        time.sleep(0.2)
    assert _kernel_children() == []
    assert not list(tmp_path.glob("kernel-*")), "no socket files left beside the notebook"
