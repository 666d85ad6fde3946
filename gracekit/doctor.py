"""`python -m gracekit doctor`: check a machine before a tutorial, one line per check with a fix."""
import importlib
import platform
import sys
import tempfile

__all__ = ["run_checks", "main"]


def _version(module):
    mod = importlib.import_module(module)
    return getattr(mod, "__version__", "?")


def _check_python():
    ok = sys.version_info >= (3, 9)
    return ok, f"Python {platform.python_version()}", "install Python 3.9 or newer"


def _check_torch():
    import torch

    dev = "CUDA: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return True, f"torch {torch.__version__} ({dev}, {torch.get_num_threads()} threads)", ""


def _check_package(name, fix):
    def check():
        return True, f"{name} {_version(name)}", fix
    check.__name__ = f"_check_{name}"
    return check


def _check_ipywidgets():
    v = _version("ipywidgets")
    from packaging.version import InvalidVersion, Version

    try:
        ok = Version(v) >= Version("7.7")
    except InvalidVersion:
        ok = False
    return ok, f"ipywidgets {v}", "pip install 'ipywidgets>=7.7'"


def _check_lab_widgets():
    try:
        v = _version("jupyterlab_widgets")
    except ImportError:
        if "google.colab" in sys.modules:
            return True, "JupyterLab widget extension not needed on Colab", ""
        return False, "JupyterLab widget extension (jupyterlab_widgets) missing", \
            "pip install jupyterlab_widgets  (or: make lab)"
    return True, f"JupyterLab widget extension {v}", ""


def _check_matplotlib():
    import matplotlib

    return True, f"matplotlib {matplotlib.__version__}, backend {matplotlib.get_backend()}", ""


def _check_cache():
    from gracekit.config import cache_dir, cache_setting

    path = cache_dir()
    _, source = cache_setting()
    with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor", delete=True) as f:
        f.write(b"ok")
    models = sum(1 for p in path.glob("*.pt") if p.is_file())
    origin = "" if source == "default" else f", set by {source}"
    return (True, f"cache folder writable: {path} ({models} cached models{origin})",
            "set GRACEKIT_CACHE to a writable folder")


def _check_real_faces():
    from gracekit.bct.olivetti import OLIVETTI_FILE
    from gracekit.config import real_data_dir

    path = real_data_dir() / OLIVETTI_FILE
    if path.is_file() and path.stat().st_size > 0:
        return True, f"optional Olivetti faces found: {path}", ""
    return (None, f"optional Olivetti faces not found at {path} (notebook 03 uses synthetic faces)",
            f"mkdir -p {path.parent} && cp {OLIVETTI_FILE} {path}  (with network: python -c \"from "
            f"gracekit.bct.olivetti import download_olivetti; download_olivetti(r'{path}')\"; "
            f"GRACEKIT_REAL_DATA=<folder> picks another folder)")


CHECKS = [_check_python, _check_torch, _check_package("numpy", "pip install numpy"),
          _check_package("sklearn", "pip install scikit-learn"), _check_matplotlib,
          _check_ipywidgets, _check_lab_widgets, _check_package("tqdm", "pip install tqdm"),
          _check_cache, _check_real_faces]


def run_checks():
    """Run every check; return a list of (status, message, fix); status None = optional, missing."""
    results = []
    for check in CHECKS:
        try:
            results.append(check())
        except Exception as err:  # a failing import is a failed check, not a crash
            name = check.__name__.replace("_check_", "")
            results.append((False, f"{name}: {err.__class__.__name__}: {err}",
                            "reinstall the kit: make lab (or pip install -e '.[lab]')"))
    return results


def main():
    """Print one line per check; exit status 1 when a required check fails."""
    failed = 0
    for status, message, fix in run_checks():
        mark = {True: "ok  ", False: "FAIL", None: "--  "}[status]
        print(f"[{mark}] {message}" + (f"\n        fix: {fix}" if status is not True and fix else ""))
        failed += status is False
    print("all required checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0
