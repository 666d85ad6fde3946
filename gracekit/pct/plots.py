"""Static figures of notebook 02: the accuracy-versus-NFR trade-off and flips by true class."""
import numpy as np

__all__ = ["plot_tradeoff", "plot_class_flips", "METHOD_LABELS"]

METHOD_LABELS = {"none": "unconstrained", "naive": "naive reweighting", "kd": "plain distillation (LM)",
                 "fd_lm": "FD-LM", "fd_kl": "FD-KL", "ensemble": "ensembles (both sides)"}
_COLORS = {"none": "black", "naive": "tab:gray", "kd": "tab:blue", "fd_lm": "tab:red",
           "fd_kl": "tab:orange", "ensemble": "tab:green"}


def plot_tradeoff(curves, highlight=None, ax=None, title="Err_new vs NFR (mean ± sd over seeds)"):
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
        color = _COLORS.get(key, f"C{i}")
        err, nfr = 100 * np.asarray(err, float), 100 * np.asarray(nfr, float)
        ax.errorbar(err, nfr, xerr=100 * np.asarray(err_sd, float), yerr=100 * np.asarray(nfr_sd, float),
                    marker="o", ms=4, lw=1.2, capsize=2, color=color, label=label,
                    ls="-" if len(err) > 1 else "none")
    (ring,) = ax.plot([], [], "o", ms=14, mfc="none", mec="k", mew=2, zorder=5, gid="highlight")
    if highlight is not None:
        ring.set_data([100 * highlight[0]], [100 * highlight[1]])
    ax.set_xlabel("error of the new model, Err_new (%)")
    ax.set_ylabel("negative flip rate, NFR (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    return fig


def plot_class_flips(nf_class, pf_class=None, nf_baseline=None, ax=None, title="flips by true class"):
    """Bars of the negative-flip rate per true class (and the baseline's), positive flips as a line.

    Args:
        nf_class: negative flips / class size, per class (fractions).
        pf_class: optional positive flips / class size, per class (drawn on a second axis).
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
    ax.bar(k + 0.2, nf, 0.4, color="tab:red", label="NFR, selected")
    ax.set_xticks(k)
    ax.set_xlabel("true class")
    ax.set_ylabel("negative flips (% of class)")
    ax.set_title(title, fontsize=10)
    if pf_class is not None:
        ax2 = ax.twinx()
        ax2.plot(k, 100 * np.asarray(pf_class, float), "s--", color="tab:green", ms=4, label="PFR, selected",
                 gid="pf")
        ax2.set_ylabel("positive flips (% of class)", color="tab:green")
        ax2.set_ylim(0, max(1.0, 120 * float(np.max(pf_class))))
        ax2.grid(False)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def _fig_ax(ax):
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
    return fig, ax
