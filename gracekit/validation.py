"""Shared argument checks: arrays, class labels, score matrices, embeddings and label cells of a file.

One implementation for ``gracekit.metrics``, ``gracekit.retrieval`` and ``gracekit.report.io``.
Every check raises ValueError (TypeError for a wrong kind of object) with a message in the style of
scikit-learn: it names the argument (or the file, row and column) and says what was expected.

Examples
--------
>>> from gracekit.validation import check_labels
>>> check_labels([0, 2, 1], "y_true").tolist()
[0, 2, 1]
>>> check_labels([0, -1], "y_true")
Traceback (most recent call last):
...
ValueError: y_true has a negative label (-1); labels must be >= 0
"""
import math
import warnings

import numpy as np

__all__ = ["as_numpy", "check_labels", "check_scores", "check_embeddings", "check_1d", "label_from_text",
           "MAX_FLOAT_LABEL", "ratio", "UndefinedRatioWarning", "to_labels", "check_update_labels"]


class UndefinedRatioWarning(UserWarning):
    """A ratio metric is undefined for these inputs (its denominator is 0), as scikit-learn's
    UndefinedMetricWarning: the value returned is ``zero_division`` (NaN by default)."""


def ratio(num, den, *, name, why, zero_division="warn"):
    """``num / den``, or ``zero_division`` when ``den`` is 0: the kit's one way for undefined ratios.

    Parameters
    ----------
    num, den : float
    name : str
        The metric, for the warning (e.g. ``"relative NFR"``).
    why : str
        When the denominator is 0, in words (e.g. ``"the new model makes no error"``).
    zero_division : "warn" or float, default "warn"
        "warn": return NaN with an ``UndefinedRatioWarning``; a number: return it silently.

    Examples
    --------
    >>> ratio(1, 4, name="x", why="-")
    0.25
    >>> ratio(0, 0, name="BTC", why="the old model is never right", zero_division=1.0)
    1.0
    """
    if den > 0:
        return float(num / den)
    if isinstance(zero_division, str):
        if zero_division != "warn":
            raise ValueError(f"zero_division must be 'warn' or a number, got {zero_division!r}")
        warnings.warn(f"{name} is undefined because {why}; returning nan (pass zero_division= to choose a "
                      f"value)", UndefinedRatioWarning, stacklevel=3)
        return float("nan")
    return float(zero_division)

# the largest float that still holds every whole number below it exactly
MAX_FLOAT_LABEL = 2 ** 53


def as_numpy(a, name):
    """A NumPy array from a list, array or torch tensor (bfloat16/float16 tensors become float32).

    Raises ValueError for ragged or mixed (object) input, naming ``name``.
    """
    if hasattr(a, "detach"):  # torch tensor: NumPy has no bfloat16, so widen low-precision floats
        t = a.detach().cpu()
        if t.is_floating_point() and t.element_size() < 4:
            t = t.float()
        a = t.numpy()
    try:
        arr = np.asarray(a)
    except Exception as err:  # ragged lists and the like
        raise ValueError(f"{name} must be array-like, got {type(a).__name__}: {err}") from None
    if arr.dtype == object:
        raise ValueError(f"{name} must be numeric labels or scores, got mixed or ragged values")
    if arr.dtype.kind == "V":  # e.g. ml_dtypes.bfloat16 arrays: widen when NumPy can, else say what to do
        try:
            arr = arr.astype(np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"{name} has dtype {arr.dtype}, which cannot be read as numbers; "
                             f"convert it to float32 first") from None
    if arr.dtype.kind not in "biufcSU":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def _shape_error(arr, name):
    what = "a scalar" if arr.ndim == 0 else f"shape {arr.shape}"
    return ValueError(f"{name} must be labels of shape (n,) or scores of shape (n, n_classes), got {what}")


def check_scores(a, name="scores", n_classes=None):
    """A real, finite score matrix (n, K) as float64.

    NaN, +inf and complex values are refused; -inf is allowed (a log-probability of 0) as long as each
    row has a finite entry, so that its argmax is defined.
    """
    arr = as_numpy(a, name)
    if arr.ndim != 2:
        raise _shape_error(arr, name)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; expected scores of shape (n, n_classes) with n, n_classes >= 1")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} scores are complex (dtype {arr.dtype}); expected real numbers")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} scores must be numeric, got dtype {arr.dtype}")
    s = arr.astype(np.float64)
    bad = np.isnan(s) | (s == np.inf)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{name} scores contain {'NaN' if np.isnan(s[i, j]) else '+inf'} "
                         f"(first at row {i}, column {j}); expected finite numbers")
    dead = ~np.isfinite(s).any(axis=1)
    if dead.any():
        raise ValueError(f"{name} scores: row {int(np.flatnonzero(dead)[0])} is all -inf; no class can be chosen")
    if n_classes is not None and s.shape[1] != n_classes:
        raise ValueError(f"{name} scores have {s.shape[1]} columns, expected {n_classes} classes")
    return s


