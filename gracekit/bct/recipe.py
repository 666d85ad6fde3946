"""The trained face embedders of notebook 03, shipped as small state dicts (made by tools/make_bct_models.py).

Training the notebook's six models takes minutes on a CPU; the kit ships them in
``gracekit/data/bct_models.pt`` (float16 state dicts, turned back into float32 models here; read with ``torch.load(weights_only=True)``, so the
file cannot run code) and the notebook retrains them only when the learner asks.
"""
import json

import torch

from gracekit.cache import load_torch
from gracekit.datasets import shipped
from gracekit.models import FaceEmbedder

__all__ = ["load_models"]


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
