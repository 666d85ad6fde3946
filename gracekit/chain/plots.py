"""Figures of notebook 06's chain of updates: the cross-model matrix, transitivity and the tax."""
import numpy as np

from gracekit.viz.style import BAND, method_color, method_marker

__all__ = ["plot_chain_matrix", "plot_transitivity", "plot_tax", "METHOD_LABELS"]

METHOD_LABELS = {"independent": "independent", "bct": "BCT (predecessor)", "bct_all": "BCT (all predecessors)",
                 "fd": "focal distillation", "finetune": "fine-tune", "bcwi": "BCWI (alpha 0.5)",
                 "l2_all": "L2 features (all predecessors)"}


def plot_chain_matrix(M, title="M(query model, gallery model)", ax=None):
    """Heat map of a chain's retrieval matrix; cells above the diagonal of the gallery's own score are
    outlined (the BCT criterion M(phi_i, phi_j) > M(phi_j, phi_j) holds there).

    Args:
        M: (T, T) top-1 accuracies, rows = query model, columns = gallery model.
    Returns:
        the Figure.
    Used in: notebooks/06_your_update.py
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"M must be a square (T, T) matrix, got shape {M.shape}")
    T = len(M)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.2, 3.6))
    ax.imshow(M, cmap="viridis", vmin=0, vmax=1)
    for i in range(T):
        for j in range(T):
            ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if M[i, j] > 0.55 else "white")
            if i > j and M[i, j] > M[j, j]:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec=BAND, lw=2.5))
    ticks = [f"phi_{t + 1}" for t in range(T)]
    ax.set_xticks(range(T))
    ax.set_xticklabels(ticks, fontsize=8)
    ax.set_yticks(range(T))
    ax.set_yticklabels(ticks, fontsize=8)
    ax.set_xlabel("gallery model")
    ax.set_ylabel("query model")
    ax.set_title(title, fontsize=10)
    ax.grid(False)
    return fig


def plot_transitivity(summary, methods=None, ax=None):
    """M(phi_t, phi_1) - M(phi_1, phi_1) against t per method, with seed sd bars: above 0 = compatible
    with the oldest gallery.

    Args:
        summary: output of ``summarize_chains``.
        methods: which methods to draw (default all).
    Returns:
        the Figure.
    Used in: notebooks/06_your_update.py
    """
    import matplotlib.pyplot as plt

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.2, 3.6))
    for m in methods or list(summary):
        P, sd = summary[m]["pair"], summary[m]["pair_sd"]
        t = np.arange(2, len(P) + 1)
        ax.errorbar(t, P[1:, 0] - P[0, 0], yerr=sd[1:, 0], marker=method_marker(m), ms=4, capsize=3,
                    label=METHOD_LABELS.get(m, m), color=method_color(m))
    ax.axhline(0, color="k", lw=1, ls="--")
    ax.set_xlabel("update t (queries by phi_t)")
    ax.set_ylabel("M(phi_t, phi_1) - M(phi_1, phi_1)")
    ax.set_title("Newest queries against the oldest gallery", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def plot_tax(summary, methods=None, field="self_top1", ax=None):
    """The compatibility tax: each method's gap to the independent model at every step.

    Args:
        summary: output of ``summarize_chains`` (must include "independent").
        methods: which methods (default all but independent).
        field: "self_top1" (retrieval M(phi_t, phi_t), gap = independent - method) or "err"
            (classification error, gap = method - independent); positive = a tax.
    Returns:
        the Figure.
    Used in: notebooks/06_your_update.py
    """
    import matplotlib.pyplot as plt

    if "independent" not in summary:
        raise ValueError("summary must include the 'independent' chain")
    if field not in ("self_top1", "err"):
        raise ValueError(f"field must be 'self_top1' or 'err', got {field!r}")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.2, 3.6))
    ref = summary["independent"]["step"][field][0]
    sign = 1 if field == "err" else -1
    for m in methods or [k for k in summary if k != "independent"]:
        mean, sd = summary[m]["step"][field]
        t = np.arange(1, len(mean) + 1)
        ax.errorbar(t[1:], 100 * sign * (mean[1:] - ref[1:]), yerr=100 * sd[1:], marker=method_marker(m), ms=4, capsize=3,
                    label=METHOD_LABELS.get(m, m), color=method_color(m))
    ax.axhline(0, color="k", lw=1, ls="--")
    ax.set_xlabel("update t")
    ax.set_ylabel("tax (pt): " + ("error - independent's" if field == "err" else "independent's top-1 - own"))
    ax.set_title("The compatibility tax at each step", fontsize=10)
    ax.legend(fontsize=7)
    return fig
