"""The regression gate: may an old -> new update ship? (``gracekit gate`` and ``gate_update``).

A budget says how much regression is allowed: fixed (``max_nfr``, ``max_nfi``,
``max_error_increase``) or measured (``y_retrain``: the old recipe retrained with another seed or on
other data; its NFR against the old model is the churn any retrain causes, and the new model may
not flip more than that). Every metric comes with an interval (``gracekit.report.intervals``), and a
check fails only when the excess over its budget is entirely above zero (``strict=True`` compares the
point estimates instead). The same checks run on every slice (per true class by default, plus any
attribute columns given): a slice that regresses beyond the budget fails the gate even when the
average passes. Slices under ``min_slice_size`` samples are listed, not judged; slice intervals are
Bonferroni-corrected (``correction="none"``: off) lest many small slices fail a harmless update.
"""
from dataclasses import asdict, dataclass, field

import numpy as np

from gracekit.metrics import to_labels
from gracekit.report.intervals import difference_interval, mcnemar_exact, proportion_interval

__all__ = ["SCHEMA", "Check", "GateResult", "gate_update", "CORRECTIONS"]

SCHEMA = "gracekit.gate/1"
CORRECTIONS = ("bonferroni", "none")
METRIC_LABELS = {"nfr": "NFR", "nfi": "NFI", "error_change": "error change", "nfr_vs_retrain": "NFR vs retrain"}


@dataclass
class Check:
    """One budget check on the whole test set (``slice`` None) or on one slice.

    ``value``/``low``/``high``: the metric and its interval; ``budget``: the allowed value;
    ``excess``/``excess_low``/``excess_high``: metric minus budget with its interval; ``status``:
    "pass", "fail" or "skipped" (slice too small, or the metric undefined); ``note``: why.
    """

    metric: str
    attribute: str = None
    slice: str = None
    n: int = 0
    value: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    budget: float = float("nan")
    budget_source: str = ""
    excess: float = float("nan")
    excess_low: float = float("nan")
    excess_high: float = float("nan")
    confidence: float = 0.95
    status: str = "pass"
    note: str = ""

    @property
    def name(self):
        where = "overall" if self.slice is None else f"{self.attribute}={self.slice}"
        return f"{METRIC_LABELS.get(self.metric, self.metric)} [{where}]"

    def to_dict(self):
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


@dataclass
class GateResult:
    """The gate's decision with everything behind it; ``passed``, ``exit_code`` (0 or 1), ``to_dict()``."""

    n: int
    class_names: list
    counts: dict
    rates: dict            # name -> (estimate, low, high)
    mcnemar_p: float
    budget: dict           # how the budget was set ("source") and its numbers
    checks: list = field(default_factory=list)
    confidence: float = 0.95
    method: str = "exact"
    strict: bool = False
    min_slice_size: int = 30
    correction: str = "bonferroni"

    @property
    def failed(self):
        return [c for c in self.checks if c.status == "fail"]

    @property
    def passed(self):
        return not self.failed

    @property
    def exit_code(self):
        return 0 if self.passed else 1

    @property
    def verdict(self):
        """One line: PASS or FAIL and why."""
        if self.passed:
            judged = sum(c.status == "pass" for c in self.checks)
            return f"PASS: {judged} checks within budget ({self.budget['source']})"
        names = ", ".join(c.name for c in self.failed[:4]) + (" ..." if len(self.failed) > 4 else "")
        return f"FAIL: {len(self.failed)} check(s) over budget ({self.budget['source']}): {names}"

    def to_dict(self):
        """The JSON document (schema ``gracekit.gate/1``, see docs/gate.md)."""
        def est(t):
            return {k: (None if not np.isfinite(v) else float(v)) for k, v in zip(("value", "low", "high"), t)}
        return {"schema": SCHEMA, "passed": self.passed, "verdict": self.verdict, "exit_code": self.exit_code,
                "n": self.n, "classes": list(self.class_names), "confidence": self.confidence,
                "interval_method": self.method, "strict": self.strict, "min_slice_size": self.min_slice_size,
                "slice_correction": self.correction, "counts": dict(self.counts),
                "rates": {k: est(v) for k, v in self.rates.items()},
                "mcnemar_p": self.mcnemar_p, "budget": self.budget,
                "checks": [c.to_dict() for c in self.checks]}


def _check_budget(name, v, low=0.0, high=1.0):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not low <= v <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {v!r}")
    return float(v)


def _slices(slices, n, classes, y_true, class_slices):
    out = {}
    if class_slices:
        out["class"] = np.array([classes[i] for i in y_true], dtype=object)
    for name, vals in (slices or {}).items():
        if str(name) in out:
            raise ValueError(f"slice attribute {name!r} clashes with the per-class slices; rename it or turn "
                             f"class slices off (--no-class-slices)")
        vals = np.asarray(vals, dtype=object)
        if vals.shape != (n,):
            raise ValueError(f"slice attribute {name!r} must give one value per sample ({n}), got shape {vals.shape}")
        out[str(name)] = np.array([str(v) for v in vals], dtype=object)
    return out


