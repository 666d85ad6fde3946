"""Figures of notebook 05: convergence of the solvers, accuracy against the head's initial scale, and
each layer's share of the tangent kernel. Colours come from ``gracekit.viz.style``. Legends sit below
the axes, so they never cover a curve.
"""
import matplotlib.pyplot as plt
import numpy as np

from gracekit.viz.style import METHOD_COLORS, REFERENCE

__all__ = ["plot_convergence", "plot_head_init", "plot_layer_shares"]

HEAD_COLOR = METHOD_COLORS["lqf"]  # the new head, the part LQF trains from its initial scale


def plot_convergence(curves, tol=1e-3, ax=None, title="normalized loss gap (L - L*) / (L0 - L*)"):
    """Log-log curves of the normalized gap against steps, one per method, with the tolerance line.

    Args:
        curves: dict name -> (steps array, gap array).
        tol: horizontal reference line.
    Returns:
        the matplotlib Figure.
    Used in: notebooks/05_lqf.py
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict name -> (steps, gaps)")
    own = ax is None
    fig, ax = (ax.figure, ax) if not own else plt.subplots(figsize=(6, 4.4))
    for name, (steps, gaps) in curves.items():
        steps, gaps = np.asarray(steps, float), np.asarray(gaps, float)
        keep = (steps > 0) & (gaps > 0)
        ax.loglog(steps[keep], gaps[keep], label=name, lw=2)
    ax.axhline(tol, color=REFERENCE, ls=":", lw=1, label=f"gap {tol:g}")
    ax.set_xlabel("full-batch steps")
    ax.set_ylabel("normalized gap")
    ax.set_title(title, fontsize=10)
    _legend_below(ax, ncol=2)
    if own:
        fig.tight_layout()
    return fig


def _legend_below(ax, ncol):
    """The legend under the axes (outside the data area), in ``ncol`` columns."""
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, frameon=False)


def plot_head_init(stds, acc_lqf, acc_probe=None, acc_nonlinear=None, ax=None, label="LQF"):
    """LQF test accuracy against the new head's initial scale (log x), with reference lines."""
    stds, acc_lqf = np.asarray(stds, float), np.asarray(acc_lqf, float)
    if stds.shape != acc_lqf.shape or stds.ndim != 1 or (stds <= 0).any():
        raise ValueError("stds and acc_lqf must be 1-D of equal length, with stds > 0")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 3.6))
    ax.semilogx(stds, 100 * acc_lqf, "o-", lw=2, color=METHOD_COLORS["lqf"], label=label)
    if acc_probe is not None:
        ax.axhline(100 * acc_probe, color=METHOD_COLORS["probe"], ls="--", label="linear probe")
    if acc_nonlinear is not None:
        ax.axhline(100 * acc_nonlinear, color=METHOD_COLORS["nonlinear"], ls="--", label="nonlinear fine-tuning")
    ax.set_xlabel("std of the new head's initial weights")
    ax.set_ylabel("test accuracy (%)")
    _legend_below(ax, ncol=2)
    return fig


def plot_layer_shares(shares, names=None, ax=None):
    """Bar chart of each layer's share of the tangent kernel's trace (in %)."""
    shares = np.asarray(shares, float)
    names = names or [f"layer {i + 1}" for i in range(len(shares))]
    if len(names) != len(shares):
        raise ValueError(f"names has {len(names)} entries for {len(shares)} shares")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4, 3.6))
    ax.bar(names, 100 * shares, color=[REFERENCE] * (len(shares) - 1) + [HEAD_COLOR])
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of trace(J J^T) (%)")
    return fig
