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
# # 06 · Your own update: audit it, then watch many updates pile up
#
# **Goal:** run the regression report on a real pair of models and on your own prediction files,
# follow a chain of five models to see whether compatibility survives many updates and what it costs,
# then turn the audit into a decision: gate a classifier update, and check whether new embeddings can
# search an old index.
#
# **Time:** ~30 min. Runs on a laptop CPU; the long run ships precomputed.
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/gracekit/gracekit/blob/main/notebooks/06_your_update.ipynb)
#
# Notebooks 01-05 built the ideas. This one is the tool you keep: `gracekit report` takes two
# models' predictions and tells you how the update regresses, class by class and sample by sample,
# as a table, an HTML page and a notebook widget. Then comes the question a team faces after the
# tenth release: if every model only has to be compatible with the one before it, is the newest one
# still compatible with the first?

# %%
# Setup: on Colab, install the kit with its shipped data (torch is already there); elsewhere nothing
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gracekit @ git+https://github.com/gracekit/gracekit"], check=True)

import subprocess
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import HTML, Markdown, display
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier

import gracekit
from gracekit.chain import experiment as chain
from gracekit.chain import plots as chain_plots
from gracekit.chain import summary as chain_summary
from gracekit.claims import claim, paired_diff, se_mean
from gracekit.datasets import make_multiclass
from gracekit.exercises import check
from gracekit.embedding_losses import influence_term, margin_loss
from gracekit.report.compat import check_compat
from gracekit.report.gate import gate_update
from gracekit.report.gate_format import render_text as gate_text
from gracekit.train import fit
from gracekit.report import plots as report_plots
from gracekit.report import explorer as report_view
from gracekit.report import compare_models, load_report_inputs, update_report
from gracekit.datasets import shipped
from gracekit.sweeps import load_records

print(gracekit.setup(seed=0))

# %% tags=["parameters"]
FAST = gracekit.is_fast()  # GRACEKIT_FAST=1 shrinks everything for tests
SEED = 0
N_OLD = 300             # digits the old model saw
TOP = 10                # negative flips listed in the report
CHAIN_SETUP = chain.ChainSetup().fast() if FAST else chain.ChainSetup()
LIVE_METHODS = ("bct",)  # the chain trained live; every method over three seeds ships with the kit
OUT = Path(tempfile.mkdtemp(prefix="gracekit-06-"))  # where this notebook writes its files
# section 8's embedding models: old on few points, new on many (FAST: fewer points and epochs)
EMB = (dict(n_old=500, n_new=3000, n_test=1000, epochs=12) if FAST else
       dict(n_old=500, n_new=4000, n_test=2000, epochs=20))

# %% [markdown]
# ## 1. A real update on digits
#
# The 8×8 handwritten digits ship with scikit-learn. The "old" model is a 3-nearest-neighbour
# classifier that saw 300 digits; the "new" one is a random forest trained on every training digit
# (half of the 1,797). Two different families, the second trained on three times more data: a
# typical upgrade.
# `compare_models` runs both on the test half and builds the report.

# %%
digits = load_digits()
idx_train, idx_test = train_test_split(np.arange(len(digits.target)), test_size=0.5,
                                       random_state=SEED, stratify=digits.target)
X, y = digits.data / 16, digits.target
old = KNeighborsClassifier(3).fit(X[idx_train[:N_OLD]], y[idx_train[:N_OLD]])
new = RandomForestClassifier(200, random_state=SEED).fit(X[idx_train], y[idx_train])
report = compare_models(old, new, X[idx_test], y[idx_test], images=digits.images[idx_test],
                        title=f"digits: 3-NN ({N_OLD} digits) -> random forest ({len(idx_train)} digits)", top=TOP)
print(report)
print(f"\none test digit is {100 / len(idx_test):.2f} points of any rate here")

# %% [markdown]
# Read it top to bottom. The first block is notebook 01's `flip_report`: errors, NFR, PFR and the
# identity NFR − PFR = Err_new − Err_old. **BTC** is P(new right | old right), **BEC** is
# P(new wrong | old wrong) as Microsoft's BackwardCompatibilityML computes it. Then one row per
# class, the most frequent "true class → new wrong label" pairs, and the negative flips the new
# model is most sure about (its predicted probability). The verdict weighs the error change
# against its standard error: with under a thousand test digits one flip is about a tenth of a
# point (last line above), so small differences are noise; digits are too small to compare
# flip-reduction methods, which is why notebook 02 uses 20,000 synthetic test points.
#
# ## 2. The figures
#
# The report draws four figures: where the two models' errors overlap (circle areas are counts),
# flips per true class, the flip confusion (who loses, to what), and the worst negative flips with
# their images.

# %%
figs = report_plots.report_figures(report)
plt.show()
print("figures:", ", ".join(figs))
worst = report.top_negative_flips(1)
if worst:
    print(f"most confident negative flip: sample {worst[0]['id']}, a {worst[0]['true']} that the old model "
          f"read right and the new one calls {worst[0]['new']} with p = {worst[0]['confidence']:.2f}")

