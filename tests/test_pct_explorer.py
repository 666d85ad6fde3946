import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from gracekit.datasets import shipped  # noqa: E402
from gracekit.pct import explorer as pct_view  # noqa: E402
from gracekit.pct import plots as pct_plots  # noqa: E402
from gracekit.sweeps import load_records  # noqa: E402
from gracekit.viz.style import METHOD_COLORS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SWEEP = shipped("pct_sweep.json")


def _rec(method, lam=0.0, beta=0.0, size=1, seed=0, err_new=0.12, nfr=0.03, err_old=0.3, k=3):
    pfr = nfr - (err_new - err_old)
    n = [100] * k
    return {"method": method, "lam": lam, "alpha": 1.0, "beta": beta, "tau": 100.0, "size": size,
            "seed": seed, "err_old": err_old, "err_new": err_new, "nfr": nfr, "pfr": pfr,
            "relative_nfr": nfr / ((1 - err_old) * err_new), "n_test": 100 * k, "n_per_class": n,
            "nf_per_class": [int(100 * nfr)] * k, "pf_per_class": [int(100 * pfr)] * k}


@pytest.fixture
def records():
    recs = []
    for seed, jitter in enumerate((-0.002, 0.002)):
        recs.append(_rec("none", seed=seed, nfr=0.03 + jitter))
        recs.append(_rec("naive", lam=1.0, seed=seed, nfr=0.028, err_new=0.125))
        for lam, nfr, err in ((0.001, 0.025, 0.121), (0.01, 0.015, 0.128), (0.1, 0.008, 0.2)):
            for beta in (1.0, 5.0):
                recs.append(_rec("fd_lm", lam=lam, beta=beta, seed=seed, nfr=nfr * (1 + beta / 100), err_new=err))
        for size, nfr, err in ((1, 0.035, 0.12), (3, 0.02, 0.11), (5, 0.015, 0.105)):
            recs.append(_rec("ensemble", size=size, seed=seed, nfr=nfr, err_new=err, err_old=err))
    return recs


def test_explorer_points_by_hand(records):
    ex = pct_view.PCTModel(records)
    assert ex.methods == ["none", "naive", "fd_lm", "ensemble"]
    assert ex.knobs("fd_lm") == [0.001, 0.01, 0.1] and ex.betas("fd_lm") == [1.0, 5.0]
    assert ex.knobs("ensemble") == [1, 3, 5]
    assert ex.baseline["nfr"] == pytest.approx(0.03)
    assert ex.baseline["nfr_sd"] == pytest.approx(np.std([0.028, 0.032], ddof=1))
    p = ex.point("fd_lm", 0.01, 5.0)
    assert p["nfr"] == pytest.approx(0.015 * 1.05) and p["n"] == 2
    assert p["nfr_change"] == pytest.approx(0.015 * 1.05 / 0.03 - 1)
    assert np.allclose(p["nf_class"], int(100 * 0.015 * 1.05) / 100)
    assert ex.point("fd_lm", 0.012, 4.0)["lam"] == 0.01  # nearest grid point
    e5 = ex.point("ensemble", 5)
    assert e5["relative_nfr_change"] == pytest.approx(e5["relative_nfr"] / ex.point("ensemble", 1)["relative_nfr"] - 1)
    best = ex.best_point("fd_lm", max_err_rise=0.01, beta=5.0)
    assert best["lam"] == 0.01  # lam = 0.1 lowers NFR more but costs 8 points of error
    assert ex.best_point("fd_lm", max_err_rise=-0.5) is None
    lam, err, nfr, err_sd, nfr_sd = ex.curve("fd_lm", 1.0)
    assert list(lam) == [0.001, 0.01, 0.1] and nfr[0] == pytest.approx(0.025 * 1.01)


def test_explorer_bad_input(records):
    with pytest.raises(ValueError, match="records"):
        pct_view.PCTModel([])
    with pytest.raises(ValueError, match="fields"):
        pct_view.PCTModel([{"method": "none"}])
    with pytest.raises(ValueError, match="baseline"):
        pct_view.PCTModel([r for r in records if r["method"] != "none"])
    with pytest.raises(ValueError, match="method"):
        pct_view.PCTModel(records).point("bct")


def test_view_reacts_to_controls_and_blits(records, no_full_redraw):
    model = pct_view.PCTModel(records)
    view = pct_view.PCTView(model, method="fd_lm", knob=0.01, beta=5.0)
    st = view.state
    assert (st["method"], st["knob"], st["beta"]) == ("fd_lm", 0.01, 5.0)
    assert st["point"]["nfr"] == pytest.approx(0.015 * 1.05)  # the seed mean of the records
    assert "FD-LM" in view.summary.value and view.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    before = view.image.value
    with no_full_redraw():
        for m in ("ensemble", "naive", "fd_lm"):
            view.method.value = m
        assert view.knob.description == "lambda" and view.beta.disabled is False
        view.knob.value = 2
    assert view.state["knob"] == 0.1 and "lambda = 0.1" in view.knob_label.value
    assert view.state["point"]["err_new"] == pytest.approx(0.2) and view.image.value != before
    # the ring sits at (Err_new, NFR) in percent: error on x, NFR on y
    ring = view._artists["ring"]
    assert ring.get_xdata()[0] == pytest.approx(20.0) and ring.get_ydata()[0] == pytest.approx(100 * 0.008 * 1.05)
    with no_full_redraw():
        view.method.value = "ensemble"
    assert view.knob.description == "ens. size" and view.beta.disabled is True
    view.knob.value = 2
    assert view.state["knob"] == 5 and view.state["point"]["nfr"] == pytest.approx(0.015)
    assert "5 models" in view.knob_label.value and "ensembles" in view.summary.value


