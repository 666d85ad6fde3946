"""Figures of notebook 02: the accuracy-versus-NFR trade-off, flips by true class, the explorer's figure.

Trade-off axes follow the kit's convention (``gracekit.viz.style``): error on x, NFR on y.
"""
import numpy as np

from gracekit.viz.style import FLIP_COLORS, HIGHLIGHT, method_color, method_marker, tradeoff_axes

__all__ = ["plot_tradeoff", "plot_class_flips", "plot_pct_explorer", "METHOD_LABELS"]

METHOD_LABELS = {"none": "unconstrained", "naive": "naive reweighting", "kd": "plain distillation (LM)",
                 "fd_lm": "FD-LM", "fd_kl": "FD-KL", "ensemble": "ensembles (both sides)"}
# FD-LM and FD-KL lie close together: besides colour and marker (gracekit.viz.style) each method has its
# own line style, and FD-KL has open markers
_LINESTYLES = {"kd": "-.", "fd_kl": "--"}


def plot_tradeoff(curves, highlight=None, ax=None, title="NFR against Err_new (mean ± sd over seeds)"):
    """Draw Err_new (x) against NFR (y) for several methods, both in %.

    Args:
        curves: dict label -> (err_new, nfr, err_new_sd, nfr_sd) arrays (fractions), points in order.
        highlight: optional (err_new, nfr) to mark with a ring.
        ax: matplotlib Axes to draw into; default a new figure.
    Returns:
        the matplotlib Figure.
    Used in: notebooks/02_pc_training.py
    """
    fig, ax = _fig_ax(ax)
    for i, (label, (err, nfr, err_sd, nfr_sd)) in enumerate(curves.items()):
        key = next((k for k, v in METHOD_LABELS.items() if v == label), label)
        err, nfr = 100 * np.asarray(err, float), 100 * np.asarray(nfr, float)
        color = method_color(key, f"C{i}")
        ax.errorbar(err, nfr, xerr=100 * np.asarray(err_sd, float), yerr=100 * np.asarray(nfr_sd, float),
                    marker=method_marker(key), ms=5, lw=1.4, capsize=2, color=color,
                    mfc="white" if key == "fd_kl" else color, label=label,
                    ls=_LINESTYLES.get(key, "-") if len(err) > 1 else "none")
    (ring,) = ax.plot([], [], "o", ms=14, mfc="none", mec=HIGHLIGHT, mew=2, zorder=5, gid="highlight")
    if highlight is not None:
        ring.set_data([100 * highlight[0]], [100 * highlight[1]])
    tradeoff_axes(ax)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    return fig


def plot_class_flips(nf_class, pf_class=None, nf_baseline=None, ax=None, title="flips by true class"):
    """Negative-flip rates per true class as bars (and the baseline's), positive flips as a line.

    All on one y-axis in % of the class, so the sizes of negative and positive flips compare directly.

    Args:
        nf_class: negative flips / class size, per class (fractions).
        pf_class: optional positive flips / class size, per class.
        nf_baseline: optional negative-flip rates of the unconstrained new model, per class.
        ax: matplotlib Axes; default a new figure.
    Returns:
        the matplotlib Figure.
    Used in: notebooks/02_pc_training.py
    """
    fig, ax = _fig_ax(ax)
    nf = 100 * np.asarray(nf_class, float)
    k = np.arange(len(nf))
    if nf_baseline is not None:
        ax.bar(k - 0.2, 100 * np.asarray(nf_baseline, float), 0.4, color="lightgray", label="NFR, unconstrained")
    ax.bar(k + 0.2, nf, 0.4, color=FLIP_COLORS["negative"], label="NFR, selected")
    if pf_class is not None:
        ax.plot(k, 100 * np.asarray(pf_class, float), "s-", color=FLIP_COLORS["positive"], ms=4, lw=1.2,
                label="PFR, selected", gid="pf")
    top = max([float(np.max(v)) for v in (nf_class, pf_class, nf_baseline) if v is not None])
    ax.set_ylim(0, max(1.0, 145 * top))  # headroom for the legend
    ax.set_xticks(k)
    ax.set_xlabel("true class")
    ax.set_ylabel("flips (% of the class)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper center", ncols=3)
    return fig


