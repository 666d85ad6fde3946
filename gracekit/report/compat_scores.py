"""Per-query retrieval scores and partial-backfill curves for ``gracekit compat`` (cosine similarity,
computed a block of queries at a time so that memory follows the block, not n_query x n_gallery).

``retrieval_scores``: top-1, top-5 and average precision per query (leave-one-out when the queries are
the gallery items); ``backfill_order``: the informed (least sure first) order; ``backfill_top1``: top-1
of new queries as the gallery is re-embedded in given orders.
"""
import numpy as np

__all__ = ["retrieval_scores", "backfill_order", "backfill_top1", "project", "METRICS"]

METRICS = ("top1", "top5", "map")
CELLS = 2_000_000  # similarities held at once: a block of queries x the gallery


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def project(x, dim):
    """Truncate or zero-pad embeddings (n, d) to width ``dim`` (BCT's convention for a wider new model)."""
    x = np.asarray(x, dtype=float)
    return x[:, :dim] if x.shape[1] >= dim else np.pad(x, ((0, 0), (0, dim - x.shape[1])))


def _codes(yq, yg):
    """Identities of queries and gallery as integer codes (comparing ints is much faster than strings)."""
    _, inv = np.unique(np.concatenate([np.asarray(yq).astype(str), np.asarray(yg).astype(str)]), return_inverse=True)
    return inv[:len(yq)], inv[len(yq):]


def _blocks(q, g, yq, yg, loo):
    """Yield (rows, S, match) blocks: cosine similarities and same-identity masks, self pairs removed."""
    qn, gn = _unit(q), _unit(g)
    yq, yg = _codes(yq, yg)
    step = max(1, CELLS // len(g))
    for start in range(0, len(q), step):
        rows = np.arange(start, min(start + step, len(q)))
        S = qn[rows] @ gn.T
        match = yq[rows, None] == yg[None, :]
        if loo:
            S[np.arange(len(rows)), rows] = -np.inf
            match[np.arange(len(rows)), rows] = False
        yield rows, S, match


def retrieval_scores(queries, gallery, y_query, y_gallery, *, leave_one_out=False):
    """Per-query top-1, top-5 and average precision (cosine similarity).

    Returns
    -------
    dict with "valid" (queries with a match), and "top1", "top5", "map" arrays over the valid queries.
    """
    q, g = np.asarray(queries, float), np.asarray(gallery, float)
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions but the gallery has {g.shape[1]}")
    yq, yg = np.asarray(y_query), np.asarray(y_gallery)
    out = {"valid": np.zeros(len(q), bool), "top1": [], "top5": [], "map": []}
    for rows, S, match in _blocks(q, g, yq, yg, leave_one_out):
        order = np.argsort(-S, axis=1, kind="stable")
        m = np.take_along_axis(match, order, 1)
        n_rel = m.sum(1)
        ok = n_rel > 0
        first = np.where(ok, m.argmax(1), -1)
        prec = np.cumsum(m, 1) / np.arange(1, m.shape[1] + 1)
        ap = (prec * m).sum(1) / np.maximum(n_rel, 1)
        out["valid"][rows] = ok
        out["top1"].append((first[ok] < 1).astype(float))
        out["top5"].append((first[ok] < 5).astype(float))
        out["map"].append(ap[ok])
    for k in METRICS:
        out[k] = np.concatenate(out[k])
    if not out["valid"].any():
        raise ValueError("no query has a matching identity in the gallery: are the id files the right ones?")
    return out


def backfill_order(old_gallery, gallery_ids, new_queries, query_ids, *, leave_one_out=False):
    """Informed backfill order: old gallery items the new queries are least sure of come first.

    For each old gallery item g, u(g) = (highest similarity of a new query of *another* identity to g)
    - (highest similarity of a new query of g's identity), both against g's old embedding. A high u
    means that, seen from the new model's queries, g looks more like someone else: re-embedding it
    helps most. The order takes every identity's least sure item first, then every identity's
    second, and so on (a query needs one good item of its identity); within a round, by u. Items that
    no query of their identity looks for go last in their round. Needs no new gallery
    embedding, so it can plan a backfill before it starts (the idea of FastFill, Jaeckle et al. 2023,
    without its learned uncertainty).

    Returns
    -------
    int array: a permutation of the gallery indices, first to backfill first.
    """
    g, q = np.asarray(old_gallery, float), np.asarray(new_queries, float)
    yg, yq = np.asarray(gallery_ids), np.asarray(query_ids)
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"new_queries have {q.shape[1]} dimensions but old_gallery has {g.shape[1]}")
    same = np.full(len(g), -np.inf)
    other = np.full(len(g), -np.inf)
    for _, S, match in _blocks(q, g, yq, yg, leave_one_out):
        finite = np.isfinite(S)
        same = np.maximum(same, np.where(match & finite, S, -np.inf).max(0))
        other = np.maximum(other, np.where(~match & finite, S, -np.inf).max(0))
    u = np.where(np.isfinite(same), other - same, -np.inf)
    by_u = np.argsort(-u, kind="stable")
    # spread over identities: every identity's least sure item, then every identity's second, ...
    _, inverse, sizes = np.unique(yg[by_u], return_inverse=True, return_counts=True)
    grouped = np.argsort(inverse, kind="stable")  # positions in by_u, grouped by identity, in u order
    rank_in_id = np.empty(len(by_u), int)
    rank_in_id[grouped] = np.arange(len(by_u)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return by_u[np.lexsort((np.arange(len(by_u)), rank_in_id))]


def backfill_top1(q, q_new, go, gn, yq, yg, loo, orders, fractions):
    """Top-1 of new queries on galleries backfilled in each order, at each fraction (len(orders) x F).

    ``q`` searches the old gallery (projected to its width when needed), ``q_new`` the new one. With
    the gallery in backfill order, the first c items use their new embeddings: a query is a hit when
    the best same-identity score (prefix max over new scores, suffix max over old ones) beats the
    best other-identity score; one pass per order serves every fraction.
    """
    acc = np.zeros((len(orders), len(fractions)))
    cut = np.array([int(round(f * len(yg))) for f in fractions])
    n_valid = 0
    neg = -np.inf
    yq, yg = _codes(yq, yg)
    for (rows, s_old, match), (_, s_new, _) in zip(_blocks(q, go, yq, yg, loo), _blocks(q_new, gn, yq, yg, loo)):
        ok = match.any(1)
        n_valid += ok.sum()
        nr, ng = len(rows), len(yg)
        pre, suf = np.full((nr, ng + 1), neg), np.full((nr, ng + 1), neg)
        for i, o in enumerate(orders):
            m, so, sn = match[:, o], s_old[:, o], s_new[:, o]
            best = []
            for mask in (m, ~m):  # best same-identity score, then best other-identity score
                # prefix maxima of new scores over the first c items; suffix maxima of old scores from c on
                np.maximum.accumulate(np.where(mask, sn, neg), 1, out=pre[:, 1:])
                np.maximum.accumulate(np.where(mask, so, neg)[:, ::-1], 1, out=suf[:, ng - 1::-1])
                best.append(np.maximum(pre[:, cut], suf[:, cut]))
            acc[i] += (best[0] > best[1])[ok].sum(0)
    return acc / max(n_valid, 1)
