"""Regenerate gracekit/data/chain_results.json: notebook 06's chain of five models phi_1 -> ... -> phi_5.

Usage: python tools/make_chain.py [--fast] [--seeds 0 1 2] [--out gracekit/data/chain_results.json]
       python tools/make_chain.py --growing --seeds 0 1 2 3 4 --out gracekit/data/chain_growing.json
           (each update a wider model on more data; independent, BCT and L2 against all predecessors)
       python tools/make_chain.py --report gracekit/data/chain_results.json   (prints the benchmark tables)
Every method of gracekit.chain.METHODS, every seed: about 1-2 minutes per seed on one CPU thread;
models are cached (gracekit.cache_dir()), so a rerun is quick.
"""
import argparse
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
from gracekit.chain.experiment import GROWING_METHODS, METHODS, ChainSetup, run_chains, setup_dict  # noqa: E402
from gracekit.chain.summary import summarize_chains  # noqa: E402
from gracekit.sweeps import load_records, save_records  # noqa: E402


def report(path):
    """Print the chain's tables (markdown): consecutive and oldest-gallery compatibility, tax, flips."""
    records, meta = load_records(path)
    S = summarize_chains(records)
    n = next(iter(S.values()))["n_seeds"]
    T = len(next(iter(S.values()))["pair"])
    f = lambda m, s: f"{m:.3f} ± {s:.3f}"  # noqa: E731
    print(f"seeds {meta.get('seeds')}; mean ± sd over {n} seeds; leave-one-out top-1 on {meta['setup']['n_test']} "
          f"test points; training sizes {meta['setup']['sizes']}\n")
    print("phi_1 / phi_1:", f(S["independent"]["pair"][0, 0], S["independent"]["pair_sd"][0, 0]), "\n")
    for title, cell in [("new queries, predecessor's gallery: M(phi_t, phi_t-1) - M(phi_t-1, phi_t-1)",
                         lambda P, t: P[t, t - 1] - P[t - 1, t - 1]),
                        ("new queries, oldest gallery: M(phi_t, phi_1) - M(phi_1, phi_1)",
                         lambda P, t: P[t, 0] - P[0, 0])]:
        print(f"**{title}**\n")
        print("| method | " + " | ".join(f"t={t + 1}" for t in range(1, T)) + " |")
        print("|---|" + "---|" * (T - 1))
        for m, s in S.items():
            recs = [r for r in records if r["method"] == m and r["kind"] == "pair"]
            seeds = sorted({r["seed"] for r in recs})
            cells = []
            for t in range(1, T):
                vals = []
                for sd in seeds:
                    P = np.zeros((T, T))
                    for r in recs:
                        if r["seed"] == sd:
                            P[r["query"] - 1, r["gallery"] - 1] = r["top1"]
                    vals.append(cell(P, t))
                cells.append(f"{np.mean(vals):+.3f} ± {np.std(vals, ddof=1) if len(vals) > 1 else 0:.3f}")
            print(f"| {m} | " + " | ".join(cells) + " |")
        print()
    for field, title in [("self_top1", "self retrieval M(phi_t, phi_t)"), ("err", "classification error"),
                         ("nfr_first", "NFR against phi_1"), ("nfr_prev", "NFR against phi_t-1")]:
        print(f"**{title}**" + (" (and its gap to the independent model, the tax)" if field in ("self_top1", "err") else "")
              + "\n")
        print("| method | " + " | ".join(f"t={t + 1}" for t in range(T)) + " |")
        print("|---|" + "---|" * T)
        for m, s in S.items():
            mean, sd = s["step"][field]
            print(f"| {m} | " + " | ".join(f"{mean[t]:.3f} ± {sd[t]:.3f}" for t in range(T)) + " |")
        print()
    print("timings (s):", meta.get("timings"), "total", meta.get("seconds"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="FAST-mode sizes (a quick check)")
    parser.add_argument("--growing", action="store_true", help="the growing chain (ChainSetup().growing())")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "gracekit" / "data" / "chain_results.json"))
    parser.add_argument("--report", metavar="JSON", help="print the tables of an existing results file")
    args = parser.parse_args(argv)
    if args.report:
        return report(args.report)
    torch.set_num_threads(1)
    setup = ChainSetup().growing() if args.growing else ChainSetup()
    setup = setup.fast() if args.fast else setup
    methods = GROWING_METHODS if args.growing else METHODS
    start = time.perf_counter()
    records, timings = [], {}
    for seed in args.seeds:
        t0 = time.perf_counter()
        records += run_chains(setup, seeds=[seed], methods=methods, progress=False)
        timings[seed] = round(time.perf_counter() - t0, 1)
        print(f"seed {seed} done in {timings[seed]:.0f} s", flush=True)
    for r in records:
        for k in ("top1", "err", "nfr_prev", "nfr_first", "self_top1"):
            if k in r:
                r[k] = round(float(r[k]), 5)
    meta = {"made_by": "tools/make_chain.py" + (" --growing" if args.growing else "") + (" --fast" if args.fast else ""), "seeds": args.seeds,
            "setup": setup_dict(setup), "methods": list(methods), "seconds": round(time.perf_counter() - start, 1),
            "timings": timings, "threads": 1, "torch": torch.__version__, "python": platform.python_version(),
            "gracekit": gracekit.__version__,
            "note": "seed s: phi_1 and every model of step t use seed s + 100 t; data make_multiclass(seed=0)"}
    save_records(records, args.out, meta=meta)
    print(f"{len(records)} records written to {args.out} in {meta['seconds']:.0f} s")


if __name__ == "__main__":
    main()
