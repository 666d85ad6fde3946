"""Notebook 07: LDI, churn losses and the recipes, each against an independent formula or property.

The official ELODI convention (regression-constraint-model-upgrade, ``LogitsInhibitionLoss``, read for
this test and restated here as a formula): per sample, the mean over all K classes of
max(|z_new - z_ref| - margin, 1e-7)^p, times 1 - onehot(y) when the label class is excluded. The kit
floors at 0 instead of 1e-7, so the two agree to K * 1e-7^p / K per sample.
"""
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gracekit.beyond_pct import experiment as bp
from gracekit.beyond_pct.losses import (DualAscent, anchor_loss, anchor_targets, churn_distillation,
                                        soft_churn)
from gracekit.losses import ldi
from gracekit.models import LogitEnsemble, make_mlp


def _logits(n=32, k=7, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, k, generator=g, dtype=torch.float64),
            torch.randint(0, k, (n,), generator=g))


def _official_ldi(z_new, z_ref, y, margin, p, exclude_gt):
    """The official per-sample formula, in NumPy (floor 1e-7, mean over all K classes)."""
    z_new, z_ref, y = z_new.numpy(), z_ref.numpy(), y.numpy()
    d = np.maximum(np.abs(z_new - z_ref) - margin, 1e-7) ** p
    if exclude_gt:
        d = d * (1 - np.eye(z_new.shape[1])[y])
    return d.mean(axis=1)


@pytest.mark.parametrize("margin", [0.0, 0.5])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("exclude_gt", [False, True])
def test_ldi_matches_the_official_formula(margin, p, exclude_gt):
    z_new, y = _logits(seed=1)
    z_ref, _ = _logits(seed=2)
    ours = ldi(z_new, z_ref, y, margin=margin, p=p, exclude_gt=exclude_gt, reduction="none").numpy()
    official = _official_ldi(z_new, z_ref, y, margin, p, exclude_gt)
    assert np.allclose(ours, official, rtol=0, atol=2e-7 ** p + 1e-12)
    assert ours.shape == (32,)


def test_ldi_top_k_counts_the_new_models_top_classes_only():
    z_new, _ = _logits(n=16, k=6, seed=3)
    z_ref, _ = _logits(n=16, k=6, seed=4)
    expected = []
    for a, b in zip(z_new.tolist(), z_ref.tolist()):
        top = sorted(range(6), key=lambda c: -a[c])[:2]
        expected.append(sum((a[c] - b[c]) ** 2 for c in top) / 6)
    got = ldi(z_new, z_ref, top_k=2, reduction="none")
    assert np.allclose(got.numpy(), expected)
    assert ldi(z_new, z_ref, top_k=6).item() == pytest.approx(ldi(z_new, z_ref).item())


def test_ldi_pulls_only_the_new_logits_and_reduces():
    z_new, y = _logits(seed=5)
    z_new.requires_grad_(True)
    z_ref = _logits(seed=6)[0].requires_grad_(True)
    loss = ldi(z_new, z_ref, y, margin=0.2)
    loss.backward()
    assert z_ref.grad is None and z_new.grad.abs().sum() > 0
    per = ldi(z_new.detach(), z_ref.detach(), y, margin=0.2, reduction="none")
    assert loss.item() == pytest.approx(per.mean().item())
    assert ldi(z_new.detach(), z_ref.detach(), y, reduction="sum").item() == pytest.approx(
        ldi(z_new.detach(), z_ref.detach(), y, reduction="none").sum().item())
    assert ldi(z_ref.detach(), z_ref.detach()).item() == 0.0


@pytest.mark.parametrize("kwargs, word", [({"top_k": 0}, "top_k"), ({"top_k": 8}, "top_k"),
                                          ({"margin": -1.0}, "margin"), ({"exclude_gt": True}, "labels y"),
                                          ({"reduction": "max"}, "reduction")])
def test_ldi_rejects_bad_options(kwargs, word):
    z, _ = _logits()
    with pytest.raises(ValueError, match=word):
        ldi(z, z, **kwargs)


def test_churn_distillation_is_the_mixture_and_its_minimizer():
    z_new, y = _logits(seed=7)
    z_old, _ = _logits(seed=8)
    lam = 0.3
    p_old = F.softmax(z_old, 1).numpy()
    log_p = F.log_softmax(z_new, 1).numpy()
    target = (1 - lam) * np.eye(7)[y.numpy()] + lam * p_old
    assert churn_distillation(z_new, z_old, y, lam=lam).item() == pytest.approx(-(target * log_p).sum(1).mean())
    assert churn_distillation(z_new, z_old, y, lam=0.0).item() == pytest.approx(F.cross_entropy(z_new, y).item())
    # the loss is smallest where p_new is the mixture itself: zero gradient at logits = log(target)
    z_star = torch.tensor(np.log(target), requires_grad=True)
    churn_distillation(z_star, z_old, y, lam=lam).backward()
    assert z_star.grad.abs().max().item() < 1e-12
    with pytest.raises(ValueError, match="lam"):
        churn_distillation(z_new, z_old, y, lam=1.5)


def test_anchor_targets_row_by_row():
    z_old = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 0.0]])
    y = torch.tensor([0, 2])  # old right on row 0, wrong on row 1
    t = anchor_targets(z_old, y, alpha=0.25, eps=0.6).numpy()
    p0 = np.exp([3.0, 1.0, 0.0]) / np.exp([3.0, 1.0, 0.0]).sum()
    assert np.allclose(t[0], 0.25 * p0 + 0.75 * np.array([1, 0, 0]))
    assert np.allclose(t[1], [0, 0, 0.6])
    z_new = torch.tensor([[0.5, 0.1, -0.3], [0.2, 0.0, 1.0]])
    # alpha = 0 and eps = 1 give the labels back: plain cross-entropy
    assert anchor_loss(z_new, z_old, y, alpha=0.0, eps=1.0).item() == pytest.approx(
        F.cross_entropy(z_new, y).item())
    with pytest.raises(ValueError, match="alpha"):
        anchor_targets(z_old, y, alpha=2.0, eps=0.5)


def test_soft_churn_is_total_variation_and_the_dual_step():
    z_a, _ = _logits(n=10, k=4, seed=9)
    z_b, _ = _logits(n=10, k=4, seed=10)
    tv = 0.5 * np.abs(F.softmax(z_a, 1).numpy() - F.softmax(z_b, 1).numpy()).sum(1)
    assert np.allclose(soft_churn(z_a, z_b).numpy(), tv)
    assert soft_churn(z_a, z_a).abs().max().item() == 0.0
    sure = torch.tensor([[50.0, 0.0]], dtype=torch.float64)
    assert soft_churn(sure, -sure).item() == pytest.approx(1.0)
    dual = DualAscent(budget=0.2, step=0.5)
    dual(z_a, z_b)
    assert dual.mu == pytest.approx(max(0.0, 0.5 * (tv.mean() - 0.2)))
    calm = DualAscent(budget=0.9, step=0.5)
    assert calm(z_a, z_a).item() == 0.0 and calm.mu == 0.0 and calm.trace == [0.0]
    with pytest.raises(ValueError, match="budget"):
        DualAscent(budget=1.5)


def test_inference_flops_agree_with_torchs_flop_counter():
    from gracekit.edge.cost import count_flops

    net = make_mlp(20, (128, 64), 10, seed=0)
    assert bp.inference_flops(net) == count_flops(net, (20,), method=None) == 2 * (20 * 128 + 128 * 64 + 64 * 10)
    ens = LogitEnsemble([make_mlp(20, (8,), 3, seed=s) for s in range(4)])
    assert bp.inference_flops(ens) == 4 * bp.inference_flops(ens.members[0])
    with pytest.raises(ValueError, match="nn.Module"):
        bp.inference_flops("not a model")


def test_curve_gap_interpolates_the_reference_curve():
    recs = [{"seed": 0, "method": "none", "knob": 0.0, "churn": 0.30, "err_new": 0.10},
            {"seed": 0, "method": "distill", "knob": 0.5, "churn": 0.10, "err_new": 0.20},
            {"seed": 0, "method": "anchor", "knob": 0.5, "churn": 0.20, "err_new": 0.16}]
    assert bp.curve_gap(recs, "anchor", 0.5)[0] == pytest.approx(0.16 - 0.15)
    with pytest.raises(ValueError, match="constraint"):
        bp.curve_gap(recs, "constraint", 0.1)


TINY = replace(bp.BeyondSetup(), n_train=400, n_test=600, n_old=100, hidden=(16,), epochs=3, n_members=2)


def test_elodi_recipe_on_tiny_data():
    data = bp.make_data(TINY)
    recs = bp.run_elodi(TINY, seeds=(0, 1), data=data, progress=False)
    assert [r["method"] for r in recs] == ["single", "ensemble", "ldi", "fd"] * 2
    flops = {r["method"]: r["flops"] for r in recs}
    assert flops["ensemble"] == 2 * flops["single"] == 2 * flops["ldi"]
    for r in recs:
        assert r["nfr"] - r["pfr"] == pytest.approx(r["err_new"] - r["err_old"])
        assert r["churn"] >= r["nfr"] + r["pfr"] - 1e-12 and r["n_test"] == 600
    X, y, X_test, _ = data
    teacher = LogitEnsemble(bp.ensemble_members(TINY, X, y, 0))
    plain = bp.single_model(TINY, X, y, 0)
    student = bp.distill_ensemble(TINY, X, y, teacher, 0, lam=50.0, top_k=None)
    z_t = bp.predict(teacher, X_test)
    # a strong LDI pull brings the student's logits closer to the teacher's than the plain model's
    assert ((bp.predict(student, X_test) - z_t) ** 2).mean() < ((bp.predict(plain, X_test) - z_t) ** 2).mean()


def test_churn_and_interpolation_recipes_on_tiny_data():
    data = bp.make_data(TINY)
    recs = bp.run_churn(TINY, seeds=(0,), lams=(0.9,), alphas=(0.5,), budgets=(0.05,), data=data, progress=False)
    assert [(r["method"], r["knob"]) for r in recs] == [("none", 0.0), ("distill", 0.9), ("anchor", 0.5),
                                                         ("constraint", 0.05)]
    assert recs[1]["churn"] < recs[0]["churn"]  # lam = 0.9 nearly copies the old model
    with pytest.raises(ValueError, match="method"):
        bp.churn_model(TINY, *data[:2], None, "bogus", 0.1)
    inter = bp.run_interpolation(TINY, seeds=(0,), alphas=(0.0, 0.5, 1.0), data=data, progress=False)
    assert len(inter) == 2 * 2 * 3
    for r in inter:
        if r["alpha"] == 1.0:  # the old model itself, in weights and in outputs
            assert r["nfr"] == 0 and r["pfr"] == 0 and r["err_new"] == pytest.approx(r["err_old"])
    w0 = [r for r in inter if r["alpha"] == 0.0 and r["pair"] == "fine-tuned"]
    assert w0[0]["err_new"] == w0[1]["err_new"]  # alpha = 0: weights and outputs are the new model


def test_plots_draw_from_records():
    import matplotlib

    matplotlib.use("Agg")
    from gracekit.beyond_pct import plots

    el = [{"method": m, "seed": s, "err_new": 0.1 + 0.01 * s, "nfr": 0.02, "flops": 100}
          for m in ("single", "ensemble", "ldi", "fd") for s in (0, 1)]
    ax = plots.plot_methods(el)
    assert len(ax.get_legend().get_texts()) == 4
    ch = [{"method": "none", "knob": 0.0, "seed": s, "churn": 0.3, "err_new": 0.1} for s in (0, 1)]
    ch += [{"method": m, "knob": k, "seed": s, "churn": 0.2, "err_new": 0.12}
           for m in ("distill", "anchor", "constraint") for k in (0.1, 0.2) for s in (0, 1)]
    assert len(plots.plot_churn_curve(ch).get_legend().get_texts()) == 4
    it = [{"pair": p, "space": sp, "alpha": a, "seed": s, "err_new": 0.2, "nfr": 0.01}
          for p in ("fine-tuned", "independent") for sp in ("weights", "outputs") for a in (0.0, 1.0) for s in (0, 1)]
    assert len(plots.plot_interpolation(it, "nfr", reference=0.2).get_legend().get_texts()) == 5
    with pytest.raises(ValueError, match="no record"):
        plots.mean_se(el, "nfr", method="bogus")
