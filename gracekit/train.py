"""One small training loop shared by every notebook, with an on-disk cache."""
import copy

import numpy as np
import torch
import torch.nn.functional as F

from gracekit.config import get_device, seed_everything
from gracekit.config import progress as progress_bar
from gracekit.cache import cached, fingerprint

__all__ = ["fit", "fit_cached", "fit_two_stage", "train_step", "predict", "as_tensor"]


def as_tensor(X, *, dtype=torch.float32):
    """Turn a list, NumPy array or tensor into a torch tensor of ``dtype``."""
    if isinstance(X, torch.Tensor):
        return X.to(dtype)
    return torch.as_tensor(np.asarray(X), dtype=dtype)


def _check_xy(X, y):
    X = as_tensor(X)
    y = as_tensor(y, dtype=torch.long)
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(f"X must have shape (n_samples, ...) with n_samples > 0, got {tuple(X.shape)}")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must be 1-D with {len(X)} labels (one per row of X), got shape {tuple(y.shape)}")
    if torch.isnan(X).any():
        raise ValueError("X contains NaN values")
    if (y < 0).any():
        raise ValueError("y must hold class indices >= 0")
    return X, y


def train_step(net, opt, xb, yb, loss_fn, old=None, extra_loss=None, model=None):
    """One optimizer step on a batch: the main loss plus the optional extra term.

    Args:
        net: the module to run (``model`` itself, or its DistributedDataParallel wrapper).
        opt: the optimizer; xb, yb: the batch; loss_fn: ``loss_fn(out, yb)``.
        old, extra_loss: as in ``fit``; the old model's outputs are computed without gradients.
        model: the unwrapped model handed to ``extra_loss``; default ``net``.
    Returns:
        the batch loss, detached.
    """
    out = net(xb)
    loss = loss_fn(out, yb)
    if extra_loss is not None:
        with torch.no_grad():
            out_old = old(xb) if old is not None else None
        loss = loss + extra_loss(out_new=out, out_old=out_old, xb=xb, yb=yb,
                                 model=net if model is None else model)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def fit(model, X, y, *, n_epochs=20, lr=1e-3, batch_size=128, weight_decay=0.0, seed=0,
        loss_fn=None, old=None, extra_loss=None, optimizer="adam", device=None,
        progress=True, desc="training"):
    """Train ``model`` on (X, y) with minibatches; return it in eval mode on the CPU.

    Args:
        model: a torch.nn.Module whose output goes to ``loss_fn``.
        X, y: inputs (n, ...) and integer labels (n,).
        n_epochs, lr, batch_size, weight_decay: the usual.
        seed: seeds the shuffling (and torch's global RNG for dropout etc.).
        loss_fn: ``loss_fn(out, yb)``; default cross-entropy on the output.
        old: optional frozen old model; its outputs on each batch go to ``extra_loss``.
        extra_loss: optional ``extra_loss(out_new=, out_old=, xb=, yb=, model=)`` -> scalar,
            added to the main loss (e.g. focal distillation or BCT influence).
        optimizer: "adam" or "sgd" (momentum 0.9).
        device: torch device; default CUDA when present, else CPU.
        progress: show a tqdm progress bar over epochs.
    Returns:
        the trained model (eval mode, CPU).
    Used in: notebooks/02-05.
    """
    X, y = _check_xy(X, y)
    for name, value in (("n_epochs", n_epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (("lr", lr), ("weight_decay", weight_decay)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not np.isfinite(value) \
                or value < 0 or (name == "lr" and value == 0):
            raise ValueError(f"{name} must be a {'positive' if name == 'lr' else 'non-negative'} number, got {value!r}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    seed_everything(seed)
    device = get_device(device)
    model = model.to(device)
    if old is not None:
        old = old.to(device).eval()
        for p in old.parameters():
            p.requires_grad_(False)
    loss_fn = loss_fn or F.cross_entropy
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(int(seed))
    n = len(X)
    bar = progress_bar(range(n_epochs), desc=desc, disable=not progress)
    for _ in bar:
        model.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = X[idx].to(device), y[idx].to(device)
            total += float(train_step(model, opt, xb, yb, loss_fn, old, extra_loss)) * len(idx)
        bar.set_postfix(loss=f"{total / n:.4f}")
    return model.cpu().eval()


def fit_cached(make_model, X, y, *, key, old=None, extra_loss=None, loss_fn=None, folder=None,
               **fit_kwargs):
    """Like ``fit`` on ``make_model()``, but cached on disk by ``key``, the data and the settings.

    Args:
        make_model: zero-argument function returning a fresh (untrained) model.
        X, y: training data (their fingerprint is part of the cache key).
        key: JSON-able dict naming everything the callables hide (architecture, loss name, lambda,
            the old model's identity...). Two runs with equal key, data and fit settings share a file.
        old, extra_loss, loss_fn: as in ``fit``.
        folder: cache folder; default ``gracekit.cache_dir()``.
        **fit_kwargs: n_epochs, lr, batch_size, weight_decay, seed, optimizer, progress, desc.
    Returns:
        the trained model (eval mode, CPU).
    """
    if not isinstance(key, dict):
        raise ValueError(f"key must be a dict describing the model and loss, got {type(key).__name__}")
    seed_everything(fit_kwargs.get("seed", 0))  # the fresh model's initialization follows the seed
    model = make_model()
    init = copy.deepcopy(model)  # the untouched start, whatever a failed load does to ``model``
    settings = {"key": key, "data": fingerprint(X, y),
                "fit": {k: v for k, v in sorted(fit_kwargs.items()) if k not in ("progress", "desc", "device")}}
    if old is not None:
        settings["old"] = fingerprint(*[p for p in old.state_dict().values()])

    def compute():
        trained = fit(copy.deepcopy(init), X, y, old=old, extra_loss=extra_loss, loss_fn=loss_fn,
                      **fit_kwargs)
        return trained.state_dict()

    def check(state):  # an entry of another architecture loads but does not fit: recompute it
        if not isinstance(state, dict):
            raise TypeError(f"expected a state dict, got {type(state).__name__}")
        copy.deepcopy(init).load_state_dict(state)

    name = str(key.get("name", "model"))
    state = cached(name, settings, compute, folder=folder, check=check)
    model.load_state_dict(state)
    return model.eval()


def fit_two_stage(make_model, X, y, *, key, n_epochs, decay_epochs, lr, decay_divisor=10, **fit_kwargs):
    """The embedder recipe: ``n_epochs - decay_epochs`` epochs at ``lr``, then ``decay_epochs`` more at
    ``lr / decay_divisor``; each stage cached by ``fit_cached`` (the second under ``{**key, "stage": 2}`` and
    the fingerprint of the weights it starts from).

    Parameters
    ----------
    make_model : callable
        Zero-argument function returning a fresh model.
    X, y : array-like
        Training data.
    key : dict
        Cache key of the first stage (see ``fit_cached``).
    n_epochs, decay_epochs : int
        Total epochs and how many of them run at the lowered rate (``0 <= decay_epochs < n_epochs``).
    lr : float
        Learning rate of the first stage.
    decay_divisor : float, default 10
    **fit_kwargs
        Passed to ``fit_cached`` (batch_size, weight_decay, seed, loss_fn, extra_loss, progress, desc).

    Returns
    -------
    torch.nn.Module
        The trained model (eval mode, CPU).
    """
    if not 0 <= decay_epochs < n_epochs:
        raise ValueError(f"need 0 <= decay_epochs < n_epochs, got decay_epochs={decay_epochs!r}, "
                         f"n_epochs={n_epochs!r}")
    model = fit_cached(make_model, X, y, key=key, n_epochs=n_epochs - decay_epochs, lr=lr, **fit_kwargs)
    if decay_epochs:
        first = model
        # the second stage starts from the first stage's weights: they are part of its cache key (two
        # recipes with the same decay but different first stages must not share a cached second stage)
        start = fingerprint(*first.state_dict().values())
        model = fit_cached(lambda: first, X, y, key={**key, "stage": 2, "start": start}, n_epochs=decay_epochs,
                           lr=lr / decay_divisor, **fit_kwargs)
    return model


@torch.no_grad()
def predict(model, X, *, batch_size=4096):
    """Run ``model`` on X in eval mode, in batches; return the concatenated outputs as a tensor."""
    X = as_tensor(X)
    model.eval()
    outs = [model(X[i:i + batch_size]) for i in range(0, len(X), batch_size)]
    return torch.cat(outs)
