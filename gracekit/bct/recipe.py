"""Notebook 03's face-embedder recipe (``train_face_embedder``) and its trained models, shipped as small state
dicts (made by tools/make_bct_models.py).

Training the notebook's six models takes minutes on a CPU; the kit ships them in
``gracekit/data/bct_models.pt`` (float16 state dicts, turned back into float32 models here; read with ``torch.load(weights_only=True)``, so the
file cannot run code) and the notebook retrains them only when the learner asks.
"""
import json

import torch

from gracekit.cache import load_torch
from gracekit.datasets import shipped
from gracekit.embedding_losses import margin_loss
from gracekit.models import FaceEmbedder
from gracekit.train import fit_two_stage

__all__ = ["load_models", "train_face_embedder"]


def train_face_embedder(n_classes, X, y, name, *, setup, seed, extra_loss=None, extra_key=None, init_seed=None,
                        fit_seed=None, progress=False):
    """Train a FaceEmbedder the way notebook 03 and its tools do: Adam at ``lr``, then ``decay_epochs`` more
    at lr/10, each stage cached (``train.fit_two_stage``), with the CosFace loss.

    Args:
        n_classes, X, y: identities in the head, and the training faces with their identities.
        name: names the cache entry (``bct-faces-<name>``).
        setup: dict with n_epochs, decay_epochs, lr, batch_size, weight_decay, margin, scale.
        seed: default of both seeds below; init_seed: initial weights (default ``seed + 1000``, shared by
            every new model of a seed); fit_seed: batch order and augmentation (default ``seed``).
        extra_loss, extra_key: a compatibility term for ``fit`` and what names it in the cache key.
    Returns:
        the trained FaceEmbedder (eval mode, CPU).
    """
    init_seed = seed + 1000 if init_seed is None else init_seed
    fit_seed = seed if fit_seed is None else fit_seed
    key = {"name": f"bct-faces-{name}", "n_classes": n_classes, "arch": "FaceEmbedder-default",
           "init": init_seed, **(extra_key or {})}
    return fit_two_stage(lambda: FaceEmbedder(n_classes, scale=setup["scale"], seed=init_seed), X, y, key=key,
                         n_epochs=setup["n_epochs"], decay_epochs=setup["decay_epochs"], lr=setup["lr"],
                         batch_size=setup["batch_size"], weight_decay=setup["weight_decay"], seed=fit_seed,
                         loss_fn=margin_loss(margin=setup["margin"], scale=setup["scale"]), extra_loss=extra_loss,
                         progress=progress, desc=name)


def load_models(path=None):
    """The shipped models of notebook 03, ready to embed.

    Parameters
    ----------
    path : str or Path, optional
        A file written by ``tools/make_bct_models.py``; default the shipped ``bct_models.pt``.

    Returns
    -------
    models : dict
        Name -> FaceEmbedder in eval mode: ``old``, ``independent``, ``twin``, ``BCT``, ``BCT-oldonly``,
        ``L2``. Only the old model keeps its classifier rows (the new ones never need them to retrieve).
    meta : dict
        The settings they were trained with (``setup``, ``seed``, ``lam``, ``l2_lam``).

    Examples
    --------
    >>> models, meta = load_models()  # doctest: +SKIP
    >>> sorted(models)  # doctest: +SKIP
    ['BCT', 'BCT-oldonly', 'L2', 'independent', 'old', 'twin']
    """
    data = load_torch(path if path is not None else shipped("bct_models.pt"))
    if not isinstance(data, dict) or "meta" not in data or "models" not in data:
        raise ValueError(f"path: {path or 'bct_models.pt'} is not a file of tools/make_bct_models.py "
                         "(expected keys 'meta' and 'models')")
    meta = json.loads(data["meta"])
    models = {}
    for name, state in data["models"].items():
        model = FaceEmbedder(int(meta["n_classes"][name]), scale=meta["setup"]["scale"])
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
        if "weight" not in state:
            state["weight"] = torch.zeros(0, model.emb_dim)
        model.load_state_dict(state)
        models[name] = model.eval()
    return models, meta
