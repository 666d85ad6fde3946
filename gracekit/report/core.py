"""The regression report of one model update: `gracekit report` and ``update_report``.

Give it the true labels and the two models' predictions (labels or score matrices; arrays, CSV or
.npy files, or two fitted scikit-learn estimators / torch modules and a data set). It returns an
``UpdateReport``: the error of each model, NFR, PFR, relative NFR, BTC, BEC (gracekit.metrics),
the overlap of the two models' errors, the flip confusion (which true classes lose, to what),
per-class flip counts, the most confident negative flips and a verdict line. ``.to_text()`` is the
terminal table, ``.to_html(path)`` one self-contained page with its figures embedded as PNG.

File formats (read by ``gracekit.report.io``): a CSV with a header and either a label column (``y_pred``,
``prediction``, ``label``, ``y_old`` or ``y_new``) or score columns ``score_<class>``, plus an
optional ``y_true`` column; one CSV holding ``y_true``, ``y_old`` and ``y_new``; or .npy arrays of
labels (n,) or scores (n, K). Labels may be integers or class names.
"""
from dataclasses import dataclass, field

import numpy as np

from gracekit.metrics import flip_report, to_labels
from gracekit.validation import as_numpy
from gracekit.report.io import load_labels, load_predictions, load_report_inputs

__all__ = ["UpdateReport", "update_report", "compare_models", "model_outputs", "load_predictions",
           "load_labels", "load_report_inputs", "REGIONS"]

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
        from gracekit.report.text import render_text

        return render_text(self)

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
    def to_html(self, path=None):
        """One self-contained HTML page (figures as base64 PNG, all text escaped by jinja2).

        Parameters
        ----------
        path : str or Path, optional
            File to write (atomically); None only returns the text.

        Returns
        -------
        str
            The HTML text.
        """
        from gracekit.report.html import render_html

        return render_html(self, path)




def update_report(y_true, y_old, y_new, *, class_names=None, images=None, ids=None, title="Update report",
                  top=10):
    """The regression report of an old -> new update.

    Args:
        y_true: true labels (n,) as class indices.
        y_old, y_new: each model's labels (n,) or scores (n, K); scores give the flips' confidence.
        class_names: names of classes 0..K-1 (default "0", "1", ...). Without class names and scores,
            the classes are the labels that occur, named by their value (labels 0..K-1 that all occur
            keep their indices; sparse ids such as 10**9 are encoded, so memory follows the classes).
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

    o, nw = as_numpy(y_old, "y_old"), as_numpy(y_new, "y_new")
    t = as_numpy(y_true, "y_true")
    if class_names is None and o.ndim == 1 and nw.ndim == 1:
        # labels only: the classes are those that occur (memory follows them, not the largest label)
        labs = [to_labels(a, n) for a, n in ((t, "y_true"), (o, "y_old"), (nw, "y_new"))]
        if len({len(a) for a in labs}) == 1:
            classes = np.unique(np.concatenate(labs))
            if len(classes) != classes[-1] + 1:  # gaps: encode to 0..K-1, named by the labels
                t, o, nw = (np.searchsorted(classes, a) for a in labs)
                class_names = [str(c) for c in classes.tolist()]
    k_names = None if class_names is None else len(class_names)
    rep = flip_report(t, o, nw, n_classes=k_names)
    k = rep.n_classes
    if class_names is None:
        class_names = [str(i) for i in range(k)]
    class_names = [str(c) for c in class_names]
    if len(set(class_names)) != len(class_names):
        raise ValueError("class_names must be distinct")
    t = to_labels(t, "y_true")
    lab = [to_labels(a, n) for a, n in ((o, "y_old"), (nw, "y_new"))]
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
        from gracekit.train import predict

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
