"""Iterative solvers for the LQF problem: plain gradient descent, K-FAC-preconditioned descent, Adam.

The linearized problem has a constant Hessian H = J^T J / N + ridge I. K-FAC approximates each
nn.Linear layer's block of J^T J / N by A (x) G, with A = E[a a^T] (layer inputs, a column of ones
appended for the bias) and G = E[sum_k g_k g_k^T] (derivatives of the outputs w.r.t. the layer's
outputs). Because J is fixed, A and G are computed once, and the step is
dW <- dW - lr * (G + damping I)^-1 grad_W (A + damping I)^-1.
Gradient descent on a quadratic also has a closed form (``gd_closed_form``), which makes
its tens of thousands of steps free to measure.

Cross-entropy on the linearized outputs (the ablation of notebook 05) has its own curvature: the
Gauss-Newton matrix J^T S J / N + ridge I with S_i = diag(p_i) - p_i p_i^T, the softmax Hessian of
sample i. ``loss="ce"`` in ``KFACPreconditioner`` and ``top_eigenvalue`` uses it, taken at the
starting point (delta = 0), so cross-entropy gets its own step size and its own K-FAC factor
G = E[g^T S g] instead of the squared loss's.
"""
import numpy as np
import torch
from torch import nn

__all__ = ["KFACPreconditioner", "softmax_curvature", "top_eigenvalue", "descend", "gd_closed_form", "gd_closed_form_delta", "gd_steps_to_gap",
           "steps_to_gap"]


def _check_problem(problem):
    if not hasattr(problem, "delta_"):
        raise ValueError("problem must be a fitted gracekit.lqf.LQF (call .fit(X, y) first)")


def _check_loss(loss):
    if loss not in ("mse", "ce"):
        raise ValueError(f"loss must be 'mse' or 'ce', got {loss!r}")


def softmax_curvature(problem, delta=None):
    """Per-sample softmax Hessians S_i = diag(p_i) - p_i p_i^T (n, K, K) at f_lin(X_train; w0 + delta).

    The Hessian of cross-entropy on the linearized outputs is J^T S J / N (+ ridge I); its
    eigenvalues are at most 1/2 per sample, and near 1/K while the outputs are small.
    Used in: notebooks/05_lqf.py
    """
    _check_problem(problem)
    with torch.no_grad():
        out = problem.lin_(problem.X_, delta) if delta is not None else problem.f0_
        p = torch.softmax(out, 1)
    return torch.diag_embed(p) - p[:, :, None] * p[:, None, :]


class KFACPreconditioner:
    """Apply the inverse K-FAC curvature of a fitted LQF problem to flat weight vectors.

    Args:
        problem: a fitted gracekit.lqf.LQF (its training inputs give A and G, once).
        damping: added to the diagonal of both factors (> 0).
        loss: "mse" (G = E[sum_k g_k g_k^T], the squared loss's curvature) or "ce" (G = E[g^T S g]
            with the softmax Hessians S at delta = 0, cross-entropy's Gauss-Newton curvature).
    Parameters outside nn.Linear layers are left unpreconditioned.
    Used in: notebooks/05_lqf.py
    """

    def __init__(self, problem, damping=1.0, *, loss="mse"):
        _check_problem(problem)
        _check_loss(loss)
        if not damping > 0:
            raise ValueError(f"damping must be > 0, got {damping!r}")
        lin = problem.lin_
        stats = lin.linear_layer_grads(problem.X_)
        if stats is None:
            raise ValueError("K-FAC here needs a model whose weights all sit in nn.Linear layers used once")
        named = [(name, m) for name, m in lin.model.named_modules() if isinstance(m, nn.Linear)]
        n = len(problem.X_)
        S = softmax_curvature(problem) if loss == "ce" else None
        self.lin, self.damping, self.loss, self.layers = lin, float(damping), loss, []
        for (name, m), (a, g) in zip(named, stats):
            A = a.T @ a / n
            if S is None:
                G = torch.einsum("iko,ikp->op", g, g) / n
            else:  # Gauss-Newton factor of cross-entropy: E[g^T S g]
                G = torch.einsum("iko,ikl,ilp->op", g, S, g) / n
            prefix = f"{name}." if name else ""
            self.layers.append({
                "weight": prefix + "weight", "bias": prefix + "bias" if m.bias is not None else None,
                "A": A, "G": G,
                "A_inv": torch.linalg.inv(A + self.damping * torch.eye(len(A), dtype=A.dtype)),
                "G_inv": torch.linalg.inv(G + self.damping * torch.eye(len(G), dtype=G.dtype))})

    def __call__(self, grad):
        """(A (x) G + damping)^-1-style preconditioned copy of the flat vector ``grad``."""
        parts = self.lin.unflatten(grad)
        out = dict(parts)
        for L in self.layers:
            W = parts[L["weight"]]
            if L["bias"] is not None:
                W = torch.cat([W, parts[L["bias"]][:, None]], 1)
            P = L["G_inv"] @ W @ L["A_inv"]
            if L["bias"] is not None:
                out[L["weight"]], out[L["bias"]] = P[:, :-1], P[:, -1]
            else:
                out[L["weight"]] = P
        return self.lin.flatten(out)


