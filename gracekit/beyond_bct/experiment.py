"""Notebook 08's recipes: FCT and ordered backfilling on the synthetic faces, the simplex chain.

One face run (``run_faces``) for a seed: draw the faces, train the old model (100 identities), an
independent new model and a BCT model (300 identities; notebook 03's recipe at a smaller size), fit
the side information (``PixelPCA``) on the old model's training images, train three transformations
of old embeddings into the new space (FCT without and with side information, FastFill's uncertainty
version with side information) and score retrieval, backfilling orders and costs as tidy records.
``chain_pair_records`` gives notebook 06's BCT chain (its shipped three-seed run when the setup is the
shipped one, else trained here) beside the fixed-simplex chain trained here; ``run_chain_pair`` trains
both for a seed.
"""
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from gracekit.bct.faces import make_faces
from gracekit.beyond_bct.backfill import order_by, ordered_backfill_curve
from gracekit.beyond_bct.stationary import train_simplex_chain
from gracekit.beyond_bct.transform import (FCTTransformation, PixelPCA, apply_transformation, fit_transformation,
                                           seconds_per_item, transformation_flops)
from gracekit.cache import cached, fingerprint
from gracekit.chain.experiment import (ChainSetup, _data, _train, chain_records, loo_top1, train_chain,
                                       setup_dict as chain_setup_dict)
from gracekit.datasets import shipped
from gracekit.embedding_losses import influence_term, margin_loss, synthesize_weights
from gracekit.models import FaceEmbedder, embed
from gracekit.retrieval import cross_model_matrix
from gracekit.sweeps import load_records
from gracekit.train import fit_two_stage

__all__ = ["FaceSetup", "TRANSFORMS", "PAIRS", "face_data", "face_models", "transformation_views",
           "fit_transformations", "embed_test_set", "run_faces", "embed_flops", "run_chain_pair", "chain_pair_records",
           "first_chain_top1", "bct_chain_records", "setup_dict"]

# name -> (use side information, FastFill's uncertainty head)
TRANSFORMS = {"fct": (False, False), "fct+side": (True, False), "fastfill": (True, True)}
# (query embedding, gallery embedding) pairs scored in every face run
PAIRS = [("old", "old"), ("new", "old"), ("bct", "old"), ("new", "fct"), ("new", "fct+side"),
         ("new", "fastfill"), ("new", "new"), ("bct", "bct")]


@dataclass(frozen=True)
class FaceSetup:
    """Sizes and settings of a face run (full size by default; ``fast()`` for tests)."""

    n_old: int = 100            # identities the old model trains on
    n_new: int = 300            # identities the new models train on (the first n_old included)
    n_per_identity: int = 8
    n_test: int = 100           # unseen test identities
    n_test_images: int = 10
    difficulty: float = 1.0
    size: int = 32              # rendered image side
    in_size: int = 16           # side the embedder pools to
    widths: tuple = (16, 32, 32, 32)
    emb_dim: int = 64
    n_epochs: int = 12
    decay_epochs: int = 3
    lr: float = 3e-3
    batch_size: int = 64
    weight_decay: float = 5e-4
    margin: float = 0.2
    scale: float = 16.0
    bct_lam: float = 2.0        # notebook 03's lambda
    side_dim: int = 32
    n_views: int = 4            # original + augmented views per training image for the transformation
    h_hidden: int = 128
    h_epochs: int = 20
    h_batch: int = 512
    h_lr: float = 4e-3
    mu: float = 0.5             # FastFill's mu_uncertainty
    n_draws: int = 5

    def fast(self):
        """FAST-mode sizes: fewer people and images, short training."""
        return replace(self, n_old=20, n_new=40, n_per_identity=6, n_test=20, n_test_images=6, n_epochs=4,
                       decay_epochs=1, n_views=2, h_epochs=8, h_batch=128, n_draws=3)


