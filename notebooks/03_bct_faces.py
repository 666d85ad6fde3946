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
# # 02 · Backward-compatible training: new queries, old gallery
#
# **Goal:** train a face embedder whose queries can search a gallery indexed by an *older* model, and
# measure when that works (BCT) and when it does not (independent training).
#
# **Time:** ~25-30 min. Trains a few small CNNs on the CPU (4-5 minutes in full mode, cached after).
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gracekit/gracekit/blob/main/notebooks/03_bct_faces.ipynb)
#
# A photo-search service has embedded millions of gallery photos with its face model. A better model
# arrives. Re-embedding the whole gallery ("backfilling") is slow and expensive, so the question is:
# can the **new** model's queries be compared directly with the **old** gallery embeddings? With two
# independently trained models the answer is no: their embedding spaces are unrelated. Backward-compatible
# training (BCT; Shen, Xiong, Xia & Soatto, CVPR 2020) trains the new model so that the answer is yes.

# %%
# Setup: on Colab, install the kit with its shipped data (torch is already there); elsewhere nothing
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gracekit @ git+https://github.com/gracekit/gracekit"], check=True)

import json
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import gracekit
from gracekit.datasets import shipped
from gracekit.bct import explorer as bct_view
from gracekit.bct import plots as bct_plots
from gracekit.embedding_losses import influence_term, l2_term, synthesize_weights
from gracekit.models import FaceEmbedder, embed
from gracekit.embedding_losses import margin_loss
from gracekit.bct.faces import make_faces, split_identities
from gracekit.bct.face_files import build_olivetti_cache, load_faces
from gracekit.retrieval import (backfill_curve, clustered_se, cross_model_matrix, mean_average_precision,
                                tar_at_far, topk_by_identity, update_gain)
from gracekit.train import fit_two_stage

print(gracekit.setup(seed=0))


def gain(m_new_old, m_old_old, m_paragon):
    """Update gain G, or NaN when the paragon is no better than the old model (tiny FAST-mode models)."""
    return update_gain(m_new_old, m_old_old, m_paragon) if m_paragon > m_old_old else float("nan")

# %% tags=["parameters"]
FAST = gracekit.is_fast()  # GRACEKIT_FAST=1 shrinks everything for tests
SEED = 0
SETUP = dict(n_old=100, n_new=300, n_per_identity=12, n_test=100, n_test_images=10, difficulty=1.0,
             n_epochs=20, decay_epochs=4, lr=3e-3, batch_size=64, weight_decay=5e-4, margin=0.2, scale=16.0,
             n_draws=5)
if FAST:
    SETUP.update(n_old=20, n_new=40, n_per_identity=8, n_test=20, n_test_images=6, n_epochs=6, decay_epochs=2,
                 n_draws=3)
LAM = 2.0      # BCT influence-loss weight used below (the sweep in section 6 covers 0.1 to 4)
L2_LAM = 10.0  # weight of the L2 baseline
OLIVETTI_EPOCHS = 8 if FAST else 40
USE_SHIPPED_SWEEP = True  # False: train the λ sweep here (seed 0 only, a few more minutes)
SWEEP_FILE = shipped("bct_sweep.json")  # made by tools/make_bct_sweep.py
torch.set_num_threads(1)  # one thread, like the sweep tool: the same seed gives the same models

# %% [markdown]
# ## 1. Synthetic faces
#
# `gracekit.faces.make_faces` draws grey 64x64 faces from 28 **identity parameters** (face
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
# margin (scale 16, margin 0.2), with on-the-fly shift/zoom/flip/brightness augmentation. Training uses
# `gracekit.train.fit_cached` (Adam; a few final epochs at a tenth of the learning rate), so every
# model is trained once and then read from the cache.
#
# The **old** model sees 100 identities; the **new** one 300. Retrieval compares unit embeddings by
# cosine similarity. The cross-model matrix puts the query model on the rows and the gallery model on
# the columns.

# %%
def train(n_classes, X, y, name, extra_loss=None, extra_key=None, setup=S, seed=SEED, init_seed=None):
    """Train a FaceEmbedder: Adam at lr, then `decay_epochs` more at lr/10 (both stages cached).

    New models start from initial weights `seed + 1000`, the old model from `seed` (different starts).
    """
    init_seed = seed + 1000 if init_seed is None else init_seed
    kw = dict(batch_size=setup["batch_size"], weight_decay=setup["weight_decay"], seed=seed, desc=name,
              loss_fn=margin_loss(margin=setup["margin"], scale=setup["scale"]), extra_loss=extra_loss)
    key = {"name": f"bct-faces-{name}", "n_classes": n_classes, "arch": "FaceEmbedder-default",
           "init": init_seed, **(extra_key or {})}
    return fit_two_stage(lambda: FaceEmbedder(n_classes, scale=setup["scale"], seed=init_seed), X, y, key=key,
                         n_epochs=setup["n_epochs"], decay_epochs=setup["decay_epochs"], lr=setup["lr"], **kw)


