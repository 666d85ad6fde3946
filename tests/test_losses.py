import math

import pytest
import torch
import torch.nn.functional as F

from gracekit.losses import focal_distillation, kd, logit_distance, naive_pc, old_correct


def _logits(n=64, k=10, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, k, generator=g)


def test_lm_distance_by_hand():
    z_new = torch.tensor([[1.0, 2.0, 3.0]])
    z_old = torch.tensor([[0.0, 2.0, 5.0]])
    # 1/2 * (1 + 0 + 4) = 2.5
    assert logit_distance(z_new, z_old, distance="lm").item() == pytest.approx(2.5)
    assert kd(z_new, z_old, distance="lm").item() == pytest.approx(2.5)


def test_kl_distance_by_hand_and_order():
    z_new = torch.tensor([[0.0, 0.0]])
    z_old = torch.tensor([[math.log(3.0), 0.0]])  # p_old = (3/4, 1/4), p_new = (1/2, 1/2)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)  # KL(p_old || p_new)
    assert logit_distance(z_new, z_old, distance="kl", tau=1.0).item() == pytest.approx(expected, rel=1e-6)
    # and it matches torch's KLDivLoss(log_softmax(new/T), softmax(old/T)) * T^2 as in the official code
    tau = 4.0
    ref = F.kl_div(F.log_softmax(z_new / tau, 1), F.softmax(z_old / tau, 1), reduction="batchmean") * tau ** 2
    assert logit_distance(z_new, z_old, distance="kl", tau=tau).item() == pytest.approx(ref.item(), rel=1e-4)


@pytest.mark.parametrize("tau, tol", [(10.0, 0.1), (100.0, 0.01), (1000.0, 0.001)])
def test_kl_times_tau2_tends_to_centered_logit_matching(tau, tol):
    z_new, z_old = _logits(seed=1).double(), _logits(seed=2).double()
    k = z_new.shape[1]
    dz = z_new - z_old
    limit = ((dz - dz.mean(1, keepdim=True)) ** 2).sum(1) / (2 * k)
    kl = logit_distance(z_new, z_old, distance="kl", tau=tau)
    ratio = (kl.sum() / limit.sum()).item()
    assert abs(ratio - 1) < tol
    # a constant shift of the logits changes nothing in the KL variant, but does in logit matching
    shifted = z_new + 7.0
    assert torch.allclose(logit_distance(shifted, z_old, distance="kl", tau=tau), kl, rtol=1e-6)
    assert not torch.allclose(logit_distance(shifted, z_old, distance="lm"), logit_distance(z_new, z_old, distance="lm"))


def test_focal_filter_weights():
    z_old = torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([0, 1, 1])  # old correct on rows 0 and 2
    z_new = torch.zeros(3, 2)
    per = focal_distillation(z_new, z_old, y, alpha=1.0, beta=5.0, distance="lm", reduction="none")
    d = logit_distance(z_new, z_old, distance="lm")  # 2.0 each
    assert torch.allclose(per, torch.tensor([6.0, 1.0, 6.0]) * d)
    mean = focal_distillation(z_new, z_old, y, alpha=1.0, beta=5.0, distance="lm")
    assert mean.item() == pytest.approx(per.mean().item())
    assert torch.equal(old_correct(z_old, y), torch.tensor([1.0, 0.0, 1.0]))


def test_plain_distillation_is_alpha1_beta0():
    z_new, z_old = _logits(seed=3), _logits(seed=4)
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))
    for distance in ("lm", "kl"):
        fd = focal_distillation(z_new, z_old, y, alpha=1.0, beta=0.0, distance=distance)
        assert fd.item() == pytest.approx(kd(z_new, z_old, distance=distance).item(), rel=1e-6)


def test_naive_equals_reweighted_cross_entropy():
    z_new, z_old = _logits(seed=5), _logits(seed=6)
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(1))
    y[:20] = z_old[:20].argmax(1)  # make sure some old-correct rows exist
    o = (z_old.argmax(1) == y).float()
    lam = 2.5
    ce = F.cross_entropy(z_new, y, reduction="none")
    total = F.cross_entropy(z_new, y) + lam * naive_pc(z_new, z_old, y)
    assert total.item() == pytest.approx(((1 + lam * o) * ce).mean().item(), rel=1e-6)
    assert naive_pc(z_new, z_old, y, reduction="sum").item() == pytest.approx((o * ce).sum().item(), rel=1e-6)


@pytest.mark.parametrize("loss", ["fd_lm", "fd_kl", "naive"])
def test_gradient_is_zero_where_filter_is_zero(loss):
    z_old = _logits(n=8, k=4, seed=7)
    y = z_old.argmax(1).clone()
    y[:4] = (y[:4] + 1) % 4  # old model wrong on the first four rows
    z_new = _logits(n=8, k=4, seed=8).requires_grad_(True)
    if loss == "naive":
        value = naive_pc(z_new, z_old, y)
    else:
        value = focal_distillation(z_new, z_old, y, alpha=0.0, beta=1.0, distance=loss[3:], tau=10.0)
    value.backward()
    assert torch.all(z_new.grad[:4] == 0)
    assert torch.all(z_new.grad[4:].abs().sum(1) > 0)


