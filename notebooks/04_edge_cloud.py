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
# # 04 · Heterogeneous search: a small phone model that searches a large cloud model's gallery
#
# **Goal:** train small "edge" query models whose embeddings can be compared directly with a gallery
# embedded by a large, frozen "cloud" model, and measure what they cost and what they lose.
#
# **Time:** ~25 min. Loads a shipped cloud model and precomputed sweeps; trains two small face models
# and a small tabular cloud/edge pair (about a minute in full mode, seconds in FAST mode, cached after).
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gracekit/gracekit/blob/main/notebooks/04_edge_cloud.ipynb)
#
# A face-search service embeds its gallery (millions of photos) once, in the cloud, with a large model.
# Queries come from phones. Sending every photo to the cloud costs bandwidth and privacy; embedding it
# on the phone needs a model small enough for the phone. The catch: the phone's embedding must live
# in the **same space** as the cloud's gallery embeddings. Duggal, Zhou, Yang, Xiong, Xia, Tu & Soatto
# ("Compatibility-aware heterogeneous visual search", CVPR 2021, arXiv 2105.06047) train the small
# model for compatibility with the frozen large one, and also search its architecture (CMP-NAS).

# %%
# Setup: on Colab, install the kit with its shipped data (torch is already there); elsewhere nothing
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gracekit @ git+https://github.com/gracekit/gracekit"], check=True)

import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import gracekit
from gracekit.datasets import shipped
from gracekit.edge import recipe as edge_cloud
from gracekit.edge import explorer as edge_view
from gracekit.embedding_losses import cosine_distill_loss, l2_compat_loss
from gracekit.edge.cost import count_flops, measure_latency
from gracekit.edge.recipe import (edge_widths, load_cloud, load_sweep, make_embedder, round_half, save_cloud,
                                 score_pair, train_embedder)
from gracekit.edge.explorer import EdgeBudgetModel
from gracekit.edge.plots import depth_curves, plot_accuracy_vs_flops, plot_latency_vs_flops
from gracekit.edge.sweep import summarize
from gracekit.edge import tabular
from gracekit.models import count_params, embed
from gracekit.bct.faces import make_faces
from gracekit.claims import claim, differs, paired_diff, se_mean
from gracekit.exercises import check

print(gracekit.setup(seed=0))

# %% tags=["parameters"]
FAST = gracekit.is_fast()  # GRACEKIT_FAST=1 shrinks everything for tests
CLOUD_FILE = shipped(edge_cloud.CLOUD_FILE)  # the frozen cloud (tools/make_edge_cloud.py --cloud-only)
SWEEP_FILE = shipped(edge_cloud.SWEEP_FILE)  # every edge x method x seed (tools/make_edge_cloud.py)
CONFOUND_FILE = shipped("edge_cloud_confound.json")  # epochs and bottleneck (tools/make_edge_cloud.py --confound)
TOY_FILE = shipped("edge_cloud_tabular.json")         # the tabular toy, 5 seeds (tools/make_edge_tabular.py)
RETRAIN_CLOUD = False   # True: train the cloud here (about 5-10 minutes on a laptop CPU, cached after)
RECOMPUTE_SWEEP = False  # True: retrain every edge of the sweep here (about an hour on one core, cached)
N_TEST, N_TEST_IMAGES = 100, 10               # held-out people x images (1 gallery image each)
LIVE_WIDTH = 8                                # the edge trained live below (8/16/16/16)
LIVE = dict(n_train=300, n_per_identity=12, recipe={}) if not FAST else \
    dict(n_train=60, n_per_identity=6, recipe=dict(n_epochs=4, decay_epochs=1))
TOY = {} if not FAST else dict(n_train_ids=100, n_per_id=10, n_test_ids=50, epochs=3)  # the live toy run
LATENCY_REPEATS = 10 if FAST else 40
GAP = 0.10                                    # the grid search: cheapest edge within 10 points of the paragon
PAPER = {"DeepFashion2": {"cost_reduction": 80, "gap_points": 0.3}, "IJB-C": {"cost_reduction": 23, "gap_points": 1.6}}

# %% [markdown]
# ## 1. The cloud model and the test protocol
#
# The faces are notebook 03's synthetic faces (`gracekit.faces.make_faces`): grey 64x64 images drawn
# from about 27 identity parameters plus per-image pose, lighting, expression, glasses and occlusion.
# The **cloud** is notebook 03's embedder made wide: four conv blocks of 32/64/128/128 channels, a
# 64-D unit-length embedding, a cosine classifier with a CosFace margin, trained on 300 identities
# x 12 images. Training it takes minutes on a CPU, so the kit ships its weights (in half precision,
# about 0.55 MB); set `RETRAIN_CLOUD = True` to train it here instead.
#
# Test: 100 people the models never saw, 10 images each; one image per person goes in the gallery,
# the other 9 are queries; top-1 is averaged over 5 random gallery draws. Chance is 1/100.

# %%
start = time.perf_counter()
if RETRAIN_CLOUD:
    tr_full = make_faces(300, 12, seed=0)
    cloud = train_embedder([32, 64, 128, 128], tr_full.images, tr_full.identity, name="cloud", seed=0,
                           recipe={"n_epochs": 25, "decay_epochs": 5}, progress=True)
    round_half(cloud)
    save_cloud(cloud, Path(gracekit.cache_dir()) / "edge_cloud_cloud.pt", made_by="notebook 04")
    cloud_meta = {"train_seconds": round(time.perf_counter() - start, 1)}
else:
    cloud, cloud_meta = load_cloud(CLOUD_FILE)
test = make_faces(identities=range(1000, 1000 + N_TEST), n_per_identity=N_TEST_IMAGES, seed=0)
X_test, y_test = test.images, test.identity
z_cloud = embed(cloud, X_test)
paragon_live = score_pair(z_cloud, z_cloud, X_test, y_test, seed=0)["cloud_cloud"]
chance = 1 / N_TEST
cloud_flops = count_flops(cloud, (64, 64))
cloud_params = count_params(cloud, include=["features", "fc"])
print(f"cloud: widths 32/64/128/128, {cloud_params:,} parameters on the query path, "
      f"{cloud_flops / 1e6:.1f} MFLOPs per query; trained in {cloud_meta.get('train_seconds', '?')} s")
