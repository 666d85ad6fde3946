"""FCT: map stored old embeddings, with a little side information, into the new model's space.

Forward-compatible training (Ramanujan et al., CVPR 2022; code: apple/ml-fct) leaves the new model
free and instead learns a transformation h(phi_old(x), s(x)) ~ phi_new(x), where s(x) is a small
*side-information* vector stored with every gallery item when the old model indexed it. The gallery
is then updated from what is stored, without the images: psi = h(old, side). FastFill (Jaeckle et al.,
ICLR 2023; the same repository) adds an uncertainty head sigma(x) (a log-variance) trained with the
heteroscedastic loss ``0.5 * exp(-sigma) * l + mu * sigma``; sorting items by sigma gives the order
in which to re-embed them (``gracekit.beyond_bct.backfill``).

Where this differs from apple/ml-fct (models/transformations.py, trainers/transformation_trainer.py,
utils/objectives.py):

* ``Linear + BatchNorm1d`` layers where the official code uses 1x1 convolutions on 1x1 feature maps
  (the same arithmetic); inner width 128 instead of 2048, for 64-D instead of 128-D embeddings.
* h trains on precomputed embeddings of a few augmented views of each training image, not on freshly
  augmented batches re-embedded by three networks at every step (much cheaper on a CPU).
* Adam with a one-cycle schedule; the official code uses Adam with warm-up and cosine decay, and
  switches BatchNorm to eval mode for the second half of training.
* The output is scaled to unit length for cosine retrieval; the official evaluation compares raw
  outputs by L2 distance.
* Side information is :class:`PixelPCA`, the top principal components of small thumbnails, fitted
  without labels when the old model was trained; the paper uses a self-supervised (SimCLR) ResNet-50.
* FastFill's objective also has a discriminative term, the new model's classifier applied to psi
  (cross-entropy with label smoothing 0.1, weight ``mu_disc``). ``fit_transformation`` has it, as a
  cosine classifier (our embedders' head), but notebook 08 leaves it off (``mu_disc=0``): our test
  identities are unseen people, and in our trials the term pulled psi towards the training identities
  and lowered new->transformed top-1 (``tools/bench_beyond_bct.py``, ``docs/bench/beyond_bct.md``).
"""
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gracekit.config import seed_everything

__all__ = ["PixelPCA", "FCTTransformation", "fct_loss", "fastfill_loss", "fit_transformation",
           "apply_transformation", "transformation_flops", "seconds_per_item"]


def _array(x, name, ndim=2):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != ndim or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-D array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


class PixelPCA:
    """Side information: whitened principal components of ``size`` x ``size`` thumbnails.

    Fitted once, without labels, on the images the old model was trained on; every gallery image then
    stores ``n_components`` numbers beside its old embedding.

    Parameters
    ----------
    n_components : int, default 32
    size : int, default 16
        Images are average-pooled to size x size first.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((50, 32, 32))
    >>> PixelPCA(n_components=4).fit(X).transform(X).shape
    (50, 4)
    """

    def __init__(self, n_components=32, *, size=16):
        if not isinstance(n_components, (int, np.integer)) or n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
        self.n_components, self.size = int(n_components), int(size)

    def _thumbs(self, X, name):
        x = torch.as_tensor(_array(X, name, ndim=3)).unsqueeze(1)
        return F.adaptive_avg_pool2d(x, self.size).flatten(1).double().numpy()

    def fit(self, X):
        """Fit on images X (n, H, W); returns self."""
        T = self._thumbs(X, "X")
        if len(T) <= self.n_components:
            raise ValueError(f"X must hold more than n_components={self.n_components} images, got {len(T)}")
        self.mean_ = T.mean(0)
        _, s, vt = np.linalg.svd(T - self.mean_, full_matrices=False)
        self.components_ = vt[:self.n_components]
        self.scale_ = np.maximum(s[:self.n_components] / np.sqrt(len(T)), 1e-12)
        return self

    def transform(self, X):
        """Side information (n, n_components), float32."""
        if not hasattr(self, "components_"):
            raise ValueError("PixelPCA is not fitted: call fit(images) first")
        return (((self._thumbs(X, "X") - self.mean_) @ self.components_.T) / self.scale_).astype(np.float32)


def _block(n_in, n_out):
    return nn.Sequential(nn.Linear(n_in, n_out, bias=False), nn.BatchNorm1d(n_out), nn.ReLU())