def setup_dict(setup):
    """A setup dataclass as a JSON-able dict."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(setup).items()}


def face_data(setup, seed):
    """Training faces (identities 0..n_new-1) and test faces (unseen identities 1000..), drawn with ``seed``."""
    train = make_faces(setup.n_new, setup.n_per_identity, difficulty=setup.difficulty, size=setup.size, seed=seed)
    test = make_faces(identities=range(1000, 1000 + setup.n_test), n_per_identity=setup.n_test_images,
                      difficulty=setup.difficulty, size=setup.size, seed=seed)
    return {"X": train.images, "y": train.identity, "X_test": test.images, "y_test": test.identity}


def _embedder(setup, n_classes, X, y, *, name, seed, init_seed, extra_loss=None, extra_key=None):
    arch = {"emb_dim": setup.emb_dim, "widths": tuple(setup.widths), "in_size": setup.in_size, "scale": setup.scale}
    key = {"name": f"beyond-bct-{name}", "n_classes": n_classes, "init": init_seed,
           "arch": {k: list(v) if isinstance(v, tuple) else v for k, v in arch.items()}, **(extra_key or {})}
    return fit_two_stage(lambda: FaceEmbedder(n_classes, seed=init_seed, **arch), X, y, key=key,
                         n_epochs=setup.n_epochs, decay_epochs=setup.decay_epochs, lr=setup.lr,
                         batch_size=setup.batch_size, weight_decay=setup.weight_decay, seed=seed,
                         loss_fn=margin_loss(margin=setup.margin, scale=setup.scale), extra_loss=extra_loss,
                         progress=False)


def face_models(setup, seed, data):
    """The old model, the independent new model and the BCT model (synthesized rows, lambda = bct_lam)."""
    X, y = data["X"], data["y"]
    is_old = y < setup.n_old
    old = _embedder(setup, setup.n_old, X[is_old], y[is_old], name="old", seed=seed, init_seed=seed)
    new = _embedder(setup, setup.n_new, X, y, name="new", seed=seed, init_seed=seed + 1000)
    W = synthesize_weights(embed(old, X), y, n_classes=setup.n_new, old_weight=old.weight.detach())
    bct = _embedder(setup, setup.n_new, X, y, name=f"bct-{setup.bct_lam:g}", seed=seed, init_seed=seed + 1000,
                    extra_loss=influence_term(W, lam=setup.bct_lam, scale=setup.scale, margin=setup.margin),
                    extra_key={"lam": setup.bct_lam, "old": fingerprint(*old.state_dict().values())})
    return {"old": old, "new": new, "bct": bct}


@torch.no_grad()
def transformation_views(setup, models, side, X, seed):
    """Training pairs for the transformations: old, new and side embeddings of each training image and
    of ``n_views - 1`` augmented copies (the embedder's own augmentation, the same copy for all three)."""
    x = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    views = [x]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) + 7)
        for _ in range(setup.n_views - 1):
            views.append(models["new"]._augment(x.unsqueeze(1)).squeeze(1))
    old = np.concatenate([embed(models["old"], v) for v in views])
    new = np.concatenate([embed(models["new"], v) for v in views])
    side_info = np.concatenate([side.transform(v.numpy()) for v in views])
    return old, new, side_info


def fit_transformations(setup, views, seed):
    """The transformations of ``TRANSFORMS``, trained on ``views`` (cached by data and settings)."""
    old, new, side_info = views
    out = {}
    for name, (use_side, uncertainty) in TRANSFORMS.items():
        s = side_info if use_side else None
        kw = dict(hidden=setup.h_hidden, n_epochs=setup.h_epochs, lr=setup.h_lr, batch_size=setup.h_batch,
                  uncertainty=uncertainty, mu=setup.mu, seed=seed)
        settings = {"data": fingerprint(old, new, *([] if s is None else [s])), **kw}
        state = cached(f"beyond-bct-{name}", settings,
                       lambda: fit_transformation(old, new, s, **kw).state_dict())
        h = FCTTransformation(old.shape[1], new.shape[1], 0 if s is None else s.shape[1], hidden=setup.h_hidden,
                              uncertainty=uncertainty)
        h.load_state_dict(state)
        out[name] = h.eval()
    return out


def embed_test_set(models, transforms, side, X_test):
    """Test-set embeddings of every model and transformation, and FastFill's sigma per test image."""
    Z = {name: embed(m, X_test) for name, m in models.items()}
    side_test = side.transform(X_test)
    sigma = None
    for name, h in transforms.items():
        Z[name], s = apply_transformation(h, Z["old"], side_test if h.d_side else None)
        if s is not None:
            sigma = s
    return Z, sigma


