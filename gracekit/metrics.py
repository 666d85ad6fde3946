"""Update metrics on predictions: flip rates, relative NFR, NFI, BTC, BEC and a flip report.

Every function takes ``y_true`` and the two models' outputs, each either integer labels of
shape (n,) or a score matrix of shape (n, n_classes) (its argmax is taken). Lists, NumPy arrays
and torch tensors are accepted.

Definitions (Yan et al., "Positive-Congruent Training", CVPR 2021, eqs. 2 and 11):
    NFR = P(old right, new wrong)       PFR = P(old wrong, new right)
    NFR - PFR = Err_new - Err_old       (exactly, on any sample)
    relative NFR = NFR / ((1 - Err_old) * Err_new)
"""
from dataclasses import dataclass, field

import numpy as np

from gracekit.validation import as_numpy, check_update_labels, ratio, to_labels

__all__ = [
    "to_labels", "error_rate", "negative_flip_rate", "positive_flip_rate", "relative_nfr",
    "negative_flip_impact", "backward_trust_compatibility", "backward_error_compatibility",
    "disagreement_rate", "flip_masks", "flip_report", "flip_rates", "FlipReport",
]


def error_rate(y_true, y_pred):
    """Fraction of wrong predictions.

    Args:
        y_true: labels (n,).
        y_pred: labels (n,) or scores (n, K).
    Returns:
        float in [0, 1].
    """
    y_true, _, y_pred = check_update_labels(y_true, y_pred, y_pred)[:3]
    return float(np.mean(y_pred != y_true))


def negative_flip_rate(y_true, y_old, y_new):
    """Fraction of samples the old model got right and the new model gets wrong (PCT eq. 2).

    Args:
        y_true: labels (n,).
        y_old, y_new: labels (n,) or scores (n, K) of the old and new model.
    Returns:
        float in [0, 1].
    """
    y_true, y_old, y_new = check_update_labels(y_true, y_old, y_new)[:3]
    return float(np.mean((y_old == y_true) & (y_new != y_true)))


def positive_flip_rate(y_true, y_old, y_new):
    """Fraction of samples the old model got wrong and the new model gets right.

    Args and Returns as in ``negative_flip_rate``.
    """
    y_true, y_old, y_new = check_update_labels(y_true, y_old, y_new)[:3]
    return float(np.mean((y_old != y_true) & (y_new == y_true)))


def relative_nfr(y_true, y_old, y_new, *, zero_division="warn"):
    """NFR / ((1 - Err_old) * Err_new): NFR relative to what independent errors would give (PCT eq. 11).

    1 means the two models' errors are independent, 0 that the new errors are a subset of the old.
    Undefined when the old model is never right or the new model never wrong: then ``zero_division``
    ("warn": NaN with an ``UndefinedRatioWarning``; or a number), as everywhere in the kit.
    """
    y_true, y_old, y_new = check_update_labels(y_true, y_old, y_new)[:3]
    nfr = np.mean((y_old == y_true) & (y_new != y_true))
    denom = np.mean(y_old == y_true) * np.mean(y_new != y_true)
    return ratio(nfr, denom, name="relative NFR", zero_division=zero_division,
                 why="the old model is never right or the new model never wrong")


def negative_flip_impact(y_true, y_old, y_new, *, zero_division="warn"):
    """NFR / Err_new: the share of the new model's errors that are new (NFI in Amazon's code).

    Undefined when the new model makes no error (``zero_division``, as in ``relative_nfr``).
    """
    y_true, y_old, y_new = check_update_labels(y_true, y_old, y_new)[:3]
    err_new = np.mean(y_new != y_true)
    nfr = np.mean((y_old == y_true) & (y_new != y_true))
    return ratio(nfr, err_new, name="NFI", why="the new model makes no error", zero_division=zero_division)


def backward_trust_compatibility(y_true, y_old, y_new, *, zero_division="warn"):
    """BTC = P(new right | old right) = 1 - NFR / (1 - Err_old) (Bansal et al., AAAI 2019).

    Undefined when the old model is never right (``zero_division``, as in ``relative_nfr``).
    """
    y_true, y_old, y_new = check_update_labels(y_true, y_old, y_new)[:3]
    old_right = y_old == y_true
    return ratio(int((y_new[old_right] == y_true[old_right]).sum()), int(old_right.sum()), name="BTC",
                 why="the old model is never right", zero_division=zero_division)