# %% [markdown]
# ## 3. Explore: click a class, pick a region
#
# The widget is the same report, interactive. Choose a true class and an overlap region (negative
# flips, positive flips, both wrong, ...); the circles and bars highlight your choice and the table
# lists those samples, most confident first, with their images.

# %%
explorer = report_view.show(report_view.ReportModel(report), region="negative")

# %% [markdown]
# If the widget does not render (a static viewer, or widgets disabled), here is the same view for
# the class with the most negative flips:

# %%
per = report.flips.per_class
worst_class = max(per, key=lambda c: per[c]["negative_flips"])
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1.5]})
report_plots.plot_error_overlap(report.flips.counts, report.n, highlight="negative", ax=axes[0])
report_plots.plot_class_flips(per, report.class_names, highlight=worst_class, ax=axes[1])
plt.show()
model = report_view.ReportModel(report, max_rows=6)
display(HTML(model.table_html("negative", worst_class)))
print(f"class {report.class_names[worst_class]}: {per[worst_class]['negative_flips']} negative flips of "
      f"{per[worst_class]['n']} test digits")

# %% [markdown]
# ## 4. The HTML page and the command line
#
# `report.to_html(path)` writes one self-contained page (figures embedded, every label escaped) that
# you can attach to a release note. The same report runs from a terminal on files of predictions;
# here we save the digits predictions as `.npy` files and call it.

# %%
page = OUT / "digits_report.html"
report.to_html(page)
print(f"wrote {page} ({page.stat().st_size / 1024:.0f} KB)")
np.save(OUT / "y_true.npy", y[idx_test])
np.save(OUT / "old.npy", old.predict_proba(X[idx_test]))
np.save(OUT / "new.npy", new.predict_proba(X[idx_test]))
cmd = [sys.executable, "-m", "gracekit", "report", "--true", str(OUT / "y_true.npy"), "--old", str(OUT / "old.npy"),
       "--new", str(OUT / "new.npy"), "--html", str(OUT / "cli_report.html")]
done = subprocess.run(cmd, capture_output=True, text=True)
print("$ gracekit report --true y_true.npy --old old.npy --new new.npy --html cli_report.html")
print("\n".join(done.stdout.splitlines()[:14]), "\n...")
print("exit code", done.returncode)

# %% [markdown]
# ## 5. Your own predictions
#
# Export your two models' predictions on the same test set as CSV files with a header row. Each file
# needs either a label column (`y_pred`, `prediction` or `label`) or one score column per class named
# `score_<class>`; the true labels come from a `y_true` column or from `--true`. An `id` column is
# checked to be in the same order in both files. Labels can be numbers or names.
#
# The kit ships a small example pair (`gracekit/data/examples/old.csv` with labels, `new.csv` with
# probabilities, 200 rows, classes cat / dog / fox, made by `tools/make_report_examples.py`).
# Point `OLD_CSV` and `NEW_CSV` at your own files.

# %%
OLD_CSV, NEW_CSV = shipped("examples/old.csv"), shipped("examples/new.csv")  # the kit's example pair
y_true, y_old, y_new, names, ids = load_report_inputs(old=OLD_CSV, new=NEW_CSV)
mine = update_report(y_true, y_old, y_new, class_names=names, ids=ids, title="my update")
print(mine)
my_page = OUT / "my_report.html"
mine.to_html(my_page)  # also returns the page's text; the cell does not echo it
print(f"wrote {my_page} ({my_page.stat().st_size / 1024:.0f} KB)")

# %% [markdown]
# Bad files get one clear line and exit code 2, so a script or a CI job can stop on them. Here the
# new model's file predicts a class the test set does not know:

# %%
bad = OUT / "bad_new.csv"
bad.write_text("id,y_true,y_pred\n" + "".join(f"{i},{names[t]},{'wolf' if k == 3 else names[t]}\n"
                                               for k, (i, t) in enumerate(zip(ids, y_true))))
done = subprocess.run([sys.executable, "-m", "gracekit", "report", "--old", str(OLD_CSV), "--new", str(bad)],
                      capture_output=True, text=True)
print(done.stderr.strip(), "\nexit code", done.returncode)

# %% [markdown]
# ## 6. The long run: a chain of updates
#
# A product does not update once. It goes φ1 → φ2 → φ3 → ..., and each new model is usually made
# compatible with the one it replaces, and only that one. BCT's paper shows compatibility along a
# short chain (Shen et al., CVPR 2020); the "Graceful AI" article warns that "a growing set of
# compatibility constraints will ultimately weigh negatively on overall performance". Two questions:
#
# * **(a) Is compatibility transitive?** If φ3 is compatible with φ2 and φ2 with φ1, can φ5's queries
#   search a gallery that φ1 indexed?
# * **(b) Is there a compatibility tax, and does it grow?**
#
# The toy: the 10-class synthetic problem of notebooks 02 and 05, embedded by an MLP with a cosine
# classifier (as in notebook 03, with vectors instead of faces). The training set grows at every
# step; every model has the same architecture. Step t trains φt in one of six ways
# (`gracekit.chain.experiment`):
#
# | method | φt is trained ... |
# |---|---|
# | independent | from scratch, no constraint (the reference for the tax) |
# | BCT (predecessor) | from scratch + BCT influence loss through φt−1's frozen classifier |
# | BCT (all predecessors) | the same through *every* earlier classifier: the constraints pile up |
# | focal distillation | from scratch + FD towards φt−1's logits (notebook 02) |
# | fine-tune | starting from φt−1's weights, no constraint |
# | BCWI | fine-tune, then average the weights with φt−1's (Schumann et al. 2023, α = 0.5) |
#
# Retrieval is leave-one-out top-1 on the test set: each test point queries every other one,
# queries embedded by one model and the gallery by another. First a live chain:

# %%
start = time.perf_counter()
live = chain.run_chains(CHAIN_SETUP, seeds=[SEED], methods=LIVE_METHODS, progress=True)
live_summary = chain_summary.summarize_chains(live)
print(f"trained {len(LIVE_METHODS)} chain(s) of {len(CHAIN_SETUP.sizes)} models "
      f"(training sizes {CHAIN_SETUP.sizes}) in {time.perf_counter() - start:.0f} s")
M = live_summary["bct"]["pair"]
chain_plots.plot_chain_matrix(M, title="BCT chain, seed 0: M(query, gallery)")
plt.show()
for t in range(1, len(M)):
    print(f"phi_{t + 1} queries: predecessor's gallery {M[t, t - 1]:.3f} (vs its own score {M[t - 1, t - 1]:.3f}), "
          f"phi_1's gallery {M[t, 0]:.3f} (vs {M[0, 0]:.3f})")
n_pass = sum(M[i, j] > M[j, j] for i in range(len(M)) for j in range(i))
print(f"{n_pass} of {len(M) * (len(M) - 1) // 2} cells below the diagonal pass the criterion (outlined)")
prev_cells = np.array([M[t, t - 1] for t in range(1, len(M))])
own_cells = np.array([M[t - 1, t - 1] for t in range(1, len(M))])
claim("against the predecessor's gallery BCT's queries score far above chance (0.1 for ten classes)",
      prev_cells.min() > 2 * 0.1, lowest=prev_cells.min())
claim("but below the predecessor's own score at every step (the strict criterion fails)",
      np.all(prev_cells < own_cells), largest_shortfall=np.max(own_cells - prev_cells),
      smallest_shortfall=np.min(own_cells - prev_cells))

# %% [markdown]
# A cell below the diagonal is outlined when it passes BCT's criterion M(φi, φj) > M(φj, φj) (the
# line above counts them). Below the diagonal, read along the
# row: how well φt's queries search older galleries. Against the predecessor's gallery BCT scores
# far above chance (0.1 for ten classes) but, at this toy scale and λ = 10, below the
# predecessor's own score (the two claims above): the strict criterion is demanding (notebook 03
# shows how it depends on λ). One seed at one size tells little, so the kit
# ships all six chains at full size with three seeds (`gracekit/data/chain_results.json`, made by
# `tools/make_chain.py`).

# %%
CHAIN_FILE = shipped("chain_results.json")  # precomputed full-size chains (3 seeds)
records, meta = load_records(CHAIN_FILE)
summary = chain_summary.summarize_chains(records)
print(f"loaded {len(records)} records made by {meta['made_by']} (seeds {meta['seeds']}, training sizes "
      f"{meta['setup']['sizes']}, {meta['setup']['n_test']:,} test points); the full run took "
      f"{meta['seconds'] / 60:.1f} min on {meta['threads']} CPU thread")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
