import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gracekit.edge.explorer import EdgeBudgetModel, EdgeBudgetView  # noqa: E402
from gracekit.edge.plots import plot_accuracy_vs_flops, plot_budget_candidates, plot_latency_vs_flops  # noqa: E402
from gracekit.edge.sweep import summarize  # noqa: E402
from gracekit.viz.style import METHOD_COLORS  # noqa: E402

COSTS = {"cloud": {"flops": 24e6, "params": 270_000, "latency_ms": {"1": 0.8, "64": 64.0}},
         "4x8x8x8": {"flops": 0.3e6, "params": 3_600, "latency_ms": {"1": 0.2, "64": 6.4}},
         "8x16x16x16": {"flops": 1.2e6, "params": 10_000, "latency_ms": {"1": 0.25, "64": 10.0}},
         "16x32x32x32": {"flops": 4e6, "params": 31_000, "latency_ms": {"1": 0.4, "64": 16.0}}}
ACC = {"4x8x8x8": 0.45, "8x16x16x16": 0.68, "16x32x32x32": 0.78}


def _records():
    recs = []
    for seed, jitter in enumerate((-0.01, 0.0, 0.01)):
        for arch, acc in ACC.items():
            widths = [int(w) for w in arch.split("x")]
            recs.append({"seed": seed, "method": "bct", "widths": widths, "grid": False,
                         "edge_cloud": acc + jitter, "edge_edge": acc - 0.05, "cloud_cloud": 0.84})
            recs.append({"seed": seed, "method": "independent", "widths": widths, "grid": False,
                         "edge_cloud": 0.01, "edge_edge": acc - 0.1, "cloud_cloud": 0.84})
    recs.append({"seed": 0, "method": "bct", "widths": [4, 8, 8, 8], "grid": True, "edge_cloud": 0.9,
                 "edge_edge": 0.5, "cloud_cloud": 0.84})
    return recs


def _budget():
    return EdgeBudgetModel.from_rows(summarize(_records(), COSTS, grid=False), COSTS, method="bct")


def test_summarize_means_and_sds_over_seeds():
    rows = summarize(_records(), COSTS, grid=False)
    assert len(rows) == 6 and [r["flops"] for r in rows] == sorted(r["flops"] for r in rows)
    r = next(r for r in rows if r["arch"] == "8x16x16x16" and r["method"] == "bct")
    assert r["n"] == 3 and r["edge_cloud"] == pytest.approx(0.68) and r["edge_cloud_sd"] == pytest.approx(0.01)
    assert r["latency_ms"] == {1: 0.25, 64: 10.0} and r["name"] == "8/16/16/16"
    grid_rows = summarize(_records(), COSTS, grid=True)
    assert len(grid_rows) == 1 and grid_rows[0]["edge_cloud"] == 0.9
    with pytest.raises(ValueError, match="records"):
        summarize([], COSTS)
    with pytest.raises(ValueError, match="costs"):
        summarize(_records(), {"4x8x8x8": {}})


def test_budget_picks_best_edge_under_budget_with_hand_checked_speedups():
    b = _budget()
    assert b.paragon == pytest.approx(0.84)
    assert b.best_under(0.1e6) is None
    assert b.best_under(0.3e6)["arch"] == "4x8x8x8"
    assert b.best_under(3.9e6)["arch"] == "8x16x16x16"
    s = b.summary(5e6)
    assert s["choice"]["arch"] == "16x32x32x32"
    assert s["gap_points"] == pytest.approx(-6.0)
    assert s["flops_speedup"] == pytest.approx(6.0)
    assert s["latency_speedup"][1] == pytest.approx(2.0) and s["latency_speedup"][64] == pytest.approx(4.0)
    assert "no edge fits" in b.describe(1e5) and "-6.0 points" in b.describe(5e6)
    assert b.cheapest_within(0.10)["arch"] == "16x32x32x32"
    assert b.cheapest_within(0.20)["arch"] == "8x16x16x16"
    assert b.cheapest_within(0.01) is None
    own = EdgeBudgetModel([{"name": "a", "flops": 1e6, "edge_cloud": 0.80, "cloud_cloud": 0.82}], paragon=0.9,
                     cloud_flops=2e6)
    assert own.cheapest_within(0.03)["name"] == "a"  # the gap uses the candidate's own gallery draws
    assert own.summary(1e6)["gap_points"] == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="budget"):
        b.best_under(-1)
    with pytest.raises(ValueError, match="gap"):
        b.cheapest_within(float("nan"))
    with pytest.raises(ValueError, match="candidates"):
        EdgeBudgetModel([], 0.8, 1e6)
    with pytest.raises(ValueError, match="compatible"):
        EdgeBudgetModel.from_rows(summarize(_records(), COSTS), COSTS, method="independent")


def test_view_follows_the_budget_and_only_blits(no_full_redraw):
    model = _budget()
    view = EdgeBudgetView(model, start=2e6)
    assert view.state["choice"]["arch"] == "8x16x16x16" and "8/16/16/16" in view.summary.value
    assert view.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    with no_full_redraw():
        for value in (np.log10(0.2), np.log10(0.35), np.log10(5.0), np.log10(24.0)):
            view.slider.value = float(value)
    s = view.state
    assert s["budget"] == pytest.approx(24e6) and s["choice"]["arch"] == "16x32x32x32"
    assert s["flops_speedup"] == pytest.approx(6.0) and s["gap_points"] == pytest.approx(-6.0)
    assert s == model.summary(view.budget)  # the view shows the model's numbers
    assert "6.0x fewer FLOPs" in view.summary.value
    assert view._ring.get_xdata()[0] == pytest.approx(4e6)
    view.slider.value = view.slider.min
    assert view.state["choice"]["arch"] == "4x8x8x8"  # the smallest edge fits at the slider's minimum


def test_plots_return_figures_and_validate():
    import matplotlib.figure

    fig = plot_accuracy_vs_flops({"edge->cloud": ([1e6, 4e6], [0.6, 0.8], [0.01, 0.02]),
                                  "edge/edge": ([1e6, 4e6], [0.5, 0.7])}, paragon=0.84, cloud_flops=24e6,
                                 chance=0.01, budget=2e6)
    assert isinstance(fig, matplotlib.figure.Figure)
    fig = plot_latency_vs_flops([1e6, 4e6, 24e6], {1: [0.2, 0.3, 0.8], 64: [0.1, 0.3, 1.0]}, labels=["a", "b", "c"])
    assert isinstance(fig, matplotlib.figure.Figure)
    with pytest.raises(ValueError, match="curves"):
        plot_accuracy_vs_flops({})
    with pytest.raises(ValueError, match="flops"):
        plot_accuracy_vs_flops({"x": ([0, 1], [0.1, 0.2])})
    with pytest.raises(ValueError, match="latency"):
        plot_latency_vs_flops([1, 2], {1: [0.1]})
    fig = plot_budget_candidates(_budget().candidates, 0.84, 24e6)
    assert fig.axes[0].lines[0].get_color() == METHOD_COLORS["bct"]
    with pytest.raises(ValueError, match="candidates"):
        plot_budget_candidates([], 0.84, 24e6)
    matplotlib.pyplot.close("all")
