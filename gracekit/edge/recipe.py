"""Heterogeneous (edge/cloud) search: a small query model trained against a large, frozen gallery model.

Duggal et al. (CVPR 2021) embed the gallery with a large "cloud" model and the queries with a compact
"edge" model; the edge must be *compatible* with the cloud. This module holds the recipe notebook 04
and ``tools/make_edge_cloud.py`` share: edge architectures, training an edge against the frozen cloud
(independently, through the cloud classifier, or by regression onto cloud embeddings), shipping the
cloud in half precision, and scoring edge/edge, edge->cloud and cloud/cloud retrieval.
"""
from pathlib import Path

import numpy as np
import torch

from gracekit.embedding_losses import influence_term, l2_term
from gracekit.cache import fingerprint, save_torch
from gracekit.datasets import shipped
from gracekit.models import FaceEmbedder, embed
from gracekit.embedding_losses import margin_loss
from gracekit.retrieval import clustered_se, cross_model_matrix
from gracekit.train import fit_two_stage

__all__ = ["RECIPE", "METHODS", "CLOUD_FILE", "SWEEP_FILE", "load_sweep", "edge_widths", "make_embedder",
           "round_half", "save_cloud", "load_cloud",
           "train_embedder", "score_pair"]

RECIPE = dict(n_epochs=15, decay_epochs=3, lr=3e-3, batch_size=64, weight_decay=5e-4, margin=0.2, scale=16.0,
              emb_dim=64, bct_lam=3.0, l2_lam=10.0)
METHODS = ("independent", "bct", "l2")
#: the shipped cloud and sweep (names in the kit's shipped data, ``gracekit.datasets.shipped``; tools/make_edge_cloud.py writes them)
CLOUD_FILE = "edge_cloud_cloud.pt"
SWEEP_FILE = "edge_cloud_sweep.json"


def load_sweep(path=None):
    """Read the shipped edge sweep (records + costs) written by tools/make_edge_cloud.py.

    Args:
        path: the JSON file; default ``SWEEP_FILE``.
    Returns:
        dict with ``meta``, ``records`` and ``costs``.
    Used in: notebooks/04_edge_cloud.py
    """
    import json

    path = Path(path) if path is not None else shipped(SWEEP_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"no edge sweep at {path}: run tools/make_edge_cloud.py (from a clone of the "
                                "repository), or set RECOMPUTE_SWEEP = True in notebook 04")
    try:
        sweep = json.loads(path.read_text())
        if not sweep["records"] or "cloud" not in sweep["costs"]:
            raise KeyError("records/costs")
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a valid edge sweep ({err}); regenerate it with tools/make_edge_cloud.py") \
            from err
    return sweep


def edge_widths(width, *, depth=4):
    """Conv widths of an edge: ``width`` then ``2 * width`` for the remaining blocks (e.g. 8 -> 8/16/16/16).

    Args:
        width: channels of the first block (positive int).
        depth: number of conv blocks, 1..5 (the input is pooled to 32x32 and halved per block).
    Returns:
        tuple of ints.
    Used in: notebooks/04_edge_cloud.py
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 1 <= depth <= 5:
        raise ValueError(f"depth must be an integer in 1..5, got {depth!r}")
    return (int(width),) + (2 * int(width),) * (int(depth) - 1)


def make_embedder(widths, n_classes, *, recipe=None):
    """A FaceEmbedder with the recipe's embedding size and logit scale."""
    r = {**RECIPE, **(recipe or {})}
    return FaceEmbedder(n_classes, emb_dim=r["emb_dim"], widths=tuple(widths), scale=r["scale"])


