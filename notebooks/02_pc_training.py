# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Positive-congruent training: lowering negative flips on purpose
#
# **Goal:** learn that the negative flip rate (NFR) is an objective of its own, separate from the
# error; lower it with focal distillation and with ensembles; see what it costs, where it stops
# working, and why the paper's "naive reweighting does not help" depends on the setting.
#
# **Time:** ~35 min. The live part trains about twenty small networks (about two minutes on a laptop
# CPU); the trade-off curves come from two precomputed sweeps that ship with the kit.
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gracekit/gracekit/blob/main/notebooks/02_pc_training.ipynb)
#
# Notebook 01 showed that a better model still breaks some of what the old one got right. Lowering
# the error does not fix that: two models with the same error can disagree on thousands of
# samples. *Positive-congruent* (PC) training (Yan et al., "Positive-Congruent Training: Towards
# Regression-Free Model Updates", CVPR 2021) adds a term to the loss that asks the new model to
# agree with the old one, most of all where the old one was right.

# %%
# Setup: on Colab, install the kit with its shipped data (torch is already there); elsewhere nothing
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gracekit @ git+https://github.com/gracekit/gracekit"], check=True)

import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import gracekit
from gracekit import metrics
from gracekit.claims import claim, paired_diff, se_mean
from gracekit.datasets import shipped
from gracekit.exercises import check
from gracekit.losses import focal_distillation, logit_distance, naive_pc
from gracekit.models import LogitEnsemble, count_params
from gracekit.pct import explorer as pct_view
from gracekit.pct.experiment import (PCTSetup, make_pct_data, matched_lam, paired_change, pct_configs,
                                     pct_record, run_pct_sweep, same_configs, train_new, train_old,
                                     train_old_same)
from gracekit.pct.plots import METHOD_LABELS, plot_class_flips, plot_tradeoff
from gracekit.sweeps import load_records
from gracekit.train import predict

print(gracekit.setup(seed=0))

# %% tags=["parameters"]
FAST = gracekit.is_fast()  # GRACEKIT_FAST=1 shrinks everything for tests
SETUP = PCTSetup().fast() if FAST else PCTSetup()  # sizes, architectures, epochs
SEED = 0
LAM_LM = 0.003 if not FAST else 0.01   # weight of 1/2 ||z_new - z_old||^2 (KD, FD-LM), K = 10 classes
LAM_KL = 10 * LAM_LM                   # weight of tau^2 KL at tau = 100 (FD-KL): about 1/K as strong
LAM_NAIVE = 1.0                        # the paper's lambda
LAM_SAME = 0.01 if not FAST else 0.03  # FD-LM lambda of the live run in the paper's setting (section 6)
SWEEP_LAM = 0.003                      # the sweep's lambda for the beta table and the explorer's start
ENSEMBLE_SIZES = (1, 3, 5)
MATCHED = 0.003                        # "matched error": mean error change within +-0.3 pt
RECOMPUTE_SWEEP = False                # True: retrain both sweeps (see gracekit/data/README.md for the time)

# %% [markdown]
# ## 1. An old model, a better new model, and the flips between them
#
# A 10-class synthetic problem (`make_multiclass`, 20 features). The **old** model is a small
# network (one hidden layer of 32 units) trained on the first few thousand training points. The
# **new** model is bigger (two hidden layers) and sees all of them. The test set is large, so a
# flip rate of 1% is hundreds of points: the standard error of an NFR near 3% is about
# sqrt(NFR / N).

# %%
X, y, X_test, y_test = make_pct_data(SETUP)
print(f"{len(X):,} training points ({SETUP.n_old:,} for the old model), {len(X_test):,} test points, "
      f"{SETUP.n_classes} classes")
old = train_old(SETUP, X, y, seed=SEED)
new = train_new(SETUP, X, y, seed=SEED)  # unconstrained: plain cross-entropy
print(f"old model: hidden {SETUP.old_hidden}, {count_params(old):,} parameters")
print(f"new model: hidden {SETUP.new_hidden}, {count_params(new):,} parameters")
z_old, z_new = predict(old, X_test), predict(new, X_test)
report = metrics.flip_report(y_test, z_old, z_new)
print(report)
nfr_se = np.sqrt(report["nfr"] * (1 - report["nfr"]) / report.n)
print(f"standard error of this NFR over the test points: {nfr_se:.2%}")

# %% [markdown]
# The new model is far more accurate, and it still gets wrong a few percent of the test points the
# old model had right. The check line is exact on any data: NFR − PFR = Err_new − Err_old. Lowering
# the error only pins the *difference* of the two flip rates; NFR can be large at any error.
#
# **Relative NFR** divides NFR by (1 − Err_old)·Err_new, what NFR would be if the two models
# made independent errors. Below 1 means their errors are correlated (same data, same task).
# That unconstrained NFR is the baseline every method below tries to lower.

# %%
claim("the new model is more accurate than the old one", report["err_new"] < report["err_old"],
      err_old=report["err_old"], err_new=report["err_new"])
claim("it still breaks a few percent of what the old model got right (NFR > 1%, over 5 SE)",
      report["nfr"] > 0.01 and report["nfr"] > 5 * nfr_se, nfr=report["nfr"], se=nfr_se)
claim("NFR - PFR = Err_new - Err_old (exact up to rounding)",
      abs((report["nfr"] - report["pfr"]) - (report["err_new"] - report["err_old"])) < 1e-12,
      nfr_minus_pfr=report["nfr"] - report["pfr"], err_change=report["err_new"] - report["err_old"])
claim("relative NFR is below 1: the two models' errors are correlated", report["relative_nfr"] < 1,
      relative_nfr=report["relative_nfr"])