timings = {}
start = time.perf_counter()
old = train(S["n_old"], X[is_old], y[is_old], "old", init_seed=SEED)
timings["old"] = time.perf_counter() - start
start = time.perf_counter()
independent = train(S["n_new"], X, y, "independent")
timings["independent"] = time.perf_counter() - start

Z = {"old": embed(old, X_test), "new*": embed(independent, X_test)}
names, M, per = cross_model_matrix(Z, y_test, n_draws=S["n_draws"], seed=SEED)
chance = 1 / S["n_test"]
m_old_old, m_paragon, m_ind_old = M[0, 0], M[1, 1], M[1, 0]
print(f"old/old top-1 = {m_old_old:.3f}   independent new/new = {m_paragon:.3f}")
print(f"independent new -> old gallery = {m_ind_old:.3f} ± {clustered_se(per[('new*', 'old')]):.3f} (SE over "
      f"identities); chance = {chance:.3f}")
bct_plots.plot_cross_model_matrix(M, names, title="independent training: top-1")
plt.show()

# %% [markdown]
# The new model is much better on its own gallery, but its queries against the old gallery are at
# chance: the two embedding spaces are unrelated (even a rotation of the same space would break
# cosine retrieval). Without BCT the only way to use the new model is to backfill the whole gallery.

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
#   to the old width (`gracekit.bct.match_dim`);
# * the 200 identities the old model never saw have no row in its classifier. BCT **synthesizes**
#   them: the row of a new identity is the mean of the *old* model's embeddings of its training images
#   (`synthesize_weights`), so new people are also placed where the old model would put them;
# * openBCT adds the term with weight 1. At this scale we use λ = 2 (section 6 sweeps λ).

# %% tags=["report"]
W_syn = synthesize_weights(embed(old, X), y, n_classes=S["n_new"], old_weight=old.weight.detach())
print(f"old classifier: {tuple(old.weight.shape)} -> with synthesized rows: {tuple(W_syn.shape)}")
old_key = {"old": f"old-seed{SEED}"}
start = time.perf_counter()
bct = train(S["n_new"], X, y, f"bct-{LAM:g}", influence_term(W_syn, lam=LAM, scale=S["scale"], margin=S["margin"]),
            {**old_key, "lam": LAM})
timings["BCT"] = time.perf_counter() - start
Z["BCT"] = embed(bct, X_test)
names, M, per = cross_model_matrix(Z, y_test, n_draws=S["n_draws"], seed=SEED)
m_bct_old, m_bct_new = M[2, 0], M[2, 2]
diff = per[("BCT", "old")] - per[("old", "old")]
G = gain(m_bct_old, m_old_old, m_paragon)
print(f"M(BCT, old) = {m_bct_old:.3f} vs M(old, old) = {m_old_old:.3f}: difference {diff.mean():+.3f} "
      f"± {clustered_se(diff):.3f} (SE clustered over {S['n_test']} test identities, "
      f"{diff.mean() / clustered_se(diff):.1f} SE)")
print(f"criterion M(new, old) > M(old, old): {'PASSES' if m_bct_old > m_old_old else 'fails'}")
print(f"update gain G = {G:.2f}   (openBCT, ImageNet R18 -> R50-BCT, top-1: (55.5-52.4)/(62.0-52.4) = "
      f"{update_gain(0.555, 0.524, 0.620):.2f})")
print(f"BCT new/new = {m_bct_new:.3f} vs independent new/new = {m_paragon:.3f} "
      f"({m_bct_new - m_paragon:+.3f})")
bct_plots.plot_cross_model_matrix(M, names, title=f"BCT, λ = {LAM:g}: top-1")
plt.show()

# %% [markdown]
# Read the bottom-left cell: the new model's queries now retrieve from the old gallery **better than
# the old model itself did** — the user gets part of the update's gain on the day it ships, with no
# backfilling. The bottom-right cell is BCT's own new/new accuracy, which stays close to the
# unconstrained new model (it can even be above it: the old model also acts as a teacher, so G's
# denominator, the independent model's gain, is only a loose yardstick).
#
# (In FAST mode the models are tiny and undertrained, and these claims need not hold; the numbers
# in this notebook are only meaningful in full mode.)