def test_static_figures(records):
    model = pct_view.PCTModel(records)
    fig = pct_plots.plot_pct_explorer(model, "ensemble", 3)
    assert len(fig.axes) == 2  # trade-off and flips by class, no second y-axis
    fig2 = pct_plots.plot_tradeoff({"FD-LM": ([0.1, 0.2], [0.03, 0.01], [0, 0], [0, 0]),
                                    "FD-KL": ([0.1, 0.2], [0.02, 0.01], [0, 0], [0, 0])}, highlight=(0.1, 0.03))
    ax = fig2.axes[0]
    assert ax.get_xlabel().startswith("error") and "NFR" in ax.get_ylabel()
    colors = [c.lines[0].get_color() for c in ax.containers]
    assert colors == [METHOD_COLORS["fd_lm"], METHOD_COLORS["fd_kl"]] and colors[0] != colors[1]
    fig3 = pct_plots.plot_class_flips([0.01, 0.02], [0.1, 0.2], [0.03, 0.03])
    assert len(fig3.axes) == 1  # negative and positive flips on one scale
    (ax,) = fig3.axes
    assert ax.get_ylim()[1] >= 20 and [line.get_gid() for line in ax.lines] == ["pf"]


def test_tradeoff_methods_are_distinguishable():
    curve = ([0.13, 0.14, 0.17], [0.03, 0.02, 0.01], [0.002] * 3, [0.001] * 3)
    fig = pct_plots.plot_tradeoff({label: curve for label in pct_plots.METHOD_LABELS.values()})
    styles = {}
    for container in fig.axes[0].containers:  # one errorbar container per method
        line = container.lines[0]
        styles[container.get_label()] = (line.get_color(), line.get_marker(), line.get_linestyle())
    assert all(a != b for a, b in zip(styles["FD-LM"], styles["FD-KL"]))  # colour, marker and line all differ
    assert len(set(styles.values())) == len(pct_plots.METHOD_LABELS)  # every method has its own style
    assert set(fig.axes[0].get_legend_handles_labels()[1]) == set(pct_plots.METHOD_LABELS.values())


def test_shipped_sweep_is_small_and_complete():
    assert SWEEP.stat().st_size < 400_000
    records, meta = load_records(SWEEP)
    assert meta["made_by"].startswith("tools/make_pct_sweep.py") and len(meta["seeds"]) >= 3
    assert meta["setup"]["n_test"] >= 10_000
    ex = pct_view.PCTModel(records)
    assert set(ex.methods) == {"none", "naive", "kd", "fd_lm", "fd_kl", "ensemble"}
    assert ex.knobs("ensemble") == [1, 3, 5]
    assert all(p["n"] == len(meta["seeds"]) for p in ex.points.values())
    json.dumps(records)  # plain JSON types only


def test_shipped_same_architecture_sweep():
    from gracekit.pct.experiment import matched_lam, paired_change

    path = shipped("pct_same_sweep.json")
    assert path.stat().st_size < 100_000
    records, meta = load_records(path)
    assert meta["setting"] == "same" and len(meta["seeds"]) >= 3
    assert {r["setting"] for r in records} == {"same"}
    assert min(r["old_train_acc"] for r in records) > 0.85  # the old model fits its training set
    lam = matched_lam(records, "fd_lm", 0.003, beta=5.0)
    ch = paired_change(records, "fd_lm", lam, 5.0)
    assert abs(ch["err_change"].mean()) <= 0.003 and ch["seeds"] == sorted(meta["seeds"])


def test_paired_change_and_matched_lam_by_hand():
    from gracekit.pct.experiment import matched_lam, paired_change

    recs = [{"method": "none", "lam": 0.0, "seed": s, "nfr": 0.04, "pfr": 0.2, "err_new": 0.10} for s in (0, 1)]
    recs += [{"method": "kd", "lam": 0.1, "beta": 0.0, "seed": s, "nfr": 0.03, "pfr": 0.19, "err_new": 0.101}
             for s in (0, 1)]
    recs += [{"method": "kd", "lam": 1.0, "beta": 0.0, "seed": s, "nfr": 0.01, "pfr": 0.1, "err_new": 0.15}
             for s in (0, 1)]
    ch = paired_change(recs, "kd", 0.1)
    assert ch["seeds"] == [0, 1] and ch["nfr_change"] == pytest.approx([-0.25, -0.25])
    assert ch["err_change"] == pytest.approx([0.001, 0.001])
    assert matched_lam(recs, "kd", 0.003) == 0.1  # lam = 1 cuts more but costs 5 pt of error
    assert matched_lam(recs, "kd", 0.06) == 1.0
    with pytest.raises(ValueError, match="no seed"):
        paired_change(recs, "fd_lm", 0.1)