# %% [markdown]
# ## 2. The PC losses
#
# The new model minimizes CE + λ·L_PC with, for each training sample i (paper eqs. 6-9):
#
# * **focal distillation (FD):** L_PC,i = (α + β·1[old model right on i]) · D(z_new,i, z_old,i),
#   where z are logits and D is either
#   * **FD-KL:** τ²·KL(softmax(z_old/τ) ‖ softmax(z_new/τ)) at a high temperature (paper: τ = 100), or
#   * **FD-LM** (logit matching): ½‖z_new − z_old‖²;
# * **plain distillation:** α = 1, β = 0 (every sample counts the same);
# * **naive PC:** L_PC,i = 1[old model right on i] · CE_i, which just gives the old-correct samples
#   weight 1 + λ in the cross-entropy.
#
# The paper uses α = 1, β = 5 and λ = 1. Three warnings before we train anything.
#
# **λ does not transfer between distances.** At a high temperature, τ²·KL tends to
# (1/2K)·‖Δz − mean(Δz)‖²: about 1/K of the logit-matching distance, and blind to a constant
# shift of all logits. So the same pull needs λ_LM = λ_KL / K (this notebook: `LAM_KL = 10 * LAM_LM`
# with K = 10). Let us check that on random logits.

# %%
g = torch.Generator().manual_seed(0)
za, zb = 3 * torch.randn(1000, 10, generator=g, dtype=torch.float64), 3 * torch.randn(1000, 10, generator=g,
                                                                                         dtype=torch.float64)
dz = za - zb
limit = ((dz - dz.mean(1, keepdim=True)) ** 2).sum(1) / (2 * 10)
ratios = {}
for tau in (1, 10, 100):
    ratios[tau] = float(logit_distance(za, zb, distance="kl", tau=tau).sum() / limit.sum())
    print(f"tau = {tau:>3}: tau^2 KL / ((1/2K)||dz - mean dz||^2) = {ratios[tau]:.3f}")
za_c, zb_c = za - za.mean(1, keepdim=True), zb - zb.mean(1, keepdim=True)  # centred logits
lm_over_limit = float(logit_distance(za_c, zb_c, distance="lm").sum() / limit.sum())
print(f"logit matching (centred logits) / KL limit = {lm_over_limit:.1f}")

# %%
claim("at tau = 100, tau^2 KL is within 1% of (1/2K)||dz - mean dz||^2", abs(ratios[100] - 1) < 0.01,
      ratio=ratios[100])
claim("on centred logits, logit matching is K = 10 times that limit", abs(lm_over_limit - 10) < 1e-9,
      ratio=lm_over_limit)

# %% [markdown]
# **The official code scales the L2 distance differently.** In
# amazon-science/regression-constraint-model-upgrade the filter is `old_correct * filter_scale +
# filter_base` (our β and α; its command-line defaults are 0 and 1, not the paper's 1 and 5), and
# its L2 distance is PyTorch's `MSELoss`, which averages over the classes as well as the batch: it
# equals (2/K)·½‖Δz‖². Our λ therefore corresponds to an official `kd_loss_weight` of λ·K/2. The naive
# loss, finally, really is reweighted cross-entropy:

# %%
y_toy = torch.randint(0, 10, (1000,), generator=g)
mse_ratio = float((F.mse_loss(za, zb, reduction="none").mean(1) / logit_distance(za, zb, distance="lm")).mean())
print(f"official MSE / our 1/2||dz||^2 = {mse_ratio:.6f}   (2/K = {2 / 10})")
lam = 2.0
weights = 1 + lam * (zb.argmax(1) == y_toy).double()
lhs = F.cross_entropy(za, y_toy) + lam * naive_pc(za, zb, y_toy)
rhs = (weights * F.cross_entropy(za, y_toy, reduction="none")).mean()
print(f"CE + lam * naive_pc = {lhs:.6f};  CE with weight 1 + lam on old-correct samples = {rhs:.6f}")

# %%
claim("the official MSE is 2/K times our logit-matching distance", abs(mse_ratio - 0.2) < 1e-9,
      ratio=mse_ratio)
claim("CE + lam * naive_pc equals CE with weight 1 + lam on old-correct samples", abs(float(lhs - rhs)) < 1e-9,
      lhs=float(lhs), rhs=float(rhs))

# %% [markdown]
# **The official KL focal distillation is not the paper's per-sample formula.** Its
# `FocalDistillationLoss` builds the filter with shape (n, 1) and the per-sample KL loss with shape
# (n,). Their product broadcasts to an (n, n) matrix, whose mean is mean(weights) × mean(distance):
# the old-correct filter no longer picks samples, it rescales plain distillation by one number per
# batch. Below is a faithful re-implementation of those lines (same shapes, same operations), on
# batches of 128 training points with the old and new models of section 1. `gracekit.losses`
# implements the paper's per-sample formula; called one sample at a time, the official code gives
# the same.

# %%
def official_fd_kl(z_new, z_old, gt, fd_alpha=1.0, fd_beta=5.0, kl_temperature=100.0):
    """The official FocalDistillationLoss.forward for distillation_type='kl', focus_type='old_correct'."""
    loss_weights = (z_old.argmax(dim=1) == gt).int()[:, None] * fd_beta + fd_alpha             # (n, 1)
    sample_loss = F.kl_div(F.log_softmax(z_new / kl_temperature, dim=1),
                           F.softmax(z_old / kl_temperature, dim=1),
                           reduction="none").sum(dim=1) * (kl_temperature ** 2)                # (n,)
    return (sample_loss * loss_weights).mean()                                                 # (n, n) -> mean


n_batches = 20
zo_tr, zn_tr = predict(old, X[:128 * n_batches]).double(), predict(new, X[:128 * n_batches]).double()
y_tr = torch.as_tensor(y[:128 * n_batches])
off_by, factor_err = [], []
for b in range(n_batches):
    sl = slice(128 * b, 128 * (b + 1))
    official = official_fd_kl(zn_tr[sl], zo_tr[sl], y_tr[sl])
    ours = focal_distillation(zn_tr[sl], zo_tr[sl], y_tr[sl], alpha=1.0, beta=5.0, distance="kl", tau=100.0)
    w = 1.0 + 5.0 * (zo_tr[sl].argmax(1) == y_tr[sl]).double()
    factored = w.mean() * logit_distance(zn_tr[sl], zo_tr[sl], distance="kl", tau=100.0).mean()
    off_by.append(float(official / ours - 1))
    factor_err.append(float(abs(official / factored - 1)))
one_at_a_time = torch.stack([official_fd_kl(zn_tr[i:i + 1], zo_tr[i:i + 1], y_tr[i:i + 1])
                             for i in range(len(y_tr))]).mean()
ours_all = focal_distillation(zn_tr, zo_tr, y_tr, alpha=1.0, beta=5.0, distance="kl", tau=100.0)
print(f"official / per-sample loss - 1 over {n_batches} batches: {min(off_by):+.1%} to {max(off_by):+.1%}")
print(f"official vs mean(weights) x mean(distance): largest relative gap {max(factor_err):.1e}")
print(f"one sample at a time: {float(one_at_a_time):.10f}, ours: {float(ours_all):.10f}")

# %%
claim("the official KL loss equals mean(weights) x mean(distance) on every batch", max(factor_err) < 1e-9,
      largest_gap=max(factor_err))
claim("so it is off the per-sample loss by more than 5% on some batches", max(abs(v) for v in off_by) > 0.05,
      largest=max(off_by, key=abs))
claim("called one sample at a time, it matches the per-sample loss",
      abs(float(one_at_a_time / ours_all) - 1) < 1e-9, relative_gap=abs(float(one_at_a_time / ours_all) - 1))

# %% [markdown]
# ## 3. Training the new model with each method
#
# Same data, same initialization and batch order (seed), only the loss changes. λ is small
# because ½‖Δz‖² sums squared differences of unbounded logits over all classes: with the paper's
# λ = 1 the new model would copy the old one (section 7 shows it happening already at λ = 0.1).
# Training goes through `gracekit.train`, and the models are cached on disk, so a rerun is instant.

# %%
LIVE = {
    "naive reweighting": dict(method="naive", lam=LAM_NAIVE),
    "plain distillation": dict(method="kd", lam=LAM_LM),
    "FD-KL (1, 5)": dict(method="fd_kl", lam=LAM_KL, beta=5.0),
    "FD-LM (1, 5)": dict(method="fd_lm", lam=LAM_LM, beta=5.0),
}
rows = {"unconstrained": pct_record(y_test, z_old, z_new)}
labels = {"unconstrained": z_new.argmax(1).numpy()}
start = time.perf_counter()
for name, cfg in LIVE.items():
    model = train_new(SETUP, X, y, old, seed=SEED, **cfg)
    z = predict(model, X_test)
    rows[name], labels[name] = pct_record(y_test, z_old, z), z.argmax(1).numpy()
print(f"trained (or loaded) {len(LIVE)} models in {time.perf_counter() - start:.1f} s")


def show_rows(rows, base="unconstrained"):
    """Print Err_new, NFR, PFR, relative NFR and the NFR change for each named result."""
    print(f"{'method':<22}{'Err_new':>9}{'NFR':>8}{'PFR':>8}{'rel NFR':>9}{'NFR vs ' + base:>22}")
    for name, r in rows.items():
        change = r["nfr"] / rows[base]["nfr"] - 1
        print(f"{name:<22}{r['err_new']:>9.2%}{r['nfr']:>8.2%}{r['pfr']:>8.2%}{r['relative_nfr']:>9.3f}"
              f"{change:>+22.0%}")


show_rows(rows)

# %% [markdown]
# One seed, one λ each; section 5 repeats everything over three seeds. Against the same old model,
# two new models can be compared test point by test point: the negative flips of each form a 0/1
# vector, and the standard error of the difference of their means is the paired noise. Distillation
# (plain, FD-KL and FD-LM) lowers NFR by several of those standard errors.
#
# What does that cost? With the old model fixed, NFR − PFR = Err_new − Err_old. So a method that
# does not lower the error cannot lower NFR without lowering PFR by at least as much: here the
# distillation losses give up positive flips too. This is not a law that every NFR drop is paid for
# in positive flips: a method that also lowers the error can cut NFR while keeping PFR, and the
# ensembles of section 4 lower NFR and the error together.

# %%
old_right = z_old.argmax(1).numpy() == y_test
nf = {name: old_right & (lab != y_test) for name, lab in labels.items()}
for name in ("plain distillation", "FD-KL (1, 5)", "FD-LM (1, 5)"):
    d, se = paired_diff(nf[name], nf["unconstrained"])
    claim(f"{name} lowers NFR by more than 3 paired SE", d < -3 * se, nfr_change=d, paired_se=se)
    claim(f"{name} lowers PFR too, since its error does not fall by more than its NFR",
          rows[name]["pfr"] < rows["unconstrained"]["pfr"], pfr=rows[name]["pfr"],
          pfr_unconstrained=rows["unconstrained"]["pfr"], err_change=rows[name]["err_new"] - rows["unconstrained"]["err_new"])

# %% [markdown]
# ## 4. Ensembles: the strongest lever
#
# The paper's other route (its eq. 10) replaces *both* sides by ensembles: the old model is the
# average of the logits of k independently trained networks, the new one the average of k others.
# Averaging removes the seed-to-seed randomness that causes many flips. Here both sides use the new
# architecture on all the data (as in the paper, where both sides are 16 ResNet-18s), so the
# baseline is two single networks that differ only by their seed.

# %%
k_max = max(ENSEMBLE_SIZES)
members_old = [train_new(SETUP, X, y, seed=1000 + 10 * SEED + i) for i in range(k_max)]
members_new = [train_new(SETUP, X, y, seed=2000 + 10 * SEED + i) for i in range(k_max)]
ens_rows, ens_labels = {}, {}
for k in ENSEMBLE_SIZES:
    zo_k, zn_k = predict(LogitEnsemble(members_old[:k]), X_test), predict(LogitEnsemble(members_new[:k]), X_test)
    ens_rows[f"{k} vs {k} models"] = pct_record(y_test, zo_k, zn_k)
    ens_labels[k] = (zo_k.argmax(1).numpy(), zn_k.argmax(1).numpy())
show_rows(ens_rows, base=f"{ENSEMBLE_SIZES[0]} vs {ENSEMBLE_SIZES[0]} models")
for name, r in ens_rows.items():
    print(f"{name}: Err_old {r['err_old']:.2%} -> Err_new {r['err_new']:.2%}")

