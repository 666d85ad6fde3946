"""The blend explorer of notebook 01, driven headlessly: set the slider, assert on the model."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from gracekit.datasets import make_moons_data
from gracekit.flips import explorer as widgets
from gracekit.flips import plots as plots
from gracekit.metrics import flip_report


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


def test_slider_sets_the_model_state_and_only_blits(blend_model, no_full_redraw):
    view = widgets.BlendView(blend_model, alpha=1.0)
    before_png, before_nfr = view.image.value, view.state["nfr"]
    with no_full_redraw():
        view.slider.value = 0.0
    assert view.state["alpha"] == 0.0 and view.state["nfr"] == 0.0 and before_nfr > 0
    assert len(view.neg_dots.get_offsets()) == 0 and view.image.value != before_png
    with no_full_redraw():
        view.slider.value = 0.5
    # the numbers on screen are flip_report's on the blended predictions
    m = blend_model
    y_blend = (0.5 * m.p_old + 0.5 * m.p_new).argmax(1)
    rep = flip_report(m.y_true, m.p_old.argmax(1), y_blend, n_classes=2)
    assert view.state["nfr"] == pytest.approx(rep.rates["nfr"])
    assert view.state["pfr"] == pytest.approx(rep.rates["pfr"])
    assert view.state["err_new"] == pytest.approx(rep.rates["err_new"])
    assert f"NFR {100 * rep.rates['nfr']:.2f}%" in view.html.value
    assert view.state["negative"].sum() == len(view.neg_dots.get_offsets()) == rep.counts["negative_flips"]
    assert view.state["positive"].sum() == len(view.pos_dots.get_offsets()) == rep.counts["positive_flips"]
    # the ring sits on the trade-off curve at (error, NFR), the kit's axis convention
    assert list(view.marker.get_xdata()) == [pytest.approx(100 * rep.rates["err_new"])]
    assert list(view.marker.get_ydata()) == [pytest.approx(100 * rep.rates["nfr"])]
    assert np.isfinite(view.last_redraw_ms)


def test_tradeoff_curve_puts_error_on_x():
    fig = plots.plot_tradeoff_curve([0.2, 0.1], [0.0, 0.03], highlight=1)
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == [20.0, 10.0] and list(line.get_ydata()) == [0.0, 3.0]
    assert "error" in fig.axes[0].get_xlabel() and "NFR" in fig.axes[0].get_ylabel()


def test_bad_input():
    with pytest.raises(ValueError, match="p_old"):
        widgets.BlendModel([0, 1], [0.3, 0.7], [[0.3, 0.7], [0.6, 0.4]])
    with pytest.raises(ValueError, match="same samples"):
        widgets.BlendModel([0, 1, 1], [[0.3, 0.7], [0.6, 0.4]], [[0.3, 0.7], [0.6, 0.4]])
    model = widgets.BlendModel([0, 1], [[0.3, 0.7], [0.6, 0.4]], [[0.6, 0.4], [0.3, 0.7]])
    with pytest.raises(ValueError, match="alpha"):
        model.predict(1.5)
