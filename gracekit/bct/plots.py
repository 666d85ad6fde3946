"""Figures of notebook 03: the cross-model retrieval matrix, the BCT lambda sweep, backfilling.

Every function takes arrays and returns the matplotlib Figure (mglearn style); colours come from
``gracekit.viz.style``.
"""
import numpy as np

from gracekit.viz.style import METHOD_COLORS, REFERENCE, method_color, method_marker

__all__ = ["plot_cross_model_matrix", "plot_lambda_sweep", "plot_backfill"]


def plot_cross_model_matrix(M, names, title=None, ax=None, se=None, *, decimals=2, fontsize=11):
    """Heat map of M[query model, gallery model] with the values written in; returns the Figure.

    ``decimals`` and ``fontsize`` set the numbers in the cells (2 decimals at 11 pt stay readable when
    several matrices share a figure).
    """
    import matplotlib.pyplot as plt

    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] != len(names):
        raise ValueError(f"M must be square with one row per name ({len(names)}), got shape {M.shape}")
    size = (1.5 * len(names) + 1.8, 1.3 * len(names) + 1.2)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=size)
    ax.imshow(M, vmin=0, vmax=1, cmap="viridis")
    for i in range(len(names)):
        for j in range(len(names)):
            text = f"{M[i, j]:.{decimals}f}" + (f"\n±{se[i][j]:.{decimals}f}" if se is not None else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, fontweight="bold",
                    color="white" if M[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("gallery model")
    ax.set_ylabel("query model")
    ax.grid(False)
    ax.set_title(title or "top-1 retrieval")
    return fig


def plot_lambda_sweep(lambdas, new_old, old_old, new_new=None, paragon=None, se=None, ax=None):
    """Cross-model accuracy M(new, old) against lambda, with the old/old bar it must beat; returns the Figure.

    Args:
        lambdas: the lambda values (drawn on a log axis; must be > 0).
        new_old: M(new query, old gallery) per lambda; se: its standard errors (optional).
        old_old: the bar (a number). new_new: new/new per lambda (optional). paragon: independent new/new.
    """
    import matplotlib.pyplot as plt

    lam = np.asarray(lambdas, dtype=float)
    if lam.ndim != 1 or len(lam) == 0 or (lam <= 0).any() or len(new_old) != len(lam):
        raise ValueError("lambdas must be positive, one per new_old value")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.6))
    ax.errorbar(lam, new_old, yerr=se, marker="o", capsize=3, color=METHOD_COLORS["bct"],
                label="M(new, old): new queries, old gallery")
    ax.axhline(old_old, color=REFERENCE, ls="--", label="M(old, old): the bar to beat")
    if new_new is not None:
        ax.plot(lam, new_new, marker="s", ls="--", color=METHOD_COLORS["bct"], label="M(new, new)")
    if paragon is not None:
        ax.axhline(paragon, color=METHOD_COLORS["independent"], ls=":", label="independent new/new (paragon)")
    ax.set_xscale("log")
    ax.set_xlabel("influence-loss weight λ")
    ax.set_ylabel("top-1")
    ax.legend(fontsize=8)
    return fig


def plot_backfill(fractions, curves, ax=None):
    """Top-1 against the fraction of the gallery re-indexed; ``curves`` maps a label to accuracies."""
    import matplotlib.pyplot as plt

    fr = np.asarray(fractions, dtype=float)
    if not isinstance(curves, dict) or not curves or any(len(v) != len(fr) for v in curves.values()):
        raise ValueError("curves must be a non-empty dict label -> one accuracy per fraction")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.6))
    for i, (label, acc) in enumerate(curves.items()):
        ax.plot(fr, acc, marker=method_marker(label), color=method_color(label, f"C{i}"), label=label)
    ax.set_xlabel("fraction of the gallery re-indexed with the new model")
    ax.set_ylabel("top-1 (new queries)")
    ax.legend(fontsize=8)
    return fig
