"""LQF: linearize a pretrained network around its weights and fine-tune it with a quadratic loss.

f_lin(x; w0 + delta) = f(x; w0) + J(x) delta is linear in the weight change ``delta`` (and still
nonlinear in x). With mean-squared loss to scaled one-hot targets and a ridge term,

    L(delta) = 1/(2N) sum_i ||f_lin(x_i) - t_i||^2 + (ridge/2) ||delta||^2,

the problem is a convex quadratic with one optimum, in kernel form
delta* = J^T (J J^T + N ridge I)^-1 (T - f0). Retraining gives the same model whatever the seed or
the data order, and leave-one-out refits and per-sample influence have closed forms.
(Achille, Golatkar, Ravichandran, Polito, Soatto, "LQF: Linear Quadratic Fine-Tuning", CVPR 2021.)
"""
import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gracekit.datasets import shipped
from gracekit.lqf.linearize import Linearized, as_float

__all__ = ["BACKBONE", "PRETRAIN", "make_lqf_mlp", "load_backbone", "transfer_model", "linear_probe",
           "one_hot_targets", "LQF"]


def make_lqf_mlp(n_in=20, hidden=(128, 128), n_out=5, *, activation="relu", negative_slope=0.1, seed=0):
    """A seeded MLP (Linear/activation blocks, then a Linear head) with ReLU or Leaky-ReLU units.

    Args:
        n_in, hidden, n_out: layer widths.
        activation: "relu" or "leaky_relu".
        negative_slope: the Leaky-ReLU slope on negative inputs.
        seed: weight-initialization seed (torch's global RNG is left untouched).
    Returns:
        torch.nn.Sequential.
    Used in: notebooks/05_lqf.py
    """
    if activation not in ("relu", "leaky_relu"):
        raise ValueError(f"activation must be 'relu' or 'leaky_relu', got {activation!r}")
    if min(int(n_in), int(n_out), *map(int, hidden)) < 1:
        raise ValueError(f"n_in, hidden and n_out must be positive, got {n_in}, {hidden}, {n_out}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        layers, width = [], int(n_in)
        for h in hidden:
            act = nn.ReLU() if activation == "relu" else nn.LeakyReLU(negative_slope)
            layers += [nn.Linear(width, int(h)), act]
            width = int(h)
        return nn.Sequential(*layers, nn.Linear(width, int(n_out)))


#: Architecture of notebook 05's backbone (``make_lqf_mlp(activation=..., **BACKBONE)``) and the
#: settings it is pretrained with (``gracekit.train.fit(..., **PRETRAIN)`` on classes 0-4 of
#: ``make_multiclass(seed=0)``); tools/make_lqf_backbone.py writes gracekit/data/lqf_backbone_*.pt with them.
BACKBONE = {"n_in": 20, "hidden": (128, 128), "n_out": 5, "negative_slope": 0.1, "seed": 0}
PRETRAIN = {"n_epochs": 30, "lr": 1e-3, "batch_size": 128, "seed": 0}


def load_backbone(activation="relu", *, folder=None):
    """Load the shipped pretrained backbone ``data/lqf_backbone_<activation>.pt``.

    Args:
        activation: "relu" or "leaky_relu".
        folder: where the files are; default the kit's shipped data (``gracekit.datasets.shipped``).
    Returns:
        the pretrained nn.Sequential (eval mode).
    Raises:
        FileNotFoundError when the file is absent (e.g. an installed package: pretrain instead),
        ValueError when it does not hold a matching state dict.
    Used in: notebooks/05_lqf.py
    """
    model = make_lqf_mlp(activation=activation, **BACKBONE)
    path = Path(folder) if folder is not None else shipped(f"lqf_backbone_{activation}.pt").parent
    path = path / f"lqf_backbone_{activation}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no shipped backbone at {path.name}; run tools/make_lqf_backbone.py")
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:
        raise ValueError(f"{path.name} is not a valid backbone state dict: {err}") from None
    return model.eval()