def embed_flops(model, size):
    """FLOPs of embedding one size x size image (multiply-adds count 2; torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.embed(torch.zeros(2, size, size))
    return counter.get_total_flops() / 2


def _cost_record(setup, seed, models, transforms, side, X_test, Z):
    h = transforms["fct+side"]
    side_test = side.transform(X_test)
    official = FCTTransformation(128, 128, 128, hidden=2048)  # apple/ml-fct's size (128-D, inner 2048)
    return {"kind": "cost", "seed": seed, "flops_transform": transformation_flops(h),
            "flops_embed": embed_flops(models["new"], setup.size),
            "flops_transform_official": transformation_flops(official),
            "sec_transform": seconds_per_item(lambda: apply_transformation(h, Z["old"], side_test), len(X_test)),
            "sec_embed": seconds_per_item(lambda: embed(models["new"], X_test), len(X_test)),
            "side_numbers": side.n_components}


def run_faces(setup, seed, *, data=None):
    """One face run. Returns (records, state): tidy records (kind "retrieval", "backfill", "cost") and a
    dict with the data, models, transformations, side information, test embeddings Z and sigma."""
    data = face_data(setup, seed) if data is None else data
    models = face_models(setup, seed, data)
    is_old = data["y"] < setup.n_old
    side = PixelPCA(setup.side_dim).fit(data["X"][is_old])
    transforms = fit_transformations(setup, transformation_views(setup, models, side, data["X"], seed), seed)
    Z, sigma = embed_test_set(models, transforms, side, data["X_test"])
    yt = data["y_test"]
    names, M, per = cross_model_matrix(Z, yt, n_draws=setup.n_draws, seed=seed)
    recs = [{"kind": "retrieval", "seed": seed, "query": q, "gallery": g, "top1": float(M[names.index(q), names.index(g)]),
             "per_identity": per[(q, g)].tolist()} for q, g in PAIRS]
    curves = {("fastfill", "new"): ["random", "uncertainty", "margin", "distance"], ("old", "bct"): ["random", "margin"]}
    for (start, final), orders in curves.items():
        for method in orders:
            order = None if method == "random" else order_by(
                method, gallery_old=Z["old"], uncertainty=sigma, gallery_new=Z[final], gallery_transformed=Z[start])
            fr, acc, area, pid = ordered_backfill_curve(Z[final], Z[start], Z[final], yt, order=order,
                                                        n_draws=setup.n_draws, seed=seed)
            recs.append({"kind": "backfill", "seed": seed, "start": start, "final": final, "order": method,
                         "fractions": fr.tolist(), "accuracy": acc.tolist(), "area": area,
                         "per_identity_area": pid.tolist()})
    recs.append(_cost_record(setup, seed, models, transforms, side, data["X_test"], Z))
    state = {"data": data, "models": models, "transforms": transforms, "side": side, "Z": Z, "sigma": sigma}
    return recs, state


def run_chain_pair(setup=ChainSetup(), *, seed=0, data=None):
    """Notebook 06's BCT chain and the fixed-simplex chain for one seed, as ``chain_records``."""
    data = _data(setup) if data is None else data
    _, _, X_test, y_test = data
    recs = chain_records(train_chain("bct", setup=setup, seed=seed, data=data), X_test, y_test, method="bct", seed=seed)
    recs += chain_records(train_simplex_chain(setup=setup, seed=seed, data=data), X_test, y_test,
                          method="simplex", seed=seed)
    return recs


def first_chain_top1(setup=ChainSetup(), *, seed=0):
    """Train phi_1 of notebook 06's chains for a seed (every method of the seed starts from it) and
    return its leave-one-out top-1 on the chain's test set, M(phi_1, phi_1)."""
    X, y, X_test, y_test = _data(setup)
    n = setup.sizes[0]
    model = _train(setup, X[:n], y[:n], seed, {"step": 1})
    with torch.no_grad():
        z = model.eval().embed(torch.as_tensor(X_test)).numpy()
    return loo_top1(z, z, y_test)


def _same_chain(shipped_setup, setup):
    """The shipped run was made with ``setup``: every field it records matches, and fields added to
    ChainSetup after it was made keep their defaults (which leave the BCT chain unchanged)."""
    ours, default = chain_setup_dict(setup), chain_setup_dict(ChainSetup())
    return bool(shipped_setup) and all(ours.get(k) == v for k, v in shipped_setup.items()) and all(
        ours[k] == default[k] for k in ours if k not in shipped_setup)


def bct_chain_records(setup=ChainSetup(), *, seeds=(0, 1, 2), shipped_bct=True):
    """Notebook 06's BCT chains for ``seeds`` as ``chain_records``; returns (records, source).

    Read from notebook 06's shipped run (``chain_results.json``, made by ``tools/make_chain.py``) when
    ``shipped_bct`` and the setup and seeds are the shipped ones (source "shipped"); otherwise trained
    here (source "trained").
    """
    if shipped_bct:
        try:
            ship, meta = load_records(shipped("chain_results.json"))
        except (FileNotFoundError, ValueError):
            ship, meta = [], {}
        if _same_chain(meta.get("setup", {}), setup) and set(seeds) <= set(meta.get("seeds", [])):
            return [r for r in ship if r["method"] == "bct" and r["seed"] in seeds], "shipped"
    data = _data(setup)
    recs = []
    for seed in seeds:
        recs += chain_records(train_chain("bct", setup=setup, seed=seed, data=data), data[2], data[3],
                              method="bct", seed=seed)
    return recs, "trained"


def chain_pair_records(setup=ChainSetup(), *, seeds=(0, 1, 2), shipped_bct=True):
    """BCT chains (``bct_chain_records``) and fixed-simplex chains trained here; returns (records, bct_source)."""
    recs, source = bct_chain_records(setup, seeds=seeds, shipped_bct=shipped_bct)
    data = _data(setup)
    for seed in seeds:
        recs += chain_records(train_simplex_chain(setup=setup, seed=seed, data=data), data[2], data[3],
                              method="simplex", seed=seed)
    return recs, source