def test_old_logits_get_no_gradient():
    z_old = _logits(n=5, k=3, seed=9).requires_grad_(True)
    z_new = _logits(n=5, k=3, seed=10).requires_grad_(True)
    focal_distillation(z_new, z_old, torch.zeros(5, dtype=torch.long), distance="kl").backward()
    assert z_old.grad is None and z_new.grad is not None


def test_bad_inputs_raise_clear_errors():
    z = torch.zeros(4, 3)
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="logits_old has 5"):
        focal_distillation(z, torch.zeros(4, 5), y)
    with pytest.raises(ValueError, match="same number of samples"):
        kd(z, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="logits_new must have shape"):
        kd(torch.zeros(4), z)
    with pytest.raises(ValueError, match="logits_new must be a torch tensor"):
        kd([[0.0, 1.0]], z[:1, :2])
    with pytest.raises(ValueError, match="y must be 1-D with 4"):
        focal_distillation(z, z, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 3\)"):
        naive_pc(z, z, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="y must hold integer"):
        naive_pc(z, z, torch.zeros(4))
    with pytest.raises(ValueError, match="distance"):
        kd(z, z, distance="l1")
    with pytest.raises(ValueError, match="tau"):
        kd(z, z, distance="kl", tau=0.0)
    with pytest.raises(ValueError, match="alpha and beta"):
        focal_distillation(z, z, y, beta=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        naive_pc(z, z, y, reduction="max")


def _official_fd(z_new, z_old, gt, fd_alpha, fd_beta, distillation_type="kl", kl_temperature=100.0):
    """A faithful re-implementation of the official FocalDistillationLoss.forward
    (amazon-science/regression-constraint-model-upgrade, ConstrainedUpgrade/losses.py), focus
    'old_correct', with its shapes: weights (n, 1); KL per-sample loss (n,); L2 loss (n, K)."""
    old_model_correct = z_old.argmax(dim=1) == gt
    loss_weights = old_model_correct.int()[:, None] * fd_beta + fd_alpha
    if distillation_type == "kl":
        sample_loss = F.kl_div(F.log_softmax(z_new / kl_temperature, dim=1),
                               F.softmax(z_old / kl_temperature, dim=1),
                               reduction="none").sum(dim=1) * (kl_temperature ** 2)
    else:
        sample_loss = F.mse_loss(z_new, z_old, reduction="none")
    return (sample_loss * loss_weights).mean()


def _batch_with_correlated_filter(seed=0, n=128, k=10):
    """Old-correct samples have small distances, old-wrong ones large: where the filter matters."""
    g = torch.Generator().manual_seed(seed)
    z_old = 3 * torch.randn(n, k, generator=g, dtype=torch.float64)
    right = torch.rand(n, generator=g) < 0.7
    y = torch.where(right, z_old.argmax(1), (z_old.argmax(1) + 1) % k)
    noise = torch.randn(n, k, generator=g, dtype=torch.float64)
    z_new = z_old + torch.where(right[:, None], 0.5, 3.0) * noise
    return z_new, z_old, y


def test_official_kl_focal_distillation_is_not_per_sample():
    z_new, z_old, y = _batch_with_correlated_filter()
    official = _official_fd(z_new, z_old, y, 1.0, 5.0)
    w = 1.0 + 5.0 * old_correct(z_old, y)
    d = logit_distance(z_new, z_old, distance="kl", tau=100.0)
    # the broadcast (n,) x (n, 1) -> (n, n) averages to mean(weights) x mean(distance)
    assert float(official) == pytest.approx(float(w.mean() * d.mean()), rel=1e-12)
    ours = focal_distillation(z_new, z_old, y, alpha=1.0, beta=5.0, distance="kl", tau=100.0)
    assert abs(float(official / ours) - 1) > 0.2  # the filter no longer picks samples
    # one sample at a time, the official code is the paper's per-sample formula (and ours)
    per_sample = torch.stack([_official_fd(z_new[i:i + 1], z_old[i:i + 1], y[i:i + 1], 1.0, 5.0)
                              for i in range(len(y))])
    assert torch.allclose(per_sample, focal_distillation(z_new, z_old, y, alpha=1.0, beta=5.0, distance="kl",
                                                         tau=100.0, reduction="none"), rtol=1e-10, atol=0)
    assert float(per_sample.mean()) == pytest.approx(float(ours), rel=1e-10)


def test_official_l2_focal_distillation_is_per_sample_times_2_over_k():
    z_new, z_old, y = _batch_with_correlated_filter(seed=1)
    official = _official_fd(z_new, z_old, y, 1.0, 5.0, distillation_type="l2")
    ours = focal_distillation(z_new, z_old, y, alpha=1.0, beta=5.0, distance="lm")
    assert float(official) == pytest.approx(float(ours) * 2 / z_new.shape[1], rel=1e-12)
