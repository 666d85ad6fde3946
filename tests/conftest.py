import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# developer tools (notebook runner, benchmark) live outside the package
sys.path.insert(0, str(REPO / "tools"))


def _shared_data():
    env = os.environ.get("GRACEKIT_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Folder with real face files kept beside the project; tests skip when it is absent."""
    path = _shared_data()
    if not path.is_dir():
        pytest.skip(f"shared face data not found ({path.name}/ beside the project)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session writes its model cache to a temporary folder."""
    if "GRACEKIT_CACHE" not in os.environ:
        monkeypatch.setenv("GRACEKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def pytest_configure(config):
    # two test workers on two cores: one torch thread each, and the notebooks' kernels likewise
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("GRACEKIT_THREADS", "1")
        import torch

        torch.set_num_threads(1)


@pytest.fixture
def no_full_redraw(monkeypatch):
    """``with no_full_redraw(): ...`` fails if the block draws or saves a whole matplotlib figure.

    Widgets must redraw within 100 ms of a control change: they blit the changing artists over a
    cached background or show precomputed images. Timings are measured in ``gracekit.bench``; the
    tests check the mechanism, which does not depend on how busy the machine is.
    """
    from contextlib import contextmanager

    import matplotlib.figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def refuse(*args, **kwargs):
        raise AssertionError("a control change drew a whole figure (the slow path)")

    @contextmanager
    def guard():
        with monkeypatch.context() as m:
            m.setattr(FigureCanvasAgg, "draw", refuse)
            m.setattr(matplotlib.figure.Figure, "savefig", refuse)
            yield

    return guard