# %% [markdown]
# One seed again. The kit ships a sweep that repeats this (and every method of section 3 over a grid
# of λ) with three seeds: `gracekit/data/pct_sweep.json`, made by `tools/make_pct_sweep.py`. It takes
# many minutes to recompute, so we load it; set `RECOMPUTE_SWEEP = True` to retrain it here. The
# claims below about the ensembles are checked on its three seeds: from one to five models per side,
# NFR falls much faster than the error does, so the *relative* NFR falls too (ensembles make errors
# that are more alike from one training run to the next), and the error falls at the same time.

# %%
if not RECOMPUTE_SWEEP:
    records, meta = load_records(shipped("pct_sweep.json"))  # precomputed full-size sweep, 3 seeds
    same_records, same_meta = load_records(shipped("pct_same_sweep.json"))  # the paper's setting (section 6)
    print(f"loaded {len(records)} + {len(same_records)} records made by {meta['made_by']} and "
          f"{same_meta['made_by']} ({meta['setup']['n_test']:,} test points); recomputing took "
          f"{meta['seconds'] / 60:.0f} + {same_meta['seconds'] / 60:.0f} min on one CPU thread")
else:
    start = time.perf_counter()
    small = dict(lams_lm=(0.003, 0.03), lams_kl=(0.03, 0.3), betas=(5.0,), lams_naive=(1.0,))
    records = run_pct_sweep(pct_configs(**small) if FAST else pct_configs(), seeds=[0, 1, 2] if not FAST else [0, 1],
                            setup=SETUP)
    same_records = run_pct_sweep(same_configs(), seeds=[0, 1, 2, 3, 4] if not FAST else [0, 1], setup=SETUP,
                                 setting="same")
    print(f"recomputed {len(records) + len(same_records)} records in {time.perf_counter() - start:.0f} s")
print(f"{len(pct_configs())} configurations in the full grid (the ensembles count as one)")

# %%
def ens(k, field):
    """Per-seed values of one field for k-vs-k ensembles in the sweep, in seed order."""
    rs = sorted((r for r in records if r["method"] == "ensemble" and r["size"] == k), key=lambda r: r["seed"])
    return np.array([r[field] for r in rs])


k_big = max(ENSEMBLE_SIZES)
for field, text in (("nfr", "NFR"), ("relative_nfr", "relative NFR")):
    change = ens(k_big, field) / ens(1, field) - 1
    m, se = se_mean(change)
    claim(f"{k_big} vs {k_big} ensembles lower {text} against single models, beyond 3 SE over seeds",
          m < -3 * se, change=m, se=se, seeds=len(change))
d_err, se_err = paired_diff(ens(k_big, "err_new"), ens(1, "err_new"))
claim("and the error of the new side falls at the same time", d_err < -3 * se_err,
      err_change=d_err, se=se_err)
nfr_c, _ = se_mean(ens(k_big, "nfr") / ens(1, "nfr") - 1)
err_c, _ = se_mean(ens(k_big, "err_new") / ens(1, "err_new") - 1)
claim("NFR falls much faster than the error (relative change more than 3 times larger)", nfr_c < 3 * err_c,
      nfr_change=nfr_c, err_change=err_c)

# %% [markdown]
# ## 5. The trade-off curve, over three seeds
#
# A single λ tells little. The sweep trains every method over a grid of λ (and of β for FD-LM) with
# three seeds, plus the ensembles. Each line below runs from small λ (near the dark grey unconstrained
# point) to large λ; error on x, NFR on y, lower and further left is better.

# %%
pct_model = pct_view.PCTModel(records)  # seed-averaged sweep points, the explorer's model
base = pct_model.baseline
n_seeds = base["n"]
print(f"unconstrained: Err_new {base['err_new']:.2%} ± {base['err_new_sd']:.2%}, "
      f"NFR {base['nfr']:.2%} ± {base['nfr_sd']:.2%} (mean ± sd, ddof=1, over {n_seeds} seeds)")
curves = {METHOD_LABELS[m]: pct_model.curve(m)[1:] for m in pct_model.methods}
fig = plot_tradeoff(curves, title=f"Err_new vs NFR (mean ± sd with ddof=1 over {n_seeds} seeds)")
fig.set_size_inches(7, 4.5)
plt.show()

# %% [markdown]
# Distillation and FD bend the curve down: at *matched error* (mean error change within ±0.3 pt of
# the unconstrained model, `MATCHED`) they cut NFR by a large fraction. Naive reweighting moves along
# a worse curve: at matched error it removes fewer negative flips than FD-LM, although in this
# setting it does lower NFR beyond the noise. The brown ensemble line belongs to a different old
# model (an ensemble itself), so compare its *shape*: both error and NFR fall with size. The next
# cell prints the per-seed comparisons (λ chosen on the test set, so slightly optimistic).

# %%
matched = {}
for m, b in (("fd_lm", 5.0), ("fd_kl", 5.0), ("kd", 0.0), ("naive", None)):
    lam_m = matched_lam(records, m, MATCHED, beta=b)
    ch = paired_change(records, m, lam_m, b)
    matched[m] = dict(lam=lam_m, **ch)
    nm, nse = se_mean(ch["nfr_change"])
    em, ese = se_mean(ch["err_change"])
    print(f"{METHOD_LABELS[m]:<26} lam={lam_m:<6g} NFR {nm:+.1%} ± {nse:.1%}   error {100 * em:+.2f} ± "
          f"{100 * ese:.2f} pt   (mean ± SE over {len(ch['seeds'])} seeds)")
fd_m, fd_se = se_mean(matched["fd_lm"]["nfr_change"])
claim("at matched error FD-LM cuts NFR by more than 20%, beyond 3 SE", fd_m < -0.2 and fd_m < -3 * fd_se,
      nfr_change=fd_m, se=fd_se)
