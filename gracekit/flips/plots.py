"""Figures for notebook 01: decision regions, flip maps and the blend trade-off curve.

Every function takes arrays and returns the matplotlib Figure (mglearn style).
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from gracekit.metrics import flip_masks
from gracekit.viz.style import CLASS_COLORS, CLASS_FILLS, ERR_LABEL, FLIP_COLORS, HIGHLIGHT, NFR_LABEL, REFERENCE

__all__ = ["decision_grid", "plot_data_2d", "plot_flip_map", "plot_tradeoff_curve"]

_REGION_CMAP = ListedColormap(CLASS_FILLS)


def decision_grid(predict, X, resolution=150, margin=0.5):
    """Evaluate ``predict`` on a grid covering X; return (extent, labels of shape (res, res)).

    Args:
        predict: function from an (m, 2) array to m labels or an (m, K) score matrix.
        X: the 2-D points the grid must cover.
        resolution: grid points per axis.
        margin: padding around the data.
    Returns:
        extent (xmin, xmax, ymin, ymax) for ``imshow`` and the grid of outputs (rows = y).
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2) for a 2-D grid, got {X.shape}")
    (x0, y0), (x1, y1) = X.min(0) - margin, X.max(0) + margin
    xx, yy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    out = np.asarray(predict(np.c_[xx.ravel(), yy.ravel()].astype(np.float32)))
    shape = (resolution, resolution) + out.shape[1:]
    return (x0, x1, y0, y1), out.reshape(shape)


def plot_data_2d(X, y, ax=None, title=None, max_points=2000, seed=0):
    """Scatter a 2-D labelled sample (a random subset of at most ``max_points``)."""
    X, y = np.asarray(X), np.asarray(y)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.5, 3.5))
    idx = np.random.default_rng(seed).permutation(len(X))[:max_points]
    for c in np.unique(y):
        m = idx[y[idx] == c]
        ax.scatter(X[m, 0], X[m, 1], s=6, alpha=0.6, color=CLASS_COLORS[c % len(CLASS_COLORS)], label=f"class {c}")
    ax.legend(loc="lower left", fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def plot_flip_map(X, y_true, y_old, y_new, extent=None, grid_old=None, grid_new=None, ax=None,
                  title=None, kinds=("positive", "negative")):
    """Decision regions of the new model, the old model's boundary, and the flips on top.

    Args:
        X: (n, 2) test points; y_true, y_old, y_new: their labels.
        extent, grid_old, grid_new: outputs of ``decision_grid`` for the old and new model (labels).
        ax: optional axes to draw into.
        title: optional title.
        kinds: which flips to draw, of "positive" and "negative". Both kinds crowd the same band where
            the classes overlap, so one panel per kind shows their ratio best (the explorer draws both).
    Returns:
        the Figure. Negative flips (old right, new wrong) are red crosses, positive flips green dots.
    """
    kinds = tuple(kinds)
    if not kinds or set(kinds) - {"positive", "negative"}:
        raise ValueError(f"kinds must name 'positive' and/or 'negative', got {kinds!r}")
    X, y_true, y_old, y_new = map(np.asarray, (X, y_true, y_old, y_new))
    if not (len(X) == len(y_true) == len(y_old) == len(y_new)):
        raise ValueError("X, y_true, y_old and y_new must have the same length")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.5, 4.2))
    if grid_new is not None:
        ax.imshow(grid_new, origin="lower", extent=extent, cmap=_REGION_CMAP, vmin=0, vmax=3,
                  aspect="auto", interpolation="nearest")
    if grid_old is not None:
        x0, x1, y0, y1 = extent
        xs, ys = np.linspace(x0, x1, grid_old.shape[1]), np.linspace(y0, y1, grid_old.shape[0])
        ax.contour(xs, ys, grid_old, levels=np.arange(grid_old.max()) + 0.5, colors="k",
                   linewidths=1.2, linestyles="--")
    masks = flip_masks(y_true, y_old, y_new)
    neg, pos = masks["negative"], masks["positive"]
    if "positive" in kinds:
        ax.scatter(X[pos, 0], X[pos, 1], s=9, color=FLIP_COLORS["positive"], alpha=0.7,
                   label=f"positive flips ({pos.sum():,})")
    if "negative" in kinds:
        ax.scatter(X[neg, 0], X[neg, 1], s=14, marker="x", color=FLIP_COLORS["negative"],
                   label=f"negative flips ({neg.sum():,})")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax.set_title(title or "new regions (fill), old boundary (dashed), flips")
    return fig


def plot_tradeoff_curve(err_new, nfr, labels=None, highlight=None, ax=None, xlabel=ERR_LABEL,
                        ylabel=NFR_LABEL):
    """NFR (y) against the new model's error (x) along a sweep, in percent; optionally mark one point.

    The kit's trade-off convention (``gracekit.viz.style``): error on x, NFR on y.

    Args:
        err_new, nfr: sequences of rates in [0, 1], one per sweep point.
        labels: optional text per point.
        highlight: index of the point to mark.
        ax: optional axes.
    Returns:
        the Figure.
    """
    err_new, nfr = 100 * np.asarray(err_new, float), 100 * np.asarray(nfr, float)
    if err_new.shape != nfr.shape:
        raise ValueError(f"err_new and nfr must have the same shape, got {err_new.shape} and {nfr.shape}")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.5, 3.5))
    ax.plot(err_new, nfr, "-o", ms=3, color=REFERENCE)
    if labels is not None:
        for x, yv, t in zip(err_new, nfr, labels):
            ax.annotate(str(t), (x, yv), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if highlight is not None:
        ax.plot(err_new[highlight], nfr[highlight], "o", ms=10, mfc="none", mec=HIGHLIGHT, mew=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig
