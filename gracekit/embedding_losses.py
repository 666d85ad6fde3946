"""Losses for embedding models: the CosFace margin loss and backward-compatible training.

BCT (Shen et al., CVPR 2020): influence loss and its baselines.

The influence loss sends the *new* embedding through the *old, frozen* classifier:
``L = L_new(new model) + lam * CE(s * cos(match_dim(phi_new(x)), w_old), y)``. New identities, which
the old classifier never saw, get synthesized rows: the mean of the old model's embeddings of their
training images. Baselines: L2 regression onto old embeddings, and cosine distillation.
Everything here is a pure function of tensors, plus small factories that build ``extra_loss`` terms
for ``gracekit.train.fit``.
"""
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["margin_loss", "cosface_cross_entropy", "match_dim", "synthesize_weights", "influence_loss", "l2_compat_loss", "cosine_distill_loss",
           "influence_term", "l2_term", "cosine_term"]


def _tensor(x, name):
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)
    if t.ndim != 2 or len(t) == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n, d), got shape {tuple(t.shape)}")
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN values")
    return t.float()


def cosface_cross_entropy(logits, y, *, scale=16.0, margin=0.2):
    """CosFace (Wang et al., CVPR 2018): cross-entropy of cosine logits ``s * cos`` after subtracting the
    additive margin ``s * m`` from each sample's true-class logit. ``margin=0`` is the normalized softmax."""
    return F.cross_entropy(logits - scale * margin * F.one_hot(y, logits.shape[1]), y)


def match_dim(emb, dim, *, normalize=True):
    """Make embeddings ``dim``-dimensional: keep the first ``dim`` coordinates, or zero-pad.

    Args:
        emb: embeddings (n, d).
        dim: target dimension (the old model's).
        normalize: rescale the result to unit length (a truncated unit vector is shorter than 1).
    Returns:
        tensor (n, dim).
    Used in: notebooks/03_bct_faces.py
    """
    emb = _tensor(emb, "emb")
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    d = emb.shape[1]
    out = emb[:, :dim] if d >= dim else F.pad(emb, (0, dim - d))
    return F.normalize(out, dim=1) if normalize else out


def synthesize_weights(old_emb, y, *, n_classes=None, old_weight=None):
    """Classifier rows for the influence loss: old rows where they exist, class means elsewhere.

    The synthesized row of class c is the (unit-length) mean of the old model's embeddings of the
    training images of class c: openBCT's "pseudo old classifier".

    Args:
        old_emb: old-model embeddings of the new training set (n, d_old).
        y: their labels 0..n_classes-1.
        n_classes: rows to return; default max(y) + 1.
        old_weight: the old classifier (k, d_old) for classes 0..k-1, or None to synthesize all rows.
    Returns:
        frozen weight tensor (n_classes, d_old) with unit-length rows.
    Used in: notebooks/03_bct_faces.py
    """
    old_emb = _tensor(old_emb, "old_emb")
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y, dtype=torch.long)
    if y.ndim != 1 or len(y) != len(old_emb):
        raise ValueError(f"y must be 1-D with one label per row of old_emb ({len(old_emb)}), got {tuple(y.shape)}")
    n_classes = int(y.max()) + 1 if n_classes is None else int(n_classes)
    if (y < 0).any() or (y >= n_classes).any():
        raise ValueError(f"y must hold labels in 0..{n_classes - 1}")
    k = 0
    if old_weight is not None:
        old_weight = _tensor(old_weight, "old_weight")
        k = len(old_weight)
        if old_weight.shape[1] != old_emb.shape[1] or k > n_classes:
            raise ValueError(f"old_weight must have shape (k <= {n_classes}, {old_emb.shape[1]}), "
                             f"got {tuple(old_weight.shape)}")
    sums = torch.zeros(n_classes, old_emb.shape[1]).index_add_(0, y, F.normalize(old_emb, dim=1))
    counts = torch.bincount(y, minlength=n_classes)
    missing = [c for c in range(k, n_classes) if counts[c] == 0]
    if missing:
        raise ValueError(f"y has no training images for new classes {missing[:5]}: cannot synthesize their rows")
    W = F.normalize(sums, dim=1)
    if k:
        W[:k] = F.normalize(old_weight, dim=1)
    return W.detach()