naive1 = paired_change(records, "naive", LAM_NAIVE)
nv_m, nv_se = se_mean(naive1["nfr_change"])
claim(f"in this setting naive reweighting (lam = {LAM_NAIVE:g}) does lower NFR, beyond 3 SE", nv_m < -3 * nv_se,
      nfr_change=nv_m, se=nv_se, err_change=naive1["err_change"].mean())
gap, gap_se = paired_diff(matched["naive"]["nfr_change"], matched["fd_lm"]["nfr_change"])
claim("but at matched error it removes fewer negative flips than FD-LM (paired over seeds, > 2 SE)",
      gap > 2 * gap_se, difference=gap, se=gap_se)

# %% [markdown]
# Now the numbers the paper reports, beside ours. For each method we take the λ with the lowest
# mean NFR whose mean error is at most 1 point above the unconstrained model's (chosen on the test
# set, so slightly optimistic), and naive reweighting at the paper's λ = 1.

# %% tags=["report"]
PAPER_T2A = {  # Yan et al. CVPR 2021, Table 2a: ImageNet, ResNet-18 -> ResNet-18, Err_old 30.24%
    "none": (30.29, 6.44, 30.48), "naive": (29.34, 5.72, 27.95), "fd_kl": (30.63, 2.50, 11.70),
    "fd_lm": (30.47, 2.35, 11.06), "ensemble": (25.98, 1.70, 8.85),  # 16 x R18 (Err_old 26.07%)
    "kd": (31.12, 3.90, None),  # Table 3, FD-LM with (alpha, beta) = (1, 0)
}
picks = {"none": pct_model.baseline, "naive": pct_model.point("naive", LAM_NAIVE),
         "kd": pct_model.best_point("kd"), "fd_kl": pct_model.best_point("fd_kl"),
         "fd_lm": pct_model.best_point("fd_lm", beta=5.0),
         "ensemble": pct_model.point("ensemble", max(pct_model.knobs("ensemble")))}
print(f"{'':<24}{'paper (ImageNet R18)':^30}|{'ours (mean ± sd, ' + str(n_seeds) + ' seeds)':^48}")
print(f"{'method':<24}{'Err_new':>9}{'NFR':>7}{'rel':>7}{'dNFR':>8} |{'setting':>14}{'Err_new':>13}"
      f"{'NFR':>12}{'rel':>7}{'dNFR':>7}")
for m, p in picks.items():
    pe, pn, pr = PAPER_T2A[m]
    p_base = PAPER_T2A["none"][1] if m != "ensemble" else None
    p_change = f"{pn / p_base - 1:+.1%}" if p_base else "  n/a"
    if p is None:
        print(f"{METHOD_LABELS[m]:<24} no lambda within 1 pt of the baseline error")
        continue
    setting = (f"k={p['size']}" if m == "ensemble" else "" if m == "none" else f"lam={p['lam']:g}")
    ours_change = "" if m == "none" else f"{p['nfr_change']:+.0%}"
    p_rel = f"{pr:.2f}" if pr else "n/a"
    print(f"{METHOD_LABELS[m]:<24}{pe:>9.2f}{pn:>7.2f}{p_rel:>7}{p_change:>8} |"
          f"{setting:>14}{100 * p['err_new']:>7.2f}±{100 * p['err_new_sd']:.2f}"
          f"{100 * p['nfr']:>6.2f}±{100 * p['nfr_sd']:.2f}{100 * p['relative_nfr']:>7.1f}{ours_change:>7}")
print("(rel = relative NFR in %; the ensemble rows compare k-model ensembles with single models:"
      " paper 1.70% vs 6.44%)")

# %% [markdown]
# The directions match the paper: FD cuts NFR by a large fraction, and ensembles cut it further
# while *lowering* the error. But the FD headline of this table is not the paper's trade-off: the
# paper's FD-LM cuts NFR by 63.5% for +0.18 pt of error, while our pick, chosen within a 1-point error
# budget, cuts about half of the negative flips and costs close to a full point of error. At matched
# error (within ±0.3 pt, as in the paper) the toy's FD-LM cut is about 30%, half the paper's.

# %%
head = paired_change(records, "fd_lm", picks["fd_lm"]["lam"], 5.0)
h_m, h_se = se_mean(head["nfr_change"])
he_m, he_se = se_mean(head["err_change"])
claim("our FD-LM headline (1-pt budget) costs close to a full point of error (0.5-1 pt), more than "
      "the paper's +0.18 pt beyond 2 SE", he_m - 2 * he_se > 0.0018 and 0.005 < he_m <= 0.01, nfr_change=h_m, err_change_pt=100 * he_m, se_pt=100 * he_se,
      lam=picks["fd_lm"]["lam"])
claim("it cuts about half of the negative flips (40-60%), less than the paper's 63%", -0.6 < h_m < -0.4,
      nfr_change=h_m, se=h_se)
claim("at matched error the cut is about 30% (20-40%), about half the paper's", -0.4 < fd_m < -0.2,
      nfr_change=fd_m, se=fd_se, lam=matched["fd_lm"]["lam"],
      err_change_pt=100 * matched["fd_lm"]["err_change"].mean())

# %% [markdown]
# ## 6. The paper's setting: same architecture, same data, a new seed
#
# So far the old model was a small network that saw a sixth of the data: an update in capacity and
# data. The paper's main experiments are the other case: old and new share the architecture and the
# training data and differ only by the seed (ImageNet, ResNet-18 → ResNet-18). There the paper says
# naive reweighting "does not help reduce the NFR" (its Table 2a: 6.44% → 5.72%). Here is that
# setting in the toy: the old model is the new architecture trained on all training points with
# another seed (it is the first old-side ensemble member of section 4, already trained). One seed
# live; a second shipped sweep (`gracekit/data/pct_same_sweep.json`) repeats it over five seeds.

# %%
old_same = train_old_same(SETUP, X, y, seed=SEED)  # the same network as members_old[0]
z_old_same = predict(old_same, X_test)
acc = lambda model, rows: float((predict(model, X[rows]).argmax(1).numpy() == y[rows]).mean())  # noqa: E731
fit = {"capacity: small old model, its own rows": acc(old, slice(SETUP.n_old)),
       "capacity: small old model, all training rows": acc(old, slice(None)),
       "paper's setting: old model, all training rows": acc(old_same, slice(None))}