def backward_error_compatibility(y_true, y_old, y_new, *, zero_division="warn"):
    """BEC = P(new wrong | old wrong) = 1 - PFR / Err_old.

    This is the definition computed by Microsoft's BackwardCompatibilityML library
    (``scores.py``): of the mistakes users already know, the share the new model still makes.
    Undefined when the old model is never wrong (``zero_division``, as in ``relative_nfr``).
    """
    y_true, y_old, y_new = check_update_labels(y_true, y_old, y_new)[:3]
    old_wrong = y_old != y_true
    return ratio(int((y_new[old_wrong] != y_true[old_wrong]).sum()), int(old_wrong.sum()), name="BEC",
                 why="the old model is never wrong", zero_division=zero_division)


def disagreement_rate(y_old, y_new):
    """Fraction of samples on which the two models predict different labels (no ground truth needed).

    Example:
        >>> disagreement_rate([0, 1, 2, 2], [0, 1, 1, 2])
        0.25
    """
    arrs = [as_numpy(v, n) for v, n in ((y_old, "y_old"), (y_new, "y_new"))]
    widths = sorted({v.shape[1] for v in arrs if v.ndim == 2})
    if len(widths) > 1:
        raise ValueError(f"y_old and y_new scores have different numbers of classes: {widths}")
    a, b = to_labels(arrs[0], "y_old"), to_labels(arrs[1], "y_new")
    if len(a) != len(b):
        raise ValueError(f"y_old and y_new must have the same length, got {len(a)} and {len(b)}")
    return float(np.mean(a != b))


@dataclass
class FlipReport:
    """All update metrics of one old -> new update, with raw counts; prints as a table."""

    n: int
    n_classes: int
    counts: dict
    rates: dict
    per_class: dict = field(repr=False)

    def __getitem__(self, key):
        return self.rates[key]

    def as_dict(self):
        """Flat dict of rates and counts (for tidy tables)."""
        return {**self.rates, **{f"n_{k}": v for k, v in self.counts.items()}, "n": self.n}

    def __str__(self):
        return self.to_text()

    def to_text(self, class_names=None):
        """The printable table; ``class_names`` (in index order) name the classes instead of indices."""
        r, c = self.rates, self.counts
        rows = [
            ("error, old model", r["err_old"], c["old_wrong"]),
            ("error, new model", r["err_new"], c["new_wrong"]),
            ("negative flips (NFR)", r["nfr"], c["negative_flips"]),
            ("positive flips (PFR)", r["pfr"], c["positive_flips"]),
            ("both wrong", r["both_wrong"], c["both_wrong"]),
            ("disagreement", r["disagreement"], c["disagree"]),
        ]
        lines = [f"Update report on {self.n:,} samples, {self.n_classes} classes",
                 f"{'metric':<28}{'rate':>9}{'count':>10}"]
        lines += [f"{name:<28}{100 * v:>8.2f}%{cnt:>10,}" for name, v, cnt in rows]
        lines += [f"{'relative NFR':<28}{r['relative_nfr']:>9.3f}",
                  f"{'negative flip impact (NFI)':<28}{r['nfi']:>9.3f}",
                  f"{'BTC  P(new right|old right)':<28}{r['btc']:>9.3f}",
                  f"{'BEC  P(new wrong|old wrong)':<28}{r['bec']:>9.3f}",
                  f"check: NFR - PFR = {100 * (r['nfr'] - r['pfr']):+.2f} pt = "
                  f"Err_new - Err_old = {100 * (r['err_new'] - r['err_old']):+.2f} pt"]
        worst = sorted(self.per_class.items(), key=lambda kv: -kv[1]["negative_flips"])[:5]
        if worst and worst[0][1]["negative_flips"] > 0:
            lines.append("negative flips by true class: " + ", ".join(
                f"{k if class_names is None else class_names[k]}: {v['negative_flips']}"
                for k, v in worst if v["negative_flips"] > 0))
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


class _PerClass(dict):
    """Per-class counts of the classes that occur; any other class index in [0, n_classes) reads as zeros
    (without being stored), so memory follows the classes present, not the largest label."""

    def __init__(self, counts, n_classes):
        super().__init__(counts)
        self.n_classes = n_classes

    def __missing__(self, key):
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < self.n_classes:
            return {"n": 0, "negative_flips": 0, "positive_flips": 0}
        raise KeyError(key)