def _fig_ax(ax):
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
    return fig, ax


def plot_pct_explorer(model, method="fd_lm", knob=None, beta=None):
    """The explorer's figure for one choice: trade-off curves with the point ringed, and per-class flips.

    Args:
        model: a ``gracekit.pct.explorer.PCTModel``.
        method, knob, beta: the point to show (knob: lambda, or ensemble size).
    Returns:
        the matplotlib Figure.
    Used in: notebooks/02_pc_training.py
    """
    fig, artists = explorer_figure(model)
    show_point(model, artists, method, knob, beta)
    return fig


def explorer_figure(model, pyplot=True):
    """Figure with the static parts drawn, and a dict of the artists that change with the selection."""
    if pyplot:  # shown by the notebook's inline backend like any other figure
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(10, 3.8), dpi=72)
    else:  # private to the explorer view, never shown by pyplot
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 3.8), dpi=72)
    fig.subplots_adjust(left=0.06, right=0.94, bottom=0.14, top=0.91, wspace=0.28)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    plot_tradeoff({METHOD_LABELS[m]: model.curve(m)[1:] for m in model.methods}, ax=ax1)
    other = [b for b in (model.betas("fd_lm") if "fd_lm" in model.methods else []) if b != model.default_beta]
    for i, b in enumerate(other):
        _, err, nfr, _, _ = model.curve("fd_lm", b)
        ax1.plot(100 * err, 100 * nfr, ":", color=method_color("fd_lm"), lw=0.8, alpha=0.6,
                 label="FD-LM, other β (dotted)" if i == 0 else None)
    if other:
        ax1.legend(fontsize=7, loc="upper right")
    (sel,) = ax1.plot([], [], "-", color=HIGHLIGHT, lw=2.5, alpha=0.35)
    k = len(model.baseline["nf_class"])
    plot_class_flips(np.zeros(k), np.zeros(k), np.zeros(k), ax=ax2)
    pts = list(model.points.values())
    top = max(max(max(p["nf_class"].max(), p["pf_class"].max()) for p in pts), 1e-3)
    ax2.set_ylim(0, 145 * top)  # one scale for negative and positive flips, headroom for the legend
    artists = {"ring": _by_gid(ax1, "highlight"), "curve": sel, "title": ax2.title,
               "bars_base": ax2.containers[0], "bars": ax2.containers[-1], "pf": _by_gid(ax2, "pf"),
               "legends": [ax2.get_legend()] if ax2.get_legend() else [], "fig": fig}
    return fig, artists


def show_point(model, artists, method, knob, beta):
    """Move the changing artists of ``explorer_figure`` to one point; return the model's point."""
    p = model.point(method, knob, beta)
    artists["ring"].set_data([100 * p["err_new"]], [100 * p["nfr"]])
    _, err, nfr, _, _ = model.curve(method, p["beta"])
    artists["curve"].set_data(100 * err, 100 * nfr)
    for bar, h in zip(artists["bars"], 100 * p["nf_class"]):
        bar.set_height(h)
    for bar, h in zip(artists["bars_base"], 100 * p["baseline"]["nf_class"]):
        bar.set_height(h)
    artists["pf"].set_ydata(100 * p["pf_class"])
    artists["title"].set_text(f"flips by true class: {METHOD_LABELS[method]}")
    return p


def dynamic_artists(artists):
    """The artists of ``explorer_figure`` that a change of selection redraws."""
    return [artists[k] for k in ("ring", "curve", "pf", "title")] + list(artists["bars_base"]) \
        + list(artists["bars"]) + artists["legends"]  # legends last: they stay on top


def _by_gid(ax, gid):
    return next(line for line in ax.lines if line.get_gid() == gid)