for name, a in fit.items():
    print(f"training accuracy, {name}: {a:.3f}")
same_rows = {"unconstrained": pct_record(y_test, z_old_same, z_new)}
for name, cfg in {"naive reweighting": dict(method="naive", lam=LAM_NAIVE),
                  "FD-LM (1, 5)": dict(method="fd_lm", lam=LAM_SAME, beta=5.0)}.items():
    model = train_new(SETUP, X, y, old_same, seed=SEED, **cfg)
    same_rows[name] = pct_record(y_test, z_old_same, predict(model, X_test))
show_rows(same_rows)

# %% [markdown]
# Naive reweighting multiplies the loss of every training point the old model gets right by 1 + λ.
# In the paper's setting the old model fits its training set, so that is nearly every point: the
# reweighting is almost uniform (close to a larger learning rate) and tells the new model almost
# nothing about the old one. In the capacity setting the small old model is wrong on several times
# as many of the new model's training points, so the same reweighting moves real weight.

# %%
wrong_same = 1 - fit["paper's setting: old model, all training rows"]
wrong_small = 1 - fit["capacity: small old model, all training rows"]
claim("in the paper's setting the old model fits its training set (training accuracy >= 0.9)",
      wrong_same <= 0.1, train_accuracy=1 - wrong_same, only_full=True)
claim("the small old model is wrong on more than 3 times as many training points",
      wrong_small > 3 * wrong_same, wrong_small=wrong_small, wrong_same=wrong_same, only_full=True)

# %% [markdown]
# The five seeds of the shipped sweep, each configuration paired with the unconstrained model of its
# seed (mean ± SE over seeds), then both settings side by side. In the paper's setting naive
# reweighting at λ = 1 changes NFR by only a few percent (the paper's own Table 2a shows −11%, which
# its text calls "does not help"), while FD-LM at matched error still cuts it by about a quarter; in
# the capacity setting naive reweighting does help, but less than FD-LM. And here, unlike in the
# capacity setting, focal distillation clearly beats plain distillation at matched error, as in the
# paper (its Table 3: KD 3.90% against FD-LM 2.35%).

# %%
print(f"paper's setting, {len({r['seed'] for r in same_records})} seeds; old-model training accuracy "
      f"{np.mean([r['old_train_acc'] for r in same_records if r['method'] == 'none']):.3f} (mean)")
print(f"{'method':<26}{'lambda':>8}{'NFR change':>18}{'error change (pt)':>22}")
for m, b in (("naive", None), ("kd", 0.0), ("fd_lm", 5.0)):
    for lam_ in sorted({r["lam"] for r in same_records if r["method"] == m}):
        ch = paired_change(same_records, m, lam_, b)
        (nm, nse), (em, ese) = se_mean(ch["nfr_change"]), se_mean(ch["err_change"])
        print(f"{METHOD_LABELS[m]:<26}{lam_:>8g}{nm:>+11.1%} ± {nse:.1%}{100 * em:>+14.2f} ± {100 * ese:.2f}")

same_naive = paired_change(same_records, "naive", LAM_NAIVE)
lam_same = matched_lam(same_records, "fd_lm", MATCHED, beta=5.0)
same_fd = paired_change(same_records, "fd_lm", lam_same, 5.0)
side = {"capacity (old: small, 2,000 rows)": (naive1, matched["fd_lm"], records),
        "paper's (old: same net, new seed)": (same_naive, same_fd, same_records)}
print(f"\n{'setting':<36}{'naive, lam = 1':>28}{'FD-LM at matched error':>36}")
for name, (nv, fd, recs) in side.items():
    cells = []
    for ch in (nv, fd):
        (nm, nse), em = se_mean(ch["nfr_change"]), ch["err_change"].mean()
        cells.append(f"{nm:+.0%} ± {nse:.0%} ({100 * em:+.2f} pt)")
    print(f"{name:<36}{cells[0]:>28}{cells[1]:>36}")
print(f"{'paper, ImageNet R18 -> R18':<36}{'-11% (-0.95 pt)':>28}{'-63% (+0.18 pt)':>36}")

# %%
s_nv, s_nv_se = se_mean(same_naive["nfr_change"])
s_fd, s_fd_se = se_mean(same_fd["nfr_change"])
claim("paper's setting: naive reweighting at lam = 1 changes NFR by less than 10%", abs(s_nv) < 0.10,
      nfr_change=s_nv, se=s_nv_se, seeds=len(same_naive["seeds"]))
claim("paper's setting: FD-LM at matched error cuts NFR by more than 15%, beyond 3 SE",
      s_fd < -0.15 and s_fd < -3 * s_fd_se, nfr_change=s_fd, se=s_fd_se, lam=lam_same,
      err_change_pt=100 * same_fd["err_change"].mean())
s_gap, s_gap_se = paired_diff(same_naive["nfr_change"], same_fd["nfr_change"])
claim("paper's setting: FD-LM beats naive reweighting (paired over seeds, > 3 SE)", s_gap > 3 * s_gap_se,
      difference=s_gap, se=s_gap_se)
same_kd = paired_change(same_records, "kd", matched_lam(same_records, "kd", MATCHED, beta=0.0), 0.0)
kd_fd, kd_fd_se = paired_diff(same_kd["nfr_change"], same_fd["nfr_change"])
claim("paper's setting: FD-LM beats plain distillation at matched error (paired over seeds, > 3 SE)",
      kd_fd > 3 * kd_fd_se, difference=kd_fd, se=kd_fd_se, kd_err_change_pt=100 * same_kd["err_change"].mean())
claim("naive reweighting helps less in the paper's setting than in the capacity setting",
      s_nv > nv_m + 2 * np.hypot(s_nv_se, nv_se), same=s_nv, capacity=nv_m)

# %% [markdown]
# So "naive reweighting does not help" is a property of the paper's setting, where the old model
# fits the data both models learn from, not of the method alone; in a capacity-and-data update it is
# a weak form of distillation. Focal distillation helps in both settings, by amounts that the seed
# noise does not tell apart at matched error.