def _run_checks(t, o, nw, r, budgets, confidence, method, strict, stat):
    """The budget checks on one set of samples (all of them, or one slice)."""
    n = len(t)
    old_right, new_right = o == t, nw == t
    nf, pf = int((old_right & ~new_right).sum()), int((~old_right & new_right).sum())
    new_wrong = int((~new_right).sum())
    kw = {"confidence": confidence, "method": method, **stat}
    out = []

    def judge(c):
        if not np.isfinite(c.value):
            c.status = "skipped"
            return c
        over = c.excess > 0 if strict else c.excess_low > 0
        c.status = "fail" if over else "pass"
        c.note = (f"point estimate {'above' if c.excess > 0 else 'within'} budget" if strict else
                  ("interval of the excess lies above 0" if over else "excess over budget within noise"
                   if c.excess > 0 else "within budget"))
        return c

    if budgets["max_nfr"] is not None:
        v, lo, hi = proportion_interval(nf, n, **kw)
        b = budgets["max_nfr"]
        out.append(judge(Check("nfr", n=n, value=v, low=lo, high=hi, budget=b, budget_source="--max-nfr",
                               excess=v - b, excess_low=lo - b, excess_high=hi - b, confidence=confidence)))
    if budgets["max_nfi"] is not None:
        v, lo, hi = proportion_interval(nf, new_wrong, **kw)
        b = budgets["max_nfi"]
        c = Check("nfi", n=n, value=v, low=lo, high=hi, budget=b, budget_source="--max-nfi",
                  excess=v - b, excess_low=lo - b, excess_high=hi - b, confidence=confidence)
        if new_wrong == 0:
            c.note = "the new model makes no error here: NFI undefined"
        out.append(judge(c))
    if budgets["max_error_increase"] is not None:
        v, lo, hi = difference_interval(nf, pf, n, **kw)
        b = budgets["max_error_increase"]
        out.append(judge(Check("error_change", n=n, value=v, low=lo, high=hi, budget=b,
                               budget_source="--max-error-increase", excess=v - b, excess_low=lo - b,
                               excess_high=hi - b, confidence=confidence)))
    if r is not None:
        a = old_right & ~new_right          # negative flip of the new model
        b_ = old_right & (r != t)           # negative flip of the retrained old recipe
        v, lo, hi = proportion_interval(nf, n, **kw)
        bv = float(b_.mean()) if n else float("nan")
        d, dlo, dhi = difference_interval(int((a & ~b_).sum()), int((~a & b_).sum()), n, **kw)
        out.append(judge(Check("nfr_vs_retrain", n=n, value=v, low=lo, high=hi, budget=bv,
                               budget_source="--old-retrain", excess=d, excess_low=dlo, excess_high=dhi,
                               confidence=confidence)))
    return out


