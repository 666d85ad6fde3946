"""Retrieval metrics for embedding models: CMC top-k, mAP, TAR@FAR, cross-model matrix, update gain,
backfilling curve, and standard errors clustered over identities.

Embeddings may come from different models; when a query and a gallery embedding differ in width the
query is truncated or zero-padded to the gallery's width (as in BCT). Inputs may be lists, NumPy arrays
or torch tensors.
"""
import numpy as np

from gracekit.validation import check_1d, check_embeddings, ratio

__all__ = ["similarity", "cmc", "leave_one_out_cmc", "mean_average_precision", "tar_at_far", "gallery_split",
           "topk_by_identity", "cross_model_matrix", "update_gain", "backfill_curve", "clustered_se"]


def _emb(x, name):
    return check_embeddings(x, name)


def _labels(y, n, name):
    return check_1d(y, n, name)


def similarity(queries, gallery, *, metric="cosine"):
    """Similarity matrix (n_queries, n_gallery): cosine, or minus the squared Euclidean distance.

    Queries are truncated or zero-padded to the gallery's width when the two differ.
    """
    q, g = _emb(queries, "queries"), _emb(gallery, "gallery")
    d = g.shape[1]
    q = q[:, :d] if q.shape[1] >= d else np.pad(q, ((0, 0), (0, d - q.shape[1])))
    if metric == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        return q @ g.T
    if metric == "euclidean":
        return -(np.sum(q * q, 1)[:, None] - 2 * q @ g.T + np.sum(g * g, 1)[None, :])
    raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")


def _first_hit_rank(S, yq, yg, exclude_self=False):
    """Rank (0-based) of the first correct gallery item per query; -1 when the query has no match.

    With ``exclude_self`` (queries and gallery are the same images) item i is never a match for query i.
    """
    order = np.argsort(-S, axis=1, kind="stable")
    match = yg[order] == yq[:, None]
    if exclude_self:
        match &= order != np.arange(len(S))[:, None]
    has = match.any(1)
    return np.where(has, match.argmax(1), -1)


def cmc(queries, gallery, y_query, y_gallery, *, topk=(1, 5), metric="cosine", return_hits=False):
    """CMC: fraction of queries whose first correct gallery match is within the top k.

    Args:
        queries, gallery: embeddings (n_q, d_q) and (n_g, d_g).
        y_query, y_gallery: identities.
        topk: the k values.
        metric: "cosine" or "euclidean".
        return_hits: also return the per-query hit matrix (n_q, len(topk)) for standard errors.
    Returns:
        dict {k: accuracy} (and the hits). Queries with no match in the gallery are left out.
    Used in: notebooks/03_bct_faces.py
    """
    S = similarity(queries, gallery, metric=metric)
    yq, yg = _labels(y_query, S.shape[0], "y_query"), _labels(y_gallery, S.shape[1], "y_gallery")
    return _cmc_from(S, yq, yg, topk, return_hits)


def _cmc_from(S, yq, yg, topk, return_hits, exclude_self=False):
    topk = [int(k) for k in np.atleast_1d(topk)]
    if not topk or min(topk) < 1:
        raise ValueError(f"topk must be positive integers, got {topk}")
    r = _first_hit_rank(S, yq, yg, exclude_self)
    r = r[r >= 0]
    if len(r) == 0:
        raise ValueError("y_query: no query has a matching identity in the gallery")
    hits = np.stack([r < k for k in topk], 1).astype(float)
    out = {k: float(h) for k, h in zip(topk, hits.mean(0))}
    return (out, hits) if return_hits else out


def leave_one_out_cmc(queries, gallery, y, *, topk=(1, 5), metric="cosine"):
    """openBCT's test: every image queries all *other* images (queries and gallery embed the same set).

    Args:
        queries, gallery: two embeddings of the same n images (e.g. new model, old model).
        y: identities (n,). Images whose identity has no other image are left out.
        topk, metric: as in ``cmc``.
    Returns:
        dict {k: accuracy}.
    Used in: notebooks/03_bct_faces.py
    """
    S = similarity(queries, gallery, metric=metric)
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"queries and gallery must embed the same images, got {S.shape[0]} and {S.shape[1]}")
    y = _labels(y, len(S), "y")
    np.fill_diagonal(S, -np.inf)
    # an image never retrieves itself; a query whose identity has no other image has no match and
    # is left out (rather than counted as a miss, then as a hit on itself at rank n)
    return _cmc_from(S, y, y, topk, False, exclude_self=True)


