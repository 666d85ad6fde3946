"""A wheel holds every shipped file, and a non-editable install runs a notebook from another folder."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked(prefix):
    out = subprocess.run(["git", "ls-files", prefix], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        pytest.skip("not a git checkout")
    return sorted(out.stdout.split())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dest = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest),
                    str(ROOT)], check=True, capture_output=True, text=True, timeout=300)
    (whl,) = dest.glob("gracekit-*.whl")
    return whl


def test_the_wheel_holds_every_shipped_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = _tracked("gracekit/data") + _tracked("gracekit/report/templates") + ["gracekit/py.typed"]
    missing = [f for f in shipped if f not in names]
    assert not missing, f"the wheel lacks shipped files: {missing} (package-data in pyproject.toml)"
    modules = [f for f in _tracked("gracekit") if f.endswith(".py")]
    assert not [f for f in modules if f not in names], "the wheel lacks modules (packages.find in pyproject.toml)"


@pytest.mark.notebook
def test_an_installed_wheel_runs_a_copied_notebook_in_fast_mode(wheel, tmp_path):
    """pip install (not editable) into a folder, copy a notebook elsewhere, run it with only that install."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / "06_your_update.ipynb", work)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]);"
            "import gracekit; assert gracekit.__file__.startswith(sys.argv[1]), gracekit.__file__;"
            "from nbrun import execute_notebook, notebook_errors;"
            "nb, _ = execute_notebook(sys.argv[3], timeout=300, wall_timeout=600);"
            "errs = notebook_errors(nb); print(errs); sys.exit(1 if errs else 0)")
    env = {**os.environ, "GRACEKIT_FAST": "1", "PYTHONPATH": str(target),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    # the kernel must import the installed copy, not the checkout: run from the copy's folder with the
    # installed site first on its path
    out = subprocess.run([sys.executable, "-c", code, str(target), str(ROOT / "tools"),
                          str(work / "06_your_update.ipynb")], cwd=work, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
