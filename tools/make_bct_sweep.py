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
from gracekit.models import FaceEmbedder, embed  # noqa: E402
from gracekit.embedding_losses import margin_loss  # noqa: E402
from gracekit.bct.faces import make_faces  # noqa: E402
from gracekit.retrieval import backfill_curve, clustered_se, cross_model_matrix  # noqa: E402
from gracekit.cache import atomic_write_bytes  # noqa: E402
from gracekit.train import fit_two_stage  # noqa: E402

FULL = dict(n_old=100, n_new=300, n_per_identity=12, n_test=100, n_test_images=10, difficulty=1.0,
            n_epochs=20, decay_epochs=4, lr=3e-3, batch_size=64, weight_decay=5e-4, margin=0.2, scale=16.0,
            n_draws=5)
FAST = dict(FULL, n_old=20, n_new=40, n_per_identity=8, n_test=20, n_test_images=6, n_epochs=6,
            decay_epochs=2, n_draws=3)
LAMS = [0.1, 0.3, 1.0, 2.0, 4.0]  # BCT with synthesized weights
MAIN_LAM = 2.0  # the lambda the notebook trains; the ablation uses it too
L2_LAMS = [1.0, 10.0]


def train(n_classes, X, y, name, setup, seed, extra_loss=None, extra_key=None, init_seed=None):
    """The notebook's recipe: Adam at lr, then ``decay_epochs`` more at lr/10; each stage cached.

    New models start from the initial weights ``seed + 1000`` (all of them the same), the old model
    from ``seed``: a new model is not trained from the old model's initialization.
    """
    s = setup
    init_seed = seed + 1000 if init_seed is None else init_seed
    kw = dict(batch_size=s["batch_size"], weight_decay=s["weight_decay"], seed=seed, progress=False,
              loss_fn=margin_loss(margin=s["margin"], scale=s["scale"]), extra_loss=extra_loss)
    key = {"name": f"bct-faces-{name}", "n_classes": n_classes, "arch": "FaceEmbedder-default",
           "init": init_seed, **(extra_key or {})}
    return fit_two_stage(lambda: FaceEmbedder(n_classes, scale=s["scale"], seed=init_seed), X, y, key=key,
                         n_epochs=s["n_epochs"], decay_epochs=s["decay_epochs"], lr=s["lr"], **kw)


def run_seed(seed, setup):
    s = setup
    t0 = time.perf_counter()
    tr = make_faces(s["n_new"], s["n_per_identity"], difficulty=s["difficulty"], seed=seed)
    te = make_faces(identities=range(1000, 1000 + s["n_test"]), n_per_identity=s["n_test_images"],
                    difficulty=s["difficulty"], seed=seed)
    o = tr.identity < s["n_old"]
    timings = {"data": time.perf_counter() - t0}

    def timed(label, *args, **kwargs):
        start = time.perf_counter()
        m = train(*args, **kwargs)
        timings[label] = time.perf_counter() - start
        return m

    old = timed("old", s["n_old"], tr.images[o], tr.identity[o], "old", s, seed, init_seed=seed)
    indep = timed("independent", s["n_new"], tr.images, tr.identity, "independent", s, seed)
    old_key = {"old": f"old-seed{seed}"}
    W_syn = synthesize_weights(embed(old, tr.images), tr.identity, n_classes=s["n_new"], old_weight=old.weight.detach())
    W_old = torch.nn.functional.normalize(old.weight.detach(), dim=1)
    variants = {f"bct-{lam:g}": (influence_term(W_syn, lam=lam, scale=s["scale"], margin=s["margin"]), lam) for lam in LAMS}
    variants["bct-oldonly"] = (influence_term(W_old, lam=MAIN_LAM, scale=s["scale"], margin=s["margin"]), MAIN_LAM)
    variants.update({f"l2-{lam:g}": (l2_term(old, lam=lam), lam) for lam in L2_LAMS})
    z_old, z_ind = embed(old, te.images), embed(indep, te.images)
    records = []
    for name, (term, lam) in variants.items():
        model = timed(name, s["n_new"], tr.images, tr.identity, name, s, seed, extra_loss=term,
                      extra_key={**old_key, "lam": lam})
        z = embed(model, te.images)
        names, M, per = cross_model_matrix({"old": z_old, "new*": z_ind, "new": z}, te.identity,
                                           n_draws=s["n_draws"], seed=seed)
        d = per[("new", "old")] - per[("old", "old")]
        variant = "bct-oldonly" if name == "bct-oldonly" else name.split("-")[0]
        rec = {"seed": seed, "variant": variant, "name": name, "lam": lam, "matrix": M.round(4).tolist(),
               "new_old": M[2, 0], "old_old": M[0, 0], "new_new": M[2, 2], "paragon": M[1, 1],
               "independent_new_old": M[1, 0], "diff_se": clustered_se(d),
               "independent_se": clustered_se(per[("new*", "old")]),
               "newnew_gap_se": clustered_se(per[("new", "new")] - per[("new*", "new*")]),
               "gain": (M[2, 0] - M[0, 0]) / (M[1, 1] - M[0, 0])}
        if name in (f"bct-{MAIN_LAM:g}", "l2-10"):
            fr, acc, area = backfill_curve(z, z_old, z, te.identity, n_draws=s["n_draws"], seed=seed)
            rec["backfill"] = {"fractions": fr.tolist(), "accuracy": acc.round(4).tolist(), "area": area}
        records.append(rec)
    fr, acc, area = backfill_curve(z_ind, z_old, z_ind, te.identity, n_draws=s["n_draws"], seed=seed)
    records.append({"seed": seed, "variant": "independent", "name": "independent", "lam": 0.0,
                    "backfill": {"fractions": fr.tolist(), "accuracy": acc.round(4).tolist(), "area": area},
                    "chance": 1 / s["n_test"]})
    return records, {k: round(v, 1) for k, v in timings.items()}


