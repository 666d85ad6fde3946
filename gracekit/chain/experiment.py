"""A chain of model updates phi_1 -> phi_2 -> ... -> phi_T, each constrained only by its predecessor.

Notebook 06's long run, on the 10-class synthetic problem (``gracekit.data.make_multiclass``): the
training set grows at every step, and step t trains phi_t in one of five ways:

* ``independent``: from scratch, no constraint (the "paragon" of that step);
* ``bct``: from scratch with BCT's influence loss through phi_{t-1}'s frozen cosine classifier
  (Shen et al., CVPR 2020);
* ``bct_all``: as ``bct``, with one influence term per earlier model phi_1..phi_{t-1} (the
  constraints pile up, the case the "Graceful AI" article warns about);
* ``fd``: from scratch with focal distillation towards phi_{t-1}'s logits (Yan et al., CVPR 2021);
* ``finetune``: starting from phi_{t-1}'s weights, no constraint;
* ``bcwi``: fine-tune as above, then interpolate the weights,
  theta_t = alpha * theta_{t-1} + (1 - alpha) * theta_finetuned (Schumann et al. 2023);
* ``l2_all``: from scratch with a feature-level constraint, the squared distance of phi_t's embedding
  to *every* earlier model's embedding of the same inputs (a binding constraint that piles up).

``ChainSetup.growing()`` makes each model wider than its predecessor (``widths``), as real updates
do; then only the methods that train from scratch apply (not fine-tune or BCWI).

``chain_records`` scores every pair (query model i, gallery model j) of a chain by leave-one-out
top-1 retrieval on the test set, and every model by its classification error and its flips against
phi_1 and phi_{t-1}.
"""
import copy
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gracekit.cache import fingerprint
from gracekit.datasets import make_multiclass
from gracekit.embedding_losses import influence_term, l2_term, margin_loss
from gracekit.losses import focal_distillation
from gracekit.metrics import flip_report
from gracekit.models import make_mlp
from gracekit.retrieval import similarity
from gracekit.train import fit_cached, predict

__all__ = ["MLPEmbedder", "ChainSetup", "METHODS", "GROWING_METHODS", "loo_top1", "interpolate", "train_chain",
           "chain_records", "run_chains", "setup_dict"]

METHODS = ("independent", "bct", "bct_all", "fd", "finetune", "bcwi")
GROWING_METHODS = ("independent", "bct_all", "l2_all")


class MLPEmbedder(nn.Module):
    """An MLP embedding (unit length) with a cosine classifier head; forward returns s * cos logits.

    Keeps ``last_input`` and ``last_embedding`` after each forward, like FaceEmbedder, so BCT's
    ``influence_term`` works with it.

    Args:
        n_in, hidden, emb_dim, n_classes: layer sizes.
        scale: logit scale s.
        seed: weight initialization seed.
    Used in: notebooks/06_your_update.py
    """

    def __init__(self, n_in, hidden=(128, 128), emb_dim=32, n_classes=10, scale=16.0, seed=0):
        super().__init__()
        self.body = make_mlp(n_in, hidden, emb_dim, seed=seed)
        g = torch.Generator().manual_seed(int(seed) + 1)
        self.weight = nn.Parameter(torch.randn(n_classes, emb_dim, generator=g) / emb_dim ** 0.5)
        self.scale = float(scale)
        self.last_input = self.last_embedding = None

    def embed(self, x):
        """Unit-length embeddings (n, emb_dim)."""
        x = torch.as_tensor(x, dtype=torch.float32)
        self.last_input = x
        self.last_embedding = F.normalize(self.body(x), dim=1)
        return self.last_embedding

    def forward(self, x):
        return self.scale * self.embed(x) @ F.normalize(self.weight, dim=1).T


