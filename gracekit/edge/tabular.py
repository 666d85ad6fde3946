"""A tabular edge/cloud toy where a small query model is nearly as good as the paragon.

The face models of notebook 04 are small for their task: every halving of the edge costs accuracy the
task needs, so the paper's "23x cheaper at 1.6 points" (Duggal et al., CVPR 2021) does not appear there.
This toy gives the cloud far more capacity than the task needs: a 3 x 512 MLP with a 32-D cosine
embedding on 20 tabular features, trained with a CosFace loss on 100 classes. The edge is a 2 x 128 MLP
(about 24x fewer FLOPs) trained by L2 regression onto the frozen cloud's embedding. Retrieval is open-set:
100 classes the models never saw, a 1-shot gallery, top-1 over gallery draws (as on faces).

Example
-------
>>> from gracekit.edge.tabular import make_toy, train_cloud, train_edge, score
>>> data = make_toy(seed=0)                               # doctest: +SKIP
>>> cloud = train_cloud(data, seed=0)                     # doctest: +SKIP
>>> edge = train_edge(data, cloud=cloud, seed=0)          # doctest: +SKIP
>>> score(edge, cloud, data)["edge_cloud"]                # doctest: +SKIP
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gracekit.cache import cached, fingerprint
from gracekit.config import progress as _progress
from gracekit.retrieval import clustered_se, cross_model_matrix

__all__ = ["TOY", "make_identities", "make_toy", "MLPEmbedder", "mlp_flops", "train_cloud", "train_edge", "score"]

#: the toy's sizes (FAST mode shrinks epochs and data, see notebook 04)
TOY = dict(n_train_ids=500, n_per_id=20, n_test_ids=100, n_test_per_id=10, n_features=20, id_dim=8,
           nuisance_dim=8, jitter=0.35, mix_depth=2, emb_dim=32, cloud_hidden=(512, 512, 512), edge_hidden=(128, 128),
           epochs=12, lr=2e-3, batch_size=256, margin=0.2, scale=16.0, n_draws=5)


def make_identities(n_ids, n_per_id, *, n_features=20, id_dim=8, nuisance_dim=8, jitter=0.35, mix_depth=2,
                    first_id=0, seed=0):
    """Tabular "people": ``n_per_id`` rows for each of ``n_ids`` identities, seeded per identity.

    Each identity is a point ``c`` in an ``id_dim``-D latent space (standard normal); each row adds a
    within-identity jitter (sd ``jitter``) and a nuisance vector (``nuisance_dim``-D, standard normal,
    the "pose and lighting" of the row), and a fixed random two-layer tanh network (the same for every
    identity, seeded by ``seed``) mixes them into ``n_features`` observed features. An embedder must
    undo the mixing and drop the nuisance; identities ``first_id..`` are the same people in every call.

    Returns X (n_ids * n_per_id, n_features) float32 and y (identity ids, int64).
    """
    for name, v in (("n_ids", n_ids), ("n_per_id", n_per_id), ("n_features", n_features), ("id_dim", id_dim)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    mix = np.random.default_rng([int(seed), 0])
    d = id_dim + nuisance_dim
    Ws = [mix.normal(size=(d, 4 * d)) / np.sqrt(d)]
    Ws += [mix.normal(size=(4 * d, 4 * d)) / np.sqrt(4 * d) for _ in range(int(mix_depth) - 2)]
    W_out = mix.normal(size=(4 * d, n_features)) / np.sqrt(4 * d)
    X, y = [], []
    for i in range(first_id, first_id + n_ids):
        r = np.random.default_rng([int(seed), 1, i])
        c = r.normal(size=id_dim)
        z = np.concatenate([c + jitter * r.normal(size=(n_per_id, id_dim)),
                            r.normal(size=(n_per_id, nuisance_dim))], axis=1)
        for W in Ws:
            z = np.tanh(1.5 * z @ W)
        X.append(z @ W_out)
        y.append(np.full(n_per_id, i))
    X = np.concatenate(X)
    return X.astype(np.float32), \
        np.concatenate(y).astype(np.int64)


def make_toy(*, seed=0, **overrides):
    """Training identities (for the models) and held-out identities (for retrieval).

    Returns dict with X_train, y_train (identities 0..n_train_ids-1) and X_test, y_test (identities
    100000.., never trained on), the settings used and the seed.
    """
    s = {**TOY, **overrides}
    kw = {k: s[k] for k in ("n_features", "id_dim", "nuisance_dim", "jitter", "mix_depth")}
    X_train, y_train = make_identities(s["n_train_ids"], s["n_per_id"], seed=seed, **kw)
    X_test, y_test = make_identities(s["n_test_ids"], s["n_test_per_id"], first_id=100_000, seed=seed, **kw)
    return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test - 100_000,
            "settings": s, "seed": seed}


class MLPEmbedder(nn.Module):
    """ReLU MLP -> linear embedding (unit length) -> cosine classifier (``n_classes`` rows, 0 allowed)."""

    def __init__(self, n_in, hidden, emb_dim, n_classes, *, seed=0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            layers, c = [], int(n_in)
            for h in hidden:
                layers += [nn.Linear(c, int(h)), nn.ReLU()]
                c = int(h)
            self.body = nn.Sequential(*layers)
            self.fc = nn.Linear(c, int(emb_dim))
            self.weight = nn.Parameter(torch.randn(int(n_classes), int(emb_dim)) / emb_dim ** 0.5)

    def embed(self, x):
        return F.normalize(self.fc(self.body(x)), dim=1)

    def forward(self, x):
        return self.embed(x) @ F.normalize(self.weight, dim=1).T


def mlp_flops(n_in, hidden, emb_dim):
    """FLOPs of one query through the MLP up to the embedding (a multiply-add counts 2, as on faces)."""
    sizes = [int(n_in), *map(int, hidden), int(emb_dim)]
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _fit(model, X, y, loss, *, epochs, lr, batch_size, seed, desc, progress=False):
    """Adam at lr with a cosine decay to 0; batches drawn with a generator seeded by ``seed``."""
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(X) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(int(seed))
    model.train()
    for _ in _progress(range(epochs), desc=desc, disable=not progress):
        for idx in torch.randperm(len(X), generator=g).split(batch_size):
            opt.zero_grad()
            loss(model, X[idx], y[idx]).backward()
            opt.step()
            sched.step()
    return model.eval()


def _cosface(s):
    def loss(model, xb, yb):
        cos = model(xb)
        return F.cross_entropy(s["scale"] * (cos - s["margin"] * F.one_hot(yb, cos.shape[1])), yb)
    return loss


def _train(data, hidden, loss_kind, *, cloud=None, seed=0, progress=False):
    s = data["settings"]
    n_cls = int(data["y_train"].max()) + 1
    key = {"kind": loss_kind, "hidden": list(hidden), "seed": int(seed), "data": fingerprint(data["X_train"],
           data["y_train"]), **{k: s[k] for k in ("emb_dim", "epochs", "lr", "batch_size", "margin", "scale")}}
    if cloud is not None:
        key["cloud"] = fingerprint(*cloud.state_dict().values())

    def make():
        return MLPEmbedder(data["X_train"].shape[1], hidden, s["emb_dim"], n_cls if loss_kind != "l2" else 0,
                           seed=seed)

    def compute():
        fit = dict(epochs=s["epochs"], lr=s["lr"], batch_size=s["batch_size"], seed=seed, progress=progress)
        if loss_kind == "l2":
            with torch.no_grad():
                target = cloud.embed(torch.as_tensor(data["X_train"]))
            loss = lambda m, xb, ib: ((m.embed(xb) - target[ib]) ** 2).sum(1).mean()  # noqa: E731
            # the "labels" are row indices: each batch picks its own cloud targets
            return _fit(make(), data["X_train"], np.arange(len(target)), loss, desc=f"edge (L2), seed {seed}",
                        **fit).state_dict()
        return _fit(make(), data["X_train"], data["y_train"], _cosface(s), desc=f"MLP {list(hidden)} (CosFace), seed {seed}",
                    **fit).state_dict()

    model = make()
    model.load_state_dict(cached(f"edge-toy-{loss_kind}", key, compute))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def train_cloud(data, *, seed=0, progress=False):
    """The cloud: ``TOY['cloud_hidden']`` MLP trained with CosFace on the training classes (cached)."""
    return _train(data, data["settings"]["cloud_hidden"], "cosface", seed=seed, progress=progress)


def train_edge(data, *, cloud=None, method="l2", hidden=None, seed=0, progress=False):
    """An edge MLP: ``method="l2"`` regresses the frozen cloud's unit embedding (compatible),
    ``"independent"`` trains with its own CosFace loss (a space of its own). Cached.

    ``hidden``: the edge's hidden widths (default ``TOY['edge_hidden']``, i.e. 2 x 128)."""
    if method not in ("l2", "independent"):
        raise ValueError(f"method must be 'l2' or 'independent', got {method!r}")
    if method == "l2" and not isinstance(cloud, MLPEmbedder):
        raise ValueError("method 'l2' needs the frozen cloud MLPEmbedder as cloud=")
    hidden = tuple(data["settings"]["edge_hidden"] if hidden is None else hidden)
    if not all(isinstance(h, (int, np.integer)) and h > 0 for h in hidden):
        raise ValueError(f"hidden must be positive integers, got {hidden!r}")
    return _train(data, hidden, "l2" if method == "l2" else "cosface",
                  cloud=cloud if method == "l2" else None, seed=seed, progress=progress)


@torch.no_grad()
def score(edge, cloud, data, *, seed=0):
    """Top-1 edge/edge, edge->cloud and cloud/cloud on the held-out classes (1-shot gallery draws), with
    the clustered SE of edge->cloud minus cloud/cloud (``gap_se``)."""
    X = torch.as_tensor(data["X_test"])
    z = {"cloud": cloud.embed(X).numpy(), "edge": edge.embed(X).numpy()}
    _, M, per = cross_model_matrix(z, data["y_test"], n_draws=data["settings"]["n_draws"], seed=seed)
    return {"edge_edge": float(M[1, 1]), "edge_cloud": float(M[1, 0]), "cloud_cloud": float(M[0, 0]),
            "gap_se": float(clustered_se(per[("edge", "cloud")] - per[("cloud", "cloud")]))}