def round_half(model):
    """Round every floating tensor of ``model``'s state to float16 and back, in place; return the model.

    The shipped cloud is stored in half precision; rounding it before use makes the model the edges
    were trained against exactly the one a reader loads.
    """
    state = {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model


def save_cloud(model, path, **meta):
    """Save a FaceEmbedder's state in float16 plus its architecture (and ``meta``) to ``path``."""
    if not isinstance(model, FaceEmbedder):
        raise ValueError(f"model must be a FaceEmbedder, got {type(model).__name__}")
    widths = tuple(m.out_channels for m in model.features if isinstance(m, torch.nn.Conv2d))
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    arch = {"widths": list(widths), "n_classes": len(model.weight), "emb_dim": model.emb_dim,
            "in_size": model.in_size, "scale": model.scale}
    save_torch({"arch": arch, "state": state, "meta": meta}, path)


def load_cloud(path=None):
    """Load a cloud saved by ``save_cloud`` (default ``CLOUD_FILE``): returns (frozen model in eval mode, meta).

    Used in: notebooks/04_edge_cloud.py
    """
    path = Path(path) if path is not None else shipped(CLOUD_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"no cloud model at {path}: run tools/make_edge_cloud.py --cloud-only")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        a = blob["arch"]
        model = FaceEmbedder(int(a["n_classes"]), emb_dim=int(a["emb_dim"]), widths=tuple(a["widths"]),
                             in_size=int(a["in_size"]), scale=float(a["scale"]))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state"].items()})
    except (KeyError, RuntimeError, TypeError, ValueError, EOFError) as err:
        raise ValueError(f"{path} is not a valid cloud file ({err}); regenerate it with "
                         "tools/make_edge_cloud.py --cloud-only") from err
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, dict(blob.get("meta", {}))


def train_embedder(widths, X, y, *, method="independent", cloud=None, seed=0, recipe=None, name="edge",
                   progress=False):
    """Train an embedder (cached): Adam at lr, then ``decay_epochs`` more at lr/10.

    Args:
        widths: conv widths (``edge_widths``).
        X, y: training faces (n, H, W) and identities 0..k-1.
        method: "independent" (own CosFace loss only), "bct" (plus ``bct_lam`` x cross-entropy of the edge
            embedding through the frozen cloud classifier) or "l2" (plus ``l2_lam`` x squared distance to
            the cloud embedding of the same augmented image; on unit vectors that is 2 x (1 - cos), so it
            is cosine distillation too).
        cloud: the frozen cloud FaceEmbedder (needed unless method is "independent").
        seed: seeds the initialisation, the batch order and the augmentation.
        recipe: overrides of ``RECIPE`` (n_epochs, lr, lambdas, ...).
        name: cache name; progress: tqdm bar.
    Returns:
        the trained FaceEmbedder (eval mode, CPU).
    Used in: notebooks/04_edge_cloud.py
    """
    r = {**RECIPE, **(recipe or {})}
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method != "independent" and not isinstance(cloud, FaceEmbedder):
        raise ValueError(f"method {method!r} needs the frozen cloud FaceEmbedder as cloud=")
    n_classes = int(np.max(np.asarray(y))) + 1
    key = {"name": f"edge-cloud-{name}", "widths": list(widths), "n_classes": n_classes, "method": method,
           "emb_dim": r["emb_dim"], "scale": r["scale"], "init": "seeded"}
    extra = None
    if method == "bct":
        if len(cloud.weight) < n_classes:
            raise ValueError(f"the cloud classifier has {len(cloud.weight)} rows but y has {n_classes} classes")
        extra = influence_term(cloud.weight.detach(), lam=r["bct_lam"], scale=r["scale"], margin=r["margin"])
        key["lam"] = r["bct_lam"]
    elif method == "l2":
        extra = l2_term(cloud, lam=r["l2_lam"])
        key["lam"] = r["l2_lam"]
    if cloud is not None and method != "independent":
        key["cloud"] = fingerprint(*cloud.state_dict().values())
    kw = dict(batch_size=r["batch_size"], weight_decay=r["weight_decay"], seed=seed, progress=progress,
              desc=f"{name} ({method})", loss_fn=margin_loss(margin=r["margin"], scale=r["scale"]), extra_loss=extra)

    def make():
        torch.manual_seed(int(seed))  # the initialisation follows the seed, not whatever ran before
        return make_embedder(widths, n_classes, recipe=r)

    return fit_two_stage(make, X, y, key=key, n_epochs=r["n_epochs"], decay_epochs=r["decay_epochs"], lr=r["lr"],
                         **kw)


def score_pair(edge, cloud, X_test, y_test, *, n_draws=5, seed=0, cloud_emb=None):
    """Top-1 of edge/edge, edge->cloud (edge queries, cloud gallery) and cloud/cloud on held-out people.

    Args:
        edge, cloud: embedders (or precomputed embeddings of X_test as arrays).
        X_test, y_test: test faces and identities (1-shot gallery draws, rest queries).
        n_draws, seed: gallery draws as in ``gracekit.retrieval.topk_by_identity``.
        cloud_emb: the cloud's embeddings of X_test, to skip re-embedding.
    Returns:
        dict with edge_edge, edge_cloud, cloud_cloud, cloud_edge and the clustered standard errors
        edge_cloud_se and gap_se (of edge->cloud minus cloud/cloud).
    Used in: notebooks/04_edge_cloud.py
    """
    ze = edge if isinstance(edge, np.ndarray) else embed(edge, X_test)
    zc = cloud_emb if cloud_emb is not None else (cloud if isinstance(cloud, np.ndarray) else embed(cloud, X_test))
    if ze.shape[1] != zc.shape[1]:
        raise ValueError(f"edge and cloud embeddings must have one width, got {ze.shape[1]} and {zc.shape[1]}")
    _, M, per = cross_model_matrix({"cloud": zc, "edge": ze}, y_test, n_draws=n_draws, seed=seed)
    return {"edge_edge": float(M[1, 1]), "edge_cloud": float(M[1, 0]), "cloud_cloud": float(M[0, 0]),
            "cloud_edge": float(M[0, 1]), "edge_cloud_se": float(clustered_se(per[("edge", "cloud")])),
            "gap_se": float(clustered_se(per[("edge", "cloud")] - per[("cloud", "cloud")]))}