# %% [markdown]
# ## 4. Ablation: no synthesized weights
#
# Without synthesized rows the influence loss can only use the 100 old identities (openBCT drops the
# samples of classes that have no old row). The 200 new identities are then trained with no pull
# towards the old space.

# %%
W_old = torch.nn.functional.normalize(old.weight.detach(), dim=1)
start = time.perf_counter()
ablation = train(S["n_new"], X, y, "bct-oldonly", influence_term(W_old, lam=LAM, scale=S["scale"], margin=S["margin"]),
                 {**old_key, "lam": LAM})
timings["BCT, old ids only"] = time.perf_counter() - start
Z["BCT-oldonly"] = embed(ablation, X_test)

# %% [markdown]
# ## 5. Baseline: L2 regression onto the old embeddings
#
# The obvious alternative: add λ·‖φ_new(x) − φ_old(x)‖² to the loss. It forces the new embedding to
# *copy* the old one, so it buys compatibility by giving up new/new accuracy (the "compatibility tax").

# %% tags=["report"]
start = time.perf_counter()
l2 = train(S["n_new"], X, y, f"l2-{L2_LAM:g}", l2_term(old, lam=L2_LAM), {**old_key, "lam": L2_LAM})
timings["L2"] = time.perf_counter() - start
Z["L2"] = embed(l2, X_test)

names, M, per = cross_model_matrix(Z, y_test, n_draws=S["n_draws"], seed=SEED)
print(f"{'new model':<14}{'new->old':>9}{'- old/old':>11}{'(SE)':>8}{'G':>7}{'new/new':>9}")
results = {}
for i, name in enumerate(names[1:], start=1):
    d = per[(name, "old")] - per[("old", "old")]
    g = gain(M[i, 0], M[0, 0], m_paragon)
    results[name] = dict(new_old=M[i, 0], diff=d.mean(), se=clustered_se(d), gain=g, new_new=M[i, i])
    print(f"{name:<14}{M[i, 0]:>9.3f}{d.mean():>+11.3f}{clustered_se(d):>8.3f}{g:>+7.2f}{M[i, i]:>9.3f}")
print(f"old/old = {M[0, 0]:.3f}; chance = {chance:.3f}")
fig = bct_plots.plot_cross_model_matrix(M, names, title="top-1, all models")
plt.show()

# %% [markdown]
# The table above is the whole story in numbers (every entry is computed by the cell):
# * **independent**: new→old at chance;
# * **BCT with synthesized weights**: passes the criterion, and new/new is not hurt;
# * **BCT on old identities only**: a much smaller gain (in calibration runs this ablation was
#   fragile: G of about 0.1-0.15, and an undertrained run failed outright);
# * **L2**: at this toy scale it **also passes** the criterion — honestly, it does — but its new/new
#   accuracy falls well below the independent model: it pays for compatibility with the update's gain.
#   The BCT paper reports that L2 fails the criterion on real face data at scale; we do not reproduce
#   that here.

# %% [markdown]
# ## 6. The λ sweep: from fail to pass
#
# How strong must the influence term be? Training one model per λ takes minutes, so the sweep was
# precomputed at full size with 3 seeds by `tools/make_bct_sweep.py` (the same recipe as above) and
# ships as `data/bct_sweep.json`. We check that its seed-0 point at λ = 2 matches the model trained
# above. (Where the file is not there, e.g. after a plain `pip install`, the cell trains the sweep for
# seed 0 at this notebook's size instead.)

# %%
if USE_SHIPPED_SWEEP:
    sweep_data = json.loads(SWEEP_FILE.read_text())
else:
    print("training the λ sweep here (seed 0 only)")
    sweep_records = []
    for lam in [0.1, 0.3, 1.0, 2.0, 4.0]:
        model = bct if lam == LAM else train(S["n_new"], X, y, f"bct-{lam:g}",
                                             influence_term(W_syn, lam=lam, scale=S["scale"], margin=S["margin"]),
                                             {**old_key, "lam": lam})
        _, M_l, _ = cross_model_matrix({"old": Z["old"], "new*": Z["new*"], "new": embed(model, X_test)}, y_test,
                                       n_draws=S["n_draws"], seed=SEED)
        sweep_records.append({"seed": SEED, "name": f"bct-{lam:g}", "lam": lam, "matrix": M_l.tolist(),
                              "new_old": M_l[2, 0], "old_old": M_l[0, 0], "new_new": M_l[2, 2],
                              "paragon": M_l[1, 1], "gain": gain(M_l[2, 0], M_l[0, 0], M_l[1, 1])})
    sweep_data = {"meta": {"seeds": [SEED], "setup": S}, "records": sweep_records}