def top_eigenvalue(problem, *, precondition=None, n_iter=60, seed=0, loss="mse"):
    """Largest eigenvalue of H (or of P^-1 H with ``precondition``) by power iteration.

    Used to set step sizes: plain gradient descent is stable for lr < 2 / top_eigenvalue.
    ``loss="ce"`` uses cross-entropy's Gauss-Newton curvature at delta = 0,
    J^T S J / N + ridge I (``softmax_curvature``), instead of the squared loss's J^T J / N + ridge I.
    """
    _check_problem(problem)
    _check_loss(loss)
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn(problem.lin_.n_params, generator=gen, dtype=problem.dtype)
    lin, X, n = problem.lin_, problem.X_, problem.n_samples_
    S = softmax_curvature(problem) if loss == "ce" else None
    lam = 0.0
    for _ in range(int(n_iter)):
        v = v / v.norm()
        Jv = lin.jvp(X, v)
        if S is not None:
            Jv = torch.einsum("ikl,il->ik", S, Jv)
        Hv = lin.vjp(X, Jv) / n + problem.ridge * v
        w = precondition(Hv) if precondition is not None else Hv
        lam = float(w.norm())
        v = w
    return lam


def descend(problem, *, n_steps=500, lr=None, method="gd", damping=1.0, step_scale=1.0, tol=None,
            loss="mse", betas=(0.9, 0.999)):
    """Run full-batch descent on the LQF objective from delta = 0; record the normalized gap.

    Args:
        problem: a fitted gracekit.lqf.LQF (its exact optimum defines the gap).
        n_steps: maximum number of steps.
        lr: step size; None sets step_scale / top eigenvalue (of H, or of P^-1 H for "kfac"), with the
            curvature of the chosen ``loss`` (cross-entropy's at delta = 0 for "ce").
        method: "gd", "kfac" or "adam" (Adam needs an explicit lr).
        damping: K-FAC damping; with ``loss="ce"`` the factors are cross-entropy's own (see
            ``KFACPreconditioner``).
        step_scale: the c in lr = c / lambda_max when lr is None (stable below 2).
        tol: stop once the normalized gap falls below it.
        loss: "mse" (the LQF objective) or "ce" (cross-entropy on the linearized outputs, same
            ridge; for the ablation; its "gap" is NaN since there is no closed-form optimum).
        betas: Adam's moment decays.
    Returns:
        dict with "loss" and "gap" ((L - L*) / (L0 - L*)) per step (NumPy), "delta" (last iterate), "lr".
    Used in: notebooks/05_lqf.py
    """
    _check_problem(problem)
    if method not in ("gd", "kfac", "adam"):
        raise ValueError(f"method must be 'gd', 'kfac' or 'adam', got {method!r}")
    if not (isinstance(n_steps, (int, np.integer)) and n_steps >= 1):
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    _check_loss(loss)
    if lr is not None and not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    precondition = KFACPreconditioner(problem, damping, loss=loss) if method == "kfac" else None
    if lr is None:
        if method == "adam":
            raise ValueError("lr must be given for method='adam'")
        lr = step_scale / top_eigenvalue(problem, precondition=precondition, loss=loss)
    delta = torch.zeros(problem.lin_.n_params, dtype=problem.dtype)
    L_star, n, labels = problem.optimal_loss_, problem.n_samples_, problem.targets_.argmax(1)
    losses, gaps = [], []
    if method == "adam":
        delta.requires_grad_(True)
        opt = torch.optim.Adam([delta], lr=lr, betas=betas)
    for step in range(int(n_steps) + 1):
        with torch.no_grad():
            out = problem.lin_(problem.X_, delta.detach())
            penalty = 0.5 * problem.ridge * float((delta ** 2).sum())
            if loss == "mse":
                res = out - problem.targets_
                losses.append(0.5 * float((res ** 2).sum()) / n + penalty)
                gaps.append((losses[-1] - L_star) / (losses[0] - L_star))
            else:
                res = torch.softmax(out, 1) - torch.nn.functional.one_hot(labels, out.shape[1])
                losses.append(float(torch.nn.functional.cross_entropy(out, labels)) + penalty)
                gaps.append(float("nan"))
            if step == n_steps or (tol is not None and gaps[-1] < tol):
                break
            grad = problem.lin_.vjp(problem.X_, res) / n + problem.ridge * delta.detach()
            if method == "adam":
                delta.grad = grad
                opt.step()
            else:
                delta -= lr * (precondition(grad) if precondition is not None else grad)
    return {"loss": np.array(losses), "gap": np.array(gaps), "delta": delta.detach(), "lr": float(lr)}


