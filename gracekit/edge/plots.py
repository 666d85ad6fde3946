"""Figures of notebook 04: retrieval accuracy and latency against query FLOPs, the budget explorer's scatter.

Every function returns the matplotlib Figure (mglearn style); colours come from ``gracekit.viz.style``.
"""
import numpy as np

from gracekit.viz.style import HIGHLIGHT, REFERENCE, method_color, method_marker

__all__ = ["plot_accuracy_vs_flops", "plot_latency_vs_flops", "plot_budget_candidates", "depth_curves",
           "legend_outside"]


def legend_outside(ax, fontsize=8):
    """Put the legend to the right of the axes, so it never covers data."""
    return ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def depth_curves(rows, *, label="edge->cloud, {method}, depth {depth}"):
    """Split rows (``summarize`` output) into one curve per (method, depth): label -> (flops, edge_cloud).

    Joining networks of different depths in FLOPs order draws a zigzag that means nothing; one line per
    depth joins only networks that differ in width.
    """
    out = {}
    for r in sorted(rows, key=lambda r: r["flops"]):
        key = label.format(method=r["method"], depth=len(r["widths"]))
        out.setdefault(key, ([], []))
        out[key][0].append(r["flops"])
        out[key][1].append(r["edge_cloud"])
    return out


def plot_accuracy_vs_flops(curves, paragon=None, cloud_flops=None, chance=None, ax=None, budget=None, points=None,
                           colors=None):
    """Top-1 against query FLOPs (log axis), one line per curve, legend outside the axes; returns the Figure.

    Args:
        curves: dict label -> (flops, accuracy) or (flops, accuracy, sd) sequences; each is one line
            (join only networks of one family, e.g. one depth: ``depth_curves``).
        paragon: cloud/cloud top-1, drawn as a star at ``cloud_flops`` and a dotted line.
        chance: drawn as a grey line. budget: a vertical line at this many FLOPs.
        points: dict label -> (flops, accuracy) drawn as unjoined markers (e.g. single networks).
        colors: dict label -> colour overriding the method colours (e.g. one colour per depth).
    Used in: notebooks/04_edge_cloud.py
    """
    import matplotlib.pyplot as plt

    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict label -> (flops, accuracy[, sd])")
    colors = colors or {}
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(9, 4.2))
    for i, (label, val) in enumerate(list(curves.items()) + list((points or {}).items())):
        is_point = points is not None and label in points and i >= len(curves)
        f, a = np.asarray(val[0], float), np.asarray(val[1], float)
        if f.shape != a.shape or f.ndim != 1 or (f <= 0).any():
            raise ValueError(f"curve {label!r}: flops must be positive and match accuracy in length")
        sd = np.asarray(val[2], float) if len(val) > 2 and val[2] is not None else None
        order = np.argsort(f)
        ax.errorbar(f[order], a[order], yerr=None if sd is None else sd[order], capsize=3, label=label,
                    marker=method_marker(label, "os^vD<>"[i % 7]),
                    color=colors.get(label, method_color(label, f"C{i}")),
                    ls="none" if is_point else ("--" if "edge/edge" in label else "-"), ms=8 if is_point else 6)
    if paragon is not None and cloud_flops is not None:
        ax.plot([cloud_flops], [paragon], marker="*", ms=14, color=HIGHLIGHT, ls="none",
                label="cloud/cloud (paragon)")
        ax.axhline(paragon, color=HIGHLIGHT, ls=":", lw=1)
    if chance is not None:
        ax.axhline(chance, color=REFERENCE, lw=1, label=f"chance ({chance:.2f})")
    if budget is not None:
        ax.axvline(budget, color=HIGHLIGHT, lw=1.5, ls="-.", label="budget")
    ax.set_xscale("log")
    ax.set_xlabel("query FLOPs per image (log scale)")
    ax.set_ylabel("top-1 retrieval")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_latency_vs_flops(flops, latency, labels=None, ax=None):
    """Measured ms per query against FLOPs per query (log-log), one line per batch size; returns the Figure.

    Args:
        flops: FLOPs per query of each model.
        latency: dict batch size -> ms per query of each model (same order as flops).
        labels: optional model names written beside the points.
    Used in: notebooks/04_edge_cloud.py
    """
    import matplotlib.pyplot as plt

    f = np.asarray(flops, float)
    if f.ndim != 1 or len(f) == 0 or (f <= 0).any():
        raise ValueError("flops must be a non-empty 1-D array of positive numbers")
    if not isinstance(latency, dict) or any(len(v) != len(f) for v in latency.values()):
        raise ValueError("latency must be a dict batch size -> one ms-per-query value per model")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 3.8))
    order = np.argsort(f)
    for b, ms in sorted(latency.items()):
        ms = np.asarray(ms, float)
        ax.plot(f[order], ms[order], marker="o", label=f"batch {b}: ms per query")
    ref = np.asarray(latency[max(latency)], float)[order]
    ax.plot(f[order], ref[-1] * f[order] / f[order][-1], color=REFERENCE, ls=":", label="proportional to FLOPs")
    if labels is not None:
        for x, yv, t in zip(f, np.asarray(latency[min(latency)], float), labels):
            ax.annotate(t, (x, yv), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("query FLOPs per image")
    ax.set_ylabel("ms per query (median)")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_budget_candidates(candidates, paragon, cloud_flops, ax=None):
    """Every candidate edge as a point (top-1 against query FLOPs, log x), one colour per method.

    Args:
        candidates: dicts with flops, edge_cloud and optionally method (e.g. ``EdgeBudgetModel.candidates``).
        paragon: cloud/cloud top-1, drawn as a star at ``cloud_flops`` and a dotted line.
    Used in: gracekit.edge.explorer (the budget explorer's static layer)
    """
    import matplotlib.pyplot as plt

    if not candidates:
        raise ValueError("candidates must hold at least one edge")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(9, 4))
    for i, method in enumerate(dict.fromkeys(c.get("method", "edge") for c in candidates)):
        cs = [c for c in candidates if c.get("method", "edge") == method]
        ax.plot([c["flops"] for c in cs], [c["edge_cloud"] for c in cs], ls="none", alpha=0.7,
                marker=method_marker(method), color=method_color(method, f"C{i}"), label=f"edge->cloud, {method}")
    ax.plot([cloud_flops], [paragon], "*", color=HIGHLIGHT, ms=13, label="cloud/cloud (paragon)")
    ax.axhline(paragon, color=HIGHLIGHT, ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("query FLOPs per image")
    ax.set_ylabel("top-1 retrieval")
    legend_outside(ax)
    return fig