def flip_masks(y_true, y_old, y_new):
    """Boolean masks of the four cells of an update: which samples flip, and which way.

    Returns:
        dict of (n,) bool arrays: "negative" (old right, new wrong), "positive" (old wrong, new right),
        "both_wrong" and "both_right".

    Example:
        >>> flip_masks([0, 1, 1], [0, 0, 1], [1, 1, 1])["negative"].tolist()
        [True, False, False]
    """
    y_true, y_old, y_new = check_update_labels(y_true, y_old, y_new)[:3]
    o, w = y_old == y_true, y_new == y_true
    return {"negative": o & ~w, "positive": ~o & w, "both_wrong": ~o & ~w, "both_right": o & w}


def flip_rates(counts, n, *, zero_division="warn"):
    """The rates of ``flip_report`` from its raw counts over ``n`` samples.

    Conditional rates are ratios of counts (BTC = both right / old right), so they lie in [0, 1]
    exactly (never -0.000 from rounding). An undefined ratio is ``zero_division`` ("warn": NaN with one
    ``UndefinedRatioWarning`` naming it), as in ``relative_nfr``.
    """
    c = counts
    ow, nw, nf, pf = c["old_wrong"], c["new_wrong"], c["negative_flips"], c["positive_flips"]
    kw = dict(zero_division=zero_division)
    return {"err_old": ow / n, "err_new": nw / n, "nfr": nf / n, "pfr": pf / n,
            "both_wrong": c["both_wrong"] / n, "disagreement": c["disagree"] / n,
            "relative_nfr": ratio(nf * n, (n - ow) * nw, name="relative NFR", **kw,
                                  why="the old model is never right or the new model never wrong"),
            "nfi": ratio(nf, nw, name="NFI", why="the new model makes no error", **kw),
            "btc": ratio(n - ow - nf, n - ow, name="BTC", why="the old model is never right", **kw),
            "bec": ratio(ow - pf, ow, name="BEC", why="the old model is never wrong", **kw)}


def flip_report(y_true, y_old, y_new, *, n_classes=None, zero_division="warn"):
    """Every update metric at once, with raw counts and per-class flips.

    Time and memory follow the number of samples and of distinct classes, not the largest label:
    labels are encoded to the classes that occur.

    Args:
        y_true: labels (n,).
        y_old, y_new: labels (n,) or scores (n, K).
        n_classes: number of classes; default from the scores' width, else the largest label + 1.
        zero_division: value of an undefined ratio ("warn": NaN with a warning), see ``relative_nfr``.
    Returns:
        FlipReport; ``print(report)`` shows a table, ``report["nfr"]`` a rate,
        ``report.per_class[c]`` a dict of counts for true class c (zeros for a class that does not
        occur). With ``n_classes`` given (or scores), ``per_class`` lists every class 0..K-1;
        otherwise it lists the classes that occur.

    Example:
        >>> rep = flip_report([0, 1, 2, 2], [0, 1, 1, 2], [0, 2, 2, 2])
        >>> rep["nfr"], rep.counts["negative_flips"], rep.per_class[1]["negative_flips"]
        (0.25, 1, 1)

    Used in: notebooks/01_negative_flips.py, notebooks/02_pc_training.py
    """
    y_true, y_old, y_new, width = check_update_labels(y_true, y_old, y_new)
    k = int(max(y_true.max(), y_old.max(), y_new.max())) + 1
    if n_classes is not None:
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
            raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
        if k > n_classes:
            raise ValueError(f"labels reach {k - 1} but n_classes is {n_classes}")
        k = int(n_classes)
    o, nw = y_old == y_true, y_new == y_true  # old right, new right: the four cells of flip_masks
    counts = {
        "old_wrong": int((~o).sum()), "new_wrong": int((~nw).sum()),
        "negative_flips": int((o & ~nw).sum()), "positive_flips": int((~o & nw).sum()),
        "both_wrong": int((~o & ~nw).sum()), "both_right": int((o & nw).sum()),
        "disagree": int((y_old != y_new).sum()),
    }
    n = len(y_true)
    classes, code = np.unique(y_true, return_inverse=True)  # the true classes that occur
    m = len(classes)
    per = [np.bincount(code, minlength=m), np.bincount(code[o & ~nw], minlength=m),
           np.bincount(code[~o & nw], minlength=m)]
    per_class = {int(c): {"n": int(a), "negative_flips": int(b), "positive_flips": int(d)}
                 for c, a, b, d in zip(classes.tolist(), *per)}
    if n_classes is not None or width is not None:  # the caller fixed K: list every class
        per_class = {c: per_class.get(c, {"n": 0, "negative_flips": 0, "positive_flips": 0}) for c in range(k)}
    return FlipReport(n=n, n_classes=k, counts=counts, rates=flip_rates(counts, n, zero_division=zero_division),
                      per_class=_PerClass(per_class, k))
