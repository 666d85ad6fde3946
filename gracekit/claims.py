"""State a result of the run next to the code that computes it, and check it.

A notebook sentence such as "focal distillation lowers NFR" is only as good as the numbers behind it.
:func:`claim` prints the sentence with its numbers and a verdict; when the claim does not hold it
warns in a learner's session and raises :class:`ClaimFailed` when ``GRACEKIT_STRICT_CLAIMS=1`` (the
test suite and the full-size CI run set it), so a text that its own numbers contradict cannot ship.

Example
-------
>>> from gracekit.claims import claim
>>> claim("the new model makes fewer errors", 0.08 < 0.12, err_old=0.12, err_new=0.08)  # doctest: +SKIP
✓ the new model makes fewer errors  [err_old=0.12, err_new=0.08]
"""
import os
import warnings

import numpy as np

__all__ = ["claim", "ClaimFailed", "ClaimWarning", "differs", "strict", "se_mean", "paired_diff", "pm"]


class ClaimFailed(AssertionError):
    """A claim the notebook makes does not hold for the numbers of this run."""


class ClaimWarning(UserWarning):
    """A claim does not hold in this run (a warning outside strict mode)."""


def strict():
    """True when ``GRACEKIT_STRICT_CLAIMS`` is 1/true/yes: a failed claim raises."""
    return os.environ.get("GRACEKIT_STRICT_CLAIMS", "0").strip().lower() in {"1", "true", "yes", "on"}


def _fmt(value):
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v == 0 or 1e-3 <= abs(v) < 1e4:
            return f"{v:.4g}"
        return f"{v:.3g}"
    return str(value)


def claim(text, holds, *, only_full=False, fast=None, **numbers):
    """Print a claim with the numbers that support it and check that it holds.

    Parameters
    ----------
    text : str
        The sentence, as the notebook states it.
    holds : bool
        Whether the numbers of this run support it (computed right before the call).
    only_full : bool, default False
        The claim is about the full-size run; in FAST mode it is printed as "not checked".
    fast : bool or None
        Override FAST detection (None reads ``GRACEKIT_FAST``).
    **numbers
        The numbers behind the claim, printed beside it.

    Returns
    -------
    bool
        ``holds`` as a plain bool (or True when the claim was not checked in FAST mode).

    Raises
    ------
    ClaimFailed
        When the claim does not hold and ``GRACEKIT_STRICT_CLAIMS`` is set.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty sentence")
    holds = bool(np.all(holds))
    extra = "  [" + ", ".join(f"{k}={_fmt(v)}" for k, v in numbers.items()) + "]" if numbers else ""
    if fast is None:
        from gracekit.config import is_fast

        fast = is_fast()
    if only_full and fast:
        print(f"· {text}{extra}  (a full-size claim: not checked in FAST mode)")
        return True
    if holds:
        print(f"✓ {text}{extra}")
        return True
    message = f"✗ does NOT hold in this run: {text}{extra}"
    print(message)
    if strict():
        raise ClaimFailed(message)
    warnings.warn(message, ClaimWarning, stacklevel=2)
    return False


def se_mean(values, *, ddof=1):
    """Mean and standard error of the mean (sample SD with ``ddof=1`` over sqrt(n))."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("values is empty")
    if v.size == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(v.std(ddof=ddof) / np.sqrt(v.size))


def pm(values, scale=100, digits=2):
    """``'mean ± SE'`` of values over seeds, in percent by default (``scale=1`` for raw numbers)."""
    mean, se = se_mean(values)
    return f"{scale * mean:.{digits}f} ± {scale * se:.{digits}f}"


def paired_diff(a, b):
    """Mean of ``a - b`` over paired runs (seeds) and its standard error."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must pair up, got {a.size} and {b.size} values")
    return se_mean(a - b)


def differs(a, b, *, k=2.0):
    """True when paired runs show ``mean(a - b)`` more than ``k`` standard errors from zero.

    With a single pair the SE is undefined and this returns False: one seed cannot show a difference.
    """
    mean, se = paired_diff(a, b)
    return bool(np.isfinite(se) and abs(mean) > k * se)
