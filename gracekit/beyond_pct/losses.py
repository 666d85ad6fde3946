"""Churn losses: distillation from the base model, the anchor method, and an explicit churn constraint.

* ``churn_distillation`` (Jiang et al., "Churn Reduction via Distillation", ICLR 2022): the new model
  minimizes (1 - lam) * CE(y, p_new) + lam * CE(p_old, p_new), cross-entropy against a mixture of
  the label and the base model's softmax (temperature 1). The paper proves that this is equivalent to
  training under an explicit constraint on the churn against the base model.
* ``anchor_loss`` (Milani Fard et al., "Launch and Iterate: Reducing Prediction Churn", NeurIPS 2016,
  as Jiang et al. use it as a baseline): cross-entropy to the target alpha * p_old + (1 - alpha) * y
  where the base model is right, and eps * y where it is wrong.
* ``soft_churn`` and ``DualAscent``: the explicit constraint. The churn surrogate is the total
  variation distance between the two softmax outputs (0 when they agree, near the 0-1 disagreement
  when both are confident); ``DualAscent`` keeps a Lagrange multiplier mu and adds mu * surrogate
  to the loss, raising mu while the batch surrogate is above the budget.

Every loss here is an ``extra_loss`` term for ``gracekit.train.fit``: fit adds the plain
cross-entropy, so the terms subtract what they replace.
"""
import torch
import torch.nn.functional as F

from gracekit.losses import _check_logits, _check_y

__all__ = ["churn_distillation", "anchor_targets", "anchor_loss", "soft_churn", "DualAscent"]


def churn_distillation(logits_new, logits_old, y, *, lam):
    """Jiang et al.'s distillation loss, (1 - lam) * CE(y) + lam * CE(softmax(z_old), softmax(z_new)).

    Args:
        logits_new, logits_old: (n, K) logits; the old side is a constant target.
        y: integer labels (n,).
        lam: distillation weight in [0, 1] (0: plain cross-entropy; 1: copy the base model).
    Returns:
        scalar tensor, the batch mean.

    Example:
        >>> z = torch.zeros(2, 3); y = torch.tensor([0, 1])
        >>> round(float(churn_distillation(z, z, y, lam=0.5)), 4)  # log 3 for uniform outputs
        1.0986
    """
    _check_logits(logits_new, logits_old)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam!r}")
    y = _check_y(y, logits_new.shape[0], logits_new.shape[1]).to(logits_new.device)
    log_p = F.log_softmax(logits_new, dim=1)
    soft = -(F.softmax(logits_old.detach(), dim=1) * log_p).sum(dim=1).mean()
    return (1.0 - lam) * F.nll_loss(log_p, y) + lam * soft


def anchor_targets(logits_old, y, *, alpha, eps):
    """The anchor method's soft targets: alpha * p_old + (1 - alpha) * onehot(y) where the old model
    is right, eps * onehot(y) where it is wrong (rows of the second kind sum to eps, not 1)."""
    if not (0.0 <= alpha <= 1.0 and 0.0 <= eps <= 1.0):
        raise ValueError(f"alpha and eps must lie in [0, 1], got alpha={alpha!r}, eps={eps!r}")
    logits_old = logits_old.detach()
    y = _check_y(y, logits_old.shape[0], logits_old.shape[1]).to(logits_old.device)
    onehot = F.one_hot(y, logits_old.shape[1]).to(logits_old.dtype)
    right = (logits_old.argmax(dim=1) == y).to(logits_old.dtype)[:, None]
    return right * (alpha * F.softmax(logits_old, dim=1) + (1 - alpha) * onehot) + (1 - right) * eps * onehot


def anchor_loss(logits_new, logits_old, y, *, alpha, eps):
    """Cross-entropy of the new model against ``anchor_targets`` (batch mean).

    Example:
        >>> z_old = torch.tensor([[3.0, 0.0], [0.0, 3.0]]); y = torch.tensor([0, 0])
        >>> t = anchor_targets(z_old, y, alpha=1.0, eps=0.5)  # row 0: p_old; row 1 (old wrong): 0.5 * y
        >>> [round(v, 3) for v in t[1].tolist()]
        [0.5, 0.0]
    """
    _check_logits(logits_new, logits_old)
    target = anchor_targets(logits_old, y, alpha=alpha, eps=eps)
    return -(target * F.log_softmax(logits_new, dim=1)).sum(dim=1).mean()


def soft_churn(logits_new, logits_old):
    """Per-sample total variation distance 1/2 * sum_k |p_new,k - p_old,k| (a differentiable churn)."""
    _check_logits(logits_new, logits_old)
    return 0.5 * (F.softmax(logits_new, dim=1) - F.softmax(logits_old.detach(), dim=1)).abs().sum(dim=1)


class DualAscent:
    """An explicit churn constraint, E[soft_churn] <= budget, by a Lagrangian with dual ascent.

    Each call returns mu * mean(soft_churn) for the batch and then updates
    mu <- max(0, mu + step * (mean(soft_churn) - budget)). ``trace`` records mu after every step.

    Args:
        budget: the allowed mean soft churn on a training batch, in [0, 1].
        step: the dual step size (> 0).

    Example:
        >>> term = DualAscent(budget=0.1, step=1.0)
        >>> z = torch.tensor([[2.0, 0.0]]); _ = term(z, -z); round(term.mu, 3)  # churn 0.76 > 0.1
        0.662
    """

    def __init__(self, budget, step=0.05):
        if not 0.0 <= budget <= 1.0 or not step > 0:
            raise ValueError(f"budget must lie in [0, 1] and step be > 0, got budget={budget!r}, step={step!r}")
        self.budget, self.step, self.mu, self.trace = float(budget), float(step), 0.0, []

    def __call__(self, logits_new, logits_old):
        churn = soft_churn(logits_new, logits_old).mean()
        term = self.mu * churn
        self.mu = max(0.0, self.mu + self.step * (float(churn.detach()) - self.budget))
        self.trace.append(self.mu)
        return term