def influence_loss(emb_new, y, weight_old, *, scale=16.0, margin=0.0):
    """BCT influence loss: cross-entropy of new embeddings through the frozen old cosine classifier.

    Samples whose label has no row in ``weight_old`` are left out (openBCT's new-to-old label map).

    Args:
        emb_new: new-model embeddings (n, d_new), with gradient; matched to d_old by ``match_dim``.
        y: labels (n,).
        weight_old: frozen old classifier rows (k, d_old), e.g. from ``synthesize_weights``.
        scale, margin: cosine-softmax scale s and CosFace margin m.
    Returns:
        scalar tensor (0 when no sample has an old row).
    Used in: notebooks/03_bct_faces.py
    """
    weight_old = _tensor(weight_old, "weight_old").to(emb_new.device).detach()
    y = torch.as_tensor(y, dtype=torch.long, device=emb_new.device)
    if y.ndim != 1 or len(y) != len(emb_new):
        raise ValueError(f"y must be 1-D with one label per embedding ({len(emb_new)}), got {tuple(y.shape)}")
    keep = y < len(weight_old)
    if not keep.any():
        return emb_new.sum() * 0.0
    z = match_dim(emb_new[keep], weight_old.shape[1])
    logits = scale * z @ F.normalize(weight_old, dim=1).T
    return cosface_cross_entropy(logits, y[keep], scale=scale, margin=margin)


def l2_compat_loss(emb_new, emb_old):
    """L2 baseline: mean squared distance between (dimension-matched) new and old embeddings."""
    emb_old = _tensor(emb_old, "emb_old").to(emb_new.device).detach()
    if len(emb_old) != len(emb_new):
        raise ValueError(f"emb_old must have {len(emb_new)} rows like emb_new, got {len(emb_old)}")
    z = match_dim(emb_new, emb_old.shape[1])
    return ((z - F.normalize(emb_old, dim=1)) ** 2).sum(1).mean()


def cosine_distill_loss(emb_new, emb_old):
    """Cosine distillation: mean of 1 - cos(new, old) after dimension matching."""
    emb_old = _tensor(emb_old, "emb_old").to(emb_new.device).detach()
    if len(emb_old) != len(emb_new):
        raise ValueError(f"emb_old must have {len(emb_new)} rows like emb_new, got {len(emb_old)}")
    return (1 - (match_dim(emb_new, emb_old.shape[1]) * F.normalize(emb_old, dim=1)).sum(1)).mean()


def _check_lam(lam):
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    return float(lam)


def influence_term(weight_old, *, lam=1.0, scale=16.0, margin=0.0):
    """``extra_loss`` for ``fit``: lam * influence_loss on the model's ``last_embedding``.

    Args:
        weight_old: frozen old classifier rows (k, d_old) (old classifier and/or synthesized rows).
        lam: weight of the term (openBCT adds it with weight 1).
        scale, margin: as in ``influence_loss``.
    Returns:
        extra_loss(out_new=, out_old=, xb=, yb=, model=) -> scalar.
    Used in: notebooks/03_bct_faces.py
    """
    lam = _check_lam(lam)
    weight_old = _tensor(weight_old, "weight_old").detach()

    def extra_loss(out_new, out_old, xb, yb, model):
        return lam * influence_loss(model.last_embedding, yb, weight_old, scale=scale, margin=margin)

    return extra_loss


def _old_term(old, lam, loss):
    lam = _check_lam(lam)
    if not hasattr(old, "embed"):
        raise ValueError("old must be a model with an .embed(x) method (e.g. a FaceEmbedder)")
    old.eval()
    for p in old.parameters():
        p.requires_grad_(False)

    def extra_loss(out_new, out_old, xb, yb, model):
        x = model.last_input
        with torch.no_grad():
            target = old.to(x.device).embed(x)
        return lam * loss(model.last_embedding, target)

    return extra_loss


def l2_term(old, *, lam=1.0):
    """``extra_loss`` for ``fit``: lam * l2_compat_loss against a frozen ``old`` model's embedding of
    the same (augmented) batch. Works with any gallery model that has ``.embed``."""
    return _old_term(old, lam, l2_compat_loss)


def cosine_term(old, *, lam=1.0):
    """``extra_loss`` for ``fit``: lam * cosine_distill_loss against a frozen ``old`` model."""
    return _old_term(old, lam, cosine_distill_loss)


def margin_loss(*, margin=0.2, scale=16.0):
    """CosFace loss for cosine logits: cross-entropy after subtracting s*m from the true-class logit.

    Args:
        margin: additive cosine margin m (0 gives the normalized-softmax loss).
        scale: the model's logit scale s.
    Returns:
        loss_fn(logits, y) -> scalar, for ``gracekit.train.fit(loss_fn=...)``.
    Used in: notebooks/03_bct_faces.py
    """
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")

    def loss_fn(logits, y):
        return cosface_cross_entropy(logits, y, scale=scale, margin=margin)

    return loss_fn