def report(path):
    """Print mean +- sd over seeds of each variant's numbers (markdown)."""
    data = json.loads(Path(path).read_text())
    recs = [r for r in data["records"] if "matrix" in r]
    print(f"seeds {data['meta']['seeds']}; chance 1/{data['meta']['setup']['n_test']}")
    print("| variant | λ | old/old | new/new (independent) | new/new | new→old | new→old − old/old (SE) | G |")
    print("|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["name"] for r in recs):
        rs = [r for r in recs if r["name"] == name]
        def f(k):
            v = [r[k] for r in rs]
            return f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.3f}"

        diffs = ", ".join(f"{r['new_old'] - r['old_old']:+.3f} ({(r['new_old'] - r['old_old']) / r['diff_se']:.1f} SE)"
                          for r in rs)
        print(f"| {name} | {rs[0]['lam']:g} | {f('old_old')} | {f('paragon')} | {f('new_new')} | {f('new_old')} | "
              f"{diffs} | {f('gain')} |")
    ind = [r for r in recs if r["name"] == recs[0]["name"]]
    print("independent new→old per seed:",
          [f"{r['independent_new_old']:.3f} (SE {r['independent_se']:.3f})" for r in ind])
    print("timings (s):", data["meta"]["timings"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="FAST-mode sizes (a quick check)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "gracekit" / "data" / "bct_sweep.json"))
    parser.add_argument("--report", metavar="JSON", help="print the tables of an existing sweep file")
    args = parser.parse_args(argv)
    if args.report:
        return report(args.report)
    torch.set_num_threads(1)
    setup = FAST if args.fast else FULL
    start = time.perf_counter()
    records, timings = [], {}
    for seed in args.seeds:
        recs, timings[seed] = run_seed(seed, setup)
        records += recs
        print(f"seed {seed} done at {time.perf_counter() - start:.0f} s: {timings[seed]}", flush=True)
    meta = {"made_by": "tools/make_bct_sweep.py" + (" --fast" if args.fast else ""), "seeds": args.seeds,
            "setup": setup, "lams": LAMS, "main_lam": MAIN_LAM, "l2_lams": L2_LAMS,
            "seconds": round(time.perf_counter() - start, 1), "timings": timings, "threads": 1,
            "torch": torch.__version__, "python": platform.python_version(), "gracekit": gracekit.__version__,
            "note": "seed s: faces, identities and all models use seed s; test identities 1000..1000+n_test"}
    text = json.dumps({"meta": meta, "records": records}, default=float)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, text.encode())
    print(f"{len(records)} records written to {args.out} in {meta['seconds']:.0f} s")


if __name__ == "__main__":
    main()
