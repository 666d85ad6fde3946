"""Ordered backfilling: which gallery items to re-embed with the new model first.

A gallery indexed by an old model (or by FCT-transformed old embeddings) is re-embedded a batch at a
time. The order matters: FastFill (Jaeckle et al., ICLR 2023; code in apple/ml-fct) re-embeds first
the items whose transformed embedding is least certain (largest predicted log-variance sigma) and
reports a larger area under the backfilling curve than random order. Orders here:

* ``"random"``: a seeded permutation (the usual baseline; notebook 03's curve);
* ``"uncertainty"``: largest given uncertainty first (FastFill's ``sigma`` ordering);
* ``"margin"``: least isolated old embedding first: the item whose nearest *other-identity* item in
  the old gallery is most similar. It needs nothing but the stored old embeddings (and optional
  labels); not from FastFill;
* ``"distance"``: FastFill's "distance" ordering, farthest between transformed and new embedding
  first. It needs the new embeddings, i.e. the backfill itself: a reference, not a policy.

Where this differs from apple/ml-fct (utils/eval_utils.py, ``get_backfilling_orders``,
``cmc_evaluate``): the official evaluation is leave-one-out over the whole test set (every image is
a query and a gallery item) and measures cosine distance after L1 normalization; the kit's curve uses
its open-set protocol (one gallery image per identity, the rest are queries, averaged over gallery
draws) and cosine similarity of unit vectors. Ties in a score are broken at random (seeded).
"""
import numpy as np

from gracekit.retrieval import _cmc_from, _per_identity, gallery_split, similarity
from gracekit.validation import check_1d, check_embeddings

__all__ = ["ORDERS", "backfill_order", "order_by", "ordered_backfill_curve"]

ORDERS = ("random", "uncertainty", "margin", "distance")


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def backfill_order(gallery_old, *, method="uncertainty", uncertainty=None, labels=None, gallery_new=None,
                   gallery_transformed=None, seed=0):
    """The order in which to re-embed gallery items.

    Parameters
    ----------
    gallery_old : array (n, d)
        The stored old embeddings of the gallery items.
    method : {"uncertainty", "random", "margin", "distance"}, default "uncertainty"
        See the module docstring.
    uncertainty : array (n,), optional
        Required by "uncertainty": larger means less certain (e.g. FastFill's sigma).
    labels : array (n,), optional
        Used by "margin": items with the same label do not count as competitors.
    gallery_new, gallery_transformed : array (n, d'), optional
        Required by "distance": new and transformed embeddings of the same items.
    seed : int, default 0
        Seeds the permutation ("random") and the tie-breaking (all methods).

    Returns
    -------
    numpy.ndarray of int, shape (n,)
        Item indices, first to re-embed first (a permutation of 0..n-1).

    Examples
    --------
    >>> import numpy as np
    >>> backfill_order(np.eye(3), method="uncertainty", uncertainty=[0.1, 2.0, 0.5]).tolist()
    [1, 2, 0]
    """
    if method not in ORDERS:
        raise ValueError(f"method must be one of {ORDERS}, got {method!r}")
    g = check_embeddings(gallery_old, "gallery_old")
    n = len(g)
    rng = np.random.default_rng(seed)
    if method == "random":
        return rng.permutation(n)
    if method == "uncertainty":
        if uncertainty is None:
            raise ValueError('method="uncertainty" needs uncertainty= (one score per gallery item)')
        u = np.asarray(uncertainty, dtype=float)
        if u.shape != (n,) or not np.isfinite(u).all():
            raise ValueError(f"uncertainty must hold {n} finite scores (one per gallery item), got shape {u.shape}")
        key = -u
    elif method == "margin":
        S = similarity(g, g)
        np.fill_diagonal(S, -np.inf)
        if labels is not None:
            lab = check_1d(labels, n, "labels")
            S[lab[:, None] == lab[None, :]] = -np.inf
        key = -S.max(axis=1)  # most similar competitor first; -inf (no competitor) goes last
        key = np.where(np.isfinite(key), key, np.inf)
    else:
        if gallery_new is None or gallery_transformed is None:
            raise ValueError('method="distance" needs gallery_new= and gallery_transformed= (the oracle order)')
        a, b = check_embeddings(gallery_transformed, "gallery_transformed"), check_embeddings(gallery_new, "gallery_new")
        if a.shape != b.shape or len(a) != n:
            raise ValueError(f"gallery_new and gallery_transformed must both have shape ({n}, d), got "
                             f"{a.shape} and {b.shape}")
        key = np.sum(_unit(a) * _unit(b), axis=1)  # lowest cosine (farthest) first
    return np.lexsort((rng.random(n), key))