def transfer_model(pretrained, n_out, *, head_std=0.1, seed=0, head=None):
    """Copy of ``pretrained`` (an nn.Sequential ending in a Linear head) with a new n_out-way head.

    Args:
        pretrained: the source network; its last layer is dropped, the rest copied.
        n_out: number of target classes.
        head_std: standard deviation of the new head's Gaussian weights (bias 0). A near-zero head
            makes J = W_head * d(features)/d(theta) vanish for the backbone (the pitfall of notebook 05).
        seed: seed of the head's weights.
        head: optional (weight (n_out, d), bias (n_out,)) to use instead, e.g. from ``linear_probe``.
    Returns:
        torch.nn.Sequential.
    Used in: notebooks/05_lqf.py
    """
    if not isinstance(pretrained, nn.Sequential) or not isinstance(pretrained[-1], nn.Linear):
        raise ValueError("pretrained must be an nn.Sequential whose last layer is an nn.Linear head")
    if not head_std >= 0:
        raise ValueError(f"head_std must be >= 0, got {head_std!r}")
    body = copy.deepcopy(pretrained[:-1])
    new = nn.Linear(pretrained[-1].in_features, int(n_out))
    with torch.no_grad():
        if head is None:
            gen = torch.Generator().manual_seed(int(seed))
            new.weight.copy_(head_std * torch.randn(new.weight.shape, generator=gen))
            new.bias.zero_()
        else:
            W, b = (torch.as_tensor(np.asarray(t), dtype=torch.float32) for t in head)
            if W.shape != new.weight.shape or b.shape != new.bias.shape:
                raise ValueError(f"head must be (weight {tuple(new.weight.shape)}, bias ({n_out},)), "
                                 f"got {tuple(W.shape)} and {tuple(b.shape)}")
            new.weight.copy_(W)
            new.bias.copy_(b)
    return nn.Sequential(*body, new)


def linear_probe(pretrained, X, y, *, C=1.0):
    """Multinomial logistic regression on the frozen features of ``pretrained[:-1]``.

    Args:
        pretrained: nn.Sequential ending in a Linear head (the head is ignored).
        X, y: training data.
        C: inverse L2 strength of scikit-learn's LogisticRegression (deterministic lbfgs).
    Returns:
        (weight (K, d), bias (K,), predict) with ``predict(X_new)`` giving labels.
    Used in: notebooks/05_lqf.py
    """
    from sklearn.linear_model import LogisticRegression

    body = pretrained[:-1].eval()

    def feats(Z):
        with torch.no_grad():
            return body(as_float(Z, torch.float32)).numpy()

    clf = LogisticRegression(C=C, max_iter=5000).fit(feats(X), np.asarray(y))
    return clf.coef_, clf.intercept_, lambda Z: clf.predict(feats(Z))


def one_hot_targets(y, n_classes, *, scale=15.0):
    """Scaled one-hot regression targets ``scale * onehot(y)`` for the MSE loss.

    Args: y, integer labels (n,) in [0, n_classes); n_classes, K; scale, the true class's target
        (15 in the linearized fine-tuning code of the LQF lab). Returns a float64 tensor (n, K).
    """
    y = torch.as_tensor(np.asarray(y.detach().cpu() if hasattr(y, "detach") else y))
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y must be a non-empty 1-D array of labels, got shape {tuple(y.shape)}")
    if y.dtype.is_floating_point and not torch.equal(y, y.round()):
        raise ValueError("y must hold integer class labels")
    if int(n_classes) < 1 or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must hold labels in [0, n_classes={n_classes}), got [{int(y.min())}, {int(y.max())}]")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    return scale * torch.nn.functional.one_hot(y.long(), int(n_classes)).to(torch.float64)


