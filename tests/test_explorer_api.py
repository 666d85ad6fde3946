"""All six explorers share one API: XxxModel (plain), XxxView (ExplorerView) and show(model, **state)."""
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# topic -> (model class, view class, a small model, an initial state for show, what the state must hold)
NAMES = {"flips": ("BlendModel", "BlendView"), "pct": ("PCTModel", "PCTView"),
         "bct": ("BCTSweepModel", "BCTSweepView"), "edge": ("EdgeBudgetModel", "EdgeBudgetView"),
         "lqf": ("HeadInitModel", "HeadInitView"), "report": ("ReportModel", "ReportView")}


def _pct_records():
    recs = []
    for seed in (0, 1):
        for method, lam, nfr in (("none", 0.0, 0.03), ("fd_lm", 0.01, 0.02), ("fd_lm", 0.1, 0.01)):
            recs.append({"method": method, "lam": lam, "beta": 5.0 if lam else 0.0, "size": 1, "seed": seed,
                         "err_old": 0.3, "err_new": 0.12, "nfr": nfr, "pfr": nfr + 0.18, "relative_nfr": 0.5,
                         "n_per_class": [50, 50], "nf_per_class": [1, 2], "pf_per_class": [9, 9]})
    return recs


def _models():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p_old = rng.dirichlet([2, 2], 200)
    p_new = 0.6 * rng.dirichlet([2, 2], 200) + 0.4 * np.eye(2)[y]
    from gracekit.bct.explorer import BCTSweepModel
    from gracekit.edge.explorer import EdgeBudgetModel
    from gracekit.flips.explorer import BlendModel
    from gracekit.lqf.explorer import HeadInitModel
    from gracekit.pct.explorer import PCTModel
    from gracekit.report import update_report
    from gracekit.report.explorer import ReportModel

    mats = np.stack([np.eye(3) * 0.6 + 0.1, np.eye(3) * 0.7 + 0.2])
    return {
        "flips": (BlendModel(y, p_old, p_new), {"alpha": 0.5}, ("alpha", 0.5)),
        "pct": (PCTModel(_pct_records()), {"method": "fd_lm", "knob": 0.1}, ("knob", 0.1)),
        "bct": (BCTSweepModel([0.1, 1.0], mats), {"start": 1}, ("lam", 1.0)),
        "edge": (EdgeBudgetModel([{"name": "a", "flops": 1e6, "edge_cloud": 0.5},
                                  {"name": "b", "flops": 4e6, "edge_cloud": 0.7}], 0.8, 2e7), {"start": 2e6},
                 ("budget", pytest.approx(2e6))),
        "lqf": (HeadInitModel([0.01, 1.0], {"relu": [0.5, 0.6]}, {"relu": [[0.1, 0.9], [0.6, 0.4]]},
                              {"relu": 0.55}, {"relu": 0.7}, ["layer 1", "head"]), {"index": 1}, ("std", 1.0)),
        "report": (ReportModel(update_report(y, p_old, p_new)), {"region": "positive"}, ("region", "positive")),
    }


@pytest.fixture(scope="module")
def models():
    return _models()


@pytest.mark.parametrize("topic", list(NAMES))
def test_every_explorer_module_has_model_view_and_show(topic, models, no_full_redraw):
    from gracekit.viz.explorer import ExplorerView

    mod = importlib.import_module(f"gracekit.{topic}.explorer")
    model_name, view_name = NAMES[topic]
    assert {model_name, view_name, "show"} <= set(mod.__all__)
    assert issubclass(getattr(mod, view_name), ExplorerView)
    model, initial, (key, expected) = models[topic]
    view = mod.show(model, **initial)  # builds, displays (printed outside a kernel) and returns the view
    assert type(view).__name__ == view_name and view.model is model
    assert view.state[key] == expected  # the initial state reached the model
    assert view.image.format == "png" and view.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert view.output.children[0] is view.image and view.controls.children
    with no_full_redraw():
        assert view.update() is view.state
        png = view.render_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and np.isfinite(view.last_redraw_ms)


def test_the_six_views_share_the_same_public_attributes(models):
    views = []
    for topic, (model_name, view_name) in NAMES.items():
        mod = importlib.import_module(f"gracekit.{topic}.explorer")
        model, initial, _ = models[topic]
        views.append(getattr(mod, view_name)(model, **initial))
    api = {"model", "controls", "output", "image", "state", "last_redraw_ms", "update", "render_png",
           "_ipython_display_"}
    for view in views:
        assert api <= set(dir(view)), type(view).__name__
    names = [set(vars(importlib.import_module(f"gracekit.{t}.explorer"))) for t in NAMES]
    # no second display function: show is the only one
    for t, ns in zip(NAMES, names):
        assert not [n for n in ns if n.startswith("show_")], t


def test_models_compute_without_plotting_or_widget_imports():
    code = ("import sys, numpy as np\n"
            "from gracekit.flips.explorer import BlendModel\n"
            "import gracekit.pct.explorer, gracekit.bct.explorer, gracekit.edge.explorer\n"
            "import gracekit.lqf.explorer, gracekit.report.explorer\n"
            "m = BlendModel([0, 1, 1], [[.9, .1], [.6, .4], [.2, .8]], [[.8, .2], [.3, .7], [.6, .4]])\n"
            "print(m.evaluate(1.0)['nfr'])\n"
            "print(sorted(k for k in ('matplotlib', 'ipywidgets', 'torch', 'sklearn') if k in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    nfr, loaded = out.stdout.split("\n")[:2]
    assert float(nfr) == pytest.approx(1 / 3) and loaded == "[]"


def test_plots_and_explorers_import_in_the_right_direction():
    """Explorers import their plots; plots import no explorer and no training code; blit has no <img>."""
    import ast

    for path in (REPO / "gracekit").glob("*/plots.py"):
        tree = ast.parse(path.read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        bad = {m for m in mods if m.endswith("explorer") or m in ("torch", "gracekit.train")
               or m.endswith(("experiment", "recipe"))}
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"
        assert "gracekit.viz.style" in mods, f"{path.relative_to(REPO)} does not use the kit's style"
        assert "gracekit.flips.plots" not in mods or path.parent.name == "flips"
    from gracekit.viz.blit import BlitFigure

    assert not hasattr(BlitFigure, "html_img")
    for path in (REPO / "gracekit").glob("*/explorer.py"):
        assert len(path.read_text().splitlines()) <= 300, path
        assert "<img src=" not in path.read_text(), path
