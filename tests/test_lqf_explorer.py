"""Tests of notebook 05's figures and head-init explorer (precomputed arrays only)."""
import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from gracekit.lqf.solver import make_lqf_mlp, transfer_model  # noqa: E402
from gracekit.lqf.explorer import HeadInitModel, HeadInitView  # noqa: E402
from gracekit.lqf.linearize import layer_kernel_shares  # noqa: E402
from gracekit.lqf.plots import plot_convergence, plot_head_init, plot_layer_shares  # noqa: E402


def toy_model():
    stds = [0.01, 0.1, 1.0]
    return HeadInitModel(stds, {"relu": [0.5, 0.6, 0.7], "leaky_relu": [0.55, 0.65, 0.72]},
                         {"relu": [[0.01, 0.01, 0.98], [0.3, 0.3, 0.4], [0.45, 0.45, 0.1]],
                          "leaky_relu": [[0.02, 0.02, 0.96], [0.3, 0.3, 0.4], [0.45, 0.45, 0.1]]},
                         {"relu": 0.6, "leaky_relu": 0.62}, {"relu": 0.7, "leaky_relu": 0.71},
                         ["layer 1", "layer 2", "head"])


def test_layer_shares_follow_the_head_scale():
    torch.set_num_threads(1)
    X = np.random.default_rng(0).normal(size=(30, 20)).astype(np.float32)
    net = make_lqf_mlp(20, (16, 16), 5, seed=0)
    small = layer_kernel_shares(transfer_model(net, 5, head_std=1e-3), X)
    large = layer_kernel_shares(transfer_model(net, 5, head_std=1.0), X)
    assert small.shape == (3,) and abs(small.sum() - 1) < 1e-9
    # a near-zero head leaves the whole kernel to the head's own weights (the backbone's features vanish)
    assert small[-1] > 0.99 and large[-1] < 0.9
    # hand check: for a single Linear layer, trace(J J^T) = K * sum_i (||x_i||^2 + 1)
    assert np.allclose(layer_kernel_shares(torch.nn.Sequential(torch.nn.Linear(20, 5)), X), [1.0])


def test_model_state_and_bad_inputs():
    m = toy_model()
    st = m.state("leaky_relu", 2)
    assert st["std"] == 1.0 and st["acc"] == 0.72 and st["head_share"] == 0.1 and st["probe"] == 0.62
    with pytest.raises(ValueError, match="activation"):
        m.state("tanh", 0)
    with pytest.raises(ValueError, match="index"):
        m.state("relu", 3)
    with pytest.raises(ValueError, match="acc_lqf"):
        HeadInitModel([0.1, 1.0], {"relu": [0.5]}, {"relu": [[1.0]]}, {"relu": 0.5}, {"relu": 0.5}, ["head"])
    with pytest.raises(ValueError, match="shares"):
        HeadInitModel([0.1], {"relu": [0.5]}, {"relu": [[0.5, 0.5]]}, {"relu": 0.5}, {"relu": 0.5}, ["head"])


def test_view_shows_the_model_state_and_only_blits(no_full_redraw):
    model = toy_model()
    view = HeadInitView(model)
    with no_full_redraw():  # both backbones' figures are drawn once, when the view is built
        view.slider.value = 0
        assert view.state["acc"] == model.state("relu", 0)["acc"] == 0.5
        np.testing.assert_array_equal(view.state["shares"], model.shares["relu"][0])
        assert "0.01" in view.html.value and "50.0%" in view.html.value
        assert view.bars[-1].get_height() == pytest.approx(98.0)
        first = view.image.value
        view.activation.value = "leaky_relu"
        assert view.state["acc"] == 0.55 and view.state["head_share"] == 0.96
        assert "55.0%" in view.html.value and view.bars[-1].get_height() == pytest.approx(96.0)
        assert view.image.value != first
        for i in (1, 2, 0, 1):
            view.slider.value = i
            assert view.state["std"] == model.stds[i] and np.isfinite(view.last_redraw_ms)
    assert view.image.value[:4] == b"\x89PNG"


def test_plots_return_figures_and_validate():
    fig = plot_convergence({"GD": (np.arange(10), np.logspace(0, -2, 10)), "K-FAC": ([1, 2], [0.1, 1e-4])})
    assert len(fig.axes[0].lines) == 3
    assert plot_head_init([0.01, 0.1], [0.5, 0.6], 0.55, 0.7).axes[0].get_xscale() == "log"
    assert len(plot_layer_shares([0.2, 0.8], ["a", "head"]).axes[0].patches) == 2
    with pytest.raises(ValueError, match="curves"):
        plot_convergence({})
    with pytest.raises(ValueError, match="stds"):
        plot_head_init([0.1], [0.5, 0.6])
    with pytest.raises(ValueError, match="names"):
        plot_layer_shares([0.5, 0.5], ["a"])
