"""Regenerate gracekit/data/bct_sweep.json: notebook 03's BCT lambda sweep, ablation and L2 baseline on synthetic faces.

Usage: python tools/make_bct_sweep.py [--fast] [--seeds 0 1 2] [--out gracekit/data/bct_sweep.json]
       python tools/make_bct_sweep.py --report gracekit/data/bct_sweep.json   (prints the benchmark tables)
Full size (old model: 100 identities, new: 300, 12 images each; test: 100 unseen identities x 10) trains
9 embedders per seed, about 6-8 minutes per seed on one idle CPU core; models are cached
(gracekit.cache_dir()), so a rerun is quick. The recipe is the one notebooks/03_bct_faces.py runs.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import gracekit  # noqa: E402
from gracekit.embedding_losses import influence_term, l2_term, synthesize_weights  # noqa: E402
from gracekit.models import embed  # noqa: E402
from gracekit.bct.faces import make_faces  # noqa: E402
from gracekit.bct.recipe import train_face_embedder  # noqa: E402
from gracekit.retrieval import backfill_curve, clustered_se, cross_model_matrix  # noqa: E402
from gracekit.cache import atomic_write_bytes  # noqa: E402

FULL = dict(n_old=100, n_new=300, n_per_identity=12, n_test=100, n_test_images=10, difficulty=1.0,
            n_epochs=20, decay_epochs=4, lr=3e-3, batch_size=64, weight_decay=5e-4, margin=0.2, scale=16.0,
            n_draws=5)
FAST = dict(FULL, n_old=20, n_new=40, n_per_identity=8, n_test=20, n_test_images=6, n_epochs=6,
            decay_epochs=2, n_draws=3)
LAMS = [0.1, 0.3, 1.0, 2.0, 4.0]  # BCT with synthesized weights
MAIN_LAM = 2.0  # the lambda the notebook trains; the ablation uses it too
L2_LAMS = [1.0, 10.0]


def train(n_classes, X, y, name, setup, seed, extra_loss=None, extra_key=None, init_seed=None, fit_seed=None):
    """The notebook's recipe: Adam at lr, then ``decay_epochs`` more at lr/10; each stage cached.

    ``init_seed`` seeds the initial weights, ``fit_seed`` the batch order and the augmentation (default:
    ``seed``). Every BCT and L2 model of seed s starts from the initial weights ``s + 1000`` and sees the
    batches in the order of seed s, so they differ only by their loss; the old model starts from ``s``.
    The independent new model gets its own initialization and batch order (``INDEPENDENT_OFFSET``), and the
    "twin" (an independent model with the BCT models' initialization and batch order) shows what sharing
    them does.
    """
    return train_face_embedder(n_classes, X, y, name, setup=setup, seed=seed, extra_loss=extra_loss,
                               extra_key=extra_key, init_seed=init_seed, fit_seed=fit_seed)


INDEPENDENT_OFFSET = 2000  # the independent model of seed s: initial weights and batch order s + 2000


def train_independent(X, y, setup, seed, n_classes=None):
    """The independent new model: its own initial weights and batch order (seed + INDEPENDENT_OFFSET)."""
    own = seed + INDEPENDENT_OFFSET
    return train(n_classes or setup["n_new"], X, y, "independent-own", setup, seed, init_seed=own, fit_seed=own)


def train_twin(X, y, setup, seed):
    """An independent model (no compatibility term) with the BCT models' initialization and batch order."""
    return train(setup["n_new"], X, y, "independent", setup, seed)


def train_old(X, y, setup, seed):
    """The old model of seed s: initial weights s, batch order s, identities 0..n_old-1."""
    return train(setup["n_old"], X, y, "old", setup, seed, init_seed=seed)


def _faces(seed, s):
    tr = make_faces(s["n_new"], s["n_per_identity"], difficulty=s["difficulty"], seed=seed)
    te = make_faces(identities=range(1000, 1000 + s["n_test"]), n_per_identity=s["n_test_images"],
                    difficulty=s["difficulty"], seed=seed)
    return tr, te


def independent_record(seed, setup, tr, te, old, indep, twin=None):
    """The independent model's own record: its new/new (the paragon of G), new->old and backfilling."""
    s = setup
    z_old, z_ind = embed(old, te.images), embed(indep, te.images)
    Z = {"old": z_old, "independent": z_ind}
    if twin is not None:
        Z["twin"] = embed(twin, te.images)
    _, M, per = cross_model_matrix(Z, te.identity, n_draws=s["n_draws"], seed=seed)
    fr, acc, area = backfill_curve(z_ind, z_old, z_ind, te.identity, n_draws=s["n_draws"], seed=seed)
    rec = {"seed": seed, "variant": "independent", "name": "independent", "lam": 0.0, "paragon": M[1, 1],
           "independent_new_old": M[1, 0], "independent_se": clustered_se(per[("independent", "old")]),
           "old_old": M[0, 0], "chance": 1 / s["n_test"],
           "backfill": {"fractions": fr.tolist(), "accuracy": acc.round(4).tolist(), "area": area}}
    if twin is not None:  # the twin shares nothing with the independent model but the data
        rec.update(independent_twin=M[1, 2], twin_independent=M[2, 1], twin_new_new=M[2, 2])
    return rec


def attach_independent(records, ind):
    """Give every variant record of ind's seed the paragon (independent new/new) and its update gain G.

    Records made before the independent model got its own seed called the twin "new*"; they are renamed
    (their matrices are over old, twin, variant).
    """
    for r in records:
        if r["seed"] != ind["seed"] or "matrix" not in r:
            continue
        if "twin_new_new" not in r:  # the older file's names for the twin's numbers
            r["twin_new_new"], r["twin_new_old"] = r.pop("paragon"), r.pop("independent_new_old")
            r["twin_se"] = r.pop("independent_se")
            r["twin_cross"] = r["matrix"][2][1]
        r["paragon"] = ind["paragon"]
        r["gain"] = (r["new_old"] - r["old_old"]) / (ind["paragon"] - r["old_old"])
    return records


def run_seed(seed, setup, variants_too=True, twin_too=True):
    """All models of one seed; ``variants_too=False`` trains only the old and independent models."""
    s = setup
    t0 = time.perf_counter()
    tr, te = _faces(seed, s)
    o = tr.identity < s["n_old"]
    timings = {"data": time.perf_counter() - t0}

    def timed(label, fn, *args, **kwargs):
        start = time.perf_counter()
        m = fn(*args, **kwargs)
        timings[label] = time.perf_counter() - start
        return m

    old = timed("old", train_old, tr.images[o], tr.identity[o], s, seed)
    indep = timed("independent", train_independent, tr.images, tr.identity, s, seed)
    twin = timed("twin", train_twin, tr.images, tr.identity, s, seed) if twin_too else None
    ind = independent_record(seed, s, tr, te, old, indep, twin)
    records = []
    if variants_too:
        old_key = {"old": f"old-seed{seed}"}
        W_syn = synthesize_weights(embed(old, tr.images), tr.identity, n_classes=s["n_new"], old_weight=old.weight.detach())
        W_old = torch.nn.functional.normalize(old.weight.detach(), dim=1)
        variants = {f"bct-{lam:g}": (influence_term(W_syn, lam=lam, scale=s["scale"], margin=s["margin"]), lam) for lam in LAMS}
        variants["bct-oldonly"] = (influence_term(W_old, lam=MAIN_LAM, scale=s["scale"], margin=s["margin"]), MAIN_LAM)
        variants.update({f"l2-{lam:g}": (l2_term(old, lam=lam), lam) for lam in L2_LAMS})
        z_old, z_twin = embed(old, te.images), embed(twin, te.images)
        for name, (term, lam) in variants.items():
            model = timed(name, train, s["n_new"], tr.images, tr.identity, name, s, seed, extra_loss=term,
                          extra_key={**old_key, "lam": lam})
            z = embed(model, te.images)
            names, M, per = cross_model_matrix({"old": z_old, "twin": z_twin, "new": z}, te.identity,
                                               n_draws=s["n_draws"], seed=seed)
            d = per[("new", "old")] - per[("old", "old")]
            variant = "bct-oldonly" if name == "bct-oldonly" else name.split("-")[0]
            rec = {"seed": seed, "variant": variant, "name": name, "lam": lam, "matrix": M.round(4).tolist(),
                   "new_old": M[2, 0], "old_old": M[0, 0], "new_new": M[2, 2], "twin_new_new": M[1, 1],
                   "twin_new_old": M[1, 0], "twin_cross": M[2, 1], "diff_se": clustered_se(d),
                   "twin_se": clustered_se(per[("twin", "old")]),
                   "newnew_gap_se": clustered_se(per[("new", "new")] - per[("twin", "twin")])}
            if name in (f"bct-{MAIN_LAM:g}", "l2-10"):
                fr, acc, area = backfill_curve(z, z_old, z, te.identity, n_draws=s["n_draws"], seed=seed)
                rec["backfill"] = {"fractions": fr.tolist(), "accuracy": acc.round(4).tolist(), "area": area}
            records.append(rec)
    records.append(ind)
    attach_independent(records, ind)
    return records, {k: round(v, 1) for k, v in timings.items()}


def report(path):
    """Print mean ± sd (ddof=1) over seeds of each variant's numbers (markdown)."""
    data = json.loads(Path(path).read_text())
    recs = [r for r in data["records"] if "matrix" in r]
    ind = [r for r in data["records"] if r["name"] == "independent"]
    print(f"seeds {data['meta']['seeds']}; chance 1/{data['meta']['setup']['n_test']}; ± is the sd over seeds (ddof=1)")

    def f(rs, k):
        v = [r[k] for r in rs]
        return f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.3f}"

    print("| variant | λ | old/old | new/new | new→old | new→old − old/old per seed (clustered SE units) | G | "
          "new→twin gallery |\n|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["name"] for r in recs):
        rs = [r for r in recs if r["name"] == name]
        diffs = ", ".join(f"{r['new_old'] - r['old_old']:+.3f} ({(r['new_old'] - r['old_old']) / r['diff_se']:.1f})"
                          for r in rs)
        print(f"| {name} | {rs[0]['lam']:g} | {f(rs, 'old_old')} | {f(rs, 'new_new')} | {f(rs, 'new_old')} | "
              f"{diffs} | {f(rs, 'gain')} | {f(rs, 'twin_cross')} |")
    print(f"independent (own seed): new/new {f(ind, 'paragon')}, new→old {f(ind, 'independent_new_old')} "
          f"(per seed {[round(r['independent_new_old'], 3) for r in ind]}), backfill area "
          f"{np.mean([r['backfill']['area'] for r in ind]):.3f}")
    tw = [r for r in ind if "independent_twin" in r]
    if tw:
        print(f"independent ↔ twin: {f(tw, 'independent_twin')} / {f(tw, 'twin_independent')} "
              f"(seeds {[r['seed'] for r in tw]})")
    print(f"twin (shared init and order with BCT) new/new {f(recs[:1] and [r for r in recs if r['name'] == recs[0]['name']], 'twin_new_new')}")
    print("timings (s):", data["meta"]["timings"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="FAST-mode sizes (a quick check)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "gracekit" / "data" / "bct_sweep.json"))
    parser.add_argument("--report", metavar="JSON", help="print the tables of an existing sweep file")
    parser.add_argument("--independent-only", metavar="JSON",
                        help="train only the old, independent (and twin) models of --seeds and put their records "
                             "into this existing sweep file (its variant records are kept)")
    parser.add_argument("--no-twin", action="store_true", help="with --independent-only: skip the twin")
    args = parser.parse_args(argv)
    if args.report:
        return report(args.report)
    torch.set_num_threads(1)
    setup = FAST if args.fast else FULL
    start = time.perf_counter()
    records, timings = [], {}
    base = json.loads(Path(args.independent_only).read_text()) if args.independent_only else None
    for seed in args.seeds:
        recs, timings[seed] = run_seed(seed, setup, variants_too=base is None, twin_too=not args.no_twin)
        if base is not None:
            kept = [r for r in base["records"] if r["seed"] == seed and r["name"] != "independent"]
            recs = attach_independent(kept, recs[-1]) + recs
        records += recs
        print(f"seed {seed} done at {time.perf_counter() - start:.0f} s: {timings[seed]}", flush=True)
    if base is not None:  # seeds not retrained keep their records
        records += [r for r in base["records"] if r["seed"] not in args.seeds]
    meta = {"made_by": "tools/make_bct_sweep.py" + (" --fast" if args.fast else ""),
            "seeds": sorted({r["seed"] for r in records}),
            "setup": setup, "lams": LAMS, "main_lam": MAIN_LAM, "l2_lams": L2_LAMS,
            "seconds": round(time.perf_counter() - start, 1), "timings": timings, "threads": 1,
            "torch": torch.__version__, "python": platform.python_version(), "gracekit": gracekit.__version__,
            "note": "seed s: faces, gallery draws and the old model use seed s; BCT, L2 and the twin start from "
                    "initial weights s + 1000 with the batch order of seed s; the independent model from s + 2000 "
                    "with its own batch order; test identities 1000..1000+n_test"}
    if base is not None:  # keep the variant records' provenance
        meta["variants_made_by"] = base["meta"].get("variants_made_by", base["meta"])
    text = json.dumps({"meta": meta, "records": records}, default=float)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, text.encode())
    print(f"{len(records)} records written to {args.out} in {meta['seconds']:.0f} s")


if __name__ == "__main__":
    main()
