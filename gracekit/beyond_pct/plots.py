"""Figures of notebook 07: methods side by side, the churn-error curve, the interpolation path.

Every function takes tidy records from ``gracekit.beyond_pct.experiment`` (one dict per model and
seed), averages over seeds and draws mean ± standard error on ``ax`` (a new figure when None).
Colours come from ``gracekit.viz.style``; methods it does not know get this module's colours.
"""
import matplotlib.pyplot as plt
import numpy as np

from gracekit.viz.style import ERR_LABEL, MODEL_COLORS, NFR_LABEL, REFERENCE, method_color, tradeoff_axes

__all__ = ["plot_methods", "plot_churn_curve", "plot_interpolation", "mean_se", "LABELS"]

LABELS = {"single": "single new model", "ensemble": "ensemble", "ldi": "LDI from the ensemble (ELODI)",
          "fd": "focal distillation from old", "none": "no constraint", "distill": "distillation (weight λ)",
          "anchor": "anchor (α)", "constraint": "explicit churn constraint (budget)"}
_OWN = {"single": "#444444", "ldi": "#e377c2", "distill": "#ff7f0e", "anchor": "#17becf",
        "constraint": "#000000", "fd": "#9467bd", "ensemble": "#8c564b", "none": "#444444"}
_MARKERS = {"single": "o", "ensemble": "D", "ldi": "*", "fd": "s", "none": "o", "distill": "^",
            "anchor": "v", "constraint": "X"}


def _color(method):
    return method_color(method, default=None) if method in ("ensemble", "fd", "none") else _OWN.get(method)


def _ax(ax, size=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def mean_se(records, field, **where):
    """Mean and standard error over seeds of ``field`` among the records matching ``where``."""
    vals = np.array([r[field] for r in records if all(r.get(k) == v for k, v in where.items())], dtype=float)
    if vals.size == 0:
        raise ValueError(f"no record matches {where}")
    se = vals.std(ddof=1) / np.sqrt(vals.size) if vals.size > 1 else np.nan
    return float(vals.mean()), float(se)


def plot_methods(records, methods=("single", "ensemble", "ldi", "fd"), ax=None):
    """NFR against error (percent, mean ± SE over seeds), one marker per method, labelled with its FLOPs.

    Args:
        records: ``run_elodi`` records (fields method, seed, err_new, nfr, flops).
        methods: which methods to draw, in legend order.
        ax: matplotlib axes, or None for a new figure.
    Returns:
        the axes.
    """
    ax = _ax(ax)
    for m in methods:
        e, e_se = mean_se(records, "err_new", method=m)
        n, n_se = mean_se(records, "nfr", method=m)
        flops = mean_se(records, "flops", method=m)[0]
        ax.errorbar(100 * e, 100 * n, xerr=100 * np.nan_to_num(e_se), yerr=100 * np.nan_to_num(n_se),
                    fmt=_MARKERS.get(m, "o"), ms=11 if m == "ldi" else 8, color=_color(m), capsize=3,
                    label=f"{LABELS.get(m, m)} ({flops / 1e3:.0f}k FLOPs)")
    tradeoff_axes(ax, ERR_LABEL, NFR_LABEL)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("against the old model (mean ± SE over seeds)")
    return ax


def plot_churn_curve(records, ax=None, methods=("distill", "anchor", "constraint")):
    """Error against churn (percent, mean ± SE over seeds): one line per method, knobs annotated.

    The "none" record (the unconstrained new model) starts every line.

    Args:
        records: ``run_churn`` records (fields method, knob, seed, churn, err_new).
        ax: matplotlib axes, or None for a new figure.
        methods: which churn methods to draw.
    Returns:
        the axes.
    """
    ax = _ax(ax)
    c0, c0_se = mean_se(records, "churn", method="none")
    e0, e0_se = mean_se(records, "err_new", method="none")
    ax.errorbar(100 * c0, 100 * e0, xerr=100 * c0_se, yerr=100 * e0_se, fmt="o", ms=8, color=_color("none"),
                label=LABELS["none"], zorder=3)
    for m in methods:
        knobs = sorted({r["knob"] for r in records if r["method"] == m})
        pts = [(mean_se(records, "churn", method=m, knob=k), mean_se(records, "err_new", method=m, knob=k))
               for k in knobs]
        xs = [100 * p[0][0] for p in pts]
        ys = [100 * p[1][0] for p in pts]
        line_x, line_y = ([100 * c0] + xs, [100 * e0] + ys) if m != "constraint" else (xs, ys)
        ax.plot(line_x, line_y, "-" if m != "constraint" else ":", color=_color(m), lw=1.5)
        ax.errorbar(xs, ys, xerr=[100 * p[0][1] for p in pts], yerr=[100 * p[1][1] for p in pts],
                    fmt=_MARKERS[m], color=_color(m), capsize=2, ms=7, label=LABELS.get(m, m))
        for k, x, y in zip(knobs, xs, ys):
            ax.annotate(f"{k:g}", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7, color=_color(m))
    ax.set_xlabel("churn: test points where old and new predictions differ (%)")
    ax.set_ylabel("error of the new model (%)")
    ax.set_title("churn against error (mean ± SE over seeds)")
    ax.legend(fontsize=8)
    return ax


def plot_interpolation(records, field="err_new", ax=None, reference=None):
    """``field`` (percent) along alpha, the old model's weight, for each (pair, space) in the records.

    Args:
        records: ``run_interpolation`` records (fields pair, space, alpha, seed and metrics).
        field: "err_new" or "nfr" (or another metric of the records).
        ax: matplotlib axes, or None for a new figure.
        reference: optional value (fraction) drawn as a dashed line, e.g. the old model's error.
    Returns:
        the axes.
    """
    ax = _ax(ax)
    styles = {("fine-tuned", "weights"): (MODEL_COLORS["new"], "-", "o"),
              ("fine-tuned", "outputs"): (MODEL_COLORS["new"], ":", "."),
              ("independent", "weights"): (REFERENCE, "-", "s"),
              ("independent", "outputs"): (REFERENCE, ":", ".")}
    for (pair, space), (color, ls, marker) in styles.items():
        alphas = sorted({r["alpha"] for r in records if r["pair"] == pair and r["space"] == space})
        if not alphas:
            continue
        stats = [mean_se(records, field, pair=pair, space=space, alpha=a) for a in alphas]
        ax.errorbar(alphas, [100 * s[0] for s in stats], yerr=[100 * np.nan_to_num(s[1]) for s in stats],
                    color=color, ls=ls, marker=marker, ms=4, capsize=2, label=f"{pair}, {space}")
    if reference is not None:
        ax.axhline(100 * reference, color=MODEL_COLORS["old"], ls="--", lw=1, label="old model")
    ax.set_xlabel("α: weight of the old model (0 = new, 1 = old)")
    ax.set_ylabel({"err_new": "error (%)", "nfr": NFR_LABEL}.get(field, f"{field} (%)"))
    ax.legend(fontsize=8)
    return ax
