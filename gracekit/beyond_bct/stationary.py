"""Compatibility by construction: a fixed d-simplex classifier, and compatibility along a chain.

CoReS (Biondi et al., TPAMI 2023) and "Stationary Representations" (Biondi et al., CVPR 2024; code:
miccunifi/iamcl2r) fix the classifier of every model in a chain to the K vertices of a regular
simplex in R^(K-1) and never train it. Each model then learns to put class c near the same vertex,
so the features of independently trained models line up without any loss that ties a model to its
predecessor. The chain's compatibility is summarized by the share of ordered pairs (i > j) whose
queries beat the older model on its own gallery, M[i, j] > M[j, j] ("average compatibility", AC;
``compatibility_metrics.py`` in iamcl2r).

Where this differs from iamcl2r (models/__init__.py ``dsimplex`` and ``create_model``):

* the simplex is the same construction, but it is used as a *cosine* classifier with CosFace margin
  (scale and margin of notebook 06's chain); the official head is a plain linear layer without bias
  on unnormalized features, trained with cross-entropy;
* the network is notebook 06's MLP on the 10-class toy data, not a ResNet on CIFAR; all K classes are
  known from the first model on (the official code preallocates classes that arrive later);
* no higher-order compatibility (HOC) term and no model replacement: each model trains from scratch
  on the data of its step, like the independent and BCT chains of notebook 06.
"""
import numpy as np
import torch
import torch.nn.functional as F

from gracekit.chain.experiment import ChainSetup, MLPEmbedder, _data
from gracekit.embedding_losses import margin_loss
from gracekit.train import fit_cached

__all__ = ["simplex_vertices", "simplex_embedder", "train_simplex_chain", "compatible_pairs",
           "average_compatibility"]


def simplex_vertices(n_classes):
    """The K vertices of a regular simplex centred at 0 in R^(K-1), as unit rows (K, K-1).

    Every pair has cosine -1/(K-1), the most separated K directions possible. Built as in iamcl2r:
    the K-1 basis vectors plus one point on the diagonal, centred and scaled to unit length.

    Examples
    --------
    >>> W = simplex_vertices(3)
    >>> round(float(W[0] @ W[1]), 6)
    -0.5
    """
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    n = int(n_classes) - 1
    t = torch.zeros(n + 1, n, dtype=torch.float64)
    t[:-1] = torch.eye(n, dtype=torch.float64)
    t[-1] = (1.0 - np.sqrt(1.0 + n)) / n
    t = t - t.mean(dim=0)
    return F.normalize(t, dim=1).float()


def simplex_embedder(n_in, hidden=(128, 128), n_classes=10, *, scale=16.0, seed=0):
    """Notebook 06's MLPEmbedder with a (K-1)-D embedding and its classifier frozen at the simplex."""
    model = MLPEmbedder(n_in, hidden, n_classes - 1, n_classes, scale, seed=seed)
    with torch.no_grad():
        model.weight.copy_(simplex_vertices(n_classes))
    model.weight.requires_grad_(False)
    return model


def train_simplex_chain(*, setup=ChainSetup(), seed=0, data=None):
    """Train phi_1..phi_T of notebook 06's chain, each from scratch with the fixed simplex classifier.

    Step t uses the first ``setup.sizes[t-1]`` training rows and seed ``seed`` (t = 1) or
    ``seed + 100 t``, as the chains of ``gracekit.chain.experiment`` do. Models are cached.

    Returns
    -------
    list of MLPEmbedder (eval mode)
    """
    X, y, _, _ = data if data is not None else _data(setup)
    models = []
    for t, n in enumerate(setup.sizes, start=1):
        s = seed if t == 1 else seed + 100 * t
        hidden = tuple(setup.hidden_at(t))
        key = {"name": "chain-simplex", "step": t, "hidden": list(hidden), "n_classes": setup.n_classes,
               "scale": setup.scale, "margin": setup.margin}
        make = (lambda s=s, hidden=hidden: simplex_embedder(X.shape[1], hidden, setup.n_classes, scale=setup.scale,
                                                            seed=s))
        models.append(fit_cached(make, X[:n], y[:n], key=key,
                                 loss_fn=margin_loss(margin=setup.margin, scale=setup.scale),
                                 n_epochs=setup.n_epochs, lr=setup.lr, batch_size=setup.batch_size, seed=s,
                                 progress=False))
    return models


def _matrix(M):
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or len(M) < 2 or not np.isfinite(M).all():
        raise ValueError(f"M must be a finite square matrix of at least 2 models, got shape {M.shape}")
    return M


def compatible_pairs(M):
    """Boolean (T, T): True at (i, j), i > j, when M[i, j] > M[j, j] (rows: query model, columns:
    gallery model; models in training order). Other cells are False."""
    M = _matrix(M)
    T = len(M)
    out = np.zeros((T, T), dtype=bool)
    for i in range(T):
        for j in range(i):
            out[i, j] = M[i, j] > M[j, j]
    return out


def average_compatibility(M):
    """Share of the T(T-1)/2 ordered pairs that meet the criterion (iamcl2r's AC).

    Examples
    --------
    >>> average_compatibility([[0.5, 0.0], [0.6, 0.7]])
    1.0
    """
    M = _matrix(M)
    T = len(M)
    return float(compatible_pairs(M).sum() / (T * (T - 1) / 2))
