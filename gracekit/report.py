"""The regression report of one model update: `gracekit report` and ``update_report``.

Give it the true labels and the two models' predictions (labels or score matrices; arrays, CSV or
.npy files, or two fitted scikit-learn estimators / torch modules and a data set). It returns an
``UpdateReport``: the error of each model, NFR, PFR, relative NFR, BTC, BEC (gracekit.metrics),
the overlap of the two models' errors, the flip confusion (which true classes lose, to what),
per-class flip counts, the most confident negative flips and a verdict line. ``.to_text()`` is the
terminal table, ``.to_html(path)`` one self-contained page with its figures embedded as PNG.

File formats (read by ``gracekit.report_io``): a CSV with a header and either a label column (``y_pred``,
``prediction``, ``label``, ``y_old`` or ``y_new``) or score columns ``score_<class>``, plus an
optional ``y_true`` column; one CSV holding ``y_true``, ``y_old`` and ``y_new``; or .npy arrays of
labels (n,) or scores (n, K). Labels may be integers or class names.
"""
import argparse
import base64
import html
import io
import sys
from dataclasses import dataclass, field

import numpy as np

from .metrics import flip_report
from .report_io import load_labels, load_predictions, load_report_inputs

__all__ = ["UpdateReport", "update_report", "compare_models", "model_outputs", "load_predictions",
           "load_labels", "load_report_inputs", "main", "REGIONS"]

# overlap regions of the two models' errors (the widget's filter names them the same way)
REGIONS = {"negative": "negative flips (old right, new wrong)",
           "positive": "positive flips (old wrong, new right)",
           "both_wrong": "both wrong", "disagree": "the models disagree", "any_error": "either model wrong"}


# --------------------------------------------------------------------------------------------- core
def _probabilities(scores):
    """Rows that already look like probabilities are kept; other scores go through a softmax."""
    s = np.asarray(scores, dtype=float)
    if (s >= 0).all() and np.allclose(s.sum(1), 1.0, atol=1e-3):
        return s
    z = np.exp(s - s.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def _scores_or_none(a, name, n, k):
    if a is None:
        return None
    a = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, dtype=float)
    if a.ndim != 2 or a.shape != (n, k):
        raise ValueError(f"{name} must be scores of shape ({n}, {k}), got {a.shape}")
    return a