records = [r for r in sweep_data["records"] if r["name"].startswith("bct-") and r["name"] != "bct-oldonly"]
lams = sorted({r["lam"] for r in records})
seeds = sweep_data["meta"]["seeds"]


def seed_mean(key, lam, variant="bct"):
    vals = [r[key] for r in sweep_data["records"] if r["name"] == f"{variant}-{lam:g}"
            and key in r]
    return np.mean(vals), (np.std(vals, ddof=1) / np.sqrt(len(vals)) if len(vals) > 1 else 0.0)


new_old = [seed_mean("new_old", lam) for lam in lams]
old_old_sweep = np.mean([r["old_old"] for r in records])
print(f"λ sweep: seeds {seeds}, {sweep_data['meta']['setup']['n_new']} training identities")
for lam, (m, se) in zip(lams, new_old):
    g, _ = seed_mean("gain", lam)
    nn_, _ = seed_mean("new_new", lam)
    print(f"  λ = {lam:<4g} M(BCT, old) = {m:.3f} ± {se:.3f}  (old/old {old_old_sweep:.3f}) "
          f"-> {'PASSES' if m > old_old_sweep else 'fails'};  G = {g:+.2f};  new/new = {nn_:.3f}")
ours = [r for r in records if r["seed"] == SEED and r["lam"] == LAM]
if ours and not FAST:
    print(f"sweep, seed {SEED}, λ={LAM:g}: M(BCT, old) = {ours[0]['new_old']:.3f}; "
          f"this notebook: {m_bct_old:.3f}")
paragon_sweep = np.mean([r["paragon"] for r in records])
fig = bct_plots.plot_lambda_sweep(lams, [m for m, _ in new_old], old_old_sweep,
                                 new_new=[seed_mean("new_new", lam)[0] for lam in lams],
                                 paragon=paragon_sweep, se=[se for _, se in new_old])
fig.axes[0].set_title(f"BCT λ sweep (mean ± SE over seeds {seeds})")
plt.show()

# %% [markdown]
# Read the printout from the top: with a weak influence term (λ = 0.1) the new queries are pulled only
# part of the way into the old space and the criterion fails clearly; around λ = 0.3 it is a coin toss;
# from λ = 1 on it passes in every seed, while new/new barely moves. (The shipped seed-0 point at λ = 2
# should equal this notebook's model up to floating-point differences between machines.)
#
# Move the slider to see the cross-model matrix (seed 0) and the update gain at each λ.
# Below the widget is a static figure of the same content for readers without a live kernel.

# %%
seed0 = [r for r in records if r["seed"] == seeds[0]]
sweep = bct_view.BCTSweepModel.from_records(seed0)
view = bct_view.show(sweep, start=lams.index(LAM) if LAM in lams else None)

# %%
fig, axes = plt.subplots(1, len(sweep.lambdas), figsize=(3.2 * len(sweep.lambdas), 3.2))
for i, ax in enumerate(np.atleast_1d(axes)):
    s = sweep.at(i)
    bct_plots.plot_cross_model_matrix(s["matrix"], sweep.names, ax=ax,
                                     title=f"λ = {s['lam']:g}, G = {s['gain']:+.2f}")
fig.tight_layout()
plt.show()
for i in range(len(sweep.lambdas)):
    print(sweep.describe(i))

# %% [markdown]
# ## 7. Backfilling
#
# Compatibility is not all-or-nothing: the service can re-index the gallery gradually. The curve below
# shows top-1 for new queries while a growing random fraction of the gallery is re-embedded with the new
# model (the rest keeps its old embeddings). With an incompatible model, users do worse than with the
# old model until most of the gallery is re-indexed; a BCT model starts above the old model and climbs
# from there. The area under
# the curve summarizes it (FastFill, ICLR 2023, uses this area as its backfilling metric).