chain_plots.plot_transitivity(summary, ax=axes[0])
chain_plots.plot_tax(summary, ax=axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# ### (a) Transitivity
#
# The left panel is φt's queries against φ1's gallery, minus φ1's own score: above the dashed line,
# the newest model can still use the oldest index. Each claim below uses the three shipped seeds
# (mean ± SE over seeds, paired by seed where two numbers are compared).

# %%
T = len(meta["setup"]["sizes"])
gap = {m: chain_summary.pair_per_seed(records, m)[1] for m in chain.METHODS}  # (seeds, T) per method
for m in chain.METHODS[1:]:
    (g2, s2), (gT, sT) = se_mean(gap[m][:, 1]), se_mean(gap[m][:, -1])
    print(f"{chain_plots.METHOD_LABELS[m]:>24}: phi_2 -> phi_1 {g2:+.3f} ± {s2:.3f}, phi_{T} -> phi_1 {gT:+.3f} ± {sT:.3f}")
ind_top1 = gap["independent"][:, -1] + summary["independent"]["pair"][0, 0]
claim("independent models are not compatible: their queries against phi_1's gallery score near chance (0.1)",
      np.mean(ind_top1) < 0.2, top1=np.mean(ind_top1), chance=0.1)
fade, fade_se = paired_diff(gap["bct"][:, 1], gap["bct"][:, -1])
claim("with BCT against the predecessor only, compatibility with phi_1 fades along the chain",
      fade > 2 * fade_se, gap_t2=np.mean(gap["bct"][:, 1]), gap_tT=np.mean(gap["bct"][:, -1]), se=fade_se)
for m in ("bct_all", "finetune", "bcwi"):
    g, s = se_mean(gap[m][:, -1])
    claim(f"{chain_plots.METHOD_LABELS[m]} keeps phi_1's gallery usable: phi_{T}'s queries search it at least as "
          "well as phi_1 does", g - 2 * s > -0.01, gap=g, se=s)
g, s = se_mean(gap["fd"][:, -1])
claim("focal distillation (logits, not embeddings) gives no retrieval compatibility", g + 2 * s < -0.3, gap=g, se=s)

# %% [markdown]
# With BCT against the predecessor only, each model is pulled towards its predecessor's classifier,
# and the small misalignments add up. Constraining against every earlier model keeps φ1's gallery
# usable, and so do the two methods that start from the predecessor's weights (fine-tune, BCWI): a
# shared starting point is itself a strong tie. Focal distillation matches logits, not embeddings.
#
# ### (b) The compatibility tax
#
# The right panel is each method's self-retrieval M(φt, φt) below the independent model trained on
# the same data and seed. Positive means the constraint costs accuracy.

# %% tags=["report"]
tax = {m: chain_summary.tax_per_seed(records, m)[1] for m in chain.METHODS[1:]}
for m, v in tax.items():
    (a, sa), (b, sb) = se_mean(v[:, 1]), se_mean(v[:, -1])
    print(f"  {chain_plots.METHOD_LABELS[m]:>24}: tax at t=2 {100 * a:+.1f} ± {100 * sa:.1f} pt, "
          f"at t={T} {100 * b:+.1f} ± {100 * sb:.1f} pt")
claim(f"in this chain every tax stays small: under 4 points of top-1 at t={T}",
      max(np.mean(v[:, -1]) for v in tax.values()) < 0.04, largest=max(np.mean(v[:, -1]) for v in tax.values()))
grow, grow_se = paired_diff(tax["bct"][:, -1], tax["bct"][:, 1])
claim("BCT against the predecessor pays a tax that grows from t=2 to the last step", grow > 2 * grow_se,
      growth=grow, se=grow_se)
nfr_first = {m: np.array([r["nfr_first"] for r in records if r["kind"] == "step" and r["method"] == m
                          and r["step"] == T]) for m in chain.METHODS}
for m in ("fd", "bcwi"):
    d, s = paired_diff(nfr_first["independent"], nfr_first[m])
    claim(f"{chain_plots.METHOD_LABELS[m]} has fewer negative flips against phi_1 than independent training",
          d > 2 * s, nfr=np.mean(nfr_first[m]), nfr_independent=np.mean(nfr_first["independent"]), se=s)
d, s = paired_diff(nfr_first["independent"], nfr_first["bct"])
claim("BCT's embedding constraint does not lower them", d < 2 * s, nfr_bct=np.mean(nfr_first["bct"]),
      nfr_independent=np.mean(nfr_first["independent"]))

# %% [markdown]
# In this chain every model has the same architecture and the data only grows, so every constraint
# points the same way, and the taxes stay within a few points. Negative flips against φ1 fall for the
# two methods that pull predictions towards the old model (focal distillation and BCWI); BCT's
# embedding constraint does little for them (PCT's Table 2a found the same on ImageNet: BCT leaves NFR
# at 6.39% vs 6.44%).
#
# The "Graceful AI" article expects the constraints to weigh more when they bind harder. The kit ships
# a second chain (`gracekit/data/chain_growing.json`, made by `tools/make_chain.py --growing`, five
# seeds, 5,000 test points) where each update is a *wider* model on more data, as real updates are,
# and one method ties each new embedding to every earlier embedding of the same inputs (an L2
# feature constraint against all predecessors, `l2_all`), beside BCT against all predecessors:

# %%
grow_records, grow_meta = load_records(shipped("chain_growing.json"))
print(f"growing chain: widths {grow_meta['setup']['widths']}, sizes {grow_meta['setup']['sizes']}, "
      f"seeds {grow_meta['seeds']}, {grow_meta['setup']['n_test']:,} test points")
grow_summary = chain_summary.summarize_chains(grow_records)
chain_plots.plot_tax(grow_summary, methods=["bct_all", "l2_all"])
plt.show()
gtax = {m: chain_summary.tax_per_seed(grow_records, m)[1] for m in ("bct_all", "l2_all")}
for m, v in gtax.items():
    print(f"  {chain_plots.METHOD_LABELS[m]:>30}: tax by step " + ", ".join(f"{100 * a:+.1f} ± {100 * s:.1f}" for a, s in
                                             (se_mean(v[:, k]) for k in range(v.shape[1]))) + " pt")
g_l2, s_l2 = paired_diff(gtax["l2_all"][:, -1], gtax["l2_all"][:, 1])
claim("with a binding feature constraint against every predecessor the tax grows along the chain "
      "(the article's warning)", g_l2 > 2 * s_l2 and g_l2 > 0.03, growth=g_l2, se=s_l2,
      tax_t2=np.mean(gtax["l2_all"][:, 1]), tax_tT=np.mean(gtax["l2_all"][:, -1]))
g_b, s_b = paired_diff(gtax["bct_all"][:, -1], gtax["bct_all"][:, 1])
claim("BCT's influence loss against every predecessor does not show a growing tax here", abs(g_b) < 2 * s_b + 0.01,
      growth=g_b, se=s_b)
l2_gap = se_mean(chain_summary.pair_per_seed(grow_records, "l2_all")[1][:, -1])
claim("while the L2-tied chain stays compatible with phi_1's gallery", l2_gap[0] - 2 * l2_gap[1] > 0,
      gap=l2_gap[0], se=l2_gap[1])

# %% [markdown]
# Tying every new embedding to every old one is the binding kind of constraint: each wider model has
# room to do better, and the ties to all earlier spaces hold it back more at every step. BCT's
# influence loss only asks the new embedding to be classified by the old classifiers, a much looser
# tie, and its tax stays within the noise. So the warning holds for constraints that bind; how much a
# constraint binds, not how many there are, decides the tax.
#
# ## 7. Gate the update: may it ship?
#
# The report describes an update; a release needs a decision, and a CI job needs an exit code.
# `gracekit gate` (from Python: `gate_update`) checks the update against a **budget** with the noise of
# the test set taken into account, on the whole test set and on every class:
#
# * The budget here is *measured*, not guessed. The old recipe (3-NN on 300 digits), retrained on 300
#   *other* digits, also flips some test digits: that is the churn any retrain costs. The new model
#   may flip no more than that (`--old-retrain`). A fixed budget works too (`--max-nfr 0.01`).
# * Each rate comes with an exact interval (Clopper-Pearson; for a paired difference, the interval
#   that goes with McNemar's test). A check fails only when the interval of the **excess over the
#   budget** lies entirely above zero; `strict=True` compares the point estimates instead.
# * Every class is a slice with its own check (the slice intervals are Bonferroni-corrected, slices
#   under 30 samples are not judged): one class can fail the gate on its own.
#
# First the random forest of section 1.

# %%
retrain = KNeighborsClassifier(3).fit(X[idx_train[N_OLD:2 * N_OLD]], y[idx_train[N_OLD:2 * N_OLD]])
y_test, p_old, p_retrain = y[idx_test], old.predict(X[idx_test]), retrain.predict(X[idx_test])
forest_gate = gate_update(y_test, p_old, new.predict(X[idx_test]), y_retrain=p_retrain)
print(gate_text(forest_gate, max_slices=3))
nfr, nfr_retrain = forest_gate.rates["nfr"][0], forest_gate.rates["nfr_retrain"][0]
claim("The random forest passes the gate: it flips fewer test digits than a retrain of the old recipe",
      forest_gate.passed and nfr < nfr_retrain, nfr=nfr, nfr_retrain=nfr_retrain)

# %% [markdown]
# Now a **fail case**: a naive Bayes model trained on the same digits, a cheaper model someone might
# propose.

# %%
bayes = GaussianNB().fit(X[idx_train], y[idx_train])
bayes_gate = gate_update(y_test, p_old, bayes.predict(X[idx_test]), y_retrain=p_retrain)
overall = bayes_gate.checks[0]  # the check on all test digits comes first
print(bayes_gate.verdict)
claim("Naive Bayes fails the gate: the interval of its NFR's excess over the retrain's lies above zero",
      not bayes_gate.passed and overall.slice is None and overall.excess_low > 0,
      nfr=overall.value, nfr_retrain=overall.budget, excess_low=overall.excess_low)

# %% [markdown]
# And the case averages hide: the new training set lost three of every four 9s (a data pipeline
# bug), and the forest is retrained on it. On average the update looks fine; class 9 does not.

# %%
few_nines = (y[idx_train] != 9) | (np.arange(len(idx_train)) % 4 == 0)
forest_few9 = RandomForestClassifier(200, random_state=SEED).fit(X[idx_train][few_nines], y[idx_train][few_nines])
few9_gate = gate_update(y_test, p_old, forest_few9.predict(X[idx_test]), y_retrain=p_retrain)
print(gate_text(few9_gate, max_slices=2))
overall, failed = few9_gate.checks[0], few9_gate.failed
claim("On all test digits the update stays within the retrain's budget",
      overall.slice is None and overall.status == "pass", nfr=overall.value, nfr_retrain=overall.budget)
claim("but class 9 alone fails the gate, so the update does not ship",
      [c.slice for c in failed] == ["9"] and few9_gate.exit_code == 1,
      nfr_9=failed[0].value if failed else float("nan"), excess_low=failed[0].excess_low if failed else float("nan"))

# %% [markdown]
# In CI the same decision comes from the command line: prediction files in, an exit code out (0 pass,
# 1 regresses, 2 bad input), and a report in the format the CI system reads: `--format junit` for its
# test tab, `--format markdown` for a pull-request comment, `--format json` (schema
# `gracekit.gate/1`) for scripts. The kit's docs/gate.md has a complete GitHub Actions workflow.

# %%
np.save(OUT / "few9.npy", forest_few9.predict(X[idx_test]))
np.save(OUT / "old_labels.npy", p_old)
np.save(OUT / "retrain.npy", p_retrain)
cmd = ["gate", "--true", "y_true.npy", "--old", "old_labels.npy", "--new", "few9.npy", "--old-retrain", "retrain.npy",
       "--format", "markdown", "--output", "gate.md"]
done = subprocess.run([sys.executable, "-m", "gracekit", *cmd], capture_output=True, text=True, cwd=OUT)
print("$ gracekit " + " ".join(cmd), f"\nexit code {done.returncode}")
display(Markdown((OUT / "gate.md").read_text().split("<details>")[0]))
claim("The command line gives the same decision, exit code 1", done.returncode == few9_gate.exit_code == 1,
      exit_code=done.returncode)

# %% [markdown]
# ## 8. Can the new embeddings search the old index?
#
# For a retrieval model the question is different: the gallery was embedded by the old model, and
# re-embedding it (backfilling) costs time. `gracekit compat` (from Python: `check_compat`) asks
# whether the **new model's queries can search the old gallery**: it compares M(new, old) with the old
# model alone, M(old, old), on the same queries, with a standard error clustered over identities, and
# says "compatible", "not compatible: backfill needed", or "undecided within noise" (exit 0 unless
# the new queries are worse beyond the noise).
#
# The models are section 6's embedders on the 10-class toy: an old model on 500 points and two new
# ones on many more points, one trained independently and one with BCT's influence loss through the
# old model's frozen classifier (notebook 03). Each test point queries all the others
# (leave-one-out), so the "identities" are the ten classes.

# %%
Xe, ye, Xe_test, ye_test = make_multiclass(EMB["n_new"], EMB["n_test"], n_classes=10, n_features=20,
                                           class_sep=1.5, seed=SEED)


def train_embedder(n, seed, old_model=None, extra_loss=None):
    """An MLP embedder with a cosine classifier (CosFace margin) on the first n training points."""
    model = chain.MLPEmbedder(20, hidden=(128, 128), emb_dim=32, n_classes=10, seed=seed)
    return fit(model, Xe[:n], ye[:n], n_epochs=EMB["epochs"], lr=3e-3, seed=seed, loss_fn=margin_loss(margin=0.1),
               old=old_model, extra_loss=extra_loss, progress=False)


phi_old = train_embedder(EMB["n_old"], SEED)
phi_independent = train_embedder(EMB["n_new"], SEED + 1)
old_classifier = F.normalize(phi_old.weight.detach(), dim=1)
phi_bct = train_embedder(EMB["n_new"], SEED + 1, old_model=phi_old,
                         extra_loss=influence_term(old_classifier, lam=10.0))
with torch.no_grad():
    emb = {name: m.embed(torch.as_tensor(Xe_test)).numpy()
           for name, m in [("old", phi_old), ("independent", phi_independent), ("bct", phi_bct)]}
compat_ind = check_compat(emb["old"], emb["independent"], ye_test, ye_test, new_gallery=emb["independent"],
                          n_orders=3, seed=SEED)
compat_bct = check_compat(emb["old"], emb["bct"], ye_test, ye_test, new_gallery=emb["bct"], n_orders=3, seed=SEED)
print("independent new model:", compat_ind.verdict_text, "\n")
print(compat_bct.render_text())

# %% [markdown]
# The table has the three searches: old queries in the old gallery, new queries in the old gallery,
# new queries in a re-embedded gallery. The checks:

# %%
c_ind, c_bct = compat_ind.criterion, compat_bct.criterion
claim("The independent model is not compatible: its queries find the old gallery's items far less often "
      "than the old model does (exit code 1)", compat_ind.exit_code == 1 and c_ind["high"] < 0,
      top1_new_old=c_ind["new_old"], top1_old_old=c_ind["old_old"], se=c_ind["se"])
claim("BCT's new queries are no worse than the old model on the old gallery beyond the noise (exit code 0)",
      compat_bct.exit_code == 0, difference=c_bct["difference"], se=c_bct["se"])
print(f"BCT's strict criterion M(new, old) > M(old, old) on top-1: {'met' if c_bct['bct_criterion'] else 'not met'} "
      f"({c_bct['new_old']:.3f} vs {c_bct['old_old']:.3f}); verdict on top-1: {compat_bct.verdict_text}")

# %% [markdown]
# With only ten identities the clustered standard error of top-1 is several points, so top-1 alone
# may not separate BCT from the old model. Top-1 looks at the nearest item only; mean average
# precision (mAP) scores the whole ranking of the same-class items, a much less noisy measurement of
# the same question. The decision on mAP (`--metric map`):

# %%
map_bct = check_compat(emb["old"], emb["bct"], ye_test, ye_test, metric="map")
map_ind = check_compat(emb["old"], emb["independent"], ye_test, ye_test, metric="map")
m = map_bct.criterion
print(f"mAP: old/old {m['old_old']:.3f}, BCT new->old {m['new_old']:.3f}, independent new->old "
      f"{map_ind.criterion['new_old']:.3f}")
claim("On mAP BCT is compatible: new queries rank the old gallery better than the old model, beyond the noise",
      map_bct.verdict == "compatible" and m["low"] > 0, difference=m["difference"], se=m["se"])
claim("and the independent model is not compatible on mAP either", map_ind.verdict == "not_compatible",
      difference=map_ind.criterion["difference"], se=map_ind.criterion["se"])

# %% [markdown]
# **Partial backfill.** When the new model is not compatible, the gallery has to be re-embedded; the
# curve shows top-1 as a growing fraction is done, in a random order and in an informed one: the old
# items the new queries are least sure of first (a FastFill-style order that needs no new embedding
# to plan). How the two orders compare for the BCT model:

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for ax, (name, res) in zip(axes, [("independent", compat_ind), ("BCT", compat_bct)]):
    b = res.backfill
    ax.plot(b["fractions"], b["random"], label="random order")
    ax.plot(b["fractions"], b["informed"], label="least sure first")
    ax.axhline(res.table["new/new"]["top1"], color="gray", ls="--", label="new/new")
    ax.set(title=f"{name} new model", xlabel="fraction of the gallery re-embedded")
axes[0].set_ylabel("top-1 of new queries")
axes[0].legend()
plt.show()
b = compat_bct.backfill
claim("For the BCT model the least-sure-first order is no better than a random order over the backfill",
      b["area_informed"] <= b["area_random"], mean_top1_informed=b["area_informed"],
      mean_top1_random=b["area_random"])

# %% [markdown]
# A plausible reason, not tested here: a re-embedded item is compared with the new queries in the new
# model's own space, where similarities run higher than across models, so it attracts queries; the
# items the new queries are least sure of are exactly those that lie near other classes, and once
# re-embedded they pull wrong queries first. FastFill learns its uncertainty together with a
# transformation of the old embeddings, which this heuristic lacks.
#
# From a terminal, the same check reads `.npy` embeddings and identity files:

# %%
for name in ("old", "independent"):
    np.save(OUT / f"emb_{name}.npy", emb[name])
np.save(OUT / "ids.npy", ye_test)
cmd = ["compat", "--old-gallery", "emb_old.npy", "--new-query", "emb_independent.npy",
       "--gallery-ids", "ids.npy", "--query-ids", "ids.npy"]
done = subprocess.run([sys.executable, "-m", "gracekit", *cmd], capture_output=True, text=True, cwd=OUT)
print("$ gracekit " + " ".join(cmd))
print(done.stdout.strip().splitlines()[-1], f"\nexit code {done.returncode}")
claim("The command line says the same: not compatible, exit code 1", done.returncode == 1, exit_code=done.returncode)

# %% [markdown]
# ## Summary
#
# * `gracekit report` (command line, `update_report`, `compare_models`) gives the errors, NFR, PFR,
#   relative NFR, BTC and BEC of an update, where the errors overlap, who loses to what, the most
#   confident negative flips (with images) and a verdict that weighs the error change against its
#   standard error.
# * It reads CSV or .npy labels or scores, writes a self-contained HTML page, and stops on bad files
#   with one line and exit code 2.
# * The comparison widget filters the samples by class and overlap region.
# * Along a chain, compatibility with the predecessor does not carry over to older models:
#   predecessor-only BCT drifts away from φ1, while constraints against every model, or a shared
#   starting point (fine-tuning, BCWI), keep the oldest gallery usable.
# * With one architecture the taxes stay within a few points. When each update is a wider model and
#   every new embedding is tied to every old one, the tax grows step by step, as the "Graceful AI"
#   article warns; BCT's looser tie to the old classifiers does not show it.
# * `gracekit gate` turns the audit into a decision with intervals: a budget measured from a retrain
#   of the old recipe (or fixed), checked on all samples and on every class, so that one class can
#   stop an update that passes on average; exit codes and JUnit/Markdown/JSON output for CI.
# * `gracekit compat` asks whether new queries can search an old index: an independent model cannot,
#   a BCT model can (decided on mAP here; top-1 over ten identities is too noisy), and the
#   partial-backfill curve shows what re-embedding buys, order by order.
#
# ## Exercises
#
# **Exercise 1.** Which replacement for the 3-NN breaks less: section 1's random forest, or the same
# 3-NN refitted on all training digits? Count each update's negative flips on the test digits, then
# compare them *paired*: among digits the old model gets right, count those only the forest breaks
# (`n10`) and those only the refitted 3-NN breaks (`n01`), and test with McNemar's exact test
# (`gracekit.report.intervals.mcnemar_exact(n10, n01)`). Store
# `ex1 = {"forest": ..., "knn_all": ..., "p": ...}` (two counts and the p-value).

# %% tags=["solution"]
# stub: ex1 = None  # {"forest": negative flips, "knn_all": negative flips, "p": McNemar's p-value}
from gracekit.report.intervals import mcnemar_exact

y_t = y[idx_test]
p_3nn, p_forest_t = old.predict(X[idx_test]), new.predict(X[idx_test])
p_knn_all = KNeighborsClassifier(3).fit(X[idx_train], y[idx_train]).predict(X[idx_test])
old_right = p_3nn == y_t
breaks_forest, breaks_knn = old_right & (p_forest_t != y_t), old_right & (p_knn_all != y_t)
n10, n01 = int((breaks_forest & ~breaks_knn).sum()), int((breaks_knn & ~breaks_forest).sum())
ex1 = {"forest": int(breaks_forest.sum()), "knn_all": int(breaks_knn.sum()), "p": mcnemar_exact(n10, n01)}
print(f"negative flips: forest {ex1['forest']}, 3-NN on all digits {ex1['knn_all']}; "
      f"only the forest breaks {n10}, only the 3-NN {n01}: McNemar p = {ex1['p']:.4f}")

# %% tags=["check"]
_y, _o, _f = y[idx_test], old.predict(X[idx_test]), new.predict(X[idx_test])
check("Exercise 1", ex1,
      lambda v: v["forest"] == int(((_o == _y) & (_f != _y)).sum()) and v["knn_all"] < v["forest"] / 2
      and v["p"] < 0.05,
      hint="count negative flips against the old 3-NN's predictions (old right, new wrong); the paired "
           "test uses only the digits where exactly one of the two new models breaks")

# %% [markdown]
# Refitting the same kind of model on more data breaks far fewer of the digits it used to get right
# than switching to another family, and the paired test says the difference is outside the noise
# (the answer key, docs/answers/06.md, gives the counts for three train/test splits).
#
# **Exercise 2.** A stricter view of the chain counts, for each method, the share of ordered pairs
# (query φi, gallery φj, i > j) that pass BCT's criterion M(φi, φj) > M(φj, φj) (CoReS reports a
# metric of this kind). Compute it from `summary` (the shipped three-seed means) for every method and
# store `ex2 = {method: share}`. Which methods pass every pair?

# %% tags=["solution"]
# stub: ex2 = None  # {method: share of pairs (i > j) that pass the criterion}
ex2 = {}
for m in chain.METHODS:
    P = summary[m]["pair"]
    pairs = [(i, j) for i in range(len(P)) for j in range(i)]
    ex2[m] = float(np.mean([P[i, j] > P[j, j] for i, j in pairs]))
    print(f"{chain_plots.METHOD_LABELS[m]:>24}: {ex2[m]:.0%} of {len(pairs)} pairs pass")

# %% tags=["check"]
def _share(P):
    return float(np.mean([P[i, j] > P[j, j] for i in range(len(P)) for j in range(i)]))


check("Exercise 2", ex2,
      lambda v: set(v) == set(chain.METHODS) and all(abs(v[m] - _share(summary[m]["pair"])) < 1e-9 for m in v),
      hint="use summary[method]['pair'] (rows: query model, columns: gallery model) and only pairs below "
           "the diagonal (i > j), comparing each cell with the gallery model's own score P[j, j]")

# %% [markdown]
# **Exercise 3.** Give `new.csv` a score that is not a number (e.g. `n/a`) and run `gracekit report`
# on it. Store the exit code and the error line in `ex3 = {"code": ..., "message": ...}`. Does the line
# say which file and row to fix?

# %% tags=["solution"]
# stub: ex3 = None  # {"code": exit code, "message": the error line}
broken = OUT / "broken_new.csv"
lines = NEW_CSV.read_text().splitlines()
cells = lines[5].split(",")
cells[2] = "n/a"
broken.write_text("\n".join(lines[:5] + [",".join(cells)] + lines[6:]) + "\n")
done = subprocess.run([sys.executable, "-m", "gracekit", "report", "--old", str(OLD_CSV), "--new", str(broken)],
                      capture_output=True, text=True)
ex3 = {"code": done.returncode, "message": done.stderr.strip()}
print(ex3["message"], "| exit code", ex3["code"])

# %% tags=["check"]
check("Exercise 3", ex3,
      lambda v: v["code"] == 2 and "broken_new.csv" in v["message"] and "row" in v["message"]
      and len(v["message"].splitlines()) == 1,
      hint="run the command on the broken file with --old and --new; keep the process's return code and "
           "its stderr (one line naming the file and the row)")

# %% [markdown]
# **Exercise 4.** Gate section 1's forest update with a fixed budget, `max_nfr=0.015`, twice: with
# intervals (the default) and with `strict=True`. Store in `ex4` the names (`check.name`, e.g.
# `"NFR [class=3]"`) of the checks that fail only in the strict gate, and print the NFR interval of
# one of them. Why does the interval gate let it pass?

# %% tags=["solution"]
# stub: ex4 = None  # the names of the checks that fail only in the strict gate
p_forest = new.predict(X[idx_test])
soft = gate_update(y_test, p_old, p_forest, max_nfr=0.015)
hard = gate_update(y_test, p_old, p_forest, max_nfr=0.015, strict=True)
print("interval gate:", soft.verdict)
print("strict gate:  ", hard.verdict)
ex4 = sorted(c.name for c in hard.failed if c.name not in {s.name for s in soft.failed})
c = next(c for c in soft.checks if c.name == ex4[0])
print(f"{c.name}: NFR {c.value:.2%} on {c.n} digits, interval [{c.low:.2%}, {c.high:.2%}] "
      f"reaches below the budget of 1.5%: one digit more or less is {1 / c.n:.2%} of this slice")

# %% tags=["check"]
_args = (y_test, p_old, new.predict(X[idx_test]))
_only_strict = ({c.name for c in gate_update(*_args, max_nfr=0.015, strict=True).failed}
                - {c.name for c in gate_update(*_args, max_nfr=0.015).failed})
check("Exercise 4", ex4, lambda v: sorted(v) == sorted(_only_strict),
      hint="compare the names in `.failed` of the two gates; `c.name` reads like 'NFR [class=3]'")