def gd_closed_form(problem, lr, steps):
    """Exact normalized gaps of plain gradient descent from delta = 0 at the given step counts.

    With the kernel's eigenpairs (s_i^2, u_i), the optimum's coordinates are
    c_i = s_i (u_i . r) / (s_i^2 + N ridge) along curvature h_i = s_i^2 / N + ridge, and
    L(delta_t) - L* = 1/2 sum_i h_i c_i^2 (1 - lr h_i)^(2t).

    Args:
        problem: a fitted gracekit.lqf.LQF.
        lr: step size (> 0).
        steps: integer step counts (array-like).
    Returns:
        NumPy array of normalized gaps, one per entry of ``steps``.
    """
    _check_problem(problem)
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not hasattr(problem, "_eig"):
        problem._eig = torch.linalg.eigh(problem.kernel_)
    s2, U = problem._eig
    s2 = s2.clamp_min(0).numpy()
    p = (U.T @ problem.residual0_).numpy()
    c2 = s2 * p ** 2 / (s2 + problem.mu_) ** 2
    h = s2 / problem.n_samples_ + problem.ridge
    w = 0.5 * h * c2
    steps = np.asarray(steps, dtype=np.float64)
    with np.errstate(over="ignore"):  # a step above 2 / h_max diverges: the gap becomes inf
        return np.array([(w * np.abs(1 - lr * h) ** (2 * t)).sum() for t in steps.ravel()]) / w.sum()


def steps_to_gap(gap, *, tol=1e-3):
    """First step at which a normalized-gap curve falls below ``tol`` (None if it never does)."""
    gap = np.asarray(gap)
    hit = np.flatnonzero(gap < tol)
    return int(hit[0]) if len(hit) else None


def gd_steps_to_gap(problem, lr, *, tol=1e-3, max_steps=10 ** 7):
    """Fewest plain-GD steps whose closed-form normalized gap is below ``tol`` (None if never)."""
    if gd_closed_form(problem, lr, [max_steps])[0] >= tol:
        return None
    lo, hi = 0, int(max_steps)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if gd_closed_form(problem, lr, [mid])[0] < tol else (mid, hi)
    return hi


def gd_closed_form_delta(problem, lr, step):
    """The plain-GD iterate delta_t (from delta = 0) in closed form, to measure output distances."""
    _check_problem(problem)
    if not hasattr(problem, "_eig"):
        problem._eig = torch.linalg.eigh(problem.kernel_)
    s2, U = problem._eig
    s2 = s2.clamp_min(0)
    p = U.T @ problem.residual0_
    h = s2 / problem.n_samples_ + problem.ridge
    beta = -U @ (p / (s2 + problem.mu_) * (1 - lr * h) ** int(step))
    return problem.delta_ + problem.lin_.vjp(problem.X_, beta.view(problem.n_samples_, problem.n_classes_))