def gate_update(y_true, y_old, y_new, *, y_retrain=None, max_nfr=None, max_nfi=None, max_error_increase=None,
                slices=None, class_slices=True, class_names=None, confidence=0.95, method="exact",
                strict=False, min_slice_size=30, correction="bonferroni", n_boot=2000, seed=0):
    """Decide whether an old -> new update stays within its regression budget.

    Parameters
    ----------
    y_true : array-like (n,)
        True labels (class indices).
    y_old, y_new : array-like
        Each model's labels (n,) or scores (n, K).
    y_retrain : array-like, optional
        Predictions of the old recipe retrained (another seed or other data): its NFR against the old
        model is the budget of ``nfr_vs_retrain`` (paired: the interval is of NFR(new) - NFR(retrain)).
    max_nfr, max_nfi, max_error_increase : float, optional
        Fixed budgets in [0, 1] (the error increase is Err_new - Err_old, in [-1, 1]). At least one
        budget, or ``y_retrain``, is required.
    slices : dict name -> (n,) values, optional
        Slice attributes (region, device, ...); every value with enough samples is checked.
    class_slices : bool
        Also check every true class as a slice (default True).
    class_names : list of str, optional
        Names of classes 0..K-1 (slice names and reports).
    confidence : float
        Coverage of every interval (default 0.95).
    method : {"exact", "bootstrap"}
        Clopper-Pearson / McNemar-conditional intervals, or the percentile bootstrap (``n_boot`` draws,
        ``seed``).
    strict : bool
        Fail on point estimates over budget, whatever the interval.
    min_slice_size : int
        Slices with fewer samples are reported as skipped (default 30).
    correction : {"bonferroni", "none"}
        Slice intervals use confidence 1 - (1 - confidence) / m over the m judged slice checks.

    Returns
    -------
    GateResult

    Examples
    --------
    >>> import numpy as np
    >>> y = np.zeros(1000, int); old = y.copy(); new = y.copy(); new[:50] = 1
    >>> gate_update(y, old, new, max_nfr=0.01, class_slices=False).verdict
    'FAIL: 1 check(s) over budget (fixed: --max-nfr 0.01): NFR [overall]'
    """
    max_nfr = _check_budget("max_nfr", max_nfr)
    max_nfi = _check_budget("max_nfi", max_nfi)
    max_error_increase = _check_budget("max_error_increase", max_error_increase, -1.0, 1.0)
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if not isinstance(min_slice_size, (int, np.integer)) or min_slice_size < 1:
        raise ValueError(f"min_slice_size must be an integer >= 1, got {min_slice_size!r}")
    if y_retrain is None and max_nfr is None and max_nfi is None and max_error_increase is None:
        raise ValueError("no budget: give max_nfr, max_nfi, max_error_increase or y_retrain "
                         "(--max-nfr, --max-nfi, --max-error-increase, --old-retrain)")
    widths = {np.ndim(a) == 2 and np.shape(a)[1] for a in (y_old, y_new, y_retrain) if a is not None} - {False}
    k = len(class_names) if class_names is not None else (widths.pop() if len(widths) == 1 else None)
    t = to_labels(y_true, "y_true", k)
    o, nw = to_labels(y_old, "y_old", k), to_labels(y_new, "y_new", k)
    r = None if y_retrain is None else to_labels(y_retrain, "y_retrain", k)
    for name, a in (("y_old", o), ("y_new", nw), ("y_retrain", r)):
        if a is not None and len(a) != len(t):
            raise ValueError(f"{name} has {len(a)} predictions but y_true has {len(t)} labels")
    k = k or int(max(a.max() for a in (t, o, nw, r) if a is not None)) + 1
    classes = [str(c) for c in (class_names or range(k))]
    budgets = {"max_nfr": max_nfr, "max_nfi": max_nfi, "max_error_increase": max_error_increase}
    rng = np.random.default_rng(seed)
    stat = {"n_boot": n_boot, "rng": rng} if method == "bootstrap" else {}
    n = len(t)
    old_right, new_right = o == t, nw == t
    counts = {"n": n, "old_wrong": int((~old_right).sum()), "new_wrong": int((~new_right).sum()),
              "negative_flips": int((old_right & ~new_right).sum()),
              "positive_flips": int((~old_right & new_right).sum())}
    kw = {"confidence": confidence, "method": method, **stat}
    rates = {"err_old": proportion_interval(counts["old_wrong"], n, **kw),
             "err_new": proportion_interval(counts["new_wrong"], n, **kw),
             "error_change": difference_interval(counts["negative_flips"], counts["positive_flips"], n, **kw),
             "nfr": proportion_interval(counts["negative_flips"], n, **kw),
             "pfr": proportion_interval(counts["positive_flips"], n, **kw),
             "nfi": proportion_interval(counts["negative_flips"], counts["new_wrong"], **kw)}
    fixed = [f"--{k.replace('_', '-')} {v:g}" for k, v in budgets.items() if v is not None]
    budget = {"source": ("measured: NFR of the old recipe retrained (--old-retrain)" if r is not None else "")
              + ("; " if r is not None and fixed else "") + ("fixed: " + ", ".join(fixed) if fixed else ""),
              **budgets, "retrain": None}
    if r is not None:
        nf_r = int((old_right & (r != t)).sum())
        counts["retrain_negative_flips"] = nf_r
        rates["nfr_retrain"] = proportion_interval(nf_r, n, **kw)
        budget["retrain"] = dict(zip(("nfr", "low", "high"), rates["nfr_retrain"]))
    checks = _run_checks(t, o, nw, r, budgets, confidence, method, strict, stat)
    groups = _slices(slices, n, classes, t, class_slices)
    cells = [(a, v, vals == v) for a, vals in groups.items()
             for v in ([c for c in classes if c in set(vals.tolist())] if a == "class" and class_slices
                       else sorted(set(vals.tolist())))]
    judged = [c for c in cells if c[2].sum() >= min_slice_size]
    per_slice = len(checks)
    m = max(len(judged) * per_slice, 1)
    conf_s = 1 - (1 - confidence) / m if correction == "bonferroni" else confidence
    for attr, val, mask in cells:
        if mask.sum() < min_slice_size:
            for c in _run_checks(t[mask], o[mask], nw[mask], None if r is None else r[mask], budgets, conf_s,
                                 method, strict, stat):
                c.attribute, c.slice, c.status = attr, str(val), "skipped"
                c.note = f"only {int(mask.sum())} samples (< min slice size {min_slice_size}): not judged"
                checks.append(c)
            continue
        for c in _run_checks(t[mask], o[mask], nw[mask], None if r is None else r[mask], budgets, conf_s,
                             method, strict, stat):
            c.attribute, c.slice = attr, str(val)
            checks.append(c)
    return GateResult(n=n, class_names=classes, counts=counts, rates=rates,
                      mcnemar_p=mcnemar_exact(counts["negative_flips"], counts["positive_flips"]),
                      budget=budget, checks=checks, confidence=confidence, method=method, strict=bool(strict),
                      min_slice_size=int(min_slice_size), correction=correction)
