"""Can a new embedding model search an index the old model built? (``gracekit compat``, ``check_compat``).

Retrieval is scored per query: top-1, top-5 and average precision over the gallery, with cosine
similarity. When the queries are the gallery items themselves (the same identity list, in the same
order; ``protocol="auto"``), every query searches all *other* items (leave-one-out, as
``gracekit.retrieval.leave_one_out_cmc``). Queries whose identity has no (other) gallery item are left out.

The decision compares, on the same queries, new queries against the old gallery with the old model
alone: d = M(new, old) - M(old, old) on the chosen metric, its standard error clustered over the
queries' identities (``gracekit.retrieval.clustered_se`` of the per-query differences), and the
interval d +- z SE:

* "compatible: new queries can search the old index" when the interval's low end is >= -tolerance;
* "not compatible: backfill needed" when its high end is < -tolerance;
* "undecided within noise" otherwise (exit 0: not worse beyond noise; ``strict`` decides on d alone).

BCT's strict criterion M(new, old) > M(old, old) (Shen et al., CVPR 2020) is reported beside it, and
the update gain (M(new, old) - M(old, old)) / (M(new, new) - M(old, old)) when the new gallery is given.
With the new gallery, the partial-backfill curve re-embeds the gallery a fraction at a time, in a
random order and in an informed one (``backfill_order``: the old items the new queries are least
sure of first, after FastFill, Jaeckle et al. 2023).
"""
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from gracekit.report.compat_scores import METRICS, backfill_order, backfill_top1, project, retrieval_scores
from gracekit.retrieval import clustered_se

__all__ = ["SCHEMA", "CompatResult", "check_compat", "retrieval_scores", "backfill_order", "project",
           "VERDICTS", "METRICS"]

SCHEMA = "gracekit.compat/1"
VERDICTS = {"compatible": "compatible: new queries can search the old index",
            "not_compatible": "not compatible: backfill needed",
            "undecided": "undecided within noise"}


@dataclass
class CompatResult:
    """The compatibility check; ``verdict`` (key of VERDICTS), ``exit_code``, ``to_dict()``."""

    table: dict                # "old/old", "new->old", "new/new" -> {"top1", "top5", "map"}
    criterion: dict            # metric, new_old, old_old, difference, se, low, high, ...
    verdict: str
    gain: float = None
    backfill: dict = None
    protocol: str = "split"
    n_queries: int = 0
    n_gallery: int = 0
    n_identities: int = 0
    notes: list = field(default_factory=list)
    confidence: float = 0.95
    strict: bool = False
    tolerance: float = 0.0

    @property
    def exit_code(self):
        return 1 if self.verdict == "not_compatible" else 0

    @property
    def verdict_text(self):
        return VERDICTS[self.verdict]

    def to_dict(self):
        from gracekit.report.gate_format import clean_json

        return clean_json({"schema": SCHEMA, "verdict": self.verdict, "verdict_text": self.verdict_text,
                           "exit_code": self.exit_code, "protocol": self.protocol, "n_queries": self.n_queries,
                           "n_gallery": self.n_gallery, "n_identities": self.n_identities,
                           "confidence": self.confidence, "strict": self.strict, "tolerance": self.tolerance,
                           "table": self.table, "criterion": self.criterion, "update_gain": self.gain,
                           "backfill": self.backfill, "notes": self.notes})

    def render_text(self):
        from gracekit.report.compat_format import compat_text

        return compat_text(self)

    def render_json(self):
        import json

        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def render_markdown(self):
        from gracekit.report.compat_format import compat_markdown

        return compat_markdown(self)

    def render_junit(self):
        from gracekit.report.compat_format import compat_junit

        return compat_junit(self)


def _ids(y, n, name):
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name} must give one identity per row ({n}), got {y.shape[0] if y.ndim else 0}")
    return np.array([str(v) for v in y.tolist()], dtype=object)


def _emb(x, name):
    x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=float)
    if x.ndim != 2 or 0 in x.shape or not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite embeddings of shape (n, d), got shape {x.shape}")
    return x


