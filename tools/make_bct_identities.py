"""Regenerate gracekit/data/bct_identities.json: does BCT pass with 25, 50, 100 or 300 training identities?

Usage: python tools/make_bct_identities.py [--sizes 25 50 100 300] [--seeds 0 1 2 3 4] [--out FILE]
       python tools/make_bct_identities.py --report gracekit/data/bct_identities.json
       python tools/make_bct_identities.py --merge A.json B.json --out FILE   (join runs of other seeds/sizes)
Synthetic faces (gracekit.bct.faces.make_faces, 12 images per identity, difficulty 1); for N training
identities the old model sees the first N // 3 (notebook 03: 100 of 300), the new models all N. Per
(N, seed) three models with notebook 03's recipe (tools/make_bct_sweep.py: 20 epochs, the last 4 at lr/10,
batch 64, one torch thread): the old model, BCT with synthesized weights (lambda 2) and the independent new
model (its own initialization and batch order). Test: the notebook's 100 unseen identities x 10 images,
1-shot gallery, top-1 over 5 gallery draws. The epochs are fixed, so a smaller set also gets fewer
optimizer steps (25 identities: 100 steps, 300: 1,140); the report says so. Models are cached.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gracekit.bct.faces import make_faces  # noqa: E402
from gracekit.cache import atomic_write_bytes  # noqa: E402
from gracekit.embedding_losses import influence_term, synthesize_weights  # noqa: E402
from gracekit.models import embed  # noqa: E402
from gracekit.retrieval import clustered_se, cross_model_matrix  # noqa: E402
from make_bct_sweep import FULL, MAIN_LAM, train, train_independent, train_old  # noqa: E402


def run_point(n_train, seed, base=FULL, epoch_scale=1):
    """Old, BCT and independent models for one (number of training identities, seed); one record.

    ``epoch_scale`` multiplies the epochs of all three models (a control: 12 at 25 identities gives about
    the optimizer steps of the 300-identity models).
    """
    s = dict(base, n_new=n_train, n_old=n_train // 3, n_epochs=base["n_epochs"] * epoch_scale,
             decay_epochs=base["decay_epochs"] * epoch_scale)
    t0 = time.perf_counter()
    tr = make_faces(s["n_new"], s["n_per_identity"], difficulty=s["difficulty"], seed=seed)
    te = make_faces(identities=range(1000, 1000 + s["n_test"]), n_per_identity=s["n_test_images"],
                    difficulty=s["difficulty"], seed=seed)
    X, y = tr.images, tr.identity
    o = y < s["n_old"]
    old = train_old(X[o], y[o], s, seed)
    W_syn = synthesize_weights(embed(old, X), y, n_classes=s["n_new"], old_weight=old.weight.detach())
    bct = train(s["n_new"], X, y, f"bct-{MAIN_LAM:g}", s, seed,
                influence_term(W_syn, lam=MAIN_LAM, scale=s["scale"], margin=s["margin"]), {"old": f"old-seed{seed}", "lam": MAIN_LAM})
    ind = train_independent(X, y, s, seed)
    Z = {"old": embed(old, te.images), "independent": embed(ind, te.images), "BCT": embed(bct, te.images)}
    _, M, per = cross_model_matrix(Z, te.identity, n_draws=s["n_draws"], seed=seed)
    d = per[("BCT", "old")] - per[("old", "old")]
    steps = int(np.ceil(len(X) / s["batch_size"])) * s["n_epochs"]
    return {"n_train": n_train, "n_old": s["n_old"], "seed": seed, "old_old": M[0, 0], "bct_old": M[2, 0],
            "diff": float(d.mean()), "diff_se": clustered_se(d), "paragon": M[1, 1], "bct_new": M[2, 2],
            "independent_old": M[1, 0], "steps": steps, "epoch_scale": epoch_scale,
            "seconds": round(time.perf_counter() - t0, 1)}


def summary(records, epoch_scale=1):
    """Per N: mean and SE over seeds of the difference BCT->old - old/old, and how many seeds pass.

    Only records trained with ``epoch_scale`` (1: the notebook's recipe) are summarized.
    """
    out = {}
    records = [r for r in records if r.get("epoch_scale", 1) == epoch_scale]
    for n in sorted({r["n_train"] for r in records}):
        rs = [r for r in records if r["n_train"] == n]
        def ms(k):
            v = np.array([r[k] for r in rs], float)
            return float(v.mean()), (float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan"))
        out[n] = {k: ms(k) for k in ("diff", "old_old", "bct_old", "paragon", "bct_new", "independent_old")}
        out[n]["n_seeds"] = len(rs)
        out[n]["n_pass"] = sum(r["diff"] > 0 for r in rs)
        out[n]["steps"] = rs[0]["steps"]
    return out


def report(path):
    data = json.loads(Path(path).read_text())
    print("| training identities (old model) | seeds | optimizer steps | old/old | BCT→old | BCT→old − old/old (SE over seeds) "
          "| seeds passing | independent new/new − old/old |\n|---|---|---|---|---|---|---|---|")
    for scale in sorted({r.get("epoch_scale", 1) for r in data["records"]}):
        for n, s in summary(data["records"], scale).items():
            n_old = n // 3
            head = s["paragon"][0] - s["old_old"][0]
            label = f"{n} ({n_old})" + ("" if scale == 1 else f", {scale}x epochs")
            print(f"| {label} | {s['n_seeds']} | {s['steps']} | {s['old_old'][0]:.3f} | {s['bct_old'][0]:.3f} | "
                  f"{s['diff'][0]:+.3f} ± {s['diff'][1]:.3f} | {s['n_pass']} of {s['n_seeds']} | {head:+.3f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 300])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default=str(ROOT / "gracekit" / "data" / "bct_identities.json"))
    parser.add_argument("--report", metavar="JSON")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="join the records of earlier runs")
    parser.add_argument("--epoch-scale", type=int, default=1,
                        help="multiply every model's epochs (a control for the optimizer steps; default 1)")
    args = parser.parse_args(argv)
    if args.report:
        return report(args.report)
    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        records = {(r["n_train"], r["seed"], r.get("epoch_scale", 1)): r for p in parts for r in p["records"]}
        meta = dict(parts[0]["meta"], merged_from=[p["meta"].get("runs", [p["meta"]]) for p in parts])
        records = [records[k] for k in sorted(records)]
        meta["sizes"] = sorted({r["n_train"] for r in records})
        meta["seeds"] = sorted({r["seed"] for r in records})
    else:
        torch.set_num_threads(1)
        start = time.perf_counter()
        records = []
        for n in args.sizes:
            for seed in args.seeds:
                records.append(run_point(n, seed, epoch_scale=args.epoch_scale))
                r = records[-1]
                print(f"N={n} seed {seed}: old/old {r['old_old']:.3f} BCT->old {r['bct_old']:.3f} "
                      f"({r['diff']:+.3f} ± {r['diff_se']:.3f}) paragon {r['paragon']:.3f} "
                      f"[{r['seconds']:.0f} s, total {time.perf_counter() - start:.0f} s]", flush=True)
        meta = {"made_by": "tools/make_bct_identities.py", "sizes": args.sizes, "seeds": args.seeds,
                "setup": FULL, "lam": MAIN_LAM, "old_fraction": "n_train // 3", "threads": 1,
                "epoch_scale": args.epoch_scale,
                "seconds": round(time.perf_counter() - start, 1), "torch": torch.__version__,
                "python": platform.python_version()}
    text = json.dumps({"meta": meta, "records": records}, default=float)
    atomic_write_bytes(args.out, text.encode())
    print(f"{len(records)} records written to {args.out}")


if __name__ == "__main__":
    main()