class FCTTransformation(nn.Module):
    """h(old, side) -> (psi, sigma): the official MLP_BN_SIDE_PROJECTION(_SIGMA) with linear layers.

    old -> 2 d_old -> 2 d_new and side -> 2 d_side -> 2 d_new, concatenated, then a mixer
    -> hidden -> hidden -> d_new. With ``uncertainty=True`` a linear head on psi gives sigma, a
    log-variance (FastFill); otherwise sigma is None. ``d_side=0`` drops the side branch.
    """

    def __init__(self, d_old, d_new, d_side=0, *, hidden=128, uncertainty=False, seed=0):
        super().__init__()
        for name, v in [("d_old", d_old), ("d_new", d_new), ("hidden", hidden)]:
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(d_side, (int, np.integer)) or d_side < 0:
            raise ValueError(f"d_side must be an integer >= 0, got {d_side!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.p1 = nn.Sequential(_block(d_old, 2 * d_old), _block(2 * d_old, 2 * d_new))
            self.p2 = nn.Sequential(_block(d_side, 2 * d_side), _block(2 * d_side, 2 * d_new)) if d_side else None
            mix_in = 4 * d_new if d_side else 2 * d_new
            self.mixer = nn.Sequential(_block(mix_in, hidden), _block(hidden, hidden), nn.Linear(hidden, d_new))
            self.uncertainty_head = nn.Linear(d_new, 1) if uncertainty else None
        self.d_old, self.d_new, self.d_side = int(d_old), int(d_new), int(d_side)

    def forward(self, old, side=None):
        if (side is None) != (self.p2 is None):
            raise ValueError("side must be given exactly when the transformation has a side branch "
                             f"(d_side={self.d_side})")
        x = self.p1(old)
        if self.p2 is not None:
            x = torch.cat([x, self.p2(side)], dim=1)
        psi = self.mixer(x)
        sigma = self.uncertainty_head(psi).squeeze(1) if self.uncertainty_head is not None else None
        return psi, sigma


def fct_loss(psi, target):
    """FCT's objective per item: the mean squared difference over dimensions (``nn.MSELoss`` averages
    these over the batch). Returns a tensor (n,)."""
    if psi.shape != target.shape:
        raise ValueError(f"psi and target must have the same shape, got {tuple(psi.shape)} and {tuple(target.shape)}")
    return ((psi - target) ** 2).mean(dim=1)


def fastfill_loss(per_item, sigma, *, mu=0.5):
    """FastFill's uncertainty loss: mean over items of ``0.5 * exp(-sigma) * l + mu * sigma``.

    ``per_item`` is the alignment loss l of each item (e.g. :func:`fct_loss`), ``sigma`` the predicted
    log-variance (n,). For one item the minimum is at ``sigma = log(l / (2 mu))``: a larger loss
    gives a larger sigma, which is why sigma can order the backfilling.
    """
    if per_item.shape != sigma.shape:
        raise ValueError(f"per_item and sigma must both have shape (n,), got {tuple(per_item.shape)} "
                         f"and {tuple(sigma.shape)}")
    if not mu > 0:
        raise ValueError(f"mu must be > 0, got {mu!r}")
    return (0.5 * torch.exp(-sigma) * per_item + mu * sigma).mean()


def fit_transformation(old, new, side=None, *, hidden=128, n_epochs=20, lr=4e-3, batch_size=512,
                       weight_decay=3e-5, uncertainty=False, mu=0.5, labels=None, classifier=None, mu_disc=0.0,
                       scale=16.0, smoothing=0.1, seed=0):
    """Train an :class:`FCTTransformation` from paired embeddings of the same training images.

    Parameters
    ----------
    old, new : array (n, d_old), (n, d_new)
        Old- and new-model embeddings of the same images (the regression input and target).
    side : array (n, d_side) or None
        Side information of the same images; None trains without a side branch.
    hidden, n_epochs, lr, batch_size, weight_decay : training settings (Adam, one-cycle schedule).
    uncertainty : bool, default False
        Add FastFill's sigma head and train with :func:`fastfill_loss`; otherwise FCT's MSE.
    mu : float, default 0.5
        FastFill's weight of sigma (``mu_uncertainty`` in the official configs).
    labels, classifier, mu_disc, scale, smoothing : optional
        FastFill's discriminative term: ``mu_disc`` times the label-smoothed cross-entropy of the cosine
        logits ``scale * cos(psi, classifier rows)`` for the training labels (off when ``mu_disc=0``).
    seed : int

    Returns
    -------
    FCTTransformation
        In eval mode.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> old = rng.normal(size=(256, 8)).astype("float32")
    >>> h = fit_transformation(old, old @ rng.normal(size=(8, 4)), n_epochs=2, hidden=16)
    >>> apply_transformation(h, old)[0].shape
    (256, 4)
    """
    o, t = torch.as_tensor(_array(old, "old")), torch.as_tensor(_array(new, "new"))
    if len(o) != len(t):
        raise ValueError(f"old and new must embed the same images, got {len(o)} and {len(t)} rows")
    s = None if side is None else torch.as_tensor(_array(side, "side"))
    if s is not None and len(s) != len(o):
        raise ValueError(f"side must have one row per image ({len(o)}), got {len(s)}")
    if not (isinstance(n_epochs, (int, np.integer)) and n_epochs >= 1 and batch_size >= 2 and lr > 0):
        raise ValueError("n_epochs must be >= 1, batch_size >= 2 and lr > 0")
    if mu_disc:
        if labels is None or classifier is None:
            raise ValueError("mu_disc > 0 needs labels= (one per row) and classifier= (the new model's class rows)")
        yl = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        Wc = F.normalize(torch.as_tensor(_array(classifier, "classifier")), dim=1)
        if yl.shape != (len(o),) or yl.min() < 0 or yl.max() >= len(Wc) or Wc.shape[1] != t.shape[1]:
            raise ValueError(f"labels must hold {len(o)} class indices below {len(Wc)}, and classifier "
                             f"rows must have {t.shape[1]} columns")
    seed_everything(seed)
    h = FCTTransformation(o.shape[1], t.shape[1], 0 if s is None else s.shape[1], hidden=hidden,
                          uncertainty=uncertainty, seed=seed)
    opt = torch.optim.Adam(h.parameters(), lr=lr, weight_decay=weight_decay)
    batches = [len(range(i, min(i + batch_size, len(o)))) for i in range(0, len(o), batch_size)]
    steps = n_epochs * sum(b >= 2 for b in batches)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    gen = torch.Generator().manual_seed(int(seed))
    h.train()
    for _ in range(n_epochs):
        perm = torch.randperm(len(o), generator=gen)
        for i in range(0, len(o), batch_size):
            idx = perm[i:i + batch_size]
            if len(idx) < 2:  # BatchNorm needs two items
                continue
            psi, sigma = h(o[idx], None if s is None else s[idx])
            per_item = fct_loss(psi, t[idx])
            if mu_disc:
                logits = scale * F.normalize(psi, dim=1) @ Wc.T
                per_item = per_item + mu_disc * F.cross_entropy(logits, yl[idx], label_smoothing=smoothing,
                                                                reduction="none")
            loss = fastfill_loss(per_item, sigma, mu=mu) if uncertainty else per_item.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return h.eval()


@torch.no_grad()
def apply_transformation(h, old, side=None):
    """Transform stored old embeddings: (unit-length psi as float32 NumPy (n, d_new), sigma (n,) or None)."""
    o = torch.as_tensor(_array(old, "old"))
    if o.shape[1] != h.d_old:
        raise ValueError(f"old must have {h.d_old} columns (the old embedding width), got {o.shape[1]}")
    s = None if side is None else torch.as_tensor(_array(side, "side"))
    h.eval()
    psi, sigma = h(o, s)
    return F.normalize(psi, dim=1).numpy(), None if sigma is None else sigma.numpy()


def transformation_flops(h):
    """FLOPs of transforming one stored item (multiply-adds count 2; torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    o = torch.zeros(2, h.d_old)
    s = torch.zeros(2, h.d_side) if h.d_side else None
    h.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        h(o, s)
    return counter.get_total_flops() / 2


def seconds_per_item(fn, n_items, *, repeats=3):
    """Best-of-``repeats`` wall time of ``fn()`` divided by ``n_items`` (fn processes n_items items)."""
    if not callable(fn) or n_items < 1:
        raise ValueError("fn must be callable and n_items >= 1")
    best = np.inf
    for _ in range(int(repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return float(best / n_items)