@dataclass(frozen=True)
class ChainSetup:
    """Sizes and training settings of the chain (full size by default)."""

    sizes: tuple = (1_000, 2_000, 4_000, 6_000, 8_000)  # training rows of phi_1..phi_T
    n_test: int = 2_000
    n_classes: int = 10
    n_features: int = 20
    class_sep: float = 1.5
    data_seed: int = 0
    hidden: tuple = (128, 128)
    emb_dim: int = 32
    scale: float = 16.0
    margin: float = 0.1
    n_epochs: int = 20
    lr: float = 3e-3
    batch_size: int = 128
    bct_lam: float = 10.0
    fd_lam: float = 0.03
    fd_beta: float = 5.0
    bcwi_alpha: float = 0.5
    l2_lam: float = 10.0
    widths: tuple = ()  # hidden width of phi_1..phi_T (two layers each); empty: every model uses `hidden`

    def fast(self):
        """FAST-mode sizes: a shorter chain of smaller sets, shorter training."""
        return replace(self, sizes=(300, 600, 900, 1_200, 1_500), n_test=1_000, hidden=(64, 64), n_epochs=12,
                       widths=tuple(w // 2 for w in self.widths))

    def growing(self):
        """The chain where each update is a wider model on more data, with 5,000 test points."""
        return replace(self, widths=(32, 64, 128, 192, 256), n_test=5_000)

    def hidden_at(self, step):
        """Hidden layer sizes of phi_step (step counts from 1)."""
        return (self.widths[step - 1],) * 2 if self.widths else tuple(self.hidden)


def loo_top1(queries, gallery, y):
    """Leave-one-out top-1 retrieval: each test item queries the gallery embeddings of all *other* items.

    Args:
        queries, gallery: two embeddings (n, d) of the same n items (widths may differ, see
            ``retrieval.similarity``).
        y: labels (n,).
    Returns:
        fraction of items whose nearest other item (cosine) has the same label.
    Used in: notebooks/06_your_update.py
    """
    S = similarity(queries, gallery)
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"queries and gallery must embed the same items, got {S.shape[0]} and {S.shape[1]}")
    y = np.asarray(y)
    if y.shape != (len(S),):
        raise ValueError(f"y must hold {len(S)} labels, got shape {y.shape}")
    np.fill_diagonal(S, -np.inf)
    return float(np.mean(y[S.argmax(1)] == y))


def interpolate(old, new, alpha):
    """A copy of ``new`` with weights alpha * old + (1 - alpha) * new (same architecture required)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    so, sn = old.state_dict(), new.state_dict()
    if so.keys() != sn.keys() or any(so[k].shape != sn[k].shape for k in so):
        raise ValueError("old and new must have the same architecture to interpolate their weights")
    out = copy.deepcopy(new)
    out.load_state_dict({k: alpha * so[k] + (1 - alpha) * sn[k] for k in so})
    return out.eval()


def _data(setup):
    if list(setup.sizes) != sorted(setup.sizes) or len(setup.sizes) < 2:
        raise ValueError(f"sizes must be at least 2 increasing training sizes, got {setup.sizes}")
    return make_multiclass(max(setup.sizes), setup.n_test, n_classes=setup.n_classes,
                           n_features=setup.n_features, class_sep=setup.class_sep, seed=setup.data_seed)


def _train(setup, X, y, seed, key, init=None, prev=None, extra=None):
    hidden = setup.hidden_at(key["step"])

    def make():
        if init is not None:
            m = copy.deepcopy(init).train()
            for p in m.parameters():  # a predecessor used as a frozen "old" model had its gradients off
                p.requires_grad_(True)
            return m
        return MLPEmbedder(X.shape[1], hidden, setup.emb_dim, setup.n_classes, setup.scale, seed=seed)
    key = {"name": "chain", **key, "hidden": list(hidden), "emb_dim": setup.emb_dim,
           "scale": setup.scale, "margin": setup.margin}
    if init is not None:
        key["init"] = fingerprint(*init.state_dict().values())
    return fit_cached(make, X, y, key=key, old=prev, extra_loss=extra, loss_fn=margin_loss(margin=setup.margin, scale=setup.scale),
                      n_epochs=setup.n_epochs, lr=setup.lr, batch_size=setup.batch_size, seed=seed, progress=False)


def train_chain(method, *, setup=ChainSetup(), seed=0, first=None, data=None):
    """Train phi_1..phi_T with ``method`` (see METHODS); phi_1 is shared by all methods of a seed.

    Args:
        method: one of METHODS.
        setup: a ChainSetup.
        seed: seed of every model's initialization and shuffling.
        first: an already trained phi_1 to start from (else trained here, cached).
        data: (X_train, y_train, X_test, y_test) to reuse (else made from the setup).
    Returns:
        list of T models (eval mode, CPU).
    Used in: notebooks/06_your_update.py
    """
    if method not in METHODS + GROWING_METHODS:
        raise ValueError(f"method must be one of {METHODS + GROWING_METHODS[2:]}, got {method!r}")
    if setup.widths and method not in GROWING_METHODS:
        raise ValueError(f"models of growing width cannot be fine-tuned or interpolated: use one of {GROWING_METHODS}")
    if setup.widths and len(setup.widths) != len(setup.sizes):
        raise ValueError(f"widths must give one width per step ({len(setup.sizes)}), got {setup.widths}")
    X, y, _, _ = data if data is not None else _data(setup)
    n1 = setup.sizes[0]
    models = [first if first is not None else _train(setup, X[:n1], y[:n1], seed, {"step": 1})]
    for t, n in enumerate(setup.sizes[1:], start=2):
        prev, Xt, yt = models[-1], X[:n], y[:n]
        key = {"step": t, "method": method}
        if method == "independent":
            m = _train(setup, Xt, yt, seed + 100 * t, key)
        elif method == "bct":
            W = F.normalize(prev.weight.detach(), dim=1)
            m = _train(setup, Xt, yt, seed + 100 * t, {**key, "lam": setup.bct_lam}, prev=prev,
                       extra=influence_term(W, lam=setup.bct_lam, scale=setup.scale))
        elif method == "bct_all":  # one influence term per earlier model: the constraints pile up
            terms = [influence_term(F.normalize(m.weight.detach(), dim=1), lam=setup.bct_lam, scale=setup.scale)
                     for m in models]

            def extra(**kw):
                return sum(term(**kw) for term in terms)
            m = _train(setup, Xt, yt, seed + 100 * t, {**key, "lam": setup.bct_lam,
                                                       "olds": [fingerprint(*o.state_dict().values()) for o in models]},
                       prev=prev, extra=extra)
        elif method == "l2_all":  # a feature-level constraint against every earlier model
            terms = [l2_term(o, lam=setup.l2_lam) for o in models]

            def extra(**kw):
                return sum(term(**kw) for term in terms)
            m = _train(setup, Xt, yt, seed + 100 * t, {**key, "lam": setup.l2_lam,
                                                       "olds": [fingerprint(*o.state_dict().values()) for o in models]},
                       prev=prev, extra=extra)
        elif method == "fd":
            lam, beta = setup.fd_lam, setup.fd_beta

            def extra(out_new, out_old, yb, **_):
                return lam * focal_distillation(out_new, out_old, yb, alpha=1.0, beta=beta, distance="lm")
            m = _train(setup, Xt, yt, seed + 100 * t, {**key, "lam": lam, "beta": beta}, prev=prev, extra=extra)
        else:
            m = _train(setup, Xt, yt, seed + 100 * t, {**key, "method": "finetune"}, init=prev)
            if method == "bcwi":
                m = interpolate(prev, m, setup.bcwi_alpha)
        models.append(m)
    return models


@torch.no_grad()
def chain_records(models, X_test, y_test, *, method="", seed=0):
    """Tidy records of one chain: retrieval for every (query i, gallery j) pair and flips per step.

    Returns:
        list of dicts with "kind" = "pair" (query, gallery, top1) or "step" (step, err, nfr_prev,
        nfr_first, relative_nfr_first, self_top1), tagged with method and seed.
    Used in: notebooks/06_your_update.py
    """
    embs = [m.eval().embed(torch.as_tensor(X_test)).numpy() for m in models]
    preds = [predict(m, X_test).argmax(1).numpy() for m in models]
    recs = []
    for i in range(len(models)):
        for j in range(len(models)):
            recs.append({"method": method, "seed": seed, "kind": "pair", "query": i + 1, "gallery": j + 1,
                         "top1": loo_top1(embs[i], embs[j], y_test)})
    for t in range(len(models)):
        r_prev = flip_report(y_test, preds[max(t - 1, 0)], preds[t], n_classes=models[t].weight.shape[0])
        r_first = flip_report(y_test, preds[0], preds[t], n_classes=models[t].weight.shape[0])
        recs.append({"method": method, "seed": seed, "kind": "step", "step": t + 1, "err": r_first["err_new"],
                     "nfr_prev": r_prev["nfr"], "nfr_first": r_first["nfr"],
                     "self_top1": next(r["top1"] for r in recs if r["kind"] == "pair" and r["query"] == t + 1
                                       and r["gallery"] == t + 1)})
    return recs


def run_chains(setup=ChainSetup(), *, seeds=(0, 1, 2), methods=METHODS, progress=True):
    """Train every method's chain for every seed and return all records (see ``chain_records``).

    Used in: notebooks/06_your_update.py, tools/make_chain.py
    """
    from gracekit.config import progress as progress_bar

    data = _data(setup)
    X, y, X_test, y_test = data
    recs = []
    runs = [(s, m) for s in seeds for m in methods]
    firsts = {}
    for seed, method in progress_bar(runs, desc="chains", disable=not progress, leave=True):
        if seed not in firsts:
            firsts[seed] = _train(setup, X[:setup.sizes[0]], y[:setup.sizes[0]], seed, {"step": 1})
        models = train_chain(method, setup=setup, seed=seed, first=firsts[seed], data=data)
        recs += chain_records(models, X_test, y_test, method=method, seed=seed)
    return recs


def setup_dict(setup):
    """ChainSetup as a JSON-able dict."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(setup).items()}