@dataclass
class UpdateReport:
    """Everything about one old -> new update; ``print(report)`` shows the terminal table.

    Attributes: ``flips`` (a gracekit.metrics.FlipReport), ``class_names``, label arrays
    ``y_true``/``y_old``/``y_new``, optional probabilities ``p_old``/``p_new`` and ``images``,
    ``confusion`` (K x K counts of negative flips: true class -> the new model's wrong label),
    ``verdict`` (one line).
    """

    y_true: np.ndarray
    y_old: np.ndarray
    y_new: np.ndarray
    class_names: list
    flips: object
    p_old: np.ndarray = None
    p_new: np.ndarray = None
    images: np.ndarray = field(default=None, repr=False)
    title: str = "Update report"
    top: int = 10
    ids: list = None

    def __post_init__(self):
        t, o, nw = self.y_true, self.y_old, self.y_new
        k = len(self.class_names)
        self.masks = {"negative": (o == t) & (nw != t), "positive": (o != t) & (nw == t),
                      "both_wrong": (o != t) & (nw != t), "disagree": o != nw,
                      "any_error": (o != t) | (nw != t)}
        self.confusion = np.zeros((k, k), dtype=np.int64)
        np.add.at(self.confusion, (t[self.masks["negative"]], nw[self.masks["negative"]]), 1)
        self.verdict = self._verdict()

    def __getitem__(self, key):
        return self.flips.rates[key]

    @property
    def n(self):
        return self.flips.n

    def confidence(self):
        """The new model's probability of its own prediction per sample (NaN without scores)."""
        if self.p_new is None:
            return np.full(self.n, np.nan)
        return self.p_new[np.arange(self.n), self.y_new]

    def instances(self, region="negative", cls=None, limit=None):
        """Indices of the samples in an overlap ``region`` (see REGIONS), optionally of true class ``cls``.

        Sorted by the new model's confidence in its prediction (most confident first) when scores
        are known, else by index.
        """
        if region not in self.masks:
            raise ValueError(f"region must be one of {list(self.masks)}, got {region!r}")
        m = self.masks[region].copy()
        if cls is not None:
            if not 0 <= int(cls) < len(self.class_names):
                raise ValueError(f"cls must be a class index in [0, {len(self.class_names)}), got {cls!r}")
            m &= self.y_true == int(cls)
        idx = np.flatnonzero(m)
        if self.p_new is not None:
            idx = idx[np.argsort(-self.confidence()[idx], kind="stable")]
        return idx if limit is None else idx[:limit]

    def top_negative_flips(self, k=None):
        """The ``k`` most confident negative flips (index, true, old, new, confidence) as dicts."""
        conf = self.confidence()
        names = self.class_names
        return [{"index": int(i), "id": str(i) if self.ids is None else str(self.ids[i]),
                 "true": names[self.y_true[i]], "old": names[self.y_old[i]],
                 "new": names[self.y_new[i]], "confidence": float(conf[i])}
                for i in self.instances("negative", limit=self.top if k is None else k)]

    def error_change_se(self):
        """Standard error of Err_new - Err_old (paired: from the flip rates, as in McNemar's test)."""
        r = self.flips.rates
        d = r["nfr"] - r["pfr"]
        return float(np.sqrt(max(r["nfr"] + r["pfr"] - d * d, 0.0) / self.n))

    def _verdict(self):
        r, c = self.flips.rates, self.flips.counts
        d, se = r["err_new"] - r["err_old"], self.error_change_se()
        change = f"error {100 * r['err_old']:.2f}% -> {100 * r['err_new']:.2f}% ({100 * d:+.2f} pt, SE {100 * se:.2f})"
        flips = f"{c['negative_flips']:,} negative flips (NFR {100 * r['nfr']:.2f}%)"
        per = self.flips.per_class
        worst = max(per, key=lambda k: per[k]["negative_flips"]) if per else None
        where = (f", most in class {self.class_names[worst]} ({per[worst]['negative_flips']})"
                 if worst is not None and per[worst]["negative_flips"] > 0 else "")
        if d > 2 * se and d > 0:
            return f"WORSE: {change}; {flips}{where}. Do not ship this update as it is."
        if d < -2 * se:
            if c["negative_flips"] == 0:
                return f"BETTER, NO REGRESSIONS: {change}; no negative flips."
            return (f"BETTER, WITH REGRESSIONS: {change}; but {flips}{where}. "
                    f"Review them before shipping.")
        return (f"NO CLEAR CHANGE: {change} is within 2 standard errors; {flips}{where}. "
                f"The update changes answers without a measurable gain.")

    # ------------------------------------------------------------------------------------ text
    def to_text(self):
        """The report as a terminal table (plain text)."""
        names = self.class_names
        lines = [self.title, "=" * len(self.title), self.flips.to_text(self.class_names), ""]
        lines.append(f"{'class':<16}{'n':>7}{'old err':>9}{'new err':>9}{'neg flips':>11}{'pos flips':>11}")
        for c, name in enumerate(names):
            m = self.y_true == c
            nc = int(m.sum())
            eo = f"{100 * np.mean(self.y_old[m] != c):.1f}%" if nc else "-"
            en = f"{100 * np.mean(self.y_new[m] != c):.1f}%" if nc else "-"
            pc = self.flips.per_class[c]
            lines.append(f"{_short(name, 15):<16}{nc:>7}{eo:>9}{en:>9}{pc['negative_flips']:>11}"
                         f"{pc['positive_flips']:>11}")
        pairs = self.confusion_pairs(5)
        if pairs:
            lines += ["", "negative flips, true class -> new label: " + ", ".join(
                f"{_short(a, 15)} -> {_short(b, 15)}: {n}" for a, b, n in pairs)]
        bw = self.masks["both_wrong"]
        same = int((bw & (self.y_old == self.y_new)).sum())
        lines.append(f"both wrong: {int(bw.sum())} ({same} with the same wrong label, "
                     f"{int(bw.sum()) - same} with different ones)")
        top = self.top_negative_flips()
        if top:
            has_conf = self.p_new is not None
            lines += ["", "most confident negative flips" if has_conf else "negative flips (no scores given)",
                      f"{'id':>10}  {'true':<15}{'old':<15}{'new':<15}" + ("conf" if has_conf else "")]
            for t in top:
                lines.append(f"{_short(t['id'], 10):>10}  {_short(t['true'], 14):<15}{_short(t['old'], 14):<15}"
                             f"{_short(t['new'], 14):<15}" + (f"{t['confidence']:.3f}" if has_conf else ""))
        lines += ["", "verdict: " + self.verdict]
        return "\n".join(lines)

    def __str__(self):
        return self.to_text()

    def _repr_pretty_(self, p, cycle):
        p.text(self.to_text())

    def confusion_pairs(self, k=5):
        """The ``k`` largest (true class, new label, count) cells of the negative-flip confusion."""
        flat = np.argsort(-self.confusion, axis=None, kind="stable")[:k]
        K = len(self.class_names)
        return [(self.class_names[i // K], self.class_names[i % K], int(self.confusion.flat[i]))
                for i in flat if self.confusion.flat[i] > 0]

    # ------------------------------------------------------------------------------------ html
    def figures(self):
        """The report's figures as a dict name -> matplotlib Figure."""
        from . import report_plots as rp

        figs = {"overlap": rp.plot_error_overlap(self.flips.counts, self.n),
                "classes": rp.plot_class_flips(self.flips.per_class, self.class_names),
                "confusion": rp.plot_flip_confusion(self.confusion, self.class_names)}
        if self.images is not None and self.masks["negative"].any():
            idx = self.instances("negative", limit=self.top)
            figs["examples"] = rp.plot_flip_examples(
                self.images[idx], [self.class_names[i] for i in self.y_true[idx]],
                [self.class_names[i] for i in self.y_old[idx]], [self.class_names[i] for i in self.y_new[idx]],
                self.confidence()[idx])
        return figs

    def to_html(self, path=None):
        """One self-contained HTML page (figures as base64 PNG, all text escaped).

        Args:
            path: file to write (atomically); None only returns the text.
        Returns:
            the HTML text.
        """
        import matplotlib.pyplot as plt

        e = html.escape
        r, c = self.flips.rates, self.flips.counts
        imgs = {}
        for name, fig in self.figures().items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
            plt.close(fig)
            imgs[name] = base64.b64encode(buf.getvalue()).decode("ascii")
        rows = [("error, old model", f"{100 * r['err_old']:.2f}%", c["old_wrong"]),
                ("error, new model", f"{100 * r['err_new']:.2f}%", c["new_wrong"]),
                ("negative flip rate (NFR)", f"{100 * r['nfr']:.2f}%", c["negative_flips"]),
                ("positive flip rate (PFR)", f"{100 * r['pfr']:.2f}%", c["positive_flips"]),
                ("relative NFR", f"{r['relative_nfr']:.3f}", ""),
                ("BTC = P(new right | old right)", f"{r['btc']:.3f}", ""),
                ("BEC = P(new wrong | old wrong)", f"{r['bec']:.3f}", ""),
                ("disagreement", f"{100 * r['disagreement']:.2f}%", c["disagree"])]
        metric_rows = "".join(f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{e(str(n))}</td></tr>" for a, b, n in rows)
        pc = self.flips.per_class
        class_rows = "".join(
            f"<tr><td>{e(str(name))}</td><td>{pc[k]['n']}</td>"
            f"<td>{pc[k]['negative_flips']}</td><td>{pc[k]['positive_flips']}</td></tr>"
            for k, name in enumerate(self.class_names))
        top = self.top_negative_flips()
        flip_rows = "".join(
            f"<tr><td>{e(t['id'])}</td><td>{e(str(t['true']))}</td><td>{e(str(t['old']))}</td>"
            f"<td>{e(str(t['new']))}</td><td>{_fmt_conf(t['confidence'])}</td></tr>"
            for t in top) or "<tr><td colspan='5'>no negative flips</td></tr>"
        fig_html = "".join(f"<figure><img alt='{e(n)}' src='data:image/png;base64,{b}'></figure>"
                           for n, b in imgs.items())
        kind = "verdict bad" if self.verdict.startswith(("WORSE", "NO CLEAR")) else "verdict"
        text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(self.title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
figure{{display:inline-block;margin:0.5em}}img{{max-width:100%}}
.verdict{{padding:0.6em;background:#eef6ee;border-left:5px solid #2ca02c}}
.bad{{background:#fbeeee;border-left-color:#d62728}}</style></head>
<body><h1>{e(self.title)}</h1>
<p>{self.n:,} samples, {len(self.class_names)} classes. Made with gracekit's update report.</p>
<p class="{kind}"><b>Verdict:</b> {e(self.verdict)}</p>
<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>count</th></tr>{metric_rows}</table>
<p>NFR - PFR = Err_new - Err_old = {100 * (r['nfr'] - r['pfr']):+.2f} pt. BEC here is Microsoft
BackwardCompatibilityML's P(new wrong | old wrong).</p>
<h2>Figures</h2>{fig_html}
<h2>Per class</h2><table><tr><th>true class</th><th>n</th><th>negative flips</th><th>positive flips</th></tr>
{class_rows}</table>
<h2>Most confident negative flips</h2>
<table><tr><th>{'index' if self.ids is None else 'id'}</th><th>true</th><th>old</th><th>new</th>
<th>new model's confidence</th></tr>{flip_rows}</table>
</body></html>
"""
        if path is not None:
            from .cache import atomic_write_bytes

            atomic_write_bytes(path, text.encode("utf-8"))
        return text


def _fmt_conf(c):
    return "" if np.isnan(c) else f"{c:.3f}"


def _short(s, n):
    s = str(s)
    return s if len(s) <= n else s[:n - 1] + "~"


def update_report(y_true, y_old, y_new, *, class_names=None, images=None, ids=None, title="Update report",
                  top=10):
    """The regression report of an old -> new update.

    Args:
        y_true: true labels (n,) as class indices.
        y_old, y_new: each model's labels (n,) or scores (n, K); scores give the flips' confidence.
        class_names: names of classes 0..K-1 (default "0", "1", ...).
        images: optional (n, H, W) or (n, H, W, 3) images shown beside the worst flips.
        ids: optional n names of the samples (e.g. file names), shown instead of row indices.
        title: page and table title.
        top: how many negative flips to list.
    Returns:
        UpdateReport (``print`` it, ``.to_html(path)``, ``.verdict``).
    Used in: notebooks/06_your_update.py
    """
    def as_np(a):
        return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)

    o, nw = as_np(y_old), as_np(y_new)
    k_names = None if class_names is None else len(class_names)
    rep = flip_report(y_true, o, nw, n_classes=k_names)
    k = rep.n_classes
    if class_names is None:
        class_names = [str(i) for i in range(k)]
    class_names = [str(c) for c in class_names]
    if len(set(class_names)) != len(class_names):
        raise ValueError("class_names must be distinct")
    t = as_np(y_true).astype(np.int64)
    lab = [a.argmax(1) if a.ndim == 2 else a.astype(np.int64) for a in (o, nw)]
    p_old = _scores_or_none(o if o.ndim == 2 else None, "y_old", len(t), k)
    p_new = _scores_or_none(nw if nw.ndim == 2 else None, "y_new", len(t), k)
    if images is not None:
        images = as_np(images)
        if len(images) != len(t) or images.ndim not in (3, 4):
            raise ValueError(f"images must be ({len(t)}, H, W) or ({len(t)}, H, W, 3), got shape {images.shape}")
    if ids is not None:
        ids = [str(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]
        if len(ids) != len(t):
            raise ValueError(f"ids must name the {len(t)} samples, got {len(ids)}")
    if not isinstance(top, (int, np.integer)) or top < 0:
        raise ValueError(f"top must be an integer >= 0, got {top!r}")
    return UpdateReport(t, lab[0].astype(np.int64), lab[1].astype(np.int64), class_names, rep,
                        None if p_old is None else _probabilities(p_old),
                        None if p_new is None else _probabilities(p_new), images, title, int(top), ids)


def model_outputs(model, X):
    """Scores (n, K) of a fitted scikit-learn estimator (predict_proba, else decision_function) or a
    torch module (its outputs); labels (n,) when the estimator only has ``predict``."""
    if hasattr(model, "parameters") and callable(model):  # torch module
        from .train import predict

        return predict(model, X).numpy()
    for method in ("predict_proba", "decision_function"):
        if hasattr(model, method):
            try:
                s = np.asarray(getattr(model, method)(X))
            except (AttributeError, NotImplementedError):  # e.g. SVC(probability=False)
                continue
            if s.ndim == 2:
                return s
    if hasattr(model, "predict"):
        return np.asarray(model.predict(X))
    raise ValueError(f"model must be a fitted scikit-learn estimator or a torch module, got {type(model).__name__}")


def compare_models(old, new, X, y_true, *, class_names=None, images=None, title="Update report", top=10):
    """``update_report`` of two fitted models (scikit-learn estimators or torch modules) on (X, y_true).

    Estimators whose ``classes_`` are not 0..K-1 are mapped through ``classes_``; the class
    names then default to those classes.
    Used in: notebooks/06_your_update.py
    """
    outs, y = [], np.asarray(y_true)
    classes = getattr(old, "classes_", None)
    for name, m in (("old", old), ("new", new)):
        c = getattr(m, "classes_", None)
        if c is not None and classes is not None and not np.array_equal(c, classes):
            raise ValueError(f"old and new were fitted on different classes: {list(classes)} vs {list(c)}")
        outs.append(model_outputs(m, X))
    if classes is not None and not np.array_equal(classes, np.arange(len(classes))):
        lookup = {v: i for i, v in enumerate(classes.tolist())}
        outs = [o if o.ndim == 2 else np.array([lookup[v] for v in o.tolist()]) for o in outs]
        unknown = [v for v in y.tolist() if v not in lookup]
        if unknown:
            raise ValueError(f"y_true has label {unknown[0]!r} the models were not fitted on")
        y = np.array([lookup[v] for v in y.tolist()])
        class_names = class_names or [str(v) for v in classes.tolist()]
    elif class_names is None and classes is not None:
        class_names = [str(v) for v in classes.tolist()]
    return update_report(y, outs[0], outs[1], class_names=class_names, images=images, title=title, top=top)


# --------------------------------------------------------------------------------------------- CLI
def _parser():
    p = argparse.ArgumentParser(
        prog="gracekit report",
        description="The regression report of a model update: error, NFR, PFR, relative NFR, BTC, BEC, "
                    "error overlap, flip confusion and the most confident negative flips.",
        epilog="examples:\n  gracekit report --true y.npy --old old.csv --new new.csv --html report.html\n"
               "  gracekit report predictions.csv   (columns y_true, y_old, y_new)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("combined", nargs="?", help="one CSV with columns y_true, y_old, y_new")
    p.add_argument("--true", help="true labels: .npy, or CSV with a y_true column")
    p.add_argument("--old", help="old model's predictions: CSV (label or score_<class> columns) or .npy")
    p.add_argument("--new", help="new model's predictions, same formats")
    p.add_argument("--classes", help="class names in index order, comma-separated")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained HTML page")
    p.add_argument("--title", default="Update report")
    p.add_argument("--top", type=int, default=10, help="negative flips to list (default 10)")
    return p


def main(argv=None):
    """`gracekit report ...`: print the report; exit 0, or 2 with one error line for bad input."""
    args = _parser().parse_args(argv)
    try:
        classes = None if args.classes is None else [c.strip() for c in args.classes.split(",")]
        y_true, y_old, y_new, names, ids = load_report_inputs(args.combined, args.true, args.old, args.new,
                                                              classes)
        rep = update_report(y_true, y_old, y_new, class_names=names, ids=ids, title=args.title,
                            top=max(args.top, 0))
        print(rep.to_text())
        if args.html:
            import matplotlib

            matplotlib.use("Agg")
            rep.to_html(args.html)
            print(f"\nHTML report written to {args.html}")
    except (FileNotFoundError, ValueError) as err:
        print(f"gracekit report: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