# %%
curves, areas = {}, {}
for name in ["new*", "BCT", "L2"]:
    fr, acc, area = backfill_curve(Z[name], Z["old"], Z[name], y_test, n_draws=S["n_draws"], seed=SEED)
    label = "independent" if name == "new*" else name
    curves[label], areas[label] = acc, area
    print(f"{label:<12} top-1 at 0% / 50% / 100% backfilled: {acc[0]:.3f} / {acc[len(acc) // 2]:.3f} / "
          f"{acc[-1]:.3f}; area = {area:.3f}")
fig = bct_plots.plot_backfill(fr, curves)
fig.axes[0].axhline(m_old_old, color="k", ls="--", lw=1, label="old/old")
fig.axes[0].legend(fontsize=8)
plt.show()

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
for qname, gname in [("old", "old"), ("new*", "old"), ("BCT", "old"), ("L2", "old"), ("BCT", "BCT")]:
    mAP = mean_average_precision(Z[qname][qi], Z[gname][gi], y_test[qi], y_test[gi])
    tar, _ = tar_at_far(Z[qname][qi], Z[gname][gi], y_test[qi], y_test[gi], far=far)
    print(f"query {qname:<5} gallery {gname:<5}  mAP = {mAP:.3f}   TAR@FAR={far:g} = {tar:.3f}")

# %% [markdown]
# ## 9. Does it hold on real faces?
#
# Synthetic faces are a controlled toy. The Olivetti faces (AT&T Laboratories Cambridge; 40 people x
# 10 images) are real. scikit-learn fetches them from the internet, which this notebook only does on
# Colab; offline it uses a local copy of `olivettifaces.mat` when one is beside the project
# (`$GRACEKIT_SHARED_DATA/olivetti/`), and otherwise skips this section.
#
# Old model: people 0-11; new model: people 0-24 (BCT with synthesized weights vs independent); test:
# people 25-39. With 15 test people the standard errors are large (several points), so read this as a
# sanity check, not a measurement.

# %%
data_home = gracekit.cache_dir() / "sklearn"
shared = Path(os.environ.get("GRACEKIT_SHARED_DATA", Path(gracekit.__file__).resolve().parents[2] / "shared" / "data"))
mat = shared / "olivetti" / "olivettifaces.mat"
if not (data_home / "olivetti_py3.pkz").exists() and mat.is_file():
    build_olivetti_cache(mat, data_home)
real = load_faces("olivetti", data_home=data_home, allow_download="google.colab" in sys.modules)
print(f"loaded: {real.source}, {len(real.images)} images of {len(real.names)} people")

