"""Confidence intervals and tests for update metrics on paired predictions (``gracekit gate``).

Every rate of an update is a count over the same n samples, so the statistics are small and exact:

* a rate k / n (NFR, PFR, an error): the Clopper-Pearson interval (exact binomial);
* a paired difference (n10 - n01) / n, such as Err_new - Err_old = (negative flips - positive flips)
  / n, or NFR(new) - NFR(retrain): the exact interval conditional on the m = n10 + n01 discordant
  samples (n10 ~ Binomial(m, p), difference = (2p - 1) m / n, p by Clopper-Pearson), the interval
  that goes with McNemar's exact test;
* McNemar's exact test: two-sided binomial test of n10 against Binomial(m, 1/2).

``method="bootstrap"`` replaces each interval by the percentile bootstrap over samples (resampling n
samples is a multinomial draw of the cell counts, so it costs nothing per sample).

Example
-------
>>> lo, hi = clopper_pearson(3, 100)
>>> round(lo, 4), round(hi, 4)
(0.0062, 0.0852)
"""
import numpy as np
from scipy import stats

__all__ = ["clopper_pearson", "proportion_interval", "difference_interval", "mcnemar_exact", "METHODS"]

METHODS = ("exact", "bootstrap")


def _check(confidence, method):
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _counts(*values):
    out = []
    for v in values:
        if int(v) != v or v < 0:
            raise ValueError(f"counts must be whole numbers >= 0, got {v!r}")
        out.append(int(v))
    return out


def clopper_pearson(k, n, confidence=0.95):
    """Exact (Clopper-Pearson) interval for a binomial proportion k / n.

    Parameters
    ----------
    k, n : int
        Successes and trials, 0 <= k <= n.
    confidence : float
        Two-sided coverage, e.g. 0.95.

    Returns
    -------
    (low, high) : floats; (nan, nan) when n == 0 (the rate is undefined).
    """
    k, n = _counts(k, n)
    _check(confidence, "exact")
    if k > n:
        raise ValueError(f"k ({k}) must not exceed n ({n})")
    if n == 0:
        return float("nan"), float("nan")
    a = 1 - confidence
    low = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return low, high


def _percentiles(draws, confidence):
    a = 1 - confidence
    lo, hi = np.quantile(draws, [a / 2, 1 - a / 2])
    return float(lo), float(hi)


def proportion_interval(k, n, *, confidence=0.95, method="exact", n_boot=2000, rng=None):
    """Estimate and interval of k / n: Clopper-Pearson, or the percentile bootstrap.

    Returns
    -------
    (estimate, low, high) : all nan when n == 0.
    """
    k, n = _counts(k, n)
    _check(confidence, method)
    if n == 0:
        return (float("nan"),) * 3
    if method == "exact":
        return (k / n, *clopper_pearson(k, n, confidence))
    rng = np.random.default_rng(0) if rng is None else rng
    return (k / n, *_percentiles(rng.binomial(n, k / n, size=int(n_boot)) / n, confidence))


def difference_interval(n10, n01, n, *, confidence=0.95, method="exact", n_boot=2000, rng=None):
    """Estimate and interval of a paired difference (n10 - n01) / n.

    Parameters
    ----------
    n10, n01 : int
        Discordant counts: samples where the first indicator is 1 and the second 0, and the reverse
        (for the error change: negative flips and positive flips).
    n : int
        All samples (n >= n10 + n01).

    Returns
    -------
    (estimate, low, high). The exact interval conditions on m = n10 + n01 (McNemar's setting); with
    no discordant sample it is (0, 0, 0).

    Example
    -------
    >>> est, lo, hi = difference_interval(30, 10, 1000)   # 30 negative, 10 positive flips
    >>> round(est, 3), lo > 0
    (0.02, True)
    """
    n10, n01, n = _counts(n10, n01, n)
    _check(confidence, method)
    if n10 + n01 > n:
        raise ValueError(f"n10 + n01 ({n10 + n01}) must not exceed n ({n})")
    if n == 0:
        return (float("nan"),) * 3
    est, m = (n10 - n01) / n, n10 + n01
    if m == 0:
        return 0.0, 0.0, 0.0
    if method == "exact":
        p_lo, p_hi = clopper_pearson(n10, m, confidence)
        return est, (2 * p_lo - 1) * m / n, (2 * p_hi - 1) * m / n
    rng = np.random.default_rng(0) if rng is None else rng
    draws = rng.multinomial(n, np.array([n10, n01, n - m]) / n, size=int(n_boot))
    return (est, *_percentiles((draws[:, 0] - draws[:, 1]) / n, confidence))


def mcnemar_exact(n10, n01):
    """McNemar's exact test: two-sided p-value of n10 vs n01 under Binomial(n10 + n01, 1/2).

    Example
    -------
    >>> round(mcnemar_exact(12, 3), 4)
    0.0352
    """
    n10, n01 = _counts(n10, n01)
    m = n10 + n01
    if m == 0:
        return 1.0
    return float(min(1.0, 2 * stats.binom.cdf(min(n10, n01), m, 0.5)))