# %%
both, both_se = fd_m - s_fd, np.hypot(fd_se, s_fd_se)
claim("FD-LM's matched-error cut differs between the settings by less than 2 combined SE",
      abs(both) < 2 * both_se, capacity=fd_m, same=s_fd, difference=both, se=both_se)

# %% [markdown]
# ## 7. Too much focus breaks it
#
# Back to the capacity setting. Push λ (or β) up and the distillation term wins over the labels: the
# new model turns into a copy of the old one. NFR goes down because there is little left to flip,
# but the error climbs toward the old model's and the positive flips (the whole point of the update)
# vanish.

# %%
print("FD-LM, beta = 5, growing lambda (mean over seeds):")
print(f"{'lambda':>8}{'Err_new':>10}{'NFR':>8}{'PFR':>8}")
grow = [pct_model.point("fd_lm", lam_, 5.0) for lam_ in pct_model.knobs("fd_lm")]
for p in grow:
    print(f"{p['lam']:>8g}{p['err_new']:>10.2%}{p['nfr']:>8.2%}{p['pfr']:>8.2%}")
print(f"(Err_old = {base['err_old']:.2%}; unconstrained PFR = {base['pfr']:.2%})")
errs, pfrs = np.array([p["err_new"] for p in grow]), np.array([p["pfr"] for p in grow])
claim("as lambda grows the error climbs toward Err_old and PFR shrinks, at every step",
      np.all(np.diff(errs) > 0) and np.all(np.diff(pfrs) < 0) and errs[-1] < base["err_old"],
      err_first=errs[0], err_last=errs[-1], pfr_first=pfrs[0], pfr_last=pfrs[-1])

# %%
PAPER_T3 = {0: (31.12, 3.90), 1: (30.59, 2.75), 2: (30.79, 2.73), 5: (30.47, 2.35), 10: (30.44, 2.39),
            20: (33.55, 6.94)}  # Yan et al. 2021, Table 3 (FD-LM, ResNet-18, alpha = 1): Err_new / NFR, %
lam_beta = min(pct_model.knobs("fd_lm"), key=lambda v: abs(v - SWEEP_LAM))
print(f"FD-LM, alpha = 1, lambda = {lam_beta:g}, growing beta   | paper Table 3 (lambda = 1)")
print(f"{'beta':>6}{'Err_new':>10}{'NFR':>8}{'PFR':>8}   |{'Err_new':>9}{'NFR':>7}")
by_beta = {}
for b in sorted(set([0.0] + pct_model.betas("fd_lm"))):
    p = pct_model.point("kd", lam_beta) if b == 0 else pct_model.point("fd_lm", lam_beta, b)
    by_beta[b] = p
    pe, pn = PAPER_T3.get(int(b), (float("nan"), float("nan")))
    print(f"{b:>6g}{p['err_new']:>10.2%}{p['nfr']:>8.2%}{p['pfr']:>8.2%}   |{pe:>9.2f}{pn:>7.2f}")

# %% [markdown]
# In the paper, β from 1 to 10 all help and β = 20 breaks the model (error +3 pt, NFR back up). In
# the toy, raising β at a fixed λ raises the total pull: NFR falls at every step of β while the error
# climbs, by several points at β = 50. Plain distillation (β = 0) is already a strong baseline in
# this setting: at matched error its NFR cut and FD-LM's are not separated by the seed noise. The
# focus on old-correct samples pays off where the old model is as good as the new one (section 6).

# %%
nfrs_b = np.array([p["nfr"] for p in by_beta.values()])
claim(f"at lambda = {lam_beta:g}, NFR falls at every step of beta", np.all(np.diff(nfrs_b) < 0),
      nfr_beta0=nfrs_b[0], nfr_beta_max=nfrs_b[-1])
rise = by_beta[max(by_beta)]["err_new"] - by_beta[0.0]["err_new"]
claim(f"and the error at beta = {max(by_beta):g} is more than 2 pt above beta = 0", rise > 0.02, rise_pt=100 * rise)
kd_gap, kd_gap_se = paired_diff(matched["kd"]["nfr_change"], matched["fd_lm"]["nfr_change"])
claim("at matched error KD and FD-LM are not separated (paired difference within 3 SE)",
      abs(kd_gap) < 3 * kd_gap_se, difference=kd_gap, se=kd_gap_se)

# %% [markdown]
# ## 8. The trade-off explorer
#
# Pick a method, then move λ (or the ensemble size) and β. The ring marks the chosen point on the
# curves; the right panel shows, per true class, how many negative flips remain (red) against the
# unconstrained model (grey), and the positive flips (green). Everything comes from the sweep, so
# it redraws instantly.

# %%
view = pct_view.show(pct_model, method="fd_lm", knob=SWEEP_LAM, beta=5.0)

# %% [markdown]
# *Without a live kernel:* the same content for FD-LM at λ = `SWEEP_LAM`, β = 5, drawn once.

# %%
p = pct_model.point("fd_lm", SWEEP_LAM, 5.0)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", gridspec_kw={"width_ratios": [1.1, 1]})
plot_tradeoff(curves, highlight=(p["err_new"], p["nfr"]), ax=ax1,
              title=f"FD-LM, lambda = {p['lam']:g}, beta = 5 (ringed)")
plot_class_flips(p["nf_class"], p["pf_class"], base["nf_class"], ax=ax2, title="flips by true class (same scale)")
plt.show()

