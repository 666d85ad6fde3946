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
# # 03 · Backward-compatible training: new queries, old gallery
#
# **Goal:** train a face embedder whose queries can search a gallery indexed by an *older* model, and
# measure when that works (BCT) and when it does not (independent training, too few training people).
#
# **Time:** ~25-30 min. The six trained face models ship with the kit, so the notebook runs in about a
# minute; set `RETRAIN = True` below to train them here instead (a few minutes on one core, cached after).
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gracekit/gracekit/blob/main/notebooks/03_bct_faces.ipynb)
#
# A photo-search service has embedded millions of gallery photos with its face model. A better model
# arrives. Re-embedding the whole gallery ("backfilling") is slow and expensive, so the question is:
# can the **new** model's queries be compared directly with the **old** gallery embeddings? With two
# independently trained models the answer is no. Backward-compatible training (BCT; Shen, Xiong, Xia &
# Soatto, CVPR 2020) trains the new model so that the answer is yes.
#
# Every sentence below that states a result of this run is checked by the cell after it: `✓` lines are
# claims that hold for the numbers printed beside them (± is a standard error unless it says sd).

# %%
# Setup: on Colab, install the kit with its shipped data (torch is already there); elsewhere nothing
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gracekit @ git+https://github.com/gracekit/gracekit"], check=True)

import json
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import gracekit
from gracekit.bct import explorer as bct_view
from gracekit.bct import plots as bct_plots
from gracekit.bct.face_files import load_faces
from gracekit.bct.faces import make_faces, split_identities
from gracekit.bct.recipe import load_models, train_face_embedder
from gracekit.claims import claim, paired_diff, se_mean
from gracekit.config import real_data_dir
from gracekit.datasets import shipped
from gracekit.embedding_losses import influence_term, l2_term, synthesize_weights
from gracekit.exercises import check
from gracekit.models import embed
from gracekit.retrieval import (backfill_curve, clustered_se, cross_model_matrix, mean_average_precision,
                                tar_at_far, topk_by_identity, update_gain)
from gracekit.viz.style import METHOD_COLORS, REFERENCE

print(gracekit.setup(seed=0))


def gain(m_new_old, m_old_old, m_paragon):
    """Update gain G, or NaN when the paragon is no better than the old model (tiny FAST-mode models)."""
    return update_gain(m_new_old, m_old_old, m_paragon) if m_paragon > m_old_old else float("nan")

# %% tags=["parameters"]
FAST = gracekit.is_fast()  # GRACEKIT_FAST=1 shrinks everything for tests (and then trains tiny models)
SEED = 0
SETUP = dict(n_old=100, n_new=300, n_per_identity=12, n_test=100, n_test_images=10, difficulty=1.0,
             n_epochs=20, decay_epochs=4, lr=3e-3, batch_size=64, weight_decay=5e-4, margin=0.2, scale=16.0,
             n_draws=5)
if FAST:
    SETUP.update(n_old=20, n_new=40, n_per_identity=8, n_test=20, n_test_images=6, n_epochs=6, decay_epochs=2,
                 n_draws=3)
LAM = 2.0      # BCT influence-loss weight used below (section 6 sweeps 0.1 to 4)
L2_LAM = 10.0  # weight of the L2 baseline
RETRAIN = False   # True: train the six models here (cached) instead of loading gracekit/data/bct_models.pt
USE_OLIVETTI = True  # section 10 runs when olivettifaces.mat is in gracekit.config.real_data_dir(); False skips it
OLIVETTI_EPOCHS = 8 if FAST else 40
SWEEP_FILE = shipped("bct_sweep.json")             # λ sweep, 3 seeds: tools/make_bct_sweep.py
IDENTITIES_FILE = shipped("bct_identities.json")   # 25-300 training identities: tools/make_bct_identities.py
torch.set_num_threads(1)  # one thread, like the tools: the same seed gives the same models

# %% [markdown]
# ## 1. Synthetic faces
#
# `gracekit.bct.faces.make_faces` draws grey 64x64 faces from 28 **identity parameters** (face
# shape, eye spacing and size, brows, nose, mouth, hair, skin tone, glasses, beard) that stay fixed
# for a person, plus **nuisances** drawn fresh for every image: pose (yaw, pitch, roll), scale and
# position, a lighting ramp and gain, expression (smile, open mouth, blink, raised brows), glasses
# taken off or put on, a random occluding patch, background and noise. One knob, `difficulty`,
# scales the nuisances. No single feature identifies a person, so a model must combine many.
#
# The protocol is **open set**: the models train on some people and are tested on 100 *other* people
# (1 gallery image each, the rest are queries; top-1 averaged over 5 random gallery draws).

# %%
S = SETUP
start = time.perf_counter()
train_faces = make_faces(S["n_new"], S["n_per_identity"], difficulty=S["difficulty"], seed=SEED)
test_faces = make_faces(identities=range(1000, 1000 + S["n_test"]), n_per_identity=S["n_test_images"],
                        difficulty=S["difficulty"], seed=SEED)
seconds = time.perf_counter() - start
n_images = len(train_faces.images) + len(test_faces.images)
print(f"{n_images:,} faces in {seconds:.1f} s ({1000 * seconds / n_images:.2f} ms per image)")
X, y = train_faces.images, train_faces.identity
X_test, y_test = test_faces.images, test_faces.identity
is_old = y < S["n_old"]
print(f"old model: identities 0-{S['n_old'] - 1} ({is_old.sum():,} images); "
      f"new model: identities 0-{S['n_new'] - 1} ({len(X):,} images); "
      f"test: {S['n_test']} unseen identities x {S['n_test_images']} images")

