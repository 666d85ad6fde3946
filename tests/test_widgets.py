"""The blend explorer of notebook 01, driven headlessly: set the slider, assert on the model."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from gracekit.flips import plots as plots

from gracekit.flips import explorer as widgets
from gracekit.datasets import make_moons_data


@pytest.fixture(scope="module")
def blend_model():
    X, y, Xt, yt = make_moons_data(200, 3000, noise=0.3, seed=0)
    Xn, yn, _, _ = make_moons_data(1000, 1, noise=0.3, seed=1)
    old = LogisticRegression().fit(X, y)
    new = MLPClassifier((16,), max_iter=500, random_state=0).fit(Xn, yn)
    extent, g_old = plots.decision_grid(old.predict_proba, Xt, resolution=40)
    _, g_new = plots.decision_grid(new.predict_proba, Xt, resolution=40)
    return widgets.BlendModel(yt, old.predict_proba(Xt), new.predict_proba(Xt), X=Xt,
                              grid_old=g_old, grid_new=g_new, extent=extent)


def test_endpoints(blend_model):
    at_old = blend_model.evaluate(0.0)
    at_new = blend_model.evaluate(1.0)
    assert at_old["nfr"] == 0 and at_old["pfr"] == 0            # a = 0 is the old model
    assert at_old["err_new"] == pytest.approx(at_old["err_old"])
    assert at_new["err_new"] < at_new["err_old"] and at_new["nfr"] > 0
    assert at_new["grid"].shape == (40, 40)


def test_curve_obeys_identity(blend_model):
    err, nfr, pfr = blend_model.curve_arrays()
    err_old = blend_model.evaluate(0.0)["err_old"]
    np.testing.assert_allclose(nfr - pfr, err - err_old, atol=1e-12)


def test_slider_moves_the_model_and_the_figure(blend_model, no_full_redraw):
    ex = widgets.BlendExplorer(blend_model, alpha=1.0)
    before_html, before_nfr = ex.html.value, ex.state["nfr"]
    with no_full_redraw():
        ex.slider.value = 0.0
    assert ex.state["alpha"] == 0.0 and ex.state["nfr"] == 0.0
    assert ex.html.value != before_html and before_nfr > 0
    assert len(ex.neg_dots.get_offsets()) == 0
    ex.slider.value = 0.5
    assert ex.state["alpha"] == 0.5
    assert ex.last_redraw_ms == ex.last_redraw_ms  # measured (not NaN)
    assert ex.render_png()[:4] == b"\x89PNG"


def test_bad_input():
    with pytest.raises(ValueError, match="p_old"):
        widgets.BlendModel([0, 1], [0.3, 0.7], [[0.3, 0.7], [0.6, 0.4]])
    with pytest.raises(ValueError, match="same samples"):
        widgets.BlendModel([0, 1, 1], [[0.3, 0.7], [0.6, 0.4]], [[0.3, 0.7], [0.6, 0.4]])
    model = widgets.BlendModel([0, 1], [[0.3, 0.7], [0.6, 0.4]], [[0.6, 0.4], [0.3, 0.7]])
    with pytest.raises(ValueError, match="alpha"):
        model.predict(1.5)