def check_compat(old_gallery, new_query, gallery_ids, query_ids, *, old_query=None, new_gallery=None,
                 metric="top1", protocol="auto", project_dims=False, confidence=0.95, tolerance=0.0,
                 strict=False, backfill_tolerance=0.01, fractions=None, n_orders=5, seed=0):
    """Whether new queries can search an old gallery, with the cross-model table and backfill curve.

    Parameters
    ----------
    old_gallery : (n_g, d_old) array
        The index the old model built.
    new_query : (n_q, d_new) array
        The queries embedded by the new model.
    gallery_ids, query_ids : (n_g,), (n_q,) identities.
    old_query : (n_q, d_old) array, optional
        The same queries embedded by the old model (for M(old, old)); may be omitted under
        leave-one-out, where it is the old gallery.
    new_gallery : (n_g, d_new) array, optional
        The gallery embedded by the new model: adds M(new, new), the update gain and the backfill curve.
    metric : {"top1", "top5", "map"}
        The metric of the decision.
    protocol : {"auto", "loo", "split"}
        "loo": queries are the gallery items (each searches the others); "auto": loo when the two id
        lists are identical, else "split".
    project_dims : bool
        Truncate or zero-pad new embeddings to the old width when they differ (else a width mismatch
        is an error).
    confidence, tolerance, strict : the decision (see the module docstring).
    backfill_tolerance : float
        The backfill curve "reaches" M(new, new) within this much.
    fractions : fractions of the gallery re-embedded (default 0, 0.05, ..., 1).
    n_orders, seed : random backfill orders averaged, and their seed.

    Returns
    -------
    CompatResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0); ids = np.repeat(np.arange(20), 5)
    >>> old = rng.normal(size=(20, 8))[ids] + 0.3 * rng.normal(size=(100, 8))
    >>> check_compat(old, old, ids, ids).verdict   # identical models are compatible
    'compatible'
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if protocol not in ("auto", "loo", "split"):
        raise ValueError(f"protocol must be 'auto', 'loo' or 'split', got {protocol!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    go, qn = _emb(old_gallery, "old_gallery"), _emb(new_query, "new_query")
    yg, yq = _ids(gallery_ids, len(go), "gallery_ids"), _ids(query_ids, len(qn), "query_ids")
    qo = None if old_query is None else _emb(old_query, "old_query")
    gn = None if new_gallery is None else _emb(new_gallery, "new_gallery")
    if qo is not None and len(qo) != len(qn):
        raise ValueError(f"old_query has {len(qo)} rows but new_query has {len(qn)}: embed the same queries")
    if gn is not None and len(gn) != len(go):
        raise ValueError(f"new_gallery has {len(gn)} rows but old_gallery has {len(go)}: embed the same items")
    loo = protocol == "loo" or (protocol == "auto" and len(yq) == len(yg) and np.array_equal(yq, yg))
    if loo and len(yq) != len(yg):
        raise ValueError(f"protocol 'loo' needs the queries to be the gallery items, got {len(yq)} and {len(yg)}")
    notes = []
    if qo is None:
        if not loo:
            raise ValueError("old_query is needed for M(old, old) unless the queries are the gallery items "
                             "(leave-one-out)")
        qo = go
    if qo.shape[1] != go.shape[1]:
        raise ValueError(f"old_query has {qo.shape[1]} dimensions but old_gallery has {go.shape[1]}")
    if gn is not None and gn.shape[1] != qn.shape[1]:
        raise ValueError(f"new_gallery has {gn.shape[1]} dimensions but new_query has {qn.shape[1]}")
    qn_old = qn
    if qn.shape[1] != go.shape[1]:
        if not project_dims:
            raise ValueError(f"new_query has {qn.shape[1]} dimensions but old_gallery has {go.shape[1]}: "
                             f"the models are not comparable as they are (--project truncates or zero-pads)")
        qn_old = project(qn, go.shape[1])
        notes.append(f"new embeddings {'truncated' if qn.shape[1] > go.shape[1] else 'zero-padded'} "
                     f"from {qn.shape[1]} to {go.shape[1]} dimensions to search the old gallery")
    s_oo = retrieval_scores(qo, go, yq, yg, leave_one_out=loo)
    s_no = retrieval_scores(qn_old, go, yq, yg, leave_one_out=loo)
    table = {"old/old": {k: float(s_oo[k].mean()) for k in METRICS},
             "new->old": {k: float(s_no[k].mean()) for k in METRICS}}
    valid = s_oo["valid"]
    diff = s_no[metric] - s_oo[metric]
    clusters = yq[valid]
    d = float(diff.mean())
    se = clustered_se(diff, clusters) if len(set(clusters)) >= 2 else float("nan")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    lo, hi = d - z * se, d + z * se
    if strict or not np.isfinite(se):
        verdict = "compatible" if d >= -tolerance else "not_compatible"
        if not strict:
            notes.append("fewer than 2 query identities: no standard error, decided on the point estimate")
    else:
        verdict = "compatible" if lo >= -tolerance else "not_compatible" if hi < -tolerance else "undecided"
    criterion = {"metric": metric, "new_old": table["new->old"][metric], "old_old": table["old/old"][metric],
                 "difference": d, "se": se, "low": lo, "high": hi, "z": z,
                 "bct_criterion": bool(table["new->old"][metric] > table["old/old"][metric]),
                 "n_queries": int(valid.sum()), "n_identities": int(len(set(clusters)))}
    gain, backfill = None, None
    if gn is not None:
        s_nn = retrieval_scores(qn, gn, yq, yg, leave_one_out=loo)
        table["new/new"] = {k: float(s_nn[k].mean()) for k in METRICS}
        m_nn, m_no, m_oo = table["new/new"][metric], table["new->old"][metric], table["old/old"][metric]
        if m_nn > m_oo:
            gain = (m_no - m_oo) / (m_nn - m_oo)
        else:
            notes.append("no update gain: M(new, new) does not exceed M(old, old)")
        fr = np.linspace(0, 1, 21) if fractions is None else np.asarray(fractions, float)
        if fr.ndim != 1 or len(fr) == 0 or (fr < 0).any() or (fr > 1).any():
            raise ValueError("fractions must be a non-empty list of numbers in [0, 1]")
        rng = np.random.default_rng(seed)
        orders = [backfill_order(go, yg, qn_old, yq, leave_one_out=loo)] + \
                 [rng.permutation(len(yg)) for _ in range(int(n_orders))]
        acc = backfill_top1(qn_old, qn, go, gn, yq, yg, loo, orders, fr)
        target = table["new/new"]["top1"] - backfill_tolerance

        def needed(curve):
            hit = np.flatnonzero(curve >= target)
            return float(fr[hit[0]]) if len(hit) else None
        rand = acc[1:].mean(0)

        def area(curve):  # mean top-1 over the backfill (trapezoid rule over the fractions)
            return float(np.sum((curve[1:] + curve[:-1]) / 2 * np.diff(fr)) / np.ptp(fr)) if np.ptp(fr) > 0 \
                else float(curve.mean())
        backfill = {"metric": "top1", "fractions": fr.tolist(), "informed": acc[0].tolist(), "random": rand.tolist(),
                    "target": target, "tolerance": backfill_tolerance, "needed_informed": needed(acc[0]),
                    "needed_random": needed(rand), "area_informed": area(acc[0]), "area_random": area(rand),
                    "n_random_orders": int(n_orders),
                    "informed_order": "old gallery items the new queries are least sure of first"}
    return CompatResult(table=table, criterion=criterion, verdict=verdict, gain=gain, backfill=backfill,
                        protocol="loo" if loo else "split", n_queries=len(yq), n_gallery=len(yg),
                        n_identities=len(set(yg.tolist()) | set(yq.tolist())), notes=notes,
                        confidence=confidence, strict=bool(strict), tolerance=float(tolerance))
