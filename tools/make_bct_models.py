"""Regenerate gracekit/data/bct_models.pt: the six trained face embedders notebook 03 loads (seed 0, full size).

Usage: python tools/make_bct_models.py [--out gracekit/data/bct_models.pt]
Trains, with tools/make_bct_sweep.py's recipe and one torch thread, the seed-0 models of the notebook:
the old model (identities 0-99), the independent new model (its own initialization and batch order), its
"twin" (no compatibility term, but the BCT models' initialization and batch order), BCT with synthesized
weights (lambda 2), BCT on old identities only (lambda 2) and L2 (lambda 10). About 4 minutes on one idle
core; models are cached (gracekit.cache_dir()). The file holds float16 state dicts (the new models without
their classifier rows, which retrieval never uses; about 440 KB) and is read with torch.load(weights_only=True);
rounded to float16, the models' top-1 numbers can differ from the sweep's seed 0 in the third decimal.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import torch  # noqa: E402

from gracekit.bct.faces import make_faces  # noqa: E402
from gracekit.cache import save_torch  # noqa: E402
from gracekit.embedding_losses import influence_term, l2_term, synthesize_weights  # noqa: E402
from gracekit.models import embed  # noqa: E402
from make_bct_sweep import FULL, MAIN_LAM, train, train_independent, train_old, train_twin  # noqa: E402

L2_LAM = 10.0
SEED = 0


def train_models(setup=FULL, seed=SEED, log=print):
    """The notebook's six models for one seed, as a dict name -> trained FaceEmbedder."""
    s = setup
    tr = make_faces(s["n_new"], s["n_per_identity"], difficulty=s["difficulty"], seed=seed)
    X, y = tr.images, tr.identity
    o = y < s["n_old"]
    models = {}
    start = time.perf_counter()
    models["old"] = train_old(X[o], y[o], s, seed)
    log(f"old {time.perf_counter() - start:.0f} s")
    models["independent"] = train_independent(X, y, s, seed)
    log(f"independent {time.perf_counter() - start:.0f} s")
    old = models["old"]
    W_syn = synthesize_weights(embed(old, X), y, n_classes=s["n_new"], old_weight=old.weight.detach())
    W_old = torch.nn.functional.normalize(old.weight.detach(), dim=1)
    old_key = {"old": f"old-seed{seed}"}
    models["BCT"] = train(s["n_new"], X, y, f"bct-{MAIN_LAM:g}", s, seed,
                          influence_term(W_syn, lam=MAIN_LAM, scale=s["scale"], margin=s["margin"]), {**old_key, "lam": MAIN_LAM})
    log(f"BCT {time.perf_counter() - start:.0f} s")
    models["BCT-oldonly"] = train(s["n_new"], X, y, "bct-oldonly", s, seed,
                                  influence_term(W_old, lam=MAIN_LAM, scale=s["scale"], margin=s["margin"]),
                                  {**old_key, "lam": MAIN_LAM})
    log(f"BCT-oldonly {time.perf_counter() - start:.0f} s")
    models["L2"] = train(s["n_new"], X, y, f"l2-{L2_LAM:g}", s, seed, l2_term(old, lam=L2_LAM),
                         {**old_key, "lam": L2_LAM})
    log(f"L2 {time.perf_counter() - start:.0f} s")
    models["twin"] = train_twin(X, y, s, seed)
    log(f"twin {time.perf_counter() - start:.0f} s")
    return models


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "gracekit" / "data" / "bct_models.pt"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    models = train_models(log=lambda m: print(m, flush=True))
    states = {}
    for name, m in models.items():
        sd = {k: (v.detach().half() if v.is_floating_point() else v.detach().clone()) for k, v in m.state_dict().items()}
        if name != "old":
            sd.pop("weight")  # the new models' classifier rows: not used for retrieval
        states[name] = sd
    meta = {"made_by": "tools/make_bct_models.py", "seed": SEED, "setup": FULL, "lam": MAIN_LAM, "l2_lam": L2_LAM,
            "n_classes": {k: (FULL["n_old"] if k == "old" else 0) for k in states}, "dtype": "float16",
            "torch": torch.__version__, "seconds": round(time.perf_counter() - start, 1)}
    save_torch({"meta": json.dumps(meta), "models": states}, args.out)
    print(f"{len(states)} models written to {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
