"""Small models: a seeded MLP and an ensemble that averages logits."""
from numbers import Integral

import torch
from torch import nn

__all__ = ["make_mlp", "LogitEnsemble", "count_parameters"]

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}


def make_mlp(n_in, hidden=(64,), n_out=2, activation="relu", seed=0):
    """A multilayer perceptron n_in -> hidden... -> n_out logits, initialized from ``seed``.

    Args:
        n_in: number of input features.
        hidden: widths of the hidden layers, e.g. (32,) or (256, 256); () gives a linear model.
        n_out: number of outputs (classes).
        activation: "relu" or "leaky_relu".
        seed: seed of the weight initialization (torch's global RNG is left untouched).
    Returns:
        torch.nn.Sequential.
    Used in: notebooks/03_pc_training.py
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
    Used in: notebooks/03_pc_training.py
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


def count_parameters(model):
    """Number of trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
