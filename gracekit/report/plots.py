"""Figures of the update report: error overlap (Venn-style), per-class flips, flip confusion, flip images.

Every function takes arrays or counts and returns the matplotlib Figure (mglearn style). Class names
are shown as plain text (a ``$`` never starts mathtext).
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle

from gracekit.viz.style import BAND, FLIP_COLORS, MODEL_COLORS, REFERENCE

__all__ = ["report_figures", "plot_error_overlap", "plot_class_flips", "plot_flip_confusion", "plot_flip_examples",
           "circle_overlap_distance"]

OLD_COLOR, NEW_COLOR = MODEL_COLORS["old"], MODEL_COLORS["new"]


def _text(s, n=18):
    s = str(s)
    s = s if len(s) <= n else s[:n - 1] + "…"
    return s.replace("$", r"\$")


def circle_overlap_distance(r1, r2, area):
    """Distance between the centres of two circles of radii r1, r2 whose lens has the given ``area``.

    Found by bisection (the lens area falls monotonically with the distance).
    """
    if r1 < 0 or r2 < 0 or area < 0:
        raise ValueError("r1, r2 and area must be >= 0")

    def lens(d):
        if d >= r1 + r2:
            return 0.0
        if d <= abs(r1 - r2):
            return np.pi * min(r1, r2) ** 2
        a1 = r1 ** 2 * np.arccos(np.clip((d * d + r1 * r1 - r2 * r2) / (2 * d * r1), -1, 1))
        a2 = r2 ** 2 * np.arccos(np.clip((d * d + r2 * r2 - r1 * r1) / (2 * d * r2), -1, 1))
        k = 0.5 * np.sqrt(max((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2), 0.0))
        return a1 + a2 - k

    area = min(area, np.pi * min(r1, r2) ** 2)
    lo, hi = abs(r1 - r2), r1 + r2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if lens(mid) > area else (lo, mid)
    return (lo + hi) / 2


def plot_error_overlap(counts, n=None, highlight=None, ax=None):
    """Two circles, the old and the new model's errors, with areas proportional to the counts.

    Args:
        counts: dict with "positive_flips" (old wrong only), "both_wrong", "negative_flips" (new wrong
            only), as in ``FlipReport.counts``; "both_right" is printed when present.
        n: number of samples (for percentages).
        highlight: "negative", "positive" or "both_wrong" to outline that region's label.
        ax: optional axes.
    Returns:
        the Figure.
    Used in: notebooks/06_your_update.py
    """
    try:
        a, b, c = (int(counts[k]) for k in ("positive_flips", "both_wrong", "negative_flips"))
    except (KeyError, TypeError, ValueError):
        raise ValueError("counts must hold integer 'positive_flips', 'both_wrong' and 'negative_flips'") from None
    if min(a, b, c) < 0:
        raise ValueError("counts must be >= 0")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.6, 3.4))
    old_err, new_err = a + b, b + c
    scale = max(old_err, new_err, 1)
    r1, r2 = np.sqrt(max(old_err, 0.02 * scale) / scale), np.sqrt(max(new_err, 0.02 * scale) / scale)
    d = circle_overlap_distance(r1, r2, np.pi * b / scale) if b > 0 else r1 + r2 + 0.1
    d = max(d, 0.25 * (r1 + r2)) if (a > 0 and c > 0) else d
    x1, x2 = -d / 2, d / 2
    ax.add_patch(Circle((x1, 0), r1, color=OLD_COLOR, alpha=0.30, lw=2))
    ax.add_patch(Circle((x2, 0), r2, color=NEW_COLOR, alpha=0.30, lw=2))
    pct = (lambda k: f"\n{100 * k / n:.2f}%") if n else (lambda k: "")
    labels = {"positive": ((x1 - r1 + min(x2 - r2, x1 + r1)) / 2, f"{a:,}{pct(a)}", FLIP_COLORS["positive"]),
              "both_wrong": (((max(x1 - r1, x2 - r2) + min(x1 + r1, x2 + r2)) / 2) if b else 0.0,
                             f"{b:,}{pct(b)}", "#333333"),
              "negative": ((max(x1 + r1, x2 - r2) + x2 + r2) / 2, f"{c:,}{pct(c)}", FLIP_COLORS["negative"])}
    if b == 0:
        labels["both_wrong"] = (0.0, "both wrong: 0", "#333333")
    for key, (x, txt, col) in labels.items():
        box = dict(boxstyle="round", fc="white", ec=col, lw=2.5) if key == highlight else None
        ax.text(x, -0.02 if key != "both_wrong" or b else -max(r1, r2) - 0.15, txt, ha="center",
                va="center", fontsize=9, color=col, fontweight="bold", bbox=box)
    ax.text(x1, r1 + 0.08, "old model wrong", ha="center", color=OLD_COLOR, fontsize=9)
    ax.text(x2, r2 + 0.08, "new model wrong", ha="center", color=NEW_COLOR, fontsize=9)
    foot = "left: positive flips · middle: both wrong · right: negative flips"
    if "both_right" in counts:
        foot += f"\nboth right (outside): {int(counts['both_right']):,}"
    ax.set_title("Where the two models' errors overlap", fontsize=10)
    ax.text(0.5, -0.02, foot, transform=ax.transAxes, ha="center", va="top", fontsize=7.5, color=REFERENCE)
    span = max(x1 + r1, x2 + r2) - min(x1 - r1, x2 - r2)
    ax.set_xlim(min(x1 - r1, x2 - r2) - 0.1 * span, max(x1 + r1, x2 + r2) + 0.1 * span)
    ax.set_ylim(-max(r1, r2) - 0.3, max(r1, r2) + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def plot_class_flips(per_class, class_names=None, highlight=None, ax=None):
    """Negative and positive flips per true class, as paired bars.

    Args:
        per_class: dict class index -> {"negative_flips", "positive_flips", ...} (FlipReport.per_class).
        class_names: tick labels (default the indices).
        highlight: a class index to mark.
        ax: optional axes.
    Returns:
        the Figure.
    Used in: notebooks/06_your_update.py
    """
    if not isinstance(per_class, dict) or not per_class:
        raise ValueError("per_class must be a non-empty dict class -> counts")
    ks = sorted(per_class)
    names = [str(k) for k in ks] if class_names is None else [class_names[k] for k in ks]
    neg = np.array([per_class[k]["negative_flips"] for k in ks])
    pos = np.array([per_class[k]["positive_flips"] for k in ks])
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(max(4.5, 0.45 * len(ks) + 2), 3.2))
    x = np.arange(len(ks))
    ax.bar(x - 0.2, neg, 0.4, color=FLIP_COLORS["negative"], label="negative flips")
    ax.bar(x + 0.2, pos, 0.4, color=FLIP_COLORS["positive"], label="positive flips")
    if highlight is not None and highlight in ks:
        i = ks.index(highlight)
        ax.axvspan(i - 0.5, i + 0.5, color=BAND, alpha=0.35, zorder=0)
    ax.set_xticks(x)
    ax.set_xticklabels([_text(s, 12) for s in names], rotation=45 if len(ks) > 8 else 0,
                       ha="right" if len(ks) > 8 else "center", fontsize=8)
    ax.set_xlabel("true class")
    ax.set_ylabel("samples")
    ax.set_title("Flips per true class", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_flip_confusion(confusion, class_names=None, ax=None):
    """Heat map of negative flips: rows are the true class, columns the new model's wrong label.

    Args:
        confusion: (K, K) counts (UpdateReport.confusion).
        class_names: axis labels.
        ax: optional axes.
    Returns:
        the Figure.
    Used in: notebooks/06_your_update.py
    """
    C = np.asarray(confusion)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"confusion must be a square (K, K) matrix, got shape {C.shape}")
    k = len(C)
    names = [str(i) for i in range(k)] if class_names is None else list(class_names)
    size = min(max(3.2, 0.3 * k + 1.5), 8)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(size + 0.8, size))
    im = ax.imshow(C, cmap="Reds", vmin=0, vmax=max(C.max(), 1))
    if k <= 20:
        for i, j in zip(*np.nonzero(C)):
            ax.text(j, i, str(C[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if C[i, j] > 0.6 * C.max() else "black")
    ticks = np.arange(k) if k <= 30 else np.arange(0, k, max(1, k // 15))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels([_text(names[t], 10) for t in ticks], rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels([_text(names[t], 10) for t in ticks], fontsize=8)
    ax.set_xlabel("new model's (wrong) label")
    ax.set_ylabel("true class (old model right)")
    ax.set_title("Negative flips: who loses, to what", fontsize=10)
    ax.grid(False)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return fig


def plot_flip_examples(images, y_true, y_old, y_new, confidence=None, n_cols=5):
    """A grid of flipped samples' images titled "true / old -> new" (and the new model's confidence).

    Args:
        images: (m, H, W) or (m, H, W, 3).
        y_true, y_old, y_new: m labels or class names each.
        confidence: optional m numbers.
        n_cols: images per row.
    Returns:
        the Figure.
    Used in: notebooks/06_your_update.py
    """
    images = np.asarray(images)
    m = len(images)
    if m == 0 or images.ndim not in (3, 4):
        raise ValueError(f"images must be a non-empty (m, H, W) or (m, H, W, 3) array, got shape {images.shape}")
    if not len(y_true) == len(y_old) == len(y_new) == m:
        raise ValueError("images, y_true, y_old and y_new must have the same length")
    cols = min(n_cols, m)
    rows = int(np.ceil(m / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 2.3 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= m:
            continue
        ax.imshow(images[i], cmap="gray_r" if images.ndim == 3 else None)
        conf = "" if confidence is None or np.isnan(confidence[i]) else f" ({confidence[i]:.2f})"
        ax.set_title(f"true {_text(y_true[i], 8)}\nold {_text(y_old[i], 8)} → new {_text(y_new[i], 8)}{conf}",
                     fontsize=7.5, color=FLIP_COLORS["negative"])
    fig.suptitle("Most confident negative flips", fontsize=10)
    fig.tight_layout()
    return fig


def report_figures(report):
    """The figures of an ``UpdateReport`` as a dict name -> matplotlib Figure (the HTML page shows them)."""
    figs = {"overlap": plot_error_overlap(report.flips.counts, report.n),
            "classes": plot_class_flips(report.flips.per_class, report.class_names),
            "confusion": plot_flip_confusion(report.confusion, report.class_names)}
    if report.images is not None and report.masks["negative"].any():
        idx = report.instances("negative", limit=report.top)
        figs["examples"] = plot_flip_examples(
            report.images[idx], [report.class_names[i] for i in report.y_true[idx]],
            [report.class_names[i] for i in report.y_old[idx]], [report.class_names[i] for i in report.y_new[idx]],
            report.confidence()[idx])
    return figs
