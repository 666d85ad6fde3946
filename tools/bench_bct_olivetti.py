"""BCT on real faces over several identity splits: is notebook 03's Olivetti failure systematic?

Usage: python tools/bench_bct_olivetti.py OLIVETTI_MAT [--splits 0 1 2 3 4] [--old-people 12 20 25] [--lam 2]
OLIVETTI_MAT is a local olivettifaces.mat (never shipped with the kit). For each split seed, 15 random
people are the test set and the other 25 train; the old model sees the first N_OLD of the 25 (in
sorted order), the new models all 25. Recipe as notebook 03 (40 epochs, synthesized weights; lambda 2
unless --lam). Prints one row per (N_OLD, split) and the mean difference
M(BCT, old) - M(old, old) with its spread over splits. Models are cached (gracekit.cache_dir()).
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gracekit.embedding_losses import influence_term, synthesize_weights  # noqa: E402
from gracekit.models import embed  # noqa: E402
from gracekit.bct.faces import split_identities  # noqa: E402
from gracekit.bct.face_files import build_olivetti_cache, load_faces  # noqa: E402
from gracekit.retrieval import clustered_se, cross_model_matrix  # noqa: E402
from make_bct_sweep import train, train_independent  # noqa: E402  (notebook 03's two-stage recipe)

R = dict(n_epochs=40, decay_epochs=8, lr=3e-3, batch_size=32, weight_decay=5e-4, margin=0.2, scale=16.0)  # notebook 03


def run_split(real, split, n_old, lam=2.0):
    tr_idx, te_idx = split_identities(real.identity, n_test=15, seed=split)
    ids = np.unique(real.identity[tr_idx])
    relabel = {v: i for i, v in enumerate(ids)}
    Xo, yo = real.images[tr_idx], np.array([relabel[v] for v in real.identity[tr_idx]])
    is_old = yo < n_old
    tag = f"s{split}-o{n_old}"
    old = train(n_old, Xo[is_old], yo[is_old], f"olivetti-old-{tag}", R, 0, init_seed=0)
    indep = train_independent(Xo, yo, R, 0, n_classes=25)  # its own initialization and batch order
    W = synthesize_weights(embed(old, Xo), yo, n_classes=25, old_weight=old.weight.detach())
    bct = train(25, Xo, yo, f"olivetti-bct-{tag}", R, 0, influence_term(W, lam=lam, scale=R["scale"], margin=R["margin"]),
                {"lam": lam})
    Z = {k: embed(m, real.images[te_idx]) for k, m in (("old", old), ("new*", indep), ("BCT", bct))}
    _, M, per = cross_model_matrix(Z, real.identity[te_idx], n_draws=5)
    d = per[("BCT", "old")] - per[("old", "old")]
    return {"old_old": M[0, 0], "ind_old": M[1, 0], "bct_old": M[2, 0], "ind_new": M[1, 1], "bct_new": M[2, 2],
            "diff": d.mean(), "se": clustered_se(d)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mat")
    parser.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--old-people", type=int, nargs="+", default=[12, 20, 25])
    parser.add_argument("--lam", type=float, default=2.0, help="BCT influence-loss weight (notebook 03: 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    home = Path(tempfile.mkdtemp(prefix="olivetti-"))
    build_olivetti_cache(args.mat, home)
    real = load_faces("olivetti", data_home=home, fallback=None)  # never synthetic faces in disguise
    print(f"lambda = {args.lam:g}\n")
    print("| old model saw | split | old/old | indep. new->old | BCT new->old | BCT - old/old (SE) "
          "| indep. new/new | BCT new/new |\n|---|---|---|---|---|---|---|---|")
    for n_old in args.old_people:
        diffs = []
        for split in args.splits:
            r = run_split(real, split, n_old, args.lam)
            diffs.append(r["diff"])
            print(f"| {n_old} of 25 | {split} | {r['old_old']:.3f} | {r['ind_old']:.3f} | {r['bct_old']:.3f} | "
                  f"{r['diff']:+.3f} ({r['se']:.3f}) | {r['ind_new']:.3f} | {r['bct_new']:.3f} |", flush=True)
        print(f"| {n_old} of 25 | mean ± sd | | | | {np.mean(diffs):+.3f} ± {np.std(diffs, ddof=1):.3f} "
              f"({sum(x > 0 for x in diffs)} of {len(diffs)} splits pass) | | |", flush=True)


if __name__ == "__main__":
    main()