# %% [markdown]
# ## Summary
#
# * NFR is not the error. An update that lowers the error can still break a few percent of the
#   predictions users relied on; NFR − PFR = Err_new − Err_old is all the error pins down.
# * Distilling from the old model (plain KD, FD-KL, FD-LM) lowers NFR. In this toy it costs more
#   error than in the paper: about 30% fewer negative flips at matched error, about half within a
#   1-point error budget (the paper: 63% for +0.18 pt).
# * Lowering NFR is not always paid for with positive flips: a method that keeps the error lowers PFR
#   as much as NFR, but ensembles on both sides lower NFR, relative NFR and the error at the same
#   time; they cost k times the compute.
# * λ is not portable: KL at τ = 100 is about 1/K of logit matching, the official code's MSE averages
#   over classes (λ_official = λ·K/2), and at toy scale λ must be tuned.
# * The official KL focal distillation averages weights and distances separately per batch, so its
#   filter does not weigh samples; `gracekit.losses` follows the paper's per-sample formula.
# * Naive reweighting depends on the setting: with the paper's same-architecture update it changes
#   NFR by only a few percent, as the paper says, while FD cuts about a quarter; when a small old model
#   is replaced it lowers NFR, but less than FD at the same error.
# * Too much focus (large λ or β) collapses the new model onto the old one: the error rises toward
#   the old model's and the positive flips disappear.
#
# ## Exercises
#
# Each exercise ends with a check cell that tests your result and says what to look at when it is off.
#
# **Exercise 1 (too much focus, live).** Train FD-LM (α = 1, β = 5) with ten times the λ of section 3
# (`10 * LAM_LM`) and compute how much PFR it loses against the unconstrained model:
# `ex1 = PFR(unconstrained) − PFR(FD-LM at 10·λ)`, a fraction. Compare with section 7; the check
# cell prints what the shipped sweep gives at full size, with its spread over seeds.

# %% tags=["solution"]
# stub: ex1 = None  # PFR of the unconstrained model minus PFR at lambda = 10 * LAM_LM (a fraction)
strong = train_new(SETUP, X, y, old, method="fd_lm", lam=10 * LAM_LM, beta=5.0, seed=SEED)
strong_row = pct_record(y_test, z_old, predict(strong, X_test))
show_rows({"unconstrained": rows["unconstrained"], "FD-LM (1, 5)": rows["FD-LM (1, 5)"],
           "FD-LM, 10 x lambda": strong_row})
ex1 = rows["unconstrained"]["pfr"] - strong_row["pfr"]

# %% tags=["check"]
sweep = paired_change(records, "fd_lm", 10 * SWEEP_LAM, 5.0)  # the same step in the shipped sweep
sweep_drop = sweep["pfr_none"] - sweep["pfr"]
print(f"shipped sweep, full size, lambda {SWEEP_LAM:g} -> {10 * SWEEP_LAM:g}: PFR drop {sweep_drop.mean():.2%} "
      f"(sd over {len(sweep_drop)} seeds {sweep_drop.std(ddof=1):.2%}, ddof=1)")
check("Exercise 1", ex1, lambda v: 0.03 < v < rows["unconstrained"]["pfr"],
      hint="a fraction (0.06, not 6), unconstrained minus constrained; lam must be 10 * LAM_LM with "
           "beta = 5 against the small old model `old`")

# %% [markdown]
# **Exercise 2 (relative NFR by hand).** From the labels of section 4 (`ens_labels[k]` holds the old
# and new ensembles' predicted labels for k models per side), compute relative NFR =
# NFR / ((1 − Err_old)·Err_new) yourself, for single models (k = 1) and for 5-vs-5 ensembles, and
# return both: `ex2 = (rel_1, rel_5)`. How much lower is it for ensembles? The check cell compares
# your numbers with `gracekit.metrics` and prints what the shipped sweep gives, with its spread.

# %% tags=["solution"]
# stub: ex2 = None  # (relative NFR of single models, relative NFR of 5-vs-5 ensembles)
def relative_nfr(y_true, y_old, y_new):
    nfr = np.mean((y_old == y_true) & (y_new != y_true))
    return nfr / ((1 - np.mean(y_old != y_true)) * np.mean(y_new != y_true))


rel = {k: float(relative_nfr(y_test, *ens_labels[k])) for k in (1, max(ENSEMBLE_SIZES))}
print(f"relative NFR: {rel}; ratio {rel[max(ENSEMBLE_SIZES)] / rel[1]:.2f}")
ex2 = (rel[1], rel[max(ENSEMBLE_SIZES)])

# %% tags=["check"]
ratio_sweep = ens(max(ENSEMBLE_SIZES), "relative_nfr") / ens(1, "relative_nfr")
print(f"shipped sweep, full size: rel_5 / rel_1 = {ratio_sweep.mean():.2f} (sd over {len(ratio_sweep)} seeds "
      f"{ratio_sweep.std(ddof=1):.2f}, ddof=1)")
ref = [metrics.relative_nfr(y_test, *ens_labels[k]) for k in (1, max(ENSEMBLE_SIZES))]
check("Exercise 2", ex2, lambda v: all(abs(a - b) < 1e-9 for a, b in zip(v, ref)) and v[1] / v[0] < 0.75,
      hint="return a pair (k = 1, k = 5); Err_old is the old side's error (an ensemble for k = 5); relative "
           "NFR divides by (1 - Err_old) * Err_new, not by Err_new alone")

# %% [markdown]
# **Exercise 3 (translate λ to the official code).** The official L2 variant computes
# `kd_loss_weight * (filter[:, None] * MSELoss(reduction="none")(z_new, z_old)).mean()` with filter
# α + β·1[old right]; its weights are per sample (the shapes keep the classes). Find the
# `kd_loss_weight` w that reproduces our FD-LM at λ = `LAM_LM` and return it as `ex3`.

# %% tags=["solution"]
# stub: ex3 = None  # the official kd_loss_weight that equals our lambda = LAM_LM
ex3 = LAM_LM * 10 / 2  # lambda * K / 2: MSELoss averages over the K classes, we take 1/2 of the sum

# %% tags=["check"]
yy = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(3))
filt = 1.0 + 5.0 * (zb[:500].argmax(1) == yy).double()
ours_fd = LAM_LM * focal_distillation(za[:500], zb[:500], yy, alpha=1.0, beta=5.0, distance="lm")
official_l2 = lambda w: w * (filt[:, None] * F.mse_loss(za[:500], zb[:500], reduction="none")).mean()  # noqa: E731
check("Exercise 3", ex3, lambda w: abs(float(official_l2(w) / ours_fd) - 1) < 1e-6,
      hint="MSELoss averages over the K = 10 classes as well as the batch, our distance is 1/2 of the sum")
