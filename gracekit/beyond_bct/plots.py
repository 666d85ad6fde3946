"""Figures of notebook 08: retrieval bars, backfilling curves by order, sigma against the error it
predicts, and the compatibility matrix of a chain. Every function draws on ``ax`` (a new figure when
None) and returns the figure."""
import matplotlib.pyplot as plt
import numpy as np

from gracekit.viz.style import BAND, MODEL_COLORS, REFERENCE, method_color

__all__ = ["plot_retrieval_bars", "plot_backfill_orders", "plot_sigma_vs_error", "plot_compatibility"]


def _ax(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_retrieval_bars(labels, means, ses=None, *, reference=None, ax=None, title=None):
    """Horizontal bars of top-1 retrieval (one bar per query->gallery setting), with SE whiskers.

    Parameters
    ----------
    labels : list of str
    means, ses : sequences of float (ses optional)
    reference : float, optional
        A dashed vertical line (e.g. old/old, the level to beat).
    """
    if len(labels) != len(means) or (ses is not None and len(ses) != len(means)):
        raise ValueError("labels, means and ses must have the same length")
    fig, ax = _ax(ax, (6, 0.45 * len(labels) + 1))
    pos = np.arange(len(labels))[::-1]
    ax.barh(pos, means, xerr=ses, color=[method_color(name, default=MODEL_COLORS["new"]) for name in labels],
            alpha=0.85, capsize=3)
    for p, m in zip(pos, means):
        ax.text(m + 0.005, p, f"{m:.3f}", va="center", fontsize=8)
    ax.set_yticks(pos, labels)
    if reference is not None:
        ax.axvline(reference, color=REFERENCE, ls="--", lw=1)
    ax.set_xlabel("top-1 retrieval (open set, 1-shot gallery)")
    if title:
        ax.set_title(title)
    return fig


def plot_backfill_orders(fractions, curves, *, ses=None, start=None, final=None, ax=None, title=None):
    """Top-1 against the fraction of the gallery re-embedded, one line per order.

    Parameters
    ----------
    fractions : array (m,)
    curves : dict name -> array (m,)
    ses : dict name -> array (m,), optional (shaded +-1 SE)
    start, final : float, optional
        Dotted lines at the top-1 before and after a full backfill.
    """
    fig, ax = _ax(ax, (6, 4))
    fr = np.asarray(fractions, dtype=float)
    for name, acc in curves.items():
        acc = np.asarray(acc, dtype=float)
        if acc.shape != fr.shape:
            raise ValueError(f"curve {name!r} has {acc.shape} points, fractions has {fr.shape}")
        (line,) = ax.plot(100 * fr, acc, marker="o", ms=3, label=name, color=method_color(name))
        if ses is not None and name in ses:
            se = np.asarray(ses[name], dtype=float)
            ax.fill_between(100 * fr, acc - se, acc + se, color=line.get_color(), alpha=0.2, lw=0)
    for level, text in [(start, "before backfilling"), (final, "fully backfilled")]:
        if level is not None:
            ax.axhline(level, color=REFERENCE, ls=":", lw=1)
            ax.text(100 * fr[-1], level, text, ha="right", va="bottom", fontsize=7, color=REFERENCE)
    ax.set_xlabel("gallery re-embedded with the new model (%)")
    ax.set_ylabel("top-1 of new queries")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def plot_sigma_vs_error(sigma, error, *, ax=None, title=None):
    """Scatter of FastFill's sigma against the actual error of the transformed embedding."""
    sigma, error = np.asarray(sigma, dtype=float), np.asarray(error, dtype=float)
    if sigma.shape != error.shape or sigma.ndim != 1:
        raise ValueError(f"sigma and error must be 1-D of the same length, got {sigma.shape} and {error.shape}")
    fig, ax = _ax(ax, (4.5, 4))
    ax.scatter(sigma, error, s=6, alpha=0.4)
    ax.set_xlabel("FastFill sigma (predicted log-variance)")
    ax.set_ylabel("1 - cos(transformed old, new)")
    if title:
        ax.set_title(title)
    return fig


def plot_compatibility(M, *, ax=None, title=None, vmin=None, vmax=None):
    """A chain's cross-model matrix M[query model, gallery model]; cells below the diagonal that meet
    the criterion M[i, j] > M[j, j] are outlined."""
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"M must be square, got shape {M.shape}")
    fig, ax = _ax(ax, (4, 3.6))
    im = ax.imshow(M, cmap="viridis", vmin=vmin, vmax=vmax)
    T = len(M)
    for i in range(T):
        for j in range(T):
            ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if M[i, j] < np.nanmean(M) else "black")
            if j < i and M[i, j] > M[j, j]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec=BAND, lw=2.5))
    ticks = [f"φ{t + 1}" for t in range(T)]
    ax.set_xticks(range(T), ticks)
    ax.set_yticks(range(T), ticks)
    ax.set_xlabel("gallery model")
    ax.set_ylabel("query model")
    ax.grid(False)
    fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        ax.set_title(title)
    return fig