def mean_average_precision(queries, gallery, y_query, y_gallery, *, metric="cosine"):
    """Mean over queries of the average precision of the ranked gallery (queries with no match left out)."""
    S = similarity(queries, gallery, metric=metric)
    yq, yg = _labels(y_query, S.shape[0], "y_query"), _labels(y_gallery, S.shape[1], "y_gallery")
    match = yg[np.argsort(-S, axis=1, kind="stable")] == yq[:, None]
    n_rel = match.sum(1)
    keep = n_rel > 0
    if not keep.any():
        raise ValueError("y_query: no query has a matching identity in the gallery")
    prec = np.cumsum(match, 1) / np.arange(1, S.shape[1] + 1)
    ap = (prec * match).sum(1)[keep] / n_rel[keep]
    return float(ap.mean())


def tar_at_far(queries, gallery, y_query, y_gallery, *, far=1e-3, metric="cosine"):
    """True-accept rate at the threshold where the false-accept rate on impostor pairs is ``far``.

    Args:
        queries, gallery, y_query, y_gallery, metric: as in ``cmc``; all query-gallery pairs are compared.
        far: target false-accept rate in (0, 1).
    Returns:
        (tar, threshold).
    Used in: notebooks/03_bct_faces.py
    """
    if not 0 < far < 1:
        raise ValueError(f"far must be in (0, 1), got {far!r}")
    S = similarity(queries, gallery, metric=metric)
    yq, yg = _labels(y_query, S.shape[0], "y_query"), _labels(y_gallery, S.shape[1], "y_gallery")
    same = yq[:, None] == yg[None, :]
    genuine, impostor = S[same], S[~same]
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError("y_query: need both genuine (same identity) and impostor pairs")
    imp = np.sort(impostor)[::-1]
    n_fa = int(np.floor(far * len(imp)))  # accepted impostors allowed
    thr = imp[n_fa] if n_fa < len(imp) else -np.inf  # accept scores strictly above thr
    return float(np.mean(genuine > thr)), float(thr)


def gallery_split(y, *, n_shot=1, seed=0):
    """Pick ``n_shot`` gallery images per identity at random; the rest are queries.

    Returns:
        gallery_idx, query_idx (identities with <= n_shot images give no queries).
    """
    y = _labels(y, len(np.asarray(y)), "y")
    if not isinstance(n_shot, (int, np.integer)) or n_shot < 1:
        raise ValueError(f"n_shot must be a positive integer, got {n_shot!r}")
    rng = np.random.default_rng(seed)
    gal = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        gal.extend(rng.choice(idx, min(n_shot, len(idx)), replace=False))
    gal = np.sort(np.array(gal, dtype=np.int64))
    return gal, np.setdiff1d(np.arange(len(y)), gal)


def _per_identity(hits, yq, ids):
    return np.array([hits[yq == c].mean() if (yq == c).any() else np.nan for c in ids])


def topk_by_identity(query_emb, gallery_emb, y, *, k=1, n_draws=5, n_shot=1, seed=0, metric="cosine"):
    """Open-set top-k per test identity, averaged over random n-shot gallery draws.

    Both embeddings are of the same test images; draw d puts ``n_shot`` images per identity in the
    gallery (embedded by the gallery model) and queries with the rest (embedded by the query model).

    Returns:
        (ids, scores): scores[i] = top-k accuracy of identity ids[i]'s queries; scores.mean() is M,
        and scores feed ``clustered_se`` (identities are the independent units).
    Used in: notebooks/03_bct_faces.py
    """
    q, g = _emb(query_emb, "query_emb"), _emb(gallery_emb, "gallery_emb")
    if len(q) != len(g):
        raise ValueError(f"query_emb and gallery_emb must embed the same images, got {len(q)} and {len(g)}")
    y = _labels(y, len(q), "y")
    ids = np.unique(y)
    total = np.zeros(len(ids))
    for d in range(int(n_draws)):
        gi, qi = gallery_split(y, n_shot=n_shot, seed=None if seed is None else seed * 1000 + d)
        _, hits = cmc(q[qi], g[gi], y[qi], y[gi], topk=(k,), metric=metric, return_hits=True)
        total += _per_identity(hits[:, 0], y[qi], ids)
    return ids, total / int(n_draws)


def cross_model_matrix(embeddings, y, *, k=1, n_draws=5, n_shot=1, seed=0, metric="cosine"):
    """M[i, j] = top-k accuracy with model i embedding the queries and model j the gallery.

    Args:
        embeddings: dict name -> embeddings of the same test images (models may differ in width).
        y, k, n_draws, n_shot, seed, metric: as in ``topk_by_identity``.
    Returns:
        (names, M, per_identity) with per_identity[(qname, gname)] the per-identity scores.
    Used in: notebooks/03_bct_faces.py
    """
    if not isinstance(embeddings, dict) or not embeddings:
        raise ValueError("embeddings must be a non-empty dict name -> (n, d) embeddings")
    names = list(embeddings)
    M = np.zeros((len(names), len(names)))
    per = {}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            _, s = topk_by_identity(embeddings[a], embeddings[b], y, k=k, n_draws=n_draws, n_shot=n_shot, seed=seed, metric=metric)
            M[i, j], per[(a, b)] = s.mean(), s
    return names, M, per