class LQF:
    """Linear quadratic fine-tuning, solved exactly in kernel form (small models only).

    Args:
        model: the network to linearize (pretrained backbone + new head), taken at its current weights.
        ridge: weight decay toward w0 (lambda in the loss above); must be > 0.
        target_scale: k in the targets k * onehot(y).
        dtype: computing precision.
    Attributes after ``fit``: ``lin_`` (Linearized), ``delta_`` (optimal weight change), ``alpha_``
        (dual coefficients, n * K), ``kernel_`` (J J^T, n * K square), ``optimal_loss_``.
    Used in: notebooks/05_lqf.py
    """

    def __init__(self, model, *, ridge=1e-2, target_scale=15.0, dtype=torch.float64):
        if not (isinstance(ridge, (int, float)) and ridge > 0):
            raise ValueError(f"ridge must be a positive number, got {ridge!r}")
        if not target_scale > 0:
            raise ValueError(f"target_scale must be > 0, got {target_scale!r}")
        self.model, self.ridge, self.target_scale, self.dtype = model, float(ridge), float(target_scale), dtype

    def fit(self, X, y):
        """Build the linearized problem on (X, y) and solve it exactly; returns self."""
        self.lin_ = Linearized(self.model, self.dtype)
        X = as_float(X, self.dtype)
        f0 = self.lin_.outputs0(X)
        if f0.ndim != 2:
            raise ValueError(f"model must output (n, n_classes) scores, got shape {tuple(f0.shape)}")
        if len(np.asarray(y)) != len(X):
            raise ValueError(f"y must hold one label per row of X ({len(X)}), got {len(np.asarray(y))}")
        self.n_samples_, self.n_classes_ = f0.shape
        self.X_, self.f0_ = X, f0
        self.targets_ = one_hot_targets(y, self.n_classes_, scale=self.target_scale).to(self.dtype)
        self.residual0_ = (self.targets_ - f0).reshape(-1)
        self.kernel_ = self.lin_.kernel(X)
        return self.set_ridge(self.ridge)

    def set_ridge(self, ridge):
        """Re-solve the fitted problem for another ``ridge`` (reuses the kernel; cheap); returns self."""
        if not hasattr(self, "kernel_"):
            raise RuntimeError("call fit(X, y) first")
        if not (isinstance(ridge, (int, float)) and ridge > 0):
            raise ValueError(f"ridge must be a positive number, got {ridge!r}")
        self.ridge = float(ridge)
        X = self.X_
        self.mu_ = self.n_samples_ * self.ridge
        A = self.kernel_ + self.mu_ * torch.eye(len(self.kernel_), dtype=self.dtype)
        self.chol_ = torch.linalg.cholesky(A)
        self.alpha_ = torch.cholesky_solve(self.residual0_[:, None], self.chol_)[:, 0]
        self.delta_ = self.lin_.vjp(X, self.alpha_.view(self.n_samples_, self.n_classes_))
        self.optimal_loss_ = self.loss(self.delta_)
        return self

    def refit(self, *, keep=None, y=None, target_scale=None):
        """The same problem on the rows ``keep``, with labels ``y`` or targets ``target_scale``, reusing the kernel.

        The tangent kernel depends on the inputs only, so dropping samples or changing the labels or
        the target scale costs one Cholesky factorization instead of a new kernel. The ridge is kept
        (chain ``set_ridge`` to change it). Returns a new fitted LQF; ``self`` is unchanged.
        """
        self._check_fitted()
        n, k = self.n_samples_, self.n_classes_
        keep = np.arange(n) if keep is None else np.asarray(keep)
        if keep.dtype == bool:
            if keep.shape != (n,):
                raise ValueError(f"a boolean keep must have one entry per training sample ({n})")
            keep = np.flatnonzero(keep)
        if keep.ndim != 1 or len(keep) == 0 or keep.min() < 0 or keep.max() >= n:
            raise ValueError(f"keep must select at least one of the {n} training rows")
        labels = self.targets_.argmax(1).numpy() if y is None else np.asarray(y)
        if len(labels) != n:
            raise ValueError(f"y must hold one label per training sample ({n}), got {len(labels)}")
        new = copy.copy(self)
        new.target_scale = self.target_scale if target_scale is None else float(target_scale)
        idx = torch.as_tensor(keep)
        new.X_, new.f0_, new.n_samples_ = self.X_[idx], self.f0_[idx], len(keep)
        new.targets_ = one_hot_targets(labels[keep], k, scale=new.target_scale).to(self.dtype)
        new.residual0_ = (new.targets_ - new.f0_).reshape(-1)
        new.kernel_ = self.kernel_.view(n, k, n, k)[idx][:, :, idx].reshape(len(keep) * k, len(keep) * k)
        new.__dict__.pop("_eig", None)
        return new.set_ridge(self.ridge)

    def _check_fitted(self):
        if not hasattr(self, "delta_"):
            raise RuntimeError("call fit(X, y) first")

    def decision_function(self, X, delta=None):
        """Outputs f_lin(X; w0 + delta) (n, K); ``delta`` defaults to the exact optimum."""
        self._check_fitted()
        return self.lin_(X, self.delta_ if delta is None else delta)

    def predict(self, X, delta=None):
        """Predicted labels (argmax of the linearized outputs) as a NumPy array."""
        return self.decision_function(X, delta).argmax(1).numpy()

    def loss(self, delta):
        """The training objective L(delta) = 1/(2N) ||f_lin - T||^2 + ridge/2 ||delta||^2."""
        res = self.lin_(self.X_, delta) - self.targets_
        return float(0.5 * (res ** 2).sum() / self.n_samples_ + 0.5 * self.ridge * (delta ** 2).sum())

    def gradient(self, delta):
        """dL/d delta = J^T (f_lin - T) / N + ridge * delta, computed by a jvp and a vjp."""
        res = self.lin_(self.X_, delta) - self.targets_
        return self.lin_.vjp(self.X_, res) / self.n_samples_ + self.ridge * delta

    def leave_one_out(self):
        """Closed-form leave-one-out outputs (n, K): sample i's outputs from the refit without it.

        The refit keeps the full problem's total ridge N * ridge (the linear-smoother identity
        ``r_i - f_loo_i = C_ii^-1 alpha_i`` with C = (J J^T + N ridge I)^-1 and K x K blocks C_ii);
        with the normalized loss, that is ``ridge * N / (N - 1)`` on the N - 1 remaining samples.
        """
        self._check_fitted()
        n, k = self.n_samples_, self.n_classes_
        C = torch.cholesky_inverse(self.chol_).view(n, k, n, k)
        idx = torch.arange(n)
        blocks = C[idx, :, idx, :]  # (n, k, k)
        correction = torch.linalg.solve(blocks, self.alpha_.view(n, k, 1))[..., 0]
        return self.f0_ + self.residual0_.view(n, k) - correction

    def influence(self, X_query):
        """Change in the query outputs caused by each training sample: f_q(full) - f_q(refit without i).

        Args:
            X_query: query inputs (m, ...); the cross-kernel (m * K, n * K) is formed.
        Returns:
            tensor (n_train, m, K), exact under the leave-one-out convention of ``leave_one_out``.
        """
        self._check_fitted()
        n, k = self.n_samples_, self.n_classes_
        C = torch.cholesky_inverse(self.chol_)
        idx = torch.arange(n)
        blocks = C.view(n, k, n, k)[idx, :, idx, :]
        w = torch.linalg.solve(blocks, self.alpha_.view(n, k, 1))[..., 0]  # (n, k)
        V = (C.view(n * k, n, k) * w.unsqueeze(0)).sum(2)  # column i: C[:, S_i] C_ii^-1 alpha_i
        out = (self.lin_.kernel(X_query, self.X_) @ V).T  # (n, m * k)
        return out.reshape(n, -1, k)