def check_labels(a, name="y", n_classes=None):
    """Integer class labels (n,) as int64: whole numbers >= 0 (and < ``n_classes`` when given).

    Floats must be finite whole numbers below 2**53 (where floats stop holding integers exactly);
    unsigned integers must fit in int64.
    """
    arr = as_numpy(a, name)
    if arr.ndim != 1:
        raise _shape_error(arr, name)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; expected at least one sample")
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(f"{name} labels are complex (dtype {arr.dtype}); expected integer class labels")
    if kind == "f":
        if np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN (row {int(np.flatnonzero(np.isnan(arr))[0])}); "
                             f"expected integer class labels")
        if np.isinf(arr).any():
            raise ValueError(f"{name} contains infinite values (row {int(np.flatnonzero(np.isinf(arr))[0])}); "
                             f"expected integer class labels")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels, got non-integer values")
        big = np.abs(arr) >= MAX_FLOAT_LABEL
        if big.any():
            i = int(np.flatnonzero(big)[0])
            raise ValueError(f"{name} has label {arr[i]:g} (row {i}), too large for an exact class id; "
                             f"float labels must be below 2**53 (pass integers)")
    elif kind == "u":
        if arr.max() > np.iinfo(np.int64).max:
            i = int(np.argmax(arr))
            raise ValueError(f"{name} has label {int(arr[i])} (row {i}), too large for a class id; "
                             f"labels must be below 2**63")
    elif kind not in "ib":
        raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    labels = arr.astype(np.int64)
    lo = labels.min()
    if lo < 0:
        raise ValueError(f"{name} has a negative label ({lo}); labels must be >= 0")
    if n_classes is not None and labels.max() >= n_classes:
        raise ValueError(f"{name} has label {labels.max()} outside the {n_classes} classes [0, {n_classes})")
    return labels


def check_embeddings(x, name):
    """A non-empty, finite float64 matrix (n, d)."""
    x = as_numpy(x, name)
    if np.iscomplexobj(x):
        raise ValueError(f"{name} is complex (dtype {x.dtype}); expected real embeddings")
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric embeddings, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.ndim != 2 or len(x) == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n, d), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_1d(y, n, name):
    """A 1-D array of ``n`` entries (any labels: identities may be strings or Python objects)."""
    if hasattr(y, "detach"):
        y = as_numpy(y, name)
    try:
        y = np.asarray(y)
    except Exception as err:  # ragged lists and the like
        raise ValueError(f"{name} must be 1-D with {n} labels, got {type(y).__name__}: {err}") from None
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name} must be 1-D with {n} labels, got shape {y.shape}")
    return y


def label_from_text(value, where):
    """One label cell of a file, as text: a class name, or a whole number >= 0 written as ``'3'``.

    ``'3.0'`` becomes ``'3'``. An empty cell, ``nan``/``inf``, a negative or fractional number and a
    number too large for a class id raise ValueError naming ``where`` (file, row and column).
    """
    v = value.strip()
    if not v:
        raise ValueError(f"{where}: empty label; expected a class name or a whole number >= 0")
    try:
        f = float(v)
    except ValueError:
        try:  # '1+2j' and the like: a number, but not a label
            complex(v)
        except ValueError:
            return v  # a class name
        raise ValueError(f"{where}: {v!r} is a complex number; expected a class name or a whole number >= 0") \
            from None
    if not math.isfinite(f):
        raise ValueError(f"{where}: {v!r} is not a label; expected a class name or a whole number >= 0")
    if v.lstrip("+-").isdigit():
        i = int(v)
    elif f.is_integer() and abs(f) < MAX_FLOAT_LABEL:
        i = int(f)
    else:
        raise ValueError(f"{where}: {v!r} is not a whole number; labels must be class names or "
                         f"whole numbers >= 0 (below 2**53 when written as decimals)")
    if i < 0:
        raise ValueError(f"{where}: negative label {v!r}; labels must be >= 0")
    if i > np.iinfo(np.int64).max:
        raise ValueError(f"{where}: label {v!r} is too large for a class id (must be below 2**63)")
    return str(i)


def to_labels(a, name="y", n_classes=None):
    """Return integer labels (n,) from labels or a score matrix (n, K), validated.

    Args:
        a: labels (n,) or scores (n, K); list, NumPy array or torch tensor (bfloat16 included).
        name: argument name used in error messages.
        n_classes: if given, labels must lie in [0, n_classes) and scores must have K columns.
    Returns:
        int64 NumPy array of shape (n,).

    Example:
        >>> to_labels([[0.1, 0.9], [0.8, 0.2]]).tolist()
        [1, 0]
    """
    arr = as_numpy(a, name)
    if arr.ndim == 2:
        return check_scores(arr, name, n_classes).argmax(axis=1).astype(np.int64)
    return check_labels(arr, name, n_classes)


def check_update_labels(y_true, y_old, y_new):
    """Validated int64 labels of the three inputs, and the class count fixed by scores (or None)."""
    t = as_numpy(y_true, "y_true")
    if t.ndim != 1:
        raise ValueError(f"y_true must be 1-D labels of shape (n,), got "
                         f"{'a scalar' if t.ndim == 0 else f'shape {t.shape}'}")
    # the class count comes from whichever input fixes it: a score matrix, else the largest label
    shapes = [as_numpy(a, n) for a, n in ((y_old, "y_old"), (y_new, "y_new"))]
    widths = {s.shape[1] for s in shapes if s.ndim == 2}
    if len(widths) > 1:
        raise ValueError(f"y_old and y_new scores have different numbers of classes: {sorted(widths)}")
    n_classes = widths.pop() if widths else None
    y_true = to_labels(t, "y_true", n_classes)
    y_old = to_labels(shapes[0], "y_old", n_classes)
    y_new = to_labels(shapes[1], "y_new", n_classes)
    if not (len(y_true) == len(y_old) == len(y_new)):
        raise ValueError(f"y_true, y_old and y_new must have the same length, got "
                         f"{len(y_true)}, {len(y_old)} and {len(y_new)}")
    return y_true, y_old, y_new, n_classes