# %%
if real.source == "olivetti":
    R = dict(S, n_epochs=OLIVETTI_EPOCHS, decay_epochs=max(1, OLIVETTI_EPOCHS // 5), batch_size=32)
    tr_idx, te_idx = split_identities(real.identity, n_test=15, seed=None)
    Xo, yo = real.images[tr_idx], real.identity[tr_idx]
    o_old = yo < 12
    o_models = {"old": train(12, Xo[o_old], yo[o_old], "olivetti-old", setup=R, init_seed=SEED)}
    o_models["new*"] = train(25, Xo, yo, "olivetti-independent", setup=R)
    W_o = synthesize_weights(embed(o_models["old"], Xo), yo, n_classes=25, old_weight=o_models["old"].weight.detach())
    o_models["BCT"] = train(25, Xo, yo, "olivetti-bct", influence_term(W_o, lam=LAM, scale=S["scale"], margin=S["margin"]),
                            {"lam": LAM}, setup=R)
    Zo = {k: embed(m, real.images[te_idx]) for k, m in o_models.items()}
    raw = real.images[te_idx].reshape(len(te_idx), -1)
    Zo_raw = raw - raw.mean(0)
    _, raw_scores = topk_by_identity(Zo_raw, Zo_raw, real.identity[te_idx], n_draws=5)
    names_o, M_o, per_o = cross_model_matrix(Zo, real.identity[te_idx], n_draws=5)
    d_o = per_o[("BCT", "old")] - per_o[("old", "old")]
    print(f"raw pixels 1-shot top-1: {raw_scores.mean():.3f}")
    print(f"Olivetti: old/old {M_o[0, 0]:.3f}, independent new/new {M_o[1, 1]:.3f}, "
          f"independent new->old {M_o[1, 0]:.3f} (chance {1 / 15:.3f}), BCT->old {M_o[2, 0]:.3f} "
          f"({d_o.mean():+.3f} ± {clustered_se(d_o):.3f} SE), BCT new/new {M_o[2, 2]:.3f}")
    print(f"criterion M(BCT, old) > M(old, old) on Olivetti: {'PASSES' if M_o[2, 0] > M_o[0, 0] else 'fails'}; "
          f"BCT lifts new->old from {M_o[1, 0]:.3f} (independent) to {M_o[2, 0]:.3f}")
    bct_plots.plot_cross_model_matrix(M_o, names_o, title="Olivetti (15 test people): top-1")
    plt.show()
else:
    print("Olivetti not available here: skipping the real-face check (see the text above).")

# %% [markdown]
# On Olivetti, look at two things in the printout. First, the part that carries over: independent
# models are near chance across models, and BCT puts the new queries into the old model's space
# (new→old far above chance). Second, the part that does not, at this size: in our runs BCT's
# new→old stayed *below* old/old, so the criterion failed. Compare the independent new/new with
# old/old above: the new model is barely better than the old one (and both are near raw pixels). BCT's
# criterion can only pass when the update is worth more than staying aligned costs, and here there is
# almost nothing to gain. Over five identity splits (`tools/bench_bct_olivetti.py`, results in
# `docs/bench/bct.md`) the criterion failed in all of them, by 0.21 ± 0.01 on average; it failed
# as clearly with λ = 10, and even when the old model had seen all 25 training people (so no
# synthesized rows were needed). The synthetic set, where the new model is 18 points better than the
# old one, is where the effect can be measured; real faces at scale are what the BCT paper studied.
#
# ### What synthetic faces do and do not teach
# * **They do** show the mechanism: unrelated embedding spaces without BCT, the influence loss tying
#   the new space to the old classifier, the need for synthesized weights when new identities arrive,
#   the compatibility tax of L2, and backfilling — with enough test identities to put error bars on it.
# * **They do not** show how large these effects are on real faces: the generator's nuisances are
#   simple, its identities differ in ~27 numbers, and models trained on it transfer only weakly to real
#   photos (in our calibration, synthetic-trained CNNs were at about raw-pixel level on Olivetti).
#   The BCT paper's claims at scale (IMDB-Face, IJB-C) are not tested here, and at this scale L2 passes
#   the criterion too, which the paper reports it does not at scale.

# %%
print("training time this session (s; near 0 when read from the cache):",
      {k: round(v, 1) for k, v in timings.items()})

# %% [markdown]
# ## Summary
#
# * Two independently trained embedders live in unrelated spaces: new queries against an old gallery
#   retrieve at chance, so an update forces a full backfill.
# * BCT adds one loss term, the new embedding through the old frozen classifier. With synthesized
#   classifier rows for new identities it makes the new model's queries *better* than the old model's
#   on the old gallery (M(new, old) > M(old, old)), without hurting the new model on its own gallery.
# * Without synthesized weights the gain is small; L2 regression also buys compatibility here, but pays
#   for it in new/new accuracy.
# * The update gain G and the backfilling curve say how much of the update users get before, and while,
#   the gallery is re-indexed.
#
# ## Exercises
#
# **Exercise 1.** openBCT evaluates with a *leave-one-out* protocol: every test image queries all the
# other test images (gallery embedded by the old model, queries by the new). Compute leave-one-out
# top-1 and top-5 for old/old, independent→old and BCT→old with `gracekit.retrieval.leave_one_out_cmc`.
# Does the criterion still hold?

# %% tags=["solution"]
from gracekit.retrieval import leave_one_out_cmc

for qname in ["old", "new*", "BCT"]:
    res = leave_one_out_cmc(Z[qname], Z["old"], y_test, topk=(1, 5))
    print(f"query {qname:<5} gallery old: top-1 = {res[1]:.3f}, top-5 = {res[5]:.3f}")

# %% [markdown]
# **Exercise 2.** A richer gallery: with 3 gallery images per person (`n_shot=3`) instead of 1, how do
# M(old, old) and M(BCT, old) change, and is the update gain G larger or smaller? Use
# `gracekit.retrieval.topk_by_identity`.

# %% tags=["solution"]
m3 = {}
for qname, gname in [("old", "old"), ("BCT", "old"), ("new*", "new*")]:
    _, s = topk_by_identity(Z[qname], Z[gname], y_test, n_shot=3, n_draws=S["n_draws"])
    m3[(qname, gname)] = s.mean()
    print(f"3-shot gallery: query {qname}, gallery {gname}: top-1 = {s.mean():.3f}")
print(f"G (3-shot) = {gain(m3[('BCT', 'old')], m3[('old', 'old')], m3[('new*', 'new*')]):+.2f}")