def order_by(method, *, gallery_old, uncertainty=None, labels=None, gallery_new=None, gallery_transformed=None):
    """An ``order`` for :func:`ordered_backfill_curve`: :func:`backfill_order` on each draw's gallery.

    The arrays hold one row per test image; the curve passes the gallery images of each draw.
    """
    if method not in ORDERS:
        raise ValueError(f"method must be one of {ORDERS}, got {method!r}")
    g = check_embeddings(gallery_old, "gallery_old")

    def take(a, name):
        if a is None:
            return None
        a = np.asarray(a)
        if len(a) != len(g):
            raise ValueError(f"{name} must have one row per test image ({len(g)}), got {len(a)}")
        return a

    u, lab = take(uncertainty, "uncertainty"), take(labels, "labels")
    gn, gt = take(gallery_new, "gallery_new"), take(gallery_transformed, "gallery_transformed")

    def order(gallery_idx, seed):
        pick = (lambda a: None if a is None else a[gallery_idx])
        return backfill_order(g[gallery_idx], method=method, uncertainty=pick(u), labels=pick(lab),
                              gallery_new=pick(gn), gallery_transformed=pick(gt), seed=seed)

    return order


def ordered_backfill_curve(query_new, gallery_start, gallery_new, y, *, order=None, fractions=None, k=1,
                           n_draws=5, seed=0, metric="cosine"):
    """Top-k of new queries while the gallery moves from ``gallery_start`` to ``gallery_new`` in an order.

    The protocol of ``gracekit.retrieval.backfill_curve`` (one gallery image per identity, the other
    images query; averaged over ``n_draws`` draws), with the re-embedding order chosen by ``order``.

    Parameters
    ----------
    query_new, gallery_start, gallery_new : array (n, d)
        Three embeddings of the same n test images: the new model's (queries), what the index holds
        before backfilling (old or transformed embeddings) and the new model's again (after).
    y : array (n,)
        Identities.
    order : callable or None
        ``order(gallery_idx, seed) -> positions``: the order of the draw's gallery items (see
        :func:`order_by`). None: the random order of ``retrieval.backfill_curve`` (same seeds, same curve).
    fractions : array, default 0, 0.1, ..., 1
    k, n_draws, seed, metric : as in ``gracekit.retrieval.topk_by_identity``.

    Returns
    -------
    fractions : numpy.ndarray
    accuracy : numpy.ndarray
        Mean over identities and draws at each fraction.
    area : float
        Area under the curve (trapezoid rule, divided by the span of the fractions).
    per_identity_area : numpy.ndarray
        The area for each identity's queries (for SEs clustered over identities).
    """
    qn, go, gn = (check_embeddings(a, name) for a, name in [(query_new, "query_new"), (gallery_start, "gallery_start"),
                                                  (gallery_new, "gallery_new")])
    if not len(qn) == len(go) == len(gn):
        raise ValueError("query_new, gallery_start and gallery_new must embed the same images")
    y = check_1d(y, len(qn), "y")
    fr = np.linspace(0, 1, 11) if fractions is None else np.asarray(fractions, dtype=float)
    if fr.ndim != 1 or len(fr) < 2 or (fr < 0).any() or (fr > 1).any() or (np.diff(fr) <= 0).any():
        raise ValueError("fractions must be at least 2 increasing numbers in [0, 1]")
    if order is not None and not callable(order):
        raise ValueError("order must be None or a function order(gallery_idx, seed) -> positions")
    ids = np.unique(y)
    acc = np.zeros((len(fr), len(ids)))
    for d in range(int(n_draws)):
        s = seed * 1000 + d
        gi, qi = gallery_split(y, seed=s)
        s_old, s_new = similarity(qn[qi], go[gi], metric=metric), similarity(qn[qi], gn[gi], metric=metric)
        pos = np.random.default_rng(s + 1).permutation(len(gi)) if order is None else np.asarray(order(gi, s))
        if sorted(pos.tolist()) != list(range(len(gi))):
            raise ValueError(f"order must return a permutation of the {len(gi)} gallery positions")
        for f, frac in enumerate(fr):
            done = np.zeros(len(gi), bool)
            done[pos[:int(round(frac * len(gi)))]] = True
            _, hits = _cmc_from(np.where(done[None, :], s_new, s_old), y[qi], y[gi], (k,), True)
            acc[f] += _per_identity(hits[:, 0], y[qi], ids)
    acc /= int(n_draws)
    per_id = ((acc[1:] + acc[:-1]) / 2 * np.diff(fr)[:, None]).sum(0) / (fr[-1] - fr[0])
    return fr, np.nanmean(acc, axis=1), float(np.nanmean(per_id)), per_id