print(f"cloud/cloud top-1 (the paragon) on {N_TEST} unseen people: {paragon_live:.3f} (chance {chance:.2f}); "
      f"{time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## 2. What a query costs: FLOPs, parameters, and measured time
#
# The edges are the same design, narrower: widths w/2w/2w/2w for w = 4, 8, 16, 24 (the cloud is
# w = 32 with a wider last stage). `gracekit.cost.count_flops` runs one query through torch's
# `FlopCounterMode` (a multiply-add counts 2 FLOPs; BatchNorm, ReLU and pooling are not counted);
# `measure_latency` times the forward pass on this CPU (one thread) and takes the median.
#
# FLOPs are what a chip must compute; latency is what a user waits. At **batch 1**, every layer call
# has a fixed cost (Python, dispatch, memory allocation) that does not shrink with the layer, so a model
# with 75x fewer FLOPs is not 75x faster. At **batch 64** that overhead is shared by 64 queries, so the
# smallest edge gains some speed-up, but small convolutions still use the CPU poorly: even batched, its
# speed-up stays a small fraction of its FLOPs ratio, and a mid-size edge hardly gains at all (the
# claims below check both, on this run's timings and on the shipped sweep's steadier ones).

# %%
torch.set_num_threads(1)
edge_archs = {f"w={w}": edge_widths(w, depth=4) for w in (4, 8, 16, 24)}
models = {name: make_embedder(widths, 0) for name, widths in edge_archs.items()}
models["cloud"] = cloud
cost = {}
for name, m in models.items():
    cost[name] = {"flops": count_flops(m, (64, 64)), "params": count_params(m, include=["features", "fc"]),
                  "ms": {b: measure_latency(m, (64, 64), batch_size=b, n_repeats=LATENCY_REPEATS if b == 1 else max(3, LATENCY_REPEATS // 4))
                         / b for b in (1, 64)}}
c = cost["cloud"]
print(f"{'model':>7s} {'params':>8s} {'MFLOPs':>7s} {'FLOPs ratio':>11s} {'ms/query b=1':>13s} "
      f"{'speed-up b=1':>12s} {'ms/query b=64':>14s} {'speed-up b=64':>13s}")
for name, v in cost.items():
    print(f"{name:>7s} {v['params']:8,d} {v['flops'] / 1e6:7.2f} {c['flops'] / v['flops']:10.1f}x "
          f"{v['ms'][1]:13.3f} {c['ms'][1] / v['ms'][1]:11.1f}x {v['ms'][64]:14.3f} {c['ms'][64] / v['ms'][64]:12.1f}x")
smallest = cost["w=4"]
print(f"\nthe smallest edge: {c['flops'] / smallest['flops']:.0f}x fewer FLOPs, but only "
      f"{c['ms'][1] / smallest['ms'][1]:.1f}x faster at batch 1 and {c['ms'][64] / smallest['ms'][64]:.1f}x "
      f"at batch 64 (timings on a shared CPU are noisy)")
fig = plot_latency_vs_flops([v["flops"] for v in cost.values()],
                            {b: [v["ms"][b] for v in cost.values()] for b in (1, 64)}, labels=list(cost))
fig.axes[0].set_title("measured time per query vs FLOPs (batch 1 is overhead-bound)")
plt.show()
share = {b: (c["ms"][b] / smallest["ms"][b]) / (c["flops"] / smallest["flops"]) for b in (1, 64)}
claim("even at batch 64 the smallest edge's speed-up is under half its FLOPs ratio (this run)", share[64] < 0.5,
      share_of_flops_ratio_b1=share[1], share_of_flops_ratio_b64=share[64])
# the shipped sweep's latencies (median over 7 interleaved rounds; docs/bench/edge_cloud.md) are steadier
shipped_costs = load_sweep(SWEEP_FILE)["costs"]
sc = shipped_costs["cloud"]["latency_ms"]
speed = {a: {b: sc[b] / shipped_costs[a]["latency_ms"][b] for b in ("1", "64")}
         for a in ("4x8x8x8", "8x16x16x16")}
fr = {a: shipped_costs["cloud"]["flops"] / shipped_costs[a]["flops"] for a in speed}
claim("shipped sweep: batching raises the 4/8/8/8 edge's speed-up but leaves it under a quarter of its "
      "FLOPs ratio; the 8/16/16/16 edge's speed-up moves by under 2x",
      speed["4x8x8x8"]["64"] > speed["4x8x8x8"]["1"] and speed["4x8x8x8"]["64"] < fr["4x8x8x8"] / 4
      and speed["8x16x16x16"]["64"] / speed["8x16x16x16"]["1"] < 2,
      w4_b1=speed["4x8x8x8"]["1"], w4_b64=speed["4x8x8x8"]["64"], w4_flops_ratio=fr["4x8x8x8"],
      w8_b1=speed["8x16x16x16"]["1"], w8_b64=speed["8x16x16x16"]["64"], w8_flops_ratio=fr["8x16x16x16"]);

# %% [markdown]
# ## 3. An edge trained on its own cannot search the cloud's gallery
#
# We train the 8/16/16/16 edge (about 20x fewer FLOPs than the cloud) twice on the cloud's training
# set, with `gracekit.edge_cloud.train_embedder`:
#
# * **independent**: its own CosFace loss only. It learns a good embedding, in a space of its own.
# * **BCT-style** (`method="bct"`): its own loss plus λ·CE of its embedding through the **frozen cloud
#   classifier** (notebook 03's influence loss with the cloud as the "old" model; λ = 3). The edge's
#   embedding must score the right identity against the cloud's class vectors, so it lands in the
#   cloud's space.
#
# The shipped sweep also has a third method, **L2** (`method="l2"`): its own loss plus λ‖φ_edge − φ_cloud‖²
# on the same augmented image (λ = 10). On unit vectors ‖a − b‖² = 2(1 − cos(a, b)), so L2 regression
# *is* cosine distillation with twice the weight; the cell checks that identity numerically.
# Both live edges use the kit's default recipe, 15 epochs like the shipped sweep (section 6 shows what
# training them as long as the cloud adds).

# %%
a = torch.nn.functional.normalize(torch.randn(5, 64), dim=1)
b = torch.nn.functional.normalize(torch.randn(5, 64), dim=1)
claim("on unit vectors the L2 loss equals twice the cosine-distillation loss",
      abs(float(l2_compat_loss(a, b)) - 2 * float(cosine_distill_loss(a, b))) < 1e-5,
      l2=float(l2_compat_loss(a, b)), twice_cosine=2 * float(cosine_distill_loss(a, b)))

start = time.perf_counter()
train_set = make_faces(LIVE["n_train"], LIVE["n_per_identity"], seed=0)
X, y = train_set.images, train_set.identity
live = {}
for method in ("independent", "bct"):
    edge = train_embedder(edge_widths(LIVE_WIDTH, depth=4), X, y, method=method, cloud=cloud, seed=0,
                          recipe=LIVE["recipe"], name=f"w{LIVE_WIDTH}-d4", progress=True)
    live[method] = score_pair(edge, z_cloud, X_test, y_test, seed=0, cloud_emb=z_cloud)
    s = live[method]
    print(f"{method:>11s} edge: edge/edge {s['edge_edge']:.3f}, edge->cloud {s['edge_cloud']:.3f} "
          f"(SE {s['edge_cloud_se']:.3f}), cloud/cloud {s['cloud_cloud']:.3f}")
print(f"trained on {len(X):,} faces in {time.perf_counter() - start:.0f} s"
      + (" (FAST mode: a tiny training set, so these numbers are small; the sweep below is full size)" if FAST else ""))
ind, bct = live["independent"], live["bct"]
claim("the independent edge searches the cloud gallery at chance (within 3 clustered SE)",
      abs(ind["edge_cloud"] - chance) < 3 * ind["edge_cloud_se"] + 0.005, edge_cloud=ind["edge_cloud"],
      se=ind["edge_cloud_se"], chance=chance)
claim("the compatible (BCT) edge searches it far above chance (more than 10 SE)",
      bct["edge_cloud"] - chance > 10 * bct["edge_cloud_se"], only_full=True, edge_cloud=bct["edge_cloud"],
      se=bct["edge_cloud_se"]);


# %% [markdown]
# The independent edge ranks the cloud's gallery at chance: its 64 coordinates mean something
# different from the cloud's. The compatible edge searches the same gallery far above chance.
#
# ## 4. The shipped sweep: four edge sizes x three methods x three seeds
#
# `tools/make_edge_cloud.py` trained every edge (widths 4, 8, 16, 24; independent, BCT, L2; seeds
# 0, 1, 2) against the shipped cloud on the full training set and measured FLOPs and latency; the
# notebook loads the result (about an hour and a half of CPU to make; `RECOMPUTE_SWEEP = True` retrains it here).
# **What that sweep assumed:** every edge trained **15 epochs** (last 3 at lr/10) while the cloud trained
# 25 (last 5); each model was initialized from torch's global generator (not from its seed); and the
# smallest edge, 4/8/8/8, ends in 8 channels on a 2x2 map, so **32 features feed its 64-D embedding**
# (its embedding has rank at most 32). Section 5 tests whether the first and last of these change the
# conclusions. Tables give mean ± SE over the seeds (SE = sd with ddof=1 over √3).

# %%
if RECOMPUTE_SWEEP:
    tr_full = make_faces(300, 12, seed=0)
    records = []
    for seed in (0, 1, 2):
        for w in (4, 8, 16, 24):
            for method in ("independent", "bct", "l2"):
                m = train_embedder(edge_widths(w, depth=4), tr_full.images, tr_full.identity, method=method, cloud=cloud,
                                   seed=seed, name=f"w{w}-d4", progress=True)
                records.append({"seed": seed, "method": method, "width": w, "depth": 4, "grid": False,
                                "widths": list(edge_widths(w, depth=4)),
                                **score_pair(m, z_cloud, X_test, y_test, seed=seed, cloud_emb=z_cloud)})
    sweep = {"meta": {"seeds": [0, 1, 2]}, "records": records,
             "costs": {("cloud" if k == "cloud" else "x".join(map(str, edge_archs[k]))):
                       {"flops": v["flops"], "params": v["params"], "latency_ms": {b: v["ms"][b] * b for b in (1, 64)}}
                       for k, v in cost.items()}}
else:
    sweep = load_sweep(SWEEP_FILE)
records, costs = sweep["records"], sweep["costs"]
rows = summarize(records, costs, grid=False)
main_recs = sorted([r for r in records if not r.get("grid")], key=lambda r: r["seed"])


def per_seed(method, width, key):
    """One value per seed (sorted by seed) of a main-sweep record field."""
    return np.array([r[key] for r in main_recs if r["method"] == method and r["width"] == width])


paragon, paragon_se = se_mean([r["cloud_cloud"] for r in main_recs if r["method"] == "independent" and r["width"] == 4])
n_seeds = len({r["seed"] for r in main_recs})
print(f"seeds {sorted({r['seed'] for r in main_recs})}; paragon (cloud/cloud on each seed's gallery draws) "
      f"{paragon:.3f} ± {paragon_se:.3f} (SE)")
print(f"{'edge':>12s} {'FLOPs ratio':>11s} {'method':>11s} {'edge/edge':>15s} {'edge->cloud':>15s} {'gap (pts)':>12s}")
widths_main = sorted({r["width"] for r in main_recs})
for r in rows:
    w = r["widths"][0]
    gap_m, gap_se = se_mean(100 * (per_seed(r["method"], w, "edge_cloud") - per_seed(r["method"], w, "cloud_cloud")))
    print(f"{r['name']:>12s} {costs['cloud']['flops'] / r['flops']:10.1f}x {r['method']:>11s} "
          f"{r['edge_edge']:.3f} ± {r['edge_edge_sd'] / np.sqrt(r['n']):.3f}  "
          f"{r['edge_cloud']:.3f} ± {r['edge_cloud_sd'] / np.sqrt(r['n']):.3f} {gap_m:+6.1f} ± {gap_se:.1f}")
by = {m: [r for r in rows if r["method"] == m] for m in ("independent", "bct", "l2")}
by = {m: v for m, v in by.items() if v}  # a partial sweep may lack a method
worst_indep = max(r["edge_cloud"] for r in by["independent"])
claim("every independent edge searches the cloud gallery at chance level (mean top-1 under 0.03)",
      worst_indep < 0.03, highest=worst_indep, chance=chance)
for m in [m for m in ("bct", "l2") if m in by]:
    steps = [paired_diff(per_seed(m, b, "edge_cloud"), per_seed(m, a, "edge_cloud"))
             for a, b in zip(widths_main, widths_main[1:])]
    claim(f"{m}: edge->cloud rises with every step in width, each step more than 2 paired SE",
          all(differs(per_seed(m, b, "edge_cloud"), per_seed(m, a, "edge_cloud"))
              and per_seed(m, b, "edge_cloud").mean() > per_seed(m, a, "edge_cloud").mean()
              for a, b in zip(widths_main, widths_main[1:])),
          **{f"step_{a}_to_{b}_pts": f"{100 * d:+.1f} ± {100 * e:.1f}"
             for (a, b), (d, e) in zip(zip(widths_main, widths_main[1:]), steps)})
bl = {w: paired_diff(per_seed("bct", w, "edge_cloud"), per_seed("l2", w, "edge_cloud")) for w in widths_main}
claim("BCT and L2 stay within 3 points of each other at every size; BCT leads outside the noise only at "
      "the smallest size",
      all(abs(d) < 0.03 for d, _ in bl.values()) and bl[widths_main[0]][0] > 2 * bl[widths_main[0]][1]
      and all(d < 2 * e for w, (d, e) in bl.items() if w != widths_main[0]),
      **{f"bct_minus_l2_w{w}_pts": f"{100 * d:+.1f} ± {100 * e:.1f}" for w, (d, e) in bl.items()});

# %%
curves = {}
for m, label in (("bct", "edge->cloud, BCT (cloud classifier)"), ("l2", "edge->cloud, L2 to cloud embedding"),
                 ("independent", "edge->cloud, independent")):
    if m not in by:
        continue
    curves[label] = ([r["flops"] for r in by[m]], [r["edge_cloud"] for r in by[m]],
                     [r["edge_cloud_sd"] / np.sqrt(r["n"]) for r in by[m]])
curves["edge/edge, independent (homogeneous small)"] = ([r["flops"] for r in by["independent"]],
                                                       [r["edge_edge"] for r in by["independent"]])
curves["edge/edge, BCT edge"] = ([r["flops"] for r in by["bct"]], [r["edge_edge"] for r in by["bct"]])
fig = plot_accuracy_vs_flops(curves, paragon=paragon, cloud_flops=costs["cloud"]["flops"], chance=chance)
fig.axes[0].set_title(f"4-block edges: top-1 vs query FLOPs (mean ± SE over {n_seeds} seeds)")
plt.show()

# %% [markdown]
# The BCT and L2 lines lie almost on top of each other; compatibility through the cloud classifier and
# regression onto the cloud embedding buy about the same accuracy. The claims above give the paired
# differences per size.
#
# ## 5. Where does heterogeneity pay?
#
# Two ways to serve phones: **homogeneous-small** (a small model embeds queries *and* the gallery: the
# gallery must be re-embedded with it) or **heterogeneous** (the small model's queries search the
# cloud's gallery). The table compares, at each size and in each seed, the better compatible edge
# (BCT or L2, by mean) searching the cloud gallery with the best the same-size edge does on a gallery
# of its own (independent or compatible edge/edge), and gives the paired mean ± SE over seeds.

# %%
print(f"{'edge':>12s} {'method':>7s} {'edge->cloud':>11s} {'best edge/edge':>14s} {'hetero - homo (pts)':>20s}")
gain = {}
for w in widths_main:
    m = max([m for m in ("bct", "l2") if m in by], key=lambda m: per_seed(m, w, "edge_cloud").mean())
    homo = np.maximum(per_seed("independent", w, "edge_edge"), per_seed(m, w, "edge_edge"))
    gain[w] = paired_diff(per_seed(m, w, "edge_cloud"), homo)
    print(f"{'/'.join(map(str, edge_widths(w, depth=4))):>12s} {m:>7s} {per_seed(m, w, 'edge_cloud').mean():11.3f} "
          f"{homo.mean():14.3f} {100 * gain[w][0]:+13.1f} ± {100 * gain[w][1]:.1f}")
clear = [w for w, (d, e) in gain.items() if d > 2 * e]
claim("heterogeneous search beats the best homogeneous-small system by more than 2 SE for the edges of "
      "width 4, 8 and 16, and not (within 2 SE of zero) for width 24",
      clear == [4, 8, 16], outside_noise=clear,
      **{f"w{w}_pts": f"{100 * d:+.1f} ± {100 * e:.1f}" for w, (d, e) in gain.items()});

# %% [markdown]
# A positive gain means the small model's queries find people better in the cloud's gallery than in
# any gallery of its own: the gallery side is embedded by the stronger model, and the compatible edge
# only has to place the query near it. The gain is largest for the small edges (several points) and
# shrinks as the edge approaches the cloud; at the widest edge the run cannot tell it from zero. With
# three seeds a 2-SE rule is lenient (a t-test with 2 degrees of freedom needs about 4.3 SE), so read
# the width-16 gain as probable, not established.
#
# ## 6. Two confounds: short training and a rank-limited embedding
#
# Two things besides the edge's size might explain the small edges' large gaps: the edges trained 15
# epochs against the cloud's 25, and the 4/8/8/8 edge's 64-D embedding is computed from only 32 features.
# A targeted sweep (`tools/make_edge_cloud.py --confound`, BCT, three seeds, each model initialized from
# its seed, seeds paired across conditions) retrains the two smallest edges with the old 15-epoch
# recipe and with the cloud's 25-epoch recipe, and a 4/8/8/16 edge (64 features, no rank limit, a few
# percent more FLOPs) with 25 epochs.

# %%
conf = json.loads(Path(CONFOUND_FILE).read_text())
n_cond = sum(len(part) for part in conf["meta"]["conditions"].values())
complete = sorted(sd for sd in {r["seed"] for r in conf["records"]}
                  if sum(r["seed"] == sd for r in conf["records"]) == n_cond)  # seeds with every condition
crec = [r for r in conf["records"] if r["seed"] in complete]
print(f"seeds {complete} (paired across the {n_cond} conditions)")


def cond(widths, epochs, key="edge_cloud"):
    """Per-seed values (sorted by seed) of one confound condition."""
    rs = sorted([r for r in crec if list(r["widths"]) == list(widths) and r["epochs"] == epochs], key=lambda r: r["seed"])
    return np.array([r[key] for r in rs])


print(f"{'edge':>10s} {'epochs':>6s} {'fc inputs':>9s} {'FLOPs ratio':>11s} {'edge->cloud':>15s} {'gap (pts)':>12s}  seeds")
for widths, epochs, _ in [c for part in conf["meta"]["conditions"].values() for c in part]:
    v = cond(widths, epochs)
    if len(v) == 0:
        continue
    g = se_mean(100 * (v - cond(widths, epochs, "cloud_cloud")))
    fc_in = [r["fc_in"] for r in crec if r["widths"] == list(widths)][0]
    print(f"{'/'.join(map(str, widths)):>10s} {epochs:6d} {fc_in:9d} "
          f"{conf['costs']['cloud']['flops'] / conf['costs']['x'.join(map(str, widths))]['flops']:10.1f}x "
          f"{v.mean():.3f} ± {se_mean(v)[1]:.3f} {g[0]:+6.1f} ± {g[1]:.1f}  {len(v)}")
longer = {w: paired_diff(cond(w, 25), cond(w, 15)) for w in ((4, 8, 8, 8), (8, 16, 16, 16))}
unbottled = paired_diff(cond([4, 8, 8, 16], 25), cond([4, 8, 8, 8], 25))
for w, (d, e) in longer.items():
    print(f"{'/'.join(map(str, w))}: 25 minus 15 epochs {100 * d:+.1f} ± {100 * e:.1f} pts (paired SE)")
print(f"4/8/8/16 minus 4/8/8/8, both 25 epochs: {100 * unbottled[0]:+.1f} ± {100 * unbottled[1]:.1f} pts")
claim("training the two smallest edges as long as the cloud (25 epochs instead of 15) raises their "
      "edge->cloud by more than 2 paired SE",
      all(d > 2 * e for d, e in longer.values()),
      **{f"w{w[0]}_pts": f"{100 * d:+.1f} ± {100 * e:.1f}" for w, (d, e) in longer.items()})
claim("removing the rank limit (4/8/8/16: 64 features into the 64-D embedding) raises edge->cloud by more "
      "than 2 paired SE over 4/8/8/8 at 25 epochs", unbottled[0] > 2 * unbottled[1],
      gain_pts=f"{100 * unbottled[0]:+.1f} ± {100 * unbottled[1]:.1f}")
fixed = {"4/8/8/16": cond([4, 8, 8, 16], 25) - cond([4, 8, 8, 16], 25, "cloud_cloud"),
         "8/16/16/16": cond([8, 16, 16, 16], 25) - cond([8, 16, 16, 16], 25, "cloud_cloud")}
claim("with both fixes the small edges stay more than 8 points below the paragon in every seed",
      all((v < -0.08).all() for v in fixed.values()),
      **{f"{k}_gap_pts": np.round(100 * v, 1).tolist() for k, v in fixed.items()});

# %% [markdown]
# Both confounds are real. The shipped sweep **understates** the small edges: trained as long as the
# cloud, they gain several points against the cloud gallery, and the rank-limited 4/8/8/8 gains several
# more when its last block has 16 channels (for a few percent more FLOPs). So read the small edges' gaps
# in the tables above as upper bounds, and the heterogeneity gains of section 5 as measured with
# under-trained edges (we did not retrain the independent edges, so we do not know which way longer
# training moves those gains). What the fixes do **not** change: the small edges stay far below the
# paragon (the last claim), so the conclusion of section 8 holds. The widest edges were not retrained
# (about 10 minutes of CPU each on the shared machine).

# %% [markdown]
# ## 7. Picking an edge: a grid search (not NAS)
#
# The paper's second lever is the *architecture*: CMP-NAS searches, inside a weight-sharing supernet,
# for the query architecture with the best compatible accuracy under a FLOPs budget (we could not check
# the paper's search space or tables). The kit does the honest small version: an **exhaustive grid
# search**. Every architecture of a small grid (first width 4, 8, 16, 24 x depth 2, 3, 4 conv blocks,
# without the widest shallow nets) was trained separately against the cloud (BCT, seed 0, 15 epochs)
# and scored; we pick the cheapest one within `GAP` of the paragon. With ten candidates that is
# affordable; a real search space has billions, which is why CMP-NAS shares weights across candidates
# and trains once. The figure draws **one line per depth** (networks that differ only in width); a line
# through all of them in FLOPs order would zigzag between depths and mean nothing.

# %%
grid_rows = summarize(records, costs, grid=True)
grid = EdgeBudgetModel.from_rows(grid_rows, costs)
print(f"{len(grid_rows)} architectures, each trained once against the cloud (BCT, seed 0)")
print(f"{'edge widths':>12s} {'depth':>5s} {'MFLOPs':>7s} {'params':>8s} {'edge->cloud':>11s} {'gap (pts)':>9s}")
for r in grid_rows:
    print(f"{r['name']:>12s} {len(r['widths']):5d} {r['flops'] / 1e6:7.2f} {r['params']:8,d} {r['edge_cloud']:11.3f} "
          f"{100 * (r['edge_cloud'] - r['cloud_cloud']):+9.1f}")
pick = grid.cheapest_within(GAP)
claim(f"the cheapest grid edge within {100 * GAP:.0f} points of the paragon is a shallow one (depth 2)",
      pick is not None and len(pick["widths"]) == 2, pick=None if pick is None else pick["name"],
      flops_ratio=None if pick is None else costs["cloud"]["flops"] / pick["flops"],
      gap_pts=None if pick is None else 100 * grid.gap(pick))
d2, d4 = (next(r for r in grid_rows if r["widths"] == w) for w in ([4, 8], [4, 8, 8, 8]))
claim("at about 0.3 MFLOPs the depth-2 edge 4/8 beats the depth-4 edge 4/8/8/8 by more than 3 clustered SE "
      "(seed 0; the depth-4 edge is also the rank-limited one of section 6)",
      d2["edge_cloud"] - d4["edge_cloud"] > 3 * max(r["edge_cloud_se"] for r in records
                                                    if r.get("grid") and r["widths"] in ([4, 8], [4, 8, 8, 8])),
      depth2=d2["edge_cloud"], depth4=d4["edge_cloud"])
depth_colors = {f"edge->cloud, bct, depth {d}": c for d, c in zip((2, 3, 4), ("C0", "C1", "C2"))}
fig = plot_accuracy_vs_flops(depth_curves(grid_rows), paragon=paragon, cloud_flops=costs["cloud"]["flops"],
                             chance=chance, colors=depth_colors,
                             points={"edge->cloud, L2, depth 4 (3 seeds)": ([r["flops"] for r in by.get("l2", [])],
                                                                            [r["edge_cloud"] for r in by.get("l2", [])])})
fig.axes[0].set_title("grid search (BCT, seed 0): one line per depth")
plt.show()

# %% [markdown]
# At about the same FLOPs, the four-block edges do worst (the claim above compares the smallest pair;
# depth 2 and 3 are close to each other). A depth-2 edge keeps an 8x8 map and a large fully-connected
# layer (many more parameters for about the same FLOPs), and a four-block edge of width 4 is the
# rank-limited one; FLOPs alone do not decide, and the architecture search matters.
#
# ## 8. The paper's numbers beside the kit's, on faces
#
# Duggal et al. (CVPR 2021, arXiv 2105.06047, abstract) report, against the paragon (the largest model
# searching its own gallery), **80x** lower query cost within **0.3 points** on DeepFashion2 and **23x**
# within **1.6 points** on IJB-C.

# %% tags=["report"]
# main edges (mean over seeds) plus the grid's other depths (seed 0); gaps on each row's own gallery draws
candidates = rows + [r for r in grid_rows if len(r["widths"]) != 4]
allc = EdgeBudgetModel.from_rows(candidates, costs)
print(f"{'':>22s} {'cost reduction':>14s} {'gap to paragon':>15s}")
for name, p in PAPER.items():
    print(f"{'paper, ' + name:>22s} {p['cost_reduction']:13d}x {-p['gap_points']:+14.1f} pts")
best = {}
for target in (80, 23):
    best[target] = allc.best_under(costs["cloud"]["flops"] / target)
    c23 = best[target]
    if c23 is not None:
        print(f"{'kit, best at >=' + str(target) + 'x':>22s} {costs['cloud']['flops'] / c23['flops']:13.1f}x "
              f"{100 * allc.gap(c23):+14.1f} pts  ({c23['name']}, {c23['method']})")
within = {}
for gap in (0.016, GAP):
    within[gap] = cw = allc.cheapest_within(gap)
    txt = "none" if cw is None else f"{costs['cloud']['flops'] / cw['flops']:.1f}x ({cw['name']}, {cw['method']})"
    print(f"{'kit, within ' + f'{100 * gap:.1f}' + ' pts':>22s} {txt}")
claim("on faces the kit does not reproduce 23x at 1.6 points: the best edge with >= 23x fewer FLOPs is more "
      "than 10 points below the paragon, and the cheapest edge within 1.6 points saves under 3x",
      best[23] is not None and -allc.gap(best[23]) > 0.10 and within[0.016] is not None
      and costs["cloud"]["flops"] / within[0.016]["flops"] < 3,
      best_23x_gap_pts=100 * allc.gap(best[23]),
      within_1_6_ratio=costs["cloud"]["flops"] / within[0.016]["flops"] if within[0.016] else None);

# %% [markdown]
# Why not? The paper's paragons are large networks that are **over-sized** for a query embedder, so a
# much smaller network can still represent what the gallery needs and compatibility costs little. Our
# face cloud has about 0.27 M parameters (section 1) and is not over-sized for these synthetic faces:
# the independent edges' own edge/edge accuracy keeps climbing with width (section 4), so every halving
# of the edge removes capacity the task needs, and training longer or removing the rank limit does not
# change that picture (section 6). The next section tests the explanation directly: give the cloud far
# more capacity than its task needs, and the paper's regime should appear.
#
# ## 9. The paper's regime on a tabular toy: an over-sized cloud
#
# `gracekit.edge.tabular` builds tabular "people": each identity is a point in an 8-D latent space, each
# row adds a small jitter and an 8-D nuisance vector (its "pose"), and one fixed random network mixes them
# into 20 features. The **cloud** is a 3 x 512 MLP with a 32-D cosine embedding (CosFace, 500 training
# identities x 20 rows); the **edge** is a 2 x 128 MLP trained by L2 regression onto the frozen cloud's
# embedding, about 24x fewer FLOPs. A third model, an independent 2 x 128 edge, is the homogeneous-small
# baseline. Retrieval is open-set, as on faces: 100 identities no model saw, 10 rows each, a 1-shot
# gallery, top-1 over 5 gallery draws. The shipped file has five seeds (`tools/make_edge_tabular.py`,
# a few seconds of CPU per model); the cell also trains seed 0 here.

# %%
start = time.perf_counter()
toy = tabular.make_toy(seed=0, **TOY)
toy_cloud = tabular.train_cloud(toy, seed=0, progress=True)
toy_edge = tabular.train_edge(toy, cloud=toy_cloud, seed=0, progress=True)
toy_indep = tabular.train_edge(toy, method="independent", seed=0, progress=True)
live_toy = tabular.score(toy_edge, toy_cloud, toy, seed=0)
live_toy_ind = tabular.score(toy_indep, toy_cloud, toy, seed=0)
S = toy["settings"]
toy_ratio = (tabular.mlp_flops(S["n_features"], S["cloud_hidden"], S["emb_dim"])
             / tabular.mlp_flops(S["n_features"], S["edge_hidden"], S["emb_dim"]))
print(f"live, seed 0: cloud/cloud {live_toy['cloud_cloud']:.3f}, L2 edge->cloud {live_toy['edge_cloud']:.3f} "
      f"({100 * (live_toy['edge_cloud'] - live_toy['cloud_cloud']):+.1f} pts, clustered SE "
      f"{100 * live_toy['gap_se']:.1f}), independent edge/edge {live_toy_ind['edge_edge']:.3f}, independent "
      f"edge->cloud {live_toy_ind['edge_cloud']:.3f}; {toy_ratio:.1f}x fewer FLOPs; "
      f"{time.perf_counter() - start:.0f} s" + (" (FAST: a tiny toy)" if FAST else ""))

toy_file = json.loads(Path(TOY_FILE).read_text())
T = {k: np.array([r[k] for r in toy_file["records"]]) for k in toy_file["records"][0]}
toy_gap = se_mean(100 * (T["l2_edge_cloud"] - T["cloud_cloud"]))
toy_het = paired_diff(T["l2_edge_cloud"], np.maximum(T["indep_edge_edge"], T["l2_edge_edge"]))
print(f"shipped, seeds {T['seed'].tolist()}: cloud/cloud {se_mean(T['cloud_cloud'])[0]:.3f}, "
      f"L2 edge->cloud {se_mean(T['l2_edge_cloud'])[0]:.3f}, gap {toy_gap[0]:+.1f} ± {toy_gap[1]:.1f} pts (SE), "
      f"per seed {np.round(100 * (T['l2_edge_cloud'] - T['cloud_cloud']), 1).tolist()}")
claim(f"on the toy the 2 x 128 edge has {toy_ratio:.0f}x fewer FLOPs than the cloud and its gap to the paragon "
      "is under the paper's 1.6 points, even at mean - 2 SE", toy_gap[0] - 2 * toy_gap[1] > -1.6,
      flops_ratio=toy_ratio, gap_pts=f"{toy_gap[0]:+.1f} ± {toy_gap[1]:.1f}", seeds=len(T["seed"]))
claim("the independent toy edge searches the cloud gallery at chance level (under 0.05 in every seed)",
      (T["indep_edge_cloud"] < 0.05).all(), highest=T["indep_edge_cloud"].max(), chance=1 / S["n_test_ids"])
claim("heterogeneity does not pay in accuracy on the toy: the better 2 x 128 model searching a gallery of its "
      "own beats the L2 edge searching the cloud's gallery, by more than 2 paired SE",
      toy_het[0] < -2 * toy_het[1], hetero_minus_homo_pts=f"{100 * toy_het[0]:+.1f} ± {100 * toy_het[1]:.1f}")
claim("this run's seed-0 toy edge is within 3 points of its paragon",
      live_toy["edge_cloud"] - live_toy["cloud_cloud"] > -0.03, only_full=True,
      gap_pts=100 * (live_toy["edge_cloud"] - live_toy["cloud_cloud"]));

# %% [markdown]
# The paper's regime appears: an edge with about 24x fewer FLOPs searches the cloud's gallery within the
# paper's 1.6 points. It takes an **over-sized** cloud, and the toy shows what that means: a small model
# on a gallery of its own does even better than the edge on the cloud's gallery (the third claim), so
# heterogeneity buys no accuracy here. What it buys is the *system*: the gallery stays embedded once, by the cloud, and phones
# of any size can search it without a backfill. On faces, where the cloud's capacity is needed, the gap
# is set by the edge's capacity (sections 4-6) and the compatible edge beats a small system on its own.

# %% [markdown]
# ## 10. Explore: a query-cost budget
#
# Move the budget slider (log scale, MFLOPs per query). The explorer picks the most accurate compatible
# face edge (BCT or L2, any grid architecture, mean over seeds where there are several) that fits the
# budget, and reports its gap to the paragon and its speed-up over the cloud, in FLOPs and in measured
# latency at batch 1 and batch 64.

# %%
budget = EdgeBudgetModel.from_rows(candidates, costs)
view = edge_view.show(budget, start=costs["cloud"]["flops"] / 20)
print(budget.describe(costs["cloud"]["flops"] / 20))

# %% [markdown]
# The same content as a static figure (for readers without a live kernel), at a budget of 1/20 of the
# cloud's FLOPs: every candidate is a point (they differ in depth and width, so no line joins them).

# %%
from gracekit.edge.plots import plot_budget_candidates  # noqa: E402

choice = budget.best_under(costs["cloud"]["flops"] / 20)
fig = plot_budget_candidates(budget.candidates, budget.paragon, budget.cloud_flops)
ax = fig.axes[0]
ax.axvline(costs["cloud"]["flops"] / 20, color="k", lw=1.5, ls="-.", label="budget (1/20 of the cloud)")
ax.plot([choice["flops"]], [choice["edge_cloud"]], "o", ms=16, mfc="none", mec="k", mew=2, label="choice")
from gracekit.edge.plots import legend_outside  # noqa: E402

legend_outside(ax)
ax.set_title(f"{choice['name']} ({choice['method']}): {100 * budget.gap(choice):+.1f} pts, "
             f"{budget.cloud_flops / choice['flops']:.1f}x fewer FLOPs", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Summary
#
# * A query model trained on its own cannot search another model's gallery: independent edges score at
#   chance against the cloud's embeddings, whatever their own accuracy.
# * Training the edge against the **frozen** cloud (through its classifier, BCT-style, or by L2 /
#   cosine regression onto its embeddings; on unit vectors these two regressions are the same loss)
#   makes it compatible, and its edge->cloud accuracy climbs toward the paragon as it grows.
# * Heterogeneous search beats a system of small models alone for the small face edges; for the widest
#   edge the gain is inside the noise.
# * Query cost has two faces: FLOPs fall with width squared, but measured time at batch 1 is dominated
#   by per-call overhead; batching helps the smallest model somewhat and stays far from the FLOPs ratio.
# * Picking the cheapest edge within a tolerance is a search over architectures. The kit does it by
#   brute force on a ten-point grid; CMP-NAS does it with a weight-sharing supernet.
# * On faces, the paper's 23x at 1.6 points does not appear: the kit's face cloud is not over-sized for
#   its task (section 6 checks the epochs and rank confounds). On a tabular toy with an over-sized cloud
#   it does (section 9).
#
# ## Exercises
#
# **1. A tighter tolerance.** Using the shipped sweep only (`budget`), find the cheapest compatible edge
# within 5 points of the paragon and compute its speed-up over the cloud in FLOPs (`ex1`, a number like
# 12.3). Print its latency speed-ups at batch 1 and 64 too.

# %% tags=["solution"]
# stub: ex1 = None  # FLOPs speed-up (cloud FLOPs / edge FLOPs) of the cheapest edge within 5 points
pick5 = budget.cheapest_within(0.05)
s5 = budget.summary(pick5["flops"])
ex1 = s5["flops_speedup"]
print(f"within 5 points: {pick5['name']} ({pick5['method']}), {ex1:.1f}x fewer FLOPs, gap "
      f"{100 * budget.gap(pick5):+.1f} pts; latency speed-up "
      + ", ".join(f"{v:.1f}x at batch {b}" for b, v in sorted(s5["latency_speedup"].items())))

# %% tags=["check"]
check("Exercise 1", ex1, lambda v: abs(v - costs["cloud"]["flops"] / costs["16x32x32x32"]["flops"]) < 0.1,
      hint="use budget.cheapest_within(0.05) (a fraction, not points) and divide the cloud's FLOPs by the "
           "edge's; the answer is a 4-block edge trained with L2");

# %% [markdown]
# **2. How small can the edge be?** On the tabular toy of section 9 (`toy`, `toy_cloud`, seed 0), train
# an L2 edge with a single hidden layer of 16 units (`tabular.train_edge(toy, cloud=toy_cloud,
# hidden=(16,), seed=0)`), score it with `tabular.score`, and compute its gap to the paragon in points
# (`ex2 = 100 * (edge_cloud - cloud_cloud)`, negative when below). How many times fewer FLOPs than the
# cloud is that (`tabular.mlp_flops`)? Is the over-sized cloud's slack unlimited?

# %% tags=["solution"]
# stub: ex2 = None  # gap (points) of the 1 x 16 L2 edge to the paragon on the toy, seed 0
tiny = tabular.train_edge(toy, cloud=toy_cloud, hidden=(16,), seed=0)
st = tabular.score(tiny, toy_cloud, toy, seed=0)
ex2 = 100 * (st["edge_cloud"] - st["cloud_cloud"])
tiny_ratio = (tabular.mlp_flops(S["n_features"], S["cloud_hidden"], S["emb_dim"])
              / tabular.mlp_flops(S["n_features"], (16,), S["emb_dim"]))
print(f"1 x 16 edge: edge->cloud {st['edge_cloud']:.3f}, gap {ex2:+.1f} pts (clustered SE "
      f"{100 * st['gap_se']:.1f}), {tiny_ratio:.0f}x fewer FLOPs; the 2 x 128 edge: "
      f"{100 * (live_toy['edge_cloud'] - live_toy['cloud_cloud']):+.1f} pts at {toy_ratio:.0f}x")

# %% tags=["check"]
expected_ex2 = 100 * (T["tiny_edge_cloud"][0] - T["cloud_cloud"][0])  # shipped seed 0 (tools/make_edge_tabular.py)
check("Exercise 2", ex2, lambda v: abs(v - expected_ex2) < 2.0, only_full=True,
      hint="train with hidden=(16,) and the L2 method against toy_cloud (seed 0), score on the held-out "
           "identities with tabular.score, and report 100 * (edge_cloud - cloud_cloud), a negative number");

# %% [markdown]
# **3. Does batching reach the FLOPs ratio?** From the shipped sweep's costs (`costs`, measured
# latencies per call at batch 1 and 64), compute for the smallest edge 4/8/8/8 the share of its FLOPs
# ratio that its batch-64 speed-up reaches: `ex3 = (cloud ms / edge ms at batch 64) / (cloud FLOPs / edge
# FLOPs)`. A share of 1 would mean time per query proportional to FLOPs. Optionally, time both models
# yourself with `measure_latency` at batch 1, 4, 16 and 64 (your CPU will give other numbers).

# %% tags=["solution"]
# stub: ex3 = None  # batch-64 speed-up of 4/8/8/8 over the cloud, divided by its FLOPs ratio (shipped costs)
e4, cl = costs["4x8x8x8"], costs["cloud"]
ex3 = (cl["latency_ms"]["64"] / e4["latency_ms"]["64"]) / (cl["flops"] / e4["flops"])
print(f"batch-64 speed-up {cl['latency_ms']['64'] / e4['latency_ms']['64']:.1f}x of a {cl['flops'] / e4['flops']:.0f}x "
      f"FLOPs ratio: share {ex3:.2f}")

# %% tags=["check"]
check("Exercise 3", ex3, lambda v: 0.08 < v < 0.16,
      hint="divide the cloud's latency by the edge's at batch '64' (string keys in the shipped costs), then "
           "divide that by the FLOPs ratio; a share near 1 means you used FLOPs twice, near 0.05 batch 1");