fig, axes = plt.subplots(3, 8, figsize=(10, 4))
for row, person in enumerate([0, 1, 2]):
    for col in range(8):
        ax = axes[row, col]
        ax.imshow(X[y == person][col], cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
    axes[row, 0].set_ylabel(f"person {person}")
fig.suptitle("three synthetic people, eight images each (nuisances change, identity does not)")
plt.show()

# %% [markdown]
# ## 2. The old model, and an independently trained new model
#
# The embedder (`gracekit.models.FaceEmbedder`): input pooled to 32x32, four conv blocks
# (16/32/32/32 channels), a 64-D unit-length embedding and a cosine classifier trained with a CosFace
# margin (scale 16, margin 0.2), with on-the-fly shift/zoom/flip/brightness augmentation. The recipe
# (`train` below): Adam, then a few final epochs at a tenth of the learning rate.
#
# Two seeds decide a trained network besides its data and loss: the **initial weights** and the **batch
# order** (which also drives the augmentation). The old model starts from weights `SEED`; every
# compatible new model below (BCT, its ablation, L2) starts from weights `SEED + 1000` and sees the batches
# in the order of `SEED`, so they differ only by their loss. The **independent** new model gets its own
# initial weights and batch order (`SEED + 2000`): section 3b shows why that matters.
#
# The **old** model sees the first 100 identities; the new models all 300. Retrieval compares unit
# embeddings by cosine similarity. The cross-model matrix puts the query model on the rows and the gallery
# model on the columns. Unless `RETRAIN` is set, the trained models are read from
# `gracekit/data/bct_models.pt` (made with this recipe by `tools/make_bct_models.py`).

# %%
def train(n_classes, X, y, name, extra_loss=None, extra_key=None, setup=S, seed=SEED, init_seed=None,
          fit_seed=None):
    """Train a FaceEmbedder: Adam at lr, then `decay_epochs` more at lr/10 (both stages cached).

    init_seed: initial weights (default seed + 1000); fit_seed: batch order and augmentation (default seed).
    """
    return train_face_embedder(n_classes, X, y, name, setup=setup, seed=seed, extra_loss=extra_loss,
                               extra_key=extra_key, init_seed=init_seed, fit_seed=fit_seed, progress=True)


SHIPPED = None if (FAST or RETRAIN) else load_models()[0]


def get_model(name, train_it):
    """The shipped model `name`, or `train_it()` (trained here, cached) in FAST mode or with RETRAIN."""
    return SHIPPED[name] if SHIPPED is not None else train_it()


timings = {}
start = time.perf_counter()
old = get_model("old", lambda: train(S["n_old"], X[is_old], y[is_old], "old", init_seed=SEED, fit_seed=SEED))
own = SEED + 2000
independent = get_model("independent", lambda: train(S["n_new"], X, y, "independent-own", init_seed=own,
                                                     fit_seed=own))
timings["old and independent"] = time.perf_counter() - start

Z = {"old": embed(old, X_test), "indep": embed(independent, X_test)}
names, M, per = cross_model_matrix(Z, y_test, n_draws=S["n_draws"], seed=SEED)
chance = 1 / S["n_test"]
m_old_old, m_paragon, m_ind_old = M[0, 0], M[1, 1], M[1, 0]
head = per[("indep", "indep")] - per[("old", "old")]
print(f"old/old top-1 = {m_old_old:.3f}   independent new/new = {m_paragon:.3f} "
      f"({head.mean():+.3f} ± {clustered_se(head):.3f}, SE clustered over {S['n_test']} test identities)")
print(f"independent new -> old gallery = {m_ind_old:.3f} ± {clustered_se(per[('indep', 'old')]):.3f}; "
      f"chance = {chance:.3f}")
bct_plots.plot_cross_model_matrix(M, ["old", "independent"], title="independent training: top-1")
plt.show()

# %% [markdown]
# The new model is better than the old one on its own gallery, but its queries against the old gallery
# are close to chance: the two embedding spaces are unrelated (even a rotation of the same space would
# break cosine retrieval). Without BCT the only way to use the new model is to backfill the whole gallery.

# %%
claim("the independent new model beats the old model on its own gallery (by more than 2 SE)",
      head.mean() > 2 * clustered_se(head), only_full=True, gain=head.mean(), se=clustered_se(head))
claim("independent new queries against the old gallery are close to chance (under 5x chance)",
      m_ind_old < 5 * chance, only_full=True, new_old=m_ind_old, chance=chance)

# %% [markdown]
# ## 3. BCT: the influence loss
#
# BCT adds one term to the new model's loss. The new embedding goes through the **old, frozen
# classifier** and must classify the training identities there too:
#
# $$L = L_{\rm CosFace}(w_{\rm new}, \phi_{\rm new}) + \lambda\, L_{\rm CosFace}(w_{\rm old}, \phi_{\rm new}).$$
#
# Three details from the official reimplementation (openBCT) matter:
# * the old classifier is frozen; when the widths differ the new embedding is truncated or zero-padded
#   to the old width;
# * the 200 identities the old model never saw have no row in its classifier. BCT **synthesizes**
#   them: the row of a new identity is the mean of the *old* model's embeddings of its training images
#   (`synthesize_weights`), so new people are also placed where the old model would put them;
# * openBCT adds the term with weight 1. At this scale we use λ = 2 (section 6 sweeps λ).

# %% tags=["report"]
W_syn = synthesize_weights(embed(old, X), y, n_classes=S["n_new"], old_weight=old.weight.detach())
print(f"old classifier: {tuple(old.weight.shape)} -> with synthesized rows: {tuple(W_syn.shape)}")
old_key = {"old": f"old-seed{SEED}"}
start = time.perf_counter()
bct = get_model("BCT", lambda: train(S["n_new"], X, y, f"bct-{LAM:g}",
                                     influence_term(W_syn, lam=LAM, scale=S["scale"], margin=S["margin"]), {**old_key, "lam": LAM}))
timings["BCT"] = time.perf_counter() - start
Z["BCT"] = embed(bct, X_test)
names, M, per = cross_model_matrix(Z, y_test, n_draws=S["n_draws"], seed=SEED)
m_bct_old, m_bct_new = M[2, 0], M[2, 2]
diff = per[("BCT", "old")] - per[("old", "old")]
nn_gap = per[("BCT", "BCT")] - per[("indep", "indep")]
G = gain(m_bct_old, m_old_old, m_paragon)
print(f"M(BCT, old) = {m_bct_old:.3f} vs M(old, old) = {m_old_old:.3f}: difference {diff.mean():+.3f} "
      f"± {clustered_se(diff):.3f} ({diff.mean() / clustered_se(diff):.1f} SE)")
print(f"criterion M(new, old) > M(old, old): {'PASSES' if m_bct_old > m_old_old else 'fails'}")
print(f"update gain G = {G:.2f}   (openBCT, ImageNet R18 -> R50-BCT, top-1: (55.5-52.4)/(62.0-52.4) = "
      f"{update_gain(0.555, 0.524, 0.620):.2f})")
print(f"BCT new/new = {m_bct_new:.3f} vs independent new/new = {m_paragon:.3f} "
      f"({nn_gap.mean():+.3f} ± {clustered_se(nn_gap):.3f})")
bct_plots.plot_cross_model_matrix(M, ["old", "independent", "BCT"], title=f"BCT, λ = {LAM:g}: top-1")
plt.show()

# %% [markdown]
# Read the bottom-left cell: the new model's queries now retrieve from the old gallery **better than
# the old model itself did** — the user gets part of the update's gain on the day it ships, with no
# backfilling. The bottom-right cell is BCT's own new/new accuracy; it stays close to the unconstrained
# new model's (the old model also acts as a teacher, so G's denominator, the independent model's gain,
# is only a loose yardstick).

# %%
claim("BCT's queries retrieve from the old gallery better than the old model itself did (by more than 2 SE)",
      diff.mean() > 2 * clustered_se(diff), only_full=True, bct_old=m_bct_old, old_old=m_old_old,
      diff=diff.mean(), se=clustered_se(diff))
claim("BCT's new/new stays within 3 points of the independent model's",
      abs(nn_gap.mean()) < 0.03, only_full=True, bct_new=m_bct_new, independent_new=m_paragon, gap=nn_gap.mean())

# %% [markdown]
# ### 3b. Why the independent model has its own seed
#
# An earlier version of this notebook started the independent model from the same initial weights and fed
# it the same batch order as the BCT models. The **twin** below is that model: no compatibility term, but
# BCT's initial weights and batch order. Two networks that start from the same weights and see the same
# batches take similar first steps, and their features stay partly aligned to the end: the twin's space is
# *related* to BCT's, for a reason that has nothing to do with BCT. A fair "independent" model must share
# nothing with the others but the data, so its queries measure what an unrelated new model would do.

# %%
twin = get_model("twin", lambda: train(S["n_new"], X, y, "independent"))
Z_t = {"independent": Z["indep"], "twin": embed(twin, X_test)}
_, M_t, _ = cross_model_matrix(Z_t, y_test, n_draws=S["n_draws"], seed=SEED)
print(f"seed {SEED}: twin -> independent gallery {M_t[1, 0]:.3f}, independent -> twin gallery {M_t[0, 1]:.3f} "
      f"(chance {chance:.3f}); new/new: twin {M_t[1, 1]:.3f}, independent {M_t[0, 0]:.3f}")

sweep_data = json.loads(SWEEP_FILE.read_text())
seeds = sweep_data["meta"]["seeds"]


def per_seed(name, key):
    """One number per seed of the shipped sweep, for the variant `name` (seeds in file order)."""
    return np.array([r[key] for r in sweep_data["records"] if r["name"] == name])


lams = sorted({r["lam"] for r in sweep_data["records"] if r["variant"] == "bct"})
chance_sweep = 1 / sweep_data["meta"]["setup"]["n_test"]
twin_cross = {lam: per_seed(f"bct-{lam:g}", "twin_cross") for lam in lams}
for lam in lams:
    print(f"shipped sweep, λ = {lam:<4g}: BCT queries -> twin gallery, per seed {np.round(twin_cross[lam], 3).tolist()}")
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.errorbar(lams, [twin_cross[lam].mean() for lam in lams], yerr=[se_mean(twin_cross[lam])[1] for lam in lams],
            marker="o", capsize=3, color=METHOD_COLORS["bct"], label="BCT queries, twin gallery (mean ± SE over seeds)")
ax.axhline(chance_sweep, color=REFERENCE, ls="--", lw=1, label="chance")
ax.set_xscale("log")
ax.set_xticks(lams, [f"{lam:g}" for lam in lams])
ax.minorticks_off()
ax.set_xlabel("influence-loss weight λ")
ax.set_ylabel("top-1")
ax.set_title("what a shared start leaves behind")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Trained alike from different starts, the twin and the independent model search each other's galleries
# close to chance. The BCT models share the twin's start: with a weak influence term (λ = 0.1) BCT and its
# twin retrieve from each other far above chance in every seed, although neither was trained to be
# compatible with the other. The link fades as λ grows and the influence term pulls BCT into the old space;
# from λ = 2 on it is close to chance. Sharing an initialization and a batch order is a hidden, partial
# compatibility: compared with such a twin, "independent" training looks more compatible than it is.

# %%
claim("the twin and the independent model search each other's galleries within 2 points of chance",
      max(M_t[1, 0], M_t[0, 1]) < chance + 0.02, only_full=True, twin_indep=M_t[1, 0], indep_twin=M_t[0, 1])
claim("at λ = 0.1, BCT and its twin retrieve from each other at over 10x chance in every seed",
      (twin_cross[0.1] > 10 * chance_sweep).all(), lowest=twin_cross[0.1].min(), seeds=len(twin_cross[0.1]))
claim("from λ = 2 on, BCT queries find the twin's gallery at under 5x chance in every seed",
      all((twin_cross[lam] < 5 * chance_sweep).all() for lam in lams if lam >= 2),
      highest=max(twin_cross[lam].max() for lam in lams if lam >= 2))

# %% [markdown]
# ## 4. Ablation: no synthesized weights
#
# Without synthesized rows the influence loss can only use the 100 old identities (openBCT drops the
# samples of classes that have no old row). The 200 new identities are then trained with no pull
# towards the old space.

# %%
W_old = torch.nn.functional.normalize(old.weight.detach(), dim=1)
ablation = get_model("BCT-oldonly", lambda: train(S["n_new"], X, y, "bct-oldonly",
                                                  influence_term(W_old, lam=LAM, scale=S["scale"], margin=S["margin"]),
                                                  {**old_key, "lam": LAM}))
Z["BCT-old ids"] = embed(ablation, X_test)

# %% [markdown]
# ## 5. Baseline: L2 regression onto the old embeddings
#
# The obvious alternative: add λ·‖φ_new(x) − φ_old(x)‖² to the loss. It forces the new embedding to
# *copy* the old one, so it buys compatibility by giving up new/new accuracy (the "compatibility tax").

# %% tags=["report"]
l2 = get_model("L2", lambda: train(S["n_new"], X, y, f"l2-{L2_LAM:g}", l2_term(old, lam=L2_LAM),
                                   {**old_key, "lam": L2_LAM}))
Z["L2"] = embed(l2, X_test)

names, M, per = cross_model_matrix(Z, y_test, n_draws=S["n_draws"], seed=SEED)
print(f"seed {SEED}:\n{'new model':<14}{'new->old':>9}{'- old/old':>11}{'(SE)':>8}{'G':>7}{'new/new':>9}")
for i, name in enumerate(names[1:], start=1):
    d = per[(name, "old")] - per[("old", "old")]
    g = gain(M[i, 0], M[0, 0], m_paragon)
    print(f"{name:<14}{M[i, 0]:>9.3f}{d.mean():>+11.3f}{clustered_se(d):>8.3f}{g:>+7.2f}{M[i, i]:>9.3f}")
print(f"old/old = {M[0, 0]:.3f}; chance = {chance:.3f}")
bct_plots.plot_cross_model_matrix(M, names, title=f"top-1, all models (seed {SEED})")
plt.show()

g_bct, g_abl = per_seed(f"bct-{LAM:g}", "gain"), per_seed("bct-oldonly", "gain")
d_l2 = per_seed(f"l2-{L2_LAM:g}", "new_old") - per_seed(f"l2-{L2_LAM:g}", "old_old")
se_l2 = per_seed(f"l2-{L2_LAM:g}", "diff_se")
tax = per_seed(f"l2-{L2_LAM:g}", "new_new") - per_seed(f"l2-{L2_LAM:g}", "paragon")
print(f"shipped sweep, seeds {seeds}: G of BCT {np.round(g_bct, 2)}, of the ablation {np.round(g_abl, 2)}; "
      f"L2 new->old - old/old {np.round(d_l2, 3)} (clustered SE {np.round(se_l2, 3)}); "
      f"L2 new/new - independent {np.round(tax, 3)}")

# %% [markdown]
# One seed is one draw; the shipped sweep (`data/bct_sweep.json`, the same recipe over three seeds) says
# which differences are real:
# * **BCT with synthesized weights** passes the criterion (sections 3 and 6).
# * **BCT on old identities only** keeps a much smaller update gain G than BCT with synthesized rows.
# * **L2** at this toy scale **also passes** the criterion — honestly, it does — but its new/new accuracy
#   falls below the independent model's: it pays for compatibility with the update's gain. The BCT paper
#   reports that L2 fails the criterion on real face data at scale; we do not reproduce that here.

# %%
m, se = paired_diff(g_bct, g_abl)
claim("without synthesized rows the update gain G is smaller than with them (paired over seeds, > 2 SE)",
      m > 2 * se and (g_abl < g_bct).all(), G_bct=g_bct.mean(), G_ablation=g_abl.mean(), diff=m, se=se)
claim("L2 passes the criterion in every seed, each by more than 2 clustered SE", (d_l2 > 2 * se_l2).all(),
      min_diff=d_l2.min(), seeds=len(d_l2))
m, se = se_mean(tax)
claim("L2's new/new is below the independent model's in every seed (mean over seeds more than 2 SE below 0)",
      (tax < 0).all() and m < -2 * se, tax=m, se=se)

# %% [markdown]
# ## 6. The λ sweep: from fail to pass
#
# How strong must the influence term be? Training one model per λ takes minutes, so the sweep was
# computed at full size with 3 seeds by `tools/make_bct_sweep.py` (the same recipe as above) and ships as
# `data/bct_sweep.json`. Its seed-0 model at λ = 2 is the BCT model above, so the first line checks that
# the file and this notebook agree.

# %%
records = [r for r in sweep_data["records"] if r["variant"] == "bct"]
ours = [r for r in records if r["seed"] == SEED and r["lam"] == LAM]
claim(f"the shipped sweep's seed-{SEED} model at λ = {LAM:g} is this notebook's BCT model (M(BCT, old) within 0.01)",
      bool(ours) and abs(ours[0]["new_old"] - m_bct_old) < 0.01, only_full=True,
      sweep=ours[0]["new_old"] if ours else float("nan"), here=m_bct_old)
print(f"λ sweep: seeds {seeds}, {sweep_data['meta']['setup']['n_new']} training identities "
      f"(± is the SE over seeds; 'clustered SE' is the SE over the 100 test identities of one seed)")
summary = {}
for lam in lams:
    name = f"bct-{lam:g}"
    d = per_seed(name, "new_old") - per_seed(name, "old_old")
    z = d / per_seed(name, "diff_se")
    summary[lam] = dict(d=d, z=z, new_old=se_mean(per_seed(name, "new_old")), gain=se_mean(per_seed(name, "gain")),
                        new_new=se_mean(per_seed(name, "new_new") - per_seed(name, "paragon")))
    print(f"  λ = {lam:<4g} M(BCT, old) - M(old, old) per seed: "
          + ", ".join(f"{x:+.3f} ({zz:+.1f} clustered SE)" for x, zz in zip(d, z))
          + f"; G = {summary[lam]['gain'][0]:+.2f} ± {summary[lam]['gain'][1]:.2f}"
          + f"; new/new - independent = {summary[lam]['new_new'][0]:+.3f} ± {summary[lam]['new_new'][1]:.3f}")
old_old_sweep = np.mean([r["old_old"] for r in records])
fig = bct_plots.plot_lambda_sweep(lams, [summary[lam]["new_old"][0] for lam in lams], old_old_sweep,
                                 new_new=[se_mean(per_seed(f"bct-{lam:g}", "new_new"))[0] for lam in lams],
                                 paragon=np.mean(per_seed(f"bct-{LAM:g}", "paragon")),
                                 se=[summary[lam]["new_old"][1] for lam in lams])
fig.axes[0].set_title(f"BCT λ sweep (mean ± SE over seeds {seeds})")
plt.show()

# %% [markdown]
# Read the printout from the top: with a weak influence term (λ = 0.1) the new queries are pulled only
# part of the way into the old space and the criterion fails in every seed. At λ = 0.3 it passes in every
# seed, but narrowly: each seed's margin is inside 2 of its clustered SE, and it is smaller than at λ = 1.
# From λ = 1 on it passes in every seed by more than 3 clustered SE, and new/new stays within a few
# points of the independent model's at every λ.

# %%
s01, s03, s1 = summary[0.1], summary[0.3], summary[1.0]
claim("λ = 0.1 fails in every seed", (s01["d"] < 0).all(), diffs=np.round(s01["d"], 3).tolist())
claim("λ = 0.3 passes in every seed, each margin inside 2 clustered SE",
      (s03["d"] > 0).all() and (s03["z"] < 2).all(), diffs=np.round(s03["d"], 3).tolist(),
      z=np.round(s03["z"], 1).tolist())
m, se = paired_diff(per_seed("bct-1", "new_old"), per_seed("bct-0.3", "new_old"))
claim("λ = 1 beats λ = 0.3 on M(BCT, old) (paired over seeds, > 2 SE)", m > 2 * se, diff=m, se=se)
big = [lam for lam in lams if lam >= 1]
claim(f"λ ≥ 1 passes in all {len(seeds)} seeds by more than 3 clustered SE", len(seeds) >= 3 and
      all((summary[lam]["z"] > 3).all() for lam in big), min_z=min(summary[lam]["z"].min() for lam in big))
worst = max(abs(summary[lam]["new_new"][0]) for lam in lams)
claim("new/new stays within 4 points of the independent model's at every λ (mean over seeds)", worst < 0.04,
      largest_gap=worst)

# %% [markdown]
# Move the slider to see the cross-model matrix (seed 0: old, the twin of section 3b, BCT at that λ) and
# the update gain at each λ. Below the widget is a static figure of the same content for readers without a
# live kernel. Watch the twin column: the weaker the influence term, the more BCT stays near its twin.

# %%
seed0 = [r for r in records if r["seed"] == seeds[0]]
sweep = bct_view.BCTSweepModel.from_records(seed0, names=("old", "twin", "BCT"))
view = bct_view.show(sweep, start=lams.index(LAM) if LAM in lams else None)

# %%
n_l = len(sweep.lambdas)
fig, axes = plt.subplots(2, (n_l + 1) // 2, figsize=(4.2 * ((n_l + 1) // 2), 8.2))
for i, ax in enumerate(axes.ravel()):
    if i >= n_l:
        ax.axis("off")
        continue
    s = sweep.at(i)
    bct_plots.plot_cross_model_matrix(s["matrix"], sweep.names, ax=ax, fontsize=12,
                                     title=f"λ = {s['lam']:g}, G = {s['gain']:+.2f}")
fig.suptitle(f"top-1, query model (rows) x gallery model (columns), seed {seeds[0]}")
fig.tight_layout()
plt.show()
for i in range(n_l):
    print(sweep.describe(i))

# %% [markdown]
# ## 7. Backfilling
#
# Compatibility is not all-or-nothing: the service can re-index the gallery gradually. The curve below
# shows top-1 for new queries while a growing random fraction of the gallery is re-embedded with the new
# model (the rest keeps its old embeddings). With an incompatible model, users do worse than with the
# old model until much of the gallery is re-indexed; a BCT model starts above the old model and climbs
# from there. The area under the curve summarizes it (FastFill, ICLR 2023, uses this area as its
# backfilling metric).

# %%
curves, areas = {}, {}
for name, label in [("indep", "independent"), ("BCT", "BCT"), ("L2", "L2")]:
    fr, acc, area = backfill_curve(Z[name], Z["old"], Z[name], y_test, n_draws=S["n_draws"], seed=SEED)
    curves[label], areas[label] = acc, area
    print(f"{label:<12} top-1 at 0% / 50% / 100% backfilled: {acc[0]:.3f} / {acc[len(acc) // 2]:.3f} / "
          f"{acc[-1]:.3f}; area = {area:.3f}")
fig = bct_plots.plot_backfill(fr, curves)
fig.axes[0].axhline(m_old_old, color=REFERENCE, ls="--", lw=1, label="old/old")
fig.axes[0].legend(fontsize=8)
plt.show()
half = len(fr) // 2
claim("with the independent model, users do worse than with the old model at 50% backfilled",
      curves["independent"][half] < m_old_old, only_full=True, independent_50=curves["independent"][half],
      old_old=m_old_old)
claim("the BCT curve starts above old/old and its area beats the independent model's",
      curves["BCT"][0] > m_old_old and areas["BCT"] > areas["independent"], only_full=True,
      bct_0=curves["BCT"][0], area_bct=areas["BCT"], area_independent=areas["independent"])

# %% [markdown]
# ## 8. Other retrieval metrics
#
# Face systems also report mAP and verification (TAR at a fixed FAR: the fraction of genuine pairs
# accepted at the threshold that lets through a given fraction of impostor pairs). The same picture
# should appear: BCT queries against the old gallery beat the old model.

# %%
gi = np.arange(0, len(y_test), S["n_test_images"])  # first image of each test person as gallery
qi = np.setdiff1d(np.arange(len(y_test)), gi)
far = 1e-2
metrics = {}
for qname, gname in [("old", "old"), ("indep", "old"), ("BCT", "old"), ("L2", "old"), ("BCT", "BCT")]:
    mAP = mean_average_precision(Z[qname][qi], Z[gname][gi], y_test[qi], y_test[gi])
    tar, _ = tar_at_far(Z[qname][qi], Z[gname][gi], y_test[qi], y_test[gi], far=far)
    metrics[(qname, gname)] = (mAP, tar)
    print(f"query {qname:<5} gallery {gname:<5}  mAP = {mAP:.3f}   TAR@FAR={far:g} = {tar:.3f}")
claim("BCT queries against the old gallery beat the old model in mAP and in TAR",
      all(a > b for a, b in zip(metrics[("BCT", "old")], metrics[("old", "old")])), only_full=True,
      mAP=metrics[("BCT", "old")][0], mAP_old=metrics[("old", "old")][0],
      TAR=metrics[("BCT", "old")][1], TAR_old=metrics[("old", "old")][1])

# %% [markdown]
# ## 9. How many training people does BCT need?
#
# The criterion asks a lot: the new model, tied to the old model's classifier, must retrieve from the old
# gallery better than the old model does. Whether that works here depends on how many identities the
# models learn from. `tools/make_bct_identities.py` trained the same three models (old, BCT with
# synthesized weights at λ = 2, independent) on 25, 50, 100 and 300 training identities (the old model on
# the first third of them, as above), over several seeds, and tested them on the same 100 unseen people;
# the result ships as `data/bct_identities.json`. The recipe's epochs are fixed, so fewer people also means
# fewer optimizer steps (printed). The 300-people point is the setting of this notebook.

# %%
ident = json.loads(IDENTITIES_FILE.read_text())
recipe = [r for r in ident["records"] if r.get("epoch_scale", 1) == 1]   # the notebook's recipe
control = [r for r in ident["records"] if r.get("epoch_scale", 1) > 1]  # more epochs, same people
sizes = sorted({r["n_train"] for r in recipe})
curve = {}
for n in sizes:
    rs = [r for r in recipe if r["n_train"] == n]
    d = np.array([r["diff"] for r in rs])
    curve[n] = dict(d=d, mean_se=se_mean(d), head=se_mean([r["paragon"] - r["old_old"] for r in rs]),
                    old_old=se_mean([r["old_old"] for r in rs]), steps=rs[0]["steps"], n_old=rs[0]["n_old"])
    c = curve[n]
    print(f"{n:>3} training identities (old model {c['n_old']:>3}, {c['steps']:>5} steps), {len(d)} seeds: "
          f"old/old {c['old_old'][0]:.3f}; BCT->old - old/old = {c['mean_se'][0]:+.3f} ± {c['mean_se'][1]:.3f} "
          f"({(d > 0).sum()} of {len(d)} seeds pass); independent new/new - old/old = {c['head'][0]:+.3f}")
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.errorbar(sizes, [curve[n]["mean_se"][0] for n in sizes], yerr=[curve[n]["mean_se"][1] for n in sizes],
            marker="o", capsize=3, color=METHOD_COLORS["bct"], label="M(BCT, old) − M(old, old), mean ± SE over seeds")
for n in sizes:
    ax.plot([n] * len(curve[n]["d"]), curve[n]["d"], ".", color="0.5", alpha=0.7)
ax.axhline(0, color=REFERENCE, ls="--", lw=1, label="the criterion's bar")
ax.set_xscale("log")
ax.set_xticks(sizes, [str(n) for n in sizes])
ax.minorticks_off()
ax.set_xlabel("training identities of the new model")
ax.set_ylabel("top-1 difference")
ax.legend(fontsize=8)
ax.set_title("BCT's criterion against the number of training people (grey: seeds)")
plt.show()

# %% [markdown]
# With 25 and with 50 training people BCT fails the criterion in every seed. At 100 it is on the edge:
# the mean difference is positive but inside 2 SE of zero, and not every seed passes. With 300 it passes
# in every seed. The headroom (how much
# better the independent new model is than the old one) does not explain this: it is about the same with
# 25 people as with 300. Two things change with the number of people here: the variety of faces the
# models learn from, and the number of optimizer steps (fixed epochs). The control below trains the
# 25-people models for 12 times the epochs, about the 300-people models' steps: BCT still fails, in every
# seed. So the variety of training people is what BCT's criterion needs here: the new model must
# generalize *through the old classifier*, and 25 people are not enough.

# %%
lo, mid, hi = sizes[0], 100, sizes[-1]
claim(f"with {lo} training identities BCT fails the criterion (mean over seeds more than 2 SE below 0)",
      curve[lo]["mean_se"][0] < -2 * curve[lo]["mean_se"][1], diff=curve[lo]["mean_se"][0], se=curve[lo]["mean_se"][1])
claim("with 25 and with 50 training identities it fails in every seed",
      all((curve[n]["d"] < 0).all() for n in (25, 50)), max_25=curve[25]["d"].max(), max_50=curve[50]["d"].max())
claim(f"at {mid} the mean difference is positive but inside 2 SE of zero, and not every seed passes",
      0 < curve[mid]["mean_se"][0] < 2 * curve[mid]["mean_se"][1] and (curve[mid]["d"] <= 0).any(),
      diff=curve[mid]["mean_se"][0], se=curve[mid]["mean_se"][1], passing=(curve[mid]["d"] > 0).sum(),
      seeds=len(curve[mid]["d"]))
claim(f"with {hi} it passes in every seed", (curve[hi]["d"] > 0).all(), min_diff=curve[hi]["d"].min())
claim(f"the headroom is about the same with {lo} people as with {hi} (within 5 points)",
      abs(curve[lo]["head"][0] - curve[hi]["head"][0]) < 0.05,
      headroom_lo=curve[lo]["head"][0], headroom_hi=curve[hi]["head"][0])
d_c = np.array([r["diff"] for r in control])
m_c, se_c = se_mean(d_c)
print(f"control: {control[0]['n_train']} training identities with {control[0]['epoch_scale']}x epochs "
      f"({control[0]['steps']} steps, against {curve[hi]['steps']} at {hi}), {len(d_c)} seeds: "
      f"BCT->old - old/old = {m_c:+.3f} ± {se_c:.3f} ({(d_c > 0).sum()} of {len(d_c)} seeds pass)")
claim(f"with about as many optimizer steps as at {hi} people, {control[0]['n_train']} people still fail in every seed",
      len(d_c) >= 3 and (d_c < 0).all() and control[0]["steps"] >= curve[hi]["steps"], max_diff=d_c.max(),
      steps=control[0]["steps"])

# %% [markdown]
# ## 10. Real faces: Olivetti as a mechanism check
#
# The Olivetti faces (AT&T Laboratories Cambridge; 40 people x 10 images) are real, and small: the models
# below train on 25 people, the synthetic curve's smallest point. So Olivetti cannot test whether BCT
# *passes* on real faces; it checks the *mechanism*: an independent model's queries against the old
# gallery are near chance, and BCT pulls them into the old space. The kit does not ship the data. To run
# this section, put `olivettifaces.mat` (scikit-learn's Olivetti file) into the folder printed below, or
# point `GRACEKIT_REAL_DATA` at the folder holding it; `USE_OLIVETTI = False` in the parameters skips it.
#
# Old model: people 0-11; new models: people 0-24 (BCT with synthesized weights, and independent with its
# own seed); test: people 25-39, 1 gallery image each. With 15 test people the clustered standard errors
# are several points.

# %%
olivetti_file = real_data_dir() / "olivettifaces.mat"
real = None
if not USE_OLIVETTI:
    print("Olivetti check skipped (USE_OLIVETTI = False).")
elif not olivetti_file.is_file():
    print(f"Olivetti check skipped: no olivettifaces.mat in {real_data_dir()}.")
else:
    try:
        real = load_faces("olivetti", data_home=real_data_dir(), fallback=None)
        print(f"loaded: {real.source}, {len(real.images)} images of {len(real.names)} people")
    except (OSError, ValueError) as err:  # an unreadable file: say so in one line and go on
        print(f"Olivetti check skipped: {olivetti_file} could not be read ({err.__class__.__name__}: {err}).")

# %%
if real is not None:
    R = dict(S, n_epochs=OLIVETTI_EPOCHS, decay_epochs=max(1, OLIVETTI_EPOCHS // 5), batch_size=32)
    tr_idx, te_idx = split_identities(real.identity, n_test=15, seed=None)
    Xo, yo = real.images[tr_idx], real.identity[tr_idx]
    o_old = yo < 12
    o_models = {"old": train(12, Xo[o_old], yo[o_old], "olivetti-old", setup=R, init_seed=SEED, fit_seed=SEED)}
    o_models["indep"] = train(25, Xo, yo, "olivetti-independent-own", setup=R, init_seed=own, fit_seed=own)
    W_o = synthesize_weights(embed(o_models["old"], Xo), yo, n_classes=25, old_weight=o_models["old"].weight.detach())
    o_models["BCT"] = train(25, Xo, yo, "olivetti-bct", influence_term(W_o, lam=LAM, scale=S["scale"], margin=S["margin"]),
                            {"lam": LAM}, setup=R)
    Zo = {k: embed(m, real.images[te_idx]) for k, m in o_models.items()}
    names_o, M_o, per_o = cross_model_matrix(Zo, real.identity[te_idx], n_draws=5)
    d_o = per_o[("BCT", "old")] - per_o[("old", "old")]
    lift = per_o[("BCT", "old")] - per_o[("indep", "old")]
    print(f"Olivetti: old/old {M_o[0, 0]:.3f}, independent new/new {M_o[1, 1]:.3f}, BCT new/new {M_o[2, 2]:.3f}")
    print(f"new -> old gallery: independent {M_o[1, 0]:.3f} (chance {1 / 15:.3f}), BCT {M_o[2, 0]:.3f} "
          f"(lift {lift.mean():+.3f} ± {clustered_se(lift):.3f}); BCT - old/old {d_o.mean():+.3f} ± "
          f"{clustered_se(d_o):.3f}")
    bct_plots.plot_cross_model_matrix(M_o, ["old", "independent", "BCT"], title="Olivetti (15 test people): top-1")
    plt.show()
    claim("on Olivetti, BCT lifts new->old far above the independent model's (by more than 3 SE)",
          lift.mean() > 3 * clustered_se(lift), only_full=True, lift=lift.mean(), se=clustered_se(lift))
    claim("on Olivetti, with 25 training people, BCT->old stays below old/old in this split",
          M_o[2, 0] < M_o[0, 0], only_full=True, bct_old=M_o[2, 0], old_old=M_o[0, 0], diff=d_o.mean(),
          se=clustered_se(d_o))

# %% [markdown]
# What the check shows when it runs: the mechanism carries over to real faces (independent queries near
# chance, BCT's far above), and BCT's queries stay below old/old, as the synthetic curve predicts for 25
# training people. With 15 test people one split cannot show that gap beyond its noise (compare the
# difference with its clustered SE above), but over five identity splits of Olivetti
# (`tools/bench_bct_olivetti.py`, numbers quoted from `docs/bench/bct.md`, not from this run) the
# criterion failed in all of them. Headroom is not what Olivetti lacks: a reviewer's runs that weakened the
# old model to leave more headroom failed by more (quoted in `docs/bench/bct.md`), and on synthetic faces the
# headroom is about the same at 25 and at 300 people (section 9). The number of training people is what the
# synthetic curve points to; the BCT paper trains on tens of thousands (IMDB-Face).
#
# ### What synthetic faces do and do not teach
# * **They do** show the mechanism: unrelated embedding spaces without BCT, the influence loss tying
#   the new space to the old classifier, the need for synthesized weights when new identities arrive,
#   the compatibility tax of L2, the number of training people BCT needs, and backfilling — with enough
#   test identities to put error bars on it.
# * **They do not** show how large these effects are on real faces: the generator's nuisances are simple
#   and its identities differ in 28 numbers. The BCT paper's claims at scale (IMDB-Face, IJB-C) are not
#   tested here, and at this scale L2 passes the criterion too, which the paper reports it does not at scale.

# %%
print("model loading or training time this session (s):", {k: round(v, 1) for k, v in timings.items()},
      "(shipped models)" if SHIPPED is not None else "(trained here or read from the cache)")

# %% [markdown]
# ## Summary
#
# * Two independently trained embedders live in unrelated spaces: new queries against an old gallery
#   retrieve at about chance, so an update forces a full backfill. An "independent" model must not share
#   its initialization and batch order with the model it is compared with: a shared start alone makes two
#   spaces partly compatible.
# * BCT adds one loss term, the new embedding through the old frozen classifier. With synthesized
#   classifier rows for new identities it makes the new model's queries *better* than the old model's
#   on the old gallery (M(new, old) > M(old, old)), and the new model stays close to an independent one on
#   its own gallery.
# * Without synthesized weights the gain is small; L2 regression also buys compatibility here, but pays
#   for it in new/new accuracy. The criterion needs λ of about 1 or more, and enough training people:
#   with 25 (Olivetti's size) it fails.
# * The update gain G and the backfilling curve say how much of the update users get before, and while,
#   the gallery is re-indexed.
#
# ## Exercises
#
# Each exercise ends in a check cell that tests your result (at full size; FAST mode only shows it).
#
# **Exercise 1.** openBCT evaluates with a *leave-one-out* protocol: every test image queries all the
# other test images (gallery embedded by the old model, queries by the new). With
# `gracekit.retrieval.leave_one_out_cmc`, compute leave-one-out top-1 for old/old and BCT→old, and store
# `ex1 = (top-1 old/old, top-1 BCT→old)`. Does the criterion still hold? (Compare the difference with
# section 3's 1-shot difference and its clustered SE.)

# %% tags=["solution"]
# stub: ex1 = None  # (leave-one-out top-1 of old/old, of BCT->old)
from gracekit.retrieval import leave_one_out_cmc

loo = {q: leave_one_out_cmc(Z[q], Z["old"], y_test, topk=(1, 5)) for q in ["old", "indep", "BCT"]}
for q, res in loo.items():
    print(f"query {q:<5} gallery old: top-1 = {res[1]:.3f}, top-5 = {res[5]:.3f}")
ex1 = (loo["old"][1], loo["BCT"][1])
print(f"ex1 = ({ex1[0]:.3f}, {ex1[1]:.3f}); BCT->old - old/old = {ex1[1] - ex1[0]:+.3f}")

# %% tags=["check"]
check("Exercise 1", ex1, lambda v: 0.70 <= v[0] <= 0.79 and 0.02 <= v[1] - v[0] <= 0.06, only_full=True,
      hint="ex1 is a pair of fractions (old/old first); both use the OLD model's embeddings as the gallery, "
           "the queries come from the old model and from BCT; top-1 is key 1 of the returned dict (not 5)")

# %% [markdown]
# **Exercise 2.** A richer gallery: with 3 gallery images per person (`n_shot=3` in
# `gracekit.retrieval.topk_by_identity`, `n_draws=S["n_draws"]`, `seed=SEED`) instead of 1, does BCT still
# beat the old model on the old gallery? Store `ex2 = (M(old, old), M(BCT, old))` with 3-shot galleries,
# and print the clustered SE of their difference (`clustered_se` of the per-identity differences) to see
# whether it is outside the noise. Which of the two numbers did the richer gallery change more?

# %% tags=["solution"]
# stub: ex2 = None  # (3-shot M(old, old), 3-shot M(BCT, old))
_, s_old = topk_by_identity(Z["old"], Z["old"], y_test, n_shot=3, n_draws=S["n_draws"], seed=SEED)
_, s_bct = topk_by_identity(Z["BCT"], Z["old"], y_test, n_shot=3, n_draws=S["n_draws"], seed=SEED)
ex2 = (float(s_old.mean()), float(s_bct.mean()))
print(f"3-shot: old/old {ex2[0]:.3f} (1-shot {m_old_old:.3f}), BCT->old {ex2[1]:.3f} (1-shot {m_bct_old:.3f}); "
      f"difference {ex2[1] - ex2[0]:+.3f} ± {clustered_se(s_bct - s_old):.3f} (clustered SE)")

# %% tags=["check"]
check("Exercise 2", ex2, lambda v: 0.60 <= v[0] <= 0.70 and 0.045 <= v[1] - v[0] <= 0.095, only_full=True,
      hint="ex2 is a pair (old/old first); queries from the old model and from BCT, gallery from the OLD model "
           "in both; n_shot=3 (with n_shot=1 old/old is about 0.53)")