def update_gain(m_new_old, m_old_old, m_new_new, *, zero_division="warn"):
    """BCT's update gain G = (M(new,old) - M(old,old)) / (M(new*,new*) - M(old,old)).

    Args:
        m_new_old: new queries against the old gallery.
        m_old_old: the old model alone.
        m_new_new: the unconstrained ("paragon") new model on its own gallery.
        zero_division: G when there is no gain to share (M(new*, new*) <= M(old, old)): "warn" returns NaN
            with an ``UndefinedRatioWarning``, a number is returned silently (as in ``metrics.relative_nfr``).
    Returns:
        G (> 0 means compatible; 1 means the full gain of the update without backfilling).
    Used in: notebooks/03_bct_faces.py
    """
    vals = np.array([m_new_old, m_old_old, m_new_new], dtype=float)
    if not np.isfinite(vals).all():
        raise ValueError("m_new_old, m_old_old and m_new_new must be finite numbers")
    return ratio(m_new_old - m_old_old, max(m_new_new - m_old_old, 0.0), name="update gain",
                 why=f"the new model ({m_new_new:.4f}) does not beat the old one ({m_old_old:.4f}): "
                     "no gain to share", zero_division=zero_division)


def backfill_curve(query_new, gallery_old, gallery_new, y, *, fractions=None, k=1, n_draws=5, n_shot=1, seed=0,
                   metric="cosine"):
    """Top-k as the gallery is re-indexed with the new model, a random fraction at a time.

    Queries always use the new model; a gallery image uses the new embedding once backfilled, else
    the old one (new queries are dimension-matched against old items).

    Args:
        query_new, gallery_old, gallery_new: three embeddings of the same test images.
        y: identities. fractions: backfilled fractions (default 0, 0.1, ..., 1).
        k, n_draws, n_shot, seed, metric: as in ``topk_by_identity``.
    Returns:
        (fractions, accuracy, area): area is the mean accuracy over the curve (trapezoid rule).
    Used in: notebooks/03_bct_faces.py
    """
    qn, go, gn = _emb(query_new, "query_new"), _emb(gallery_old, "gallery_old"), _emb(gallery_new, "gallery_new")
    if not len(qn) == len(go) == len(gn):
        raise ValueError("query_new, gallery_old and gallery_new must embed the same images")
    y = _labels(y, len(qn), "y")
    fr = np.linspace(0, 1, 11) if fractions is None else np.asarray(fractions, dtype=float)
    if fr.ndim != 1 or len(fr) == 0 or (fr < 0).any() or (fr > 1).any():
        raise ValueError("fractions must be a non-empty 1-D list of numbers in [0, 1]")
    ids = np.unique(y)
    acc = np.zeros(len(fr))
    for d in range(int(n_draws)):
        s = seed * 1000 + d
        gi, qi = gallery_split(y, n_shot=n_shot, seed=s)
        s_old, s_new = similarity(qn[qi], go[gi], metric=metric), similarity(qn[qi], gn[gi], metric=metric)
        order = np.random.default_rng(s + 1).permutation(len(gi))
        for f, frac in enumerate(fr):
            done = np.zeros(len(gi), bool)
            done[order[:int(round(frac * len(gi)))]] = True
            _, hits = _cmc_from(np.where(done[None, :], s_new, s_old), y[qi], y[gi], (k,), True)
            acc[f] += np.nanmean(_per_identity(hits[:, 0], y[qi], ids))
    acc /= int(n_draws)
    span = fr.max() - fr.min()
    area = float(np.sum((acc[1:] + acc[:-1]) / 2 * np.diff(fr)) / span) if span > 0 else float(acc.mean())
    return fr, acc, area


def clustered_se(values, clusters=None):
    """Standard error of the mean of ``values``, clustered by ``clusters`` (e.g. test identity).

    With clusters=None each value is its own cluster (pass per-identity scores, or per-identity
    paired differences between two models, directly).
    """
    v = np.asarray(values.detach().cpu().numpy() if hasattr(values, "detach") else values, dtype=float)
    if v.ndim != 1 or len(v) < 2 or not np.isfinite(v).all():
        raise ValueError(f"values must be a finite 1-D array with at least 2 entries, got shape {v.shape}")
    c = np.arange(len(v)) if clusters is None else _labels(clusters, len(v), "clusters")
    groups = np.unique(c)
    G = len(groups)
    if G < 2:
        raise ValueError("clusters must hold at least 2 distinct groups")
    resid = np.array([(v[c == g] - v.mean()).sum() for g in groups])
    return float(np.sqrt(G / (G - 1) * np.sum(resid ** 2)) / len(v))
