"""First-order Taylor expansion of a torch model in its weights, with torch.func.

f_lin(x; w0 + delta) = f(x; w0) + J(x) delta, where J is the Jacobian of the outputs with respect
to all weights at w0. Products J delta (jvp) and J^T u (vjp) never form J; ``kernel`` builds the
tangent kernel J J^T, from the Kronecker structure of nn.Linear layers when it applies.
"""
import copy

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

__all__ = ["Linearized", "linearize", "as_float", "layer_kernel_shares"]


def as_float(X, dtype, *, name="X"):
    """Validated floating tensor (n, ...) from a list, array or tensor; ``name`` is used in errors."""
    if isinstance(X, torch.Tensor):
        X = X.detach().to(dtype)
    else:
        try:
            X = torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=dtype)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be numeric, got {type(X).__name__}: {err}") from None
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n_samples, n_features) with n_samples > 0, "
                         f"got {tuple(X.shape)}")
    if torch.isnan(X).any():
        raise ValueError(f"{name} contains NaN values")
    return X


class Linearized:
    """A frozen copy of ``model`` and its first-order Taylor expansion in the weights.

    Args:
        model: any torch.nn.Module with parameters (it is copied; BatchNorm uses running stats).
        dtype: computing precision (float64 by default: kernels are ill-conditioned).
    Attributes: ``model`` (the frozen copy), ``params0`` (dict of w0), ``names``, ``n_params``.
    Used in: notebooks/05_lqf.py
    """

    def __init__(self, model, dtype=torch.float64):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = copy.deepcopy(model).to(dtype).eval()
        self.params0 = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        if not self.params0:
            raise ValueError("model has no parameters to linearize")
        self.buffers = {n: b.detach() for n, b in self.model.named_buffers()}
        self.names = list(self.params0)
        self.shapes = [self.params0[n].shape for n in self.names]
        self.sizes = [self.params0[n].numel() for n in self.names]
        self.n_params, self.dtype = int(sum(self.sizes)), dtype

    def _f(self, params, X):
        return functional_call(self.model, (params, self.buffers), (X,))

    def flatten(self, tensors):
        """Concatenate a dict of per-parameter tensors (same names as ``params0``) into one vector."""
        return torch.cat([tensors[n].reshape(-1) for n in self.names])

    def unflatten(self, vec):
        """Split a flat vector of length ``n_params`` into a dict of parameter-shaped tensors."""
        vec = torch.as_tensor(vec, dtype=self.dtype)
        if vec.shape != (self.n_params,):
            raise ValueError(f"delta must be a vector of length n_params={self.n_params}, got {tuple(vec.shape)}")
        return {n: v.view(s) for n, v, s in zip(self.names, vec.split(self.sizes), self.shapes)}

    def outputs0(self, X):
        """The pretrained model's outputs f(X; w0)."""
        with torch.no_grad():
            return self._f(self.params0, as_float(X, self.dtype))

    def jvp(self, X, delta):
        """J(X) delta, shape (n, K), by a forward-mode pass (no Jacobian is formed)."""
        X = as_float(X, self.dtype)
        return jvp(lambda p: self._f(p, X), (self.params0,), (self.unflatten(delta),))[1]

    def vjp(self, X, U):
        """J(X)^T U for output cotangents U of shape (n, K); a flat vector of length n_params."""
        X = as_float(X, self.dtype)
        _, pull = vjp(lambda p: self._f(p, X), self.params0)
        return self.flatten(pull(torch.as_tensor(U, dtype=self.dtype))[0])

    def __call__(self, X, delta=None):
        """f_lin(X; w0 + delta) = f(X; w0) + J(X) delta; ``delta=None`` gives f(X; w0)."""
        if delta is None:
            return self.outputs0(X)
        X = as_float(X, self.dtype)
        out, tangent = jvp(lambda p: self._f(p, X), (self.params0,), (self.unflatten(delta),))
        return out + tangent

    def linear_layer_grads(self, X):
        """Per-sample inputs and output gradients of every nn.Linear layer, when they cover all weights.

        Returns a list of (a, g) with a (n, in [+1 for the bias column of ones]) the layer input and
        g (n, K, out) the derivative of each model output k w.r.t. the layer's output; the Jacobian
        rows of that layer are vec(g[i, k] a[i]^T). Returns None when some parameter is not in an
        nn.Linear or a layer runs more than once (use ``jacobian`` then).
        """
        X = as_float(X, self.dtype)
        layers = [m for m in self.model.modules() if isinstance(m, nn.Linear)]
        covered = {id(p) for m in layers for p in m.parameters(recurse=False)}
        if not layers or any(id(p) not in covered for p in self.model.parameters()):
            return None
        seen = {}
        hooks = [m.register_forward_hook(lambda m, inp, out: seen.setdefault(m, []).append((inp[0], out)))
                 for m in layers]
        try:
            with torch.enable_grad():
                F = self.model(X)
        finally:
            for h in hooks:
                h.remove()
        if any(len(seen.get(m, [])) != 1 for m in layers) or F.ndim != 2:
            return None
        outs = [seen[m][0][1] for m in layers]
        g = [torch.autograd.grad(F[:, k].sum(), outs, retain_graph=True) for k in range(F.shape[1])]
        result = []
        for j, m in enumerate(layers):
            a = seen[m][0][0].detach().reshape(len(X), -1)
            if m.bias is not None:
                a = torch.cat([a, torch.ones(len(X), 1, dtype=self.dtype)], 1)
            result.append((a, torch.stack([gk[j] for gk in g], 1).detach()))
        return result

    def kernel(self, X1, X2=None):
        """The tangent kernel J(X1) J(X2)^T, shape (n1 * K, n2 * K), rows/columns sample-major.

        Uses the Kronecker structure of nn.Linear layers when it covers every weight (fast), and the
        explicit Jacobians otherwise.
        """
        s1 = self.linear_layer_grads(X1)
        s2 = s1 if X2 is None else self.linear_layer_grads(X2)
        if s1 is None or s2 is None:
            J1 = self.jacobian(X1)
            return J1 @ (J1 if X2 is None else self.jacobian(X2)).T
        n1, k = s1[0][1].shape[:2]
        n2 = s2[0][1].shape[0]
        K = torch.zeros(n1, k, n2, k, dtype=self.dtype)
        for (a1, g1), (a2, g2) in zip(s1, s2):
            gg = (g1.reshape(n1 * k, -1) @ g2.reshape(n2 * k, -1).T).view(n1, k, n2, k)
            K += (a1 @ a2.T)[:, None, :, None] * gg
        return K.reshape(n1 * k, n2 * k)

    def jacobian(self, X, chunk=256):
        """The exact Jacobian at w0 as a matrix (n * K, n_params), rows sample-major (i * K + k)."""
        X = as_float(X, self.dtype)

        def f1(params, x):
            return self._f(params, x.unsqueeze(0)).squeeze(0)

        jac = vmap(jacrev(f1), in_dims=(None, 0))
        rows = []
        for start in range(0, len(X), chunk):
            J = jac(self.params0, X[start:start + chunk])
            n = len(X[start:start + chunk])
            rows.append(torch.cat([J[name].reshape(n, J[name].shape[1], -1) for name in self.names], 2))
        J = torch.cat(rows)
        return J.reshape(-1, self.n_params)


def linearize(model, *, dtype=torch.float64):
    """Return the first-order Taylor expansion of ``model`` around its current weights (a Linearized).

    Used in: notebooks/05_lqf.py
    """
    return Linearized(model, dtype=dtype)


def layer_kernel_shares(model, X):
    """Share of the tangent kernel's trace contributed by each nn.Linear layer of ``model`` at X.

    trace(J J^T) = sum over layers of sum_i sum_k ||a_i||^2 ||g_ik||^2 (see Linearized.linear_layer_grads).
    Returns:
        NumPy array (n_layers,) summing to 1.
    Used in: notebooks/05_lqf.py
    """
    stats = Linearized(model).linear_layer_grads(X)
    if stats is None:
        raise ValueError("model must keep all its weights in nn.Linear layers")
    tr = np.array([float(((a ** 2).sum(1)[:, None] * (g ** 2).sum(2)).sum()) for a, g in stats])
    return tr / tr.sum()
