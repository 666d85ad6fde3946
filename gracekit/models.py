"""Small models: a seeded MLP, a logit-averaging ensemble, a face embedder; parameter counts."""
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["make_mlp", "LogitEnsemble", "FaceEmbedder", "embed", "count_params"]

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}


def make_mlp(n_in, hidden=(64,), n_out=2, *, activation="relu", seed=0):
    """A multilayer perceptron n_in -> hidden... -> n_out logits, initialized from ``seed``.

    Args:
        n_in: number of input features.
        hidden: widths of the hidden layers, e.g. (32,) or (256, 256); () gives a linear model.
        n_out: number of outputs (classes).
        activation: "relu" or "leaky_relu".
        seed: seed of the weight initialization (torch's global RNG is left untouched).
    Returns:
        torch.nn.Sequential.
    Used in: notebooks/02_pc_training.py
    """
    for name, value in (("n_in", n_in), ("n_out", n_out)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    hidden = tuple(hidden)
    if any(not isinstance(h, Integral) or isinstance(h, bool) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        layers, width = [], int(n_in)
        for h in hidden:
            layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, int(n_out)))
        return nn.Sequential(*layers)


class LogitEnsemble(nn.Module):
    """Average the logits of independently trained models (PCT eq. 10; the official code's ``__add__``).

    Args:
        models: a non-empty sequence of modules with outputs of the same shape.
    Used in: notebooks/02_pc_training.py
    """

    def __init__(self, models):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("models must hold at least one model")
        if not all(isinstance(m, nn.Module) for m in models):
            raise ValueError("models must all be torch.nn.Module instances")
        self.members = nn.ModuleList(models)

    def forward(self, x):
        outs = [m(x) for m in self.members]
        shapes = {tuple(o.shape) for o in outs}
        if len(shapes) != 1:
            raise ValueError(f"ensemble members give outputs of different shapes: {sorted(shapes)}")
        return torch.stack(outs).mean(dim=0)

    def __len__(self):
        return len(self.members)


class FaceEmbedder(nn.Module):
    """Conv blocks -> linear embedding (unit length) -> cosine classifier; forward returns logits.

    Input images (n, H, W) or (n, 1, H, W) are average-pooled to ``in_size`` first. In training mode
    (``model.train()``) each batch is augmented on the fly (random shift, small zoom, left-right flip,
    brightness and contrast). After each forward the model keeps ``last_input`` (the augmented batch)
    and ``last_embedding`` (unit-length embedding, with gradient) so loss terms can reuse them.

    Args:
        n_classes: identities in the classifier head (0 allowed: an embedding-only model).
        emb_dim: embedding dimension.
        widths: output channels of the conv blocks (each: conv3x3, BatchNorm, ReLU, 2x2 max-pool).
        in_size: side the input is pooled to before the first block.
        scale: logit scale s of the cosine classifier (logits = s * cos).
        augment: augment in training mode.
        seed: seed for the initial weights (None: torch's global random state). ``fit`` seeds only the
            training, so pass a seed here for models that are the same in every process.
    Used in: notebooks/03_bct_faces.py
    """

    def __init__(self, n_classes, emb_dim=64, widths=(16, 32, 32, 32), in_size=32, scale=16.0, augment=True,
                 seed=None):
        super().__init__()
        if seed is None:
            self._build(n_classes, emb_dim, widths, in_size, scale, augment)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                self._build(n_classes, emb_dim, widths, in_size, scale, augment)

    def _build(self, n_classes, emb_dim, widths, in_size, scale, augment):
        if not isinstance(n_classes, (int, np.integer)) or n_classes < 0:
            raise ValueError(f"n_classes must be an integer >= 0, got {n_classes!r}")
        if not isinstance(emb_dim, (int, np.integer)) or emb_dim < 1:
            raise ValueError(f"emb_dim must be a positive integer, got {emb_dim!r}")
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1 or in_size >> len(widths) < 1:
            raise ValueError(f"widths must be 1..log2(in_size) positive ints, got {widths} for in_size={in_size}")
        layers, c = [], 1
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        side = in_size >> len(widths)
        self.fc = nn.Linear(c * side * side, emb_dim)
        self.weight = nn.Parameter(torch.randn(n_classes, emb_dim) / emb_dim ** 0.5)
        self.in_size, self.scale, self.augment, self.emb_dim = int(in_size), float(scale), bool(augment), emb_dim
        self.last_input = self.last_embedding = None

    def _prepare(self, x):
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"x must have shape (n, H, W) or (n, 1, H, W), got {tuple(x.shape)}")
        return x

    def _augment(self, x):
        n = len(x)
        zoom = 1 + (torch.rand(n) - 0.5) * 0.16
        theta = torch.zeros(n, 2, 3)
        flip = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
        theta[:, 0, 0], theta[:, 1, 1] = zoom * flip, zoom
        theta[:, :, 2] = (torch.rand(n, 2) - 0.5) * 0.16
        grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        contrast = 1 + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5) * 0.4
        shift = (torch.rand(n, 1, 1, 1, device=x.device) - 0.5) * 0.2
        return (x - mean) * contrast + mean + shift

    def embed(self, x):
        """Unit-length embeddings (n, emb_dim) of images x (augmented only in training mode)."""
        x = self._prepare(x).to(self.fc.weight.device)
        if self.training and self.augment:
            x = self._augment(x)
        self.last_input = x.detach()
        if x.shape[-1] != self.in_size or x.shape[-2] != self.in_size:
            x = F.adaptive_avg_pool2d(x, self.in_size)
        z = F.normalize(self.fc(self.features(x).flatten(1)), dim=1)
        self.last_embedding = z
        return z

    def forward(self, x):
        """Cosine logits s * cos(embedding, class weight), shape (n, n_classes)."""
        return self.scale * self.embed(x) @ F.normalize(self.weight, dim=1).T


@torch.no_grad()
def embed(model, X, *, batch_size=1024):
    """Embed images with ``model.embed`` in eval mode and return a float32 NumPy array (n, d).

    Args:
        model: a FaceEmbedder (or any module with ``.embed``).
        X: images (n, H, W) as a list, NumPy array or tensor.
        batch_size: images per forward pass.
    Returns:
        embeddings (n, d) as float32 NumPy.
    Used in: notebooks/03_bct_faces.py
    """
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=torch.float32)
    if len(X) == 0:
        raise ValueError("X must hold at least one image")
    was_training = model.training
    model.eval()
    out = torch.cat([model.embed(X[i:i + batch_size]).cpu() for i in range(0, len(X), batch_size)])
    model.train(was_training)
    return out.numpy().astype(np.float32)


def count_params(model, *, include=None):
    """Number of parameters of ``model`` (all of them, or those whose name starts with a prefix).

    Args:
        model: a torch.nn.Module.
        include: None for all parameters, or a list of name prefixes to count (e.g. ``["features",
            "fc"]`` leaves out a classifier head that queries never run).
    Returns:
        the count (int).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if include is not None:
        if isinstance(include, str) or not all(isinstance(p, str) for p in include):
            raise ValueError(f"include must be None or a list of parameter-name prefixes, got {include!r}")
        include = tuple(include)
    return int(sum(p.numel() for name, p in model.named_parameters()
                   if include is None or name.startswith(include)))
