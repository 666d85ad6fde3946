"""Regenerate notebook 04's tabular edge/cloud toy results (gracekit/data/edge_cloud_tabular.json).

Usage:
  python tools/make_edge_tabular.py                      # seeds 0-4, full size (about 10-15 s of CPU per seed)
  python tools/make_edge_tabular.py --seeds 0 1 --out /tmp/t.json
  python tools/make_edge_tabular.py --report gracekit/data/edge_cloud_tabular.json    # the benchmark table
Per seed s: the data (make_toy(seed=s): 500 training identities x 20 rows, 100 held-out identities x 10),
a 3 x 512 cloud MLP (CosFace, 32-D), a 2 x 128 edge trained by L2 onto the frozen cloud's embedding,
a 2 x 128 independent edge (CosFace) and a 1 x 16 L2 edge (Exercise 2); top-1 over 5 one-shot gallery draws seeded by s.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

import gracekit  # noqa: E402
from gracekit.cache import atomic_write_bytes  # noqa: E402
from gracekit.edge.tabular import TOY, make_toy, mlp_flops, score, train_cloud, train_edge  # noqa: E402

OUT = ROOT / "gracekit" / "data" / "edge_cloud_tabular.json"
TINY = (16,)  # notebook 04's Exercise 2: a one-layer edge of 16 units, L2 to the cloud


def run(seeds):
    records = []
    for seed in seeds:
        t0 = time.process_time()
        data = make_toy(seed=seed)
        cloud = train_cloud(data, seed=seed)
        t1 = time.process_time()
        edge = train_edge(data, cloud=cloud, seed=seed)
        t2 = time.process_time()
        indep = train_edge(data, method="independent", seed=seed)
        tiny = train_edge(data, cloud=cloud, hidden=TINY, seed=seed)
        s, si = score(edge, cloud, data, seed=seed), score(indep, cloud, data, seed=seed)
        st = score(tiny, cloud, data, seed=seed)
        records.append({"seed": seed, "cloud_cloud": round(s["cloud_cloud"], 4),
                        "l2_edge_cloud": round(s["edge_cloud"], 4), "l2_edge_edge": round(s["edge_edge"], 4),
                        "l2_gap_se": round(s["gap_se"], 4), "indep_edge_edge": round(si["edge_edge"], 4),
                        "indep_edge_cloud": round(si["edge_cloud"], 4),
                        "tiny_edge_cloud": round(st["edge_cloud"], 4), "tiny_gap_se": round(st["gap_se"], 4),
                        "cloud_cpu_s": round(t1 - t0, 1), "edge_cpu_s": round(t2 - t1, 1)})
        print(records[-1], flush=True)
    return records


def report(path):
    d = json.loads(Path(path).read_text())
    r, m = d["records"], d["meta"]
    ms = lambda k: (np.mean([x[k] for x in r]), np.std([x[k] for x in r], ddof=1) / np.sqrt(len(r)))  # noqa: E731
    gap = [100 * (x["l2_edge_cloud"] - x["cloud_cloud"]) for x in r]
    het = [100 * (x["l2_edge_cloud"] - max(x["indep_edge_edge"], x["l2_edge_edge"])) for x in r]
    print(f"FLOPs: cloud {m['cloud_flops']:,}, edge {m['edge_flops']:,} ({m['cloud_flops'] / m['edge_flops']:.1f}x); "
          f"seeds {[x['seed'] for x in r]}")
    print("| quantity | mean ± SE over seeds |\n|---|---|")
    for k in ("cloud_cloud", "l2_edge_cloud", "l2_edge_edge", "indep_edge_edge", "indep_edge_cloud", "tiny_edge_cloud"):
        print(f"| {k} | {ms(k)[0]:.3f} ± {ms(k)[1]:.3f} |")
    print(f"| gap edge->cloud - paragon (pts) | {np.mean(gap):+.1f} ± {np.std(gap, ddof=1) / np.sqrt(len(gap)):.1f} "
          f"(per seed {np.round(gap, 1).tolist()}) |")
    print(f"| hetero - best homogeneous small (pts) | {np.mean(het):+.1f} ± "
          f"{np.std(het, ddof=1) / np.sqrt(len(het)):.1f} |")
    print("CPU seconds per seed (cloud, L2 edge):", [(x["cloud_cpu_s"], x["edge_cpu_s"]) for x in r])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--report", metavar="JSON")
    args = p.parse_args(argv)
    if args.report:
        return report(args.report)
    torch.set_num_threads(1)
    start = time.perf_counter()
    records = run(args.seeds)
    meta = {"made_by": "tools/make_edge_tabular.py", "toy": {k: list(v) if isinstance(v, tuple) else v
                                                             for k, v in TOY.items()},
            "cloud_flops": mlp_flops(TOY["n_features"], TOY["cloud_hidden"], TOY["emb_dim"]),
            "edge_flops": mlp_flops(TOY["n_features"], TOY["edge_hidden"], TOY["emb_dim"]),
            "tiny_hidden": list(TINY), "tiny_flops": mlp_flops(TOY["n_features"], TINY, TOY["emb_dim"]),
            "seconds": round(time.perf_counter() - start, 1), "threads": 1, "torch": torch.__version__,
            "python": platform.python_version(), "gracekit": gracekit.__version__}
    atomic_write_bytes(Path(args.out), json.dumps({"meta": meta, "records": records}, indent=1).encode())
    print(f"{len(records)} records written to {args.out}")


if __name__ == "__main__":
    main()
