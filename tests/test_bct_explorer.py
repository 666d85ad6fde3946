import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gracekit.bct.explorer import BCTSweepModel, BCTSweepView  # noqa: E402
from gracekit.bct.plots import plot_backfill, plot_cross_model_matrix, plot_lambda_sweep  # noqa: E402
from gracekit.viz.style import METHOD_COLORS  # noqa: E402


def _sweep():
    mats = []
    for new_old in (0.30, 0.55):  # fails, then passes the bar of 0.5
        M = np.full((3, 3), 0.01)
        M[0, 0], M[1, 1], M[2, 2], M[2, 0] = 0.5, 0.7, 0.72, new_old
        mats.append(M)
    return BCTSweepModel([0.1, 3.0], mats)


def test_sweep_model_computes_gain_and_verdict():
    base = _sweep()
    sw = BCTSweepModel.from_records([{"lam": 3.0, "matrix": base.matrices[1]}, {"lam": 0.1, "matrix": base.matrices[0]}])
    lo, hi = sw.at(0), sw.at(1)
    assert sw.lambdas == [0.1, 3.0]
    assert lo["passes"] is False and lo["gain"] == pytest.approx((0.30 - 0.5) / 0.2)
    assert hi["passes"] is True and hi["gain"] == pytest.approx(0.25)
    assert "PASSES" in sw.describe(1) and "fails" in sw.describe(0)
    with pytest.raises(ValueError, match="i must"):
        sw.at(2)
    with pytest.raises(ValueError, match="matrices"):
        BCTSweepModel([1.0], np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="records"):
        BCTSweepModel.from_records([])


def test_view_shows_the_selected_matrix_and_only_blits(no_full_redraw):
    sweep = _sweep()
    view = BCTSweepView(sweep, start=0)
    assert view.slider.max == 1 and view.state["passes"] is False and "fails" in view.text.value
    first = view.image.value
    assert first[:4] == b"\x89PNG"
    with no_full_redraw():
        view.slider.value = 1
    assert view.state["lam"] == 3.0 and view.state["gain"] == pytest.approx(0.25) and view.state["passes"]
    assert "λ = 3" in view.label.value and "PASSES" in view.text.value and view.image.value != first
    # the cell colours and the numbers written in are those of the selected lambda
    np.testing.assert_allclose(view.cells.get_array(), sweep.matrices[1])
    assert view.numbers[2 * 3 + 0].get_text() == "0.55"  # two decimals stay readable


def test_lambda_sweep_uses_the_kit_colours():
    fig = plot_lambda_sweep([0.1, 1], [0.3, 0.6], 0.5)
    assert fig.axes[0].containers[0].lines[0].get_color() == METHOD_COLORS["bct"]
    fig = plot_backfill([0, 1], {"independent": [0.1, 0.7], "BCT": [0.5, 0.7]})
    assert [line.get_color() for line in fig.axes[0].lines] == [METHOD_COLORS["independent"], METHOD_COLORS["bct"]]


def test_plots_return_figures_and_validate():
    import matplotlib.figure

    sw = _sweep()
    assert isinstance(plot_cross_model_matrix(sw.matrices[0], sw.names), matplotlib.figure.Figure)
    assert isinstance(plot_lambda_sweep([0.1, 1], [0.3, 0.6], 0.5, new_new=[0.7, 0.7], paragon=0.7,
                                        se=[0.01, 0.01]), matplotlib.figure.Figure)
    assert isinstance(plot_backfill([0, 1], {"BCT": [0.5, 0.7]}), matplotlib.figure.Figure)
    with pytest.raises(ValueError, match="M must"):
        plot_cross_model_matrix(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="lambdas"):
        plot_lambda_sweep([0, 1], [0.3, 0.6], 0.5)
    with pytest.raises(ValueError, match="curves"):
        plot_backfill([0, 1], {"x": [1]})
    matplotlib.pyplot.close("all")


def test_sweep_uses_a_separate_paragon_for_the_gain():
    base = _sweep()
    recs = [{"lam": lam, "matrix": M, "paragon": 0.9} for lam, M in zip(base.lambdas, base.matrices)]
    sw = BCTSweepModel.from_records(recs, names=("old", "twin", "BCT"))
    assert sw.names == ["old", "twin", "BCT"]
    assert sw.at(1)["gain"] == pytest.approx((0.55 - 0.5) / (0.9 - 0.5))  # not M[1, 1] = 0.7
    assert sw.at(1)["paragon"] == 0.9
    with pytest.raises(ValueError, match="paragon"):
        BCTSweepModel([0.1, 3.0], base.matrices, paragon=[0.9])
