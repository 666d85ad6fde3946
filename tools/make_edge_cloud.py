"""Regenerate notebook 04's shipped data: the frozen cloud embedder and the sweep of edge query models.

Usage:
  python tools/make_edge_cloud.py --cloud-only                 # gracekit/data/edge_cloud_cloud.pt (seed 0)
  python tools/make_edge_cloud.py --seeds 0 1 2 --grid         # train + score every edge, measure costs,
                                                               # write gracekit/data/edge_cloud_sweep.json
  python tools/make_edge_cloud.py --seeds 0 --grid --out a.json --no-cost   # one part, to run in parallel
  python tools/make_edge_cloud.py --merge a.json b.json        # join parts, measure costs, write the sweep
  python tools/make_edge_cloud.py --report gracekit/data/edge_cloud_sweep.json       # print the benchmark tables
  python tools/make_edge_cloud.py --confound --seeds 0 1 2     # the targeted confound sweep (epochs, bottleneck):
                                                               # gracekit/data/edge_cloud_confound.json
  python tools/make_edge_cloud.py --confound --only w4 --out a.json   # one part (w4 or w8), then --merge-confound
Data: 300 training identities x 12 synthetic faces (seed 0, the cloud's and every edge's training set);
test: 100 unseen identities (1000-1099) x 10 images, 1-shot gallery, top-1 over 5 gallery draws seeded
by the edge seed. The cloud (widths 32/64/128/128) is trained once (seed 0) and rounded to float16;
edges are trained against it with seeds 0, 1, 2. Models are cached (gracekit.cache_dir()).
Full size: cloud about 5 minutes, edges 0.5-3 minutes each on one idle CPU core (15 epochs).
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
from gracekit.edge.cost import count_flops, measure_latency  # noqa: E402
from gracekit.models import count_params  # noqa: E402
from gracekit.edge.recipe import (RECIPE, edge_widths, load_cloud, make_embedder, round_half, save_cloud,  # noqa: E402
                                 score_pair, train_embedder)
from gracekit.models import embed  # noqa: E402
from gracekit.bct.faces import make_faces  # noqa: E402

FULL = dict(n_train=300, n_per_identity=12, n_test=100, n_test_images=10, difficulty=1.0, n_draws=5,
            cloud_widths=[32, 64, 128, 128], cloud_epochs=25, cloud_decay=5, edge_epochs=15, edge_decay=3)
FAST = dict(FULL, n_train=40, n_per_identity=6, n_test=20, n_test_images=5, n_draws=3, cloud_epochs=4,
            cloud_decay=1, edge_epochs=3, edge_decay=1)
WIDTHS = [4, 8, 16, 24]       # first-block width of the edges (depth 4: w/2w/2w/2w)
METHODS = ["independent", "bct", "l2"]
# the grid search (BCT, first seed): first width x depth; the widest shallow nets are left out (CPU time)
GRID = [(w, d) for d in (2, 3, 4) for w in (4, 8, 16, 24) if not (w == 24 and d < 4)]
GRID_METHOD = "bct"
CLOUD_FILE = ROOT / "gracekit" / "data" / "edge_cloud_cloud.pt"
SWEEP_FILE = ROOT / "gracekit" / "data" / "edge_cloud_sweep.json"
LATENCY_BATCHES = [1, 64]
CONFOUND_FILE = ROOT / "gracekit" / "data" / "edge_cloud_confound.json"
# The targeted confound sweep (BCT, seeded init, seeds paired across conditions). The shipped sweep trained
# edges 15 epochs (last 3 at lr/10) against the cloud's 25 (last 5), and its deepest small edge 4/8/8/8 ends
# in 8 channels x 2 x 2 = 32 features feeding the 64-D embedding (rank <= 32). Conditions:
#   widths, epochs, decay: the 15-epoch recipe, the cloud's 25-epoch recipe, and 4/8/8/16 (64 features, no
#   rank limit, +0.04 MFLOPs) at 25 epochs.
CONFOUND = {"w4": [((4, 8, 8, 8), 15, 3), ((4, 8, 8, 8), 25, 5), ((4, 8, 8, 16), 25, 5)],
            "w8": [((8, 16, 16, 16), 15, 3), ((8, 16, 16, 16), 25, 5)]}


def faces(s):
    tr = make_faces(s["n_train"], s["n_per_identity"], difficulty=s["difficulty"], seed=0)
    te = make_faces(identities=range(1000, 1000 + s["n_test"]), n_per_identity=s["n_test_images"],
                    difficulty=s["difficulty"], seed=0)
    return tr, te


def make_cloud(s, path):
    tr, te = faces(s)
    t0 = time.perf_counter()
    recipe = {"n_epochs": s["cloud_epochs"], "decay_epochs": s["cloud_decay"]}
    cloud = train_embedder(s["cloud_widths"], tr.images, tr.identity, name="cloud", seed=0, recipe=recipe,
                           progress=True)
    seconds = time.perf_counter() - t0
    round_half(cloud)
    sc = score_pair(cloud, cloud, te.images, te.identity, n_draws=s["n_draws"], seed=0)
    save_cloud(cloud, path, made_by="tools/make_edge_cloud.py --cloud-only", seed=0, train_seconds=round(seconds, 1),
               recipe={**RECIPE, **recipe}, setup=s, cloud_cloud_seed0=sc["cloud_cloud"])
    print(f"cloud: {seconds:.0f} s, cloud/cloud top-1 {sc['cloud_cloud']:.3f}; saved {path} "
          f"({path.stat().st_size / 1e6:.2f} MB)")


def run(s, seeds, grid, main, cloud_path, partial=None):
    cloud, _ = load_cloud(cloud_path)
    tr, te = faces(s)
    zc = embed(cloud, te.images)
    recipe = {"n_epochs": s["edge_epochs"], "decay_epochs": s["edge_decay"]}
    jobs = []  # cheapest first: independent and BCT edges, then the grid, then L2 (it runs the cloud per batch)
    for seed in seeds:
        if main:
            jobs += [(seed, m, w, 4, False) for w in WIDTHS for m in METHODS if m != "l2"]
        if grid and seed == seeds[0]:  # depth-4 grid points are the main edges (copied at the end)
            jobs += [(seed, GRID_METHOD, w, d, True) for w, d in GRID if d != 4]
        if main and "l2" in METHODS:
            jobs += [(seed, "l2", w, 4, False) for w in WIDTHS]
    records, start = [], time.perf_counter()
    for seed, method, w, depth, is_grid in jobs:
        widths = edge_widths(w, depth=depth)
        t0 = time.perf_counter()
        edge = train_embedder(widths, tr.images, tr.identity, method=method, cloud=cloud, seed=seed,
                              recipe=recipe, name=f"w{w}-d{depth}")
        seconds = time.perf_counter() - t0
        sc = score_pair(edge, zc, te.images, te.identity, n_draws=s["n_draws"], seed=seed, cloud_emb=zc)
        records.append({"seed": seed, "method": method, "width": w, "depth": depth, "widths": list(widths),
                        "grid": is_grid, "train_s": round(seconds, 1), **{k: round(v, 4) for k, v in sc.items()}})
        print(f"[{time.perf_counter() - start:5.0f} s] seed {seed} {method:11s} {widths}: edge/edge "
              f"{sc['edge_edge']:.3f} edge->cloud {sc['edge_cloud']:.3f} (cloud {sc['cloud_cloud']:.3f}) "
              f"{seconds:.0f} s", flush=True)
        if partial is not None:  # keep what is done so far (a long run can be merged before it ends)
            write(partial, {"meta": {"seconds": round(time.perf_counter() - start, 1), "partial": True},
                            "records": records})
    return records


def confound(s, seeds, parts, cloud_path, out):
    """Train the CONFOUND conditions (BCT) for ``seeds``, score them, write records (+ costs) to ``out``."""
    cloud, _ = load_cloud(cloud_path)
    tr, te = faces(s)
    zc = embed(cloud, te.images)
    records, start = [], time.perf_counter()
    for seed in seeds:
        for part in parts:
            for widths, epochs, decay in CONFOUND[part]:
                if s is FAST:
                    epochs, decay = max(2, epochs // 5), 1
                t0 = time.perf_counter()
                edge = train_embedder(widths, tr.images, tr.identity, method="bct", cloud=cloud, seed=seed,
                                      recipe={"n_epochs": epochs, "decay_epochs": decay},
                                      name="x".join(map(str, widths)))
                seconds = time.perf_counter() - t0
                sc = score_pair(edge, zc, te.images, te.identity, n_draws=s["n_draws"], seed=seed, cloud_emb=zc)
                records.append({"seed": seed, "method": "bct", "widths": list(widths), "epochs": epochs,
                                "decay_epochs": decay, "fc_in": int(edge.fc.in_features),
                                "train_s": round(seconds, 1), **{k: round(v, 4) for k, v in sc.items()}})
                print(f"[{time.perf_counter() - start:5.0f} s] seed {seed} {widths} {epochs} epochs: edge/edge "
                      f"{sc['edge_edge']:.3f} edge->cloud {sc['edge_cloud']:.3f} (cloud {sc['cloud_cloud']:.3f}) "
                      f"{seconds:.0f} s", flush=True)
                write(out, {"meta": {"partial": True, "seconds": round(time.perf_counter() - start, 1)},
                            "records": records})
    return records, round(time.perf_counter() - start, 1)


def write_confound(records, seconds, s, cloud_path, out):
    cloud, _ = load_cloud(cloud_path)
    archs = {"cloud": cloud, **{"x".join(map(str, r["widths"])): make_embedder(r["widths"], 0) for r in records}}
    costs_ = {k: {"flops": count_flops(m, (64, 64)), "params": count_params(m, include=["features", "fc"])}
              for k, m in archs.items()}
    meta = {"made_by": "tools/make_edge_cloud.py --confound", "setup": s, "recipe": RECIPE, "method": "bct",
            "conditions": {k: [[list(w), e, d] for w, e, d in v] for k, v in CONFOUND.items()},
            "seeds": sorted({r["seed"] for r in records}), "seconds": seconds, "threads": 1,
            "torch": torch.__version__, "gracekit": gracekit.__version__,
            "note": "BCT edges with seeded init (train_embedder, init: seeded); seeds paired across conditions; "
                    "the cloud is the shipped edge_cloud_cloud.pt (25 epochs, last 5 at lr/10)"}
    write(out, {"meta": meta, "records": records, "costs": costs_})
    print(f"{len(records)} records written to {out}")


def report_confound(path):
    """Print the confound table (markdown): mean ± SE over seeds and paired differences."""
    data = json.loads(Path(path).read_text())
    recs, cost = data["records"], data["costs"]

    def vals(widths, epochs, key="edge_cloud"):
        rs = sorted([r for r in recs if r["widths"] == list(widths) and r["epochs"] == epochs], key=lambda r: r["seed"])
        return np.array([r[key] for r in rs])

    se = lambda v: np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")  # noqa: E731
    print(f"seeds {data['meta']['seeds']}; method {data['meta']['method']}; {data['meta']['seconds']:.0f} s "
          f"summed over processes")
    print("| edge widths | epochs | fc inputs | FLOPs ratio | edge/edge | edge→cloud | gap (pts) | seeds |")
    print("|---|---|---|---|---|---|---|---|")
    for part in data["meta"]["conditions"].values():
        for widths, epochs, _ in part:
            v = vals(widths, epochs)
            if not len(v):
                continue
            ee, gap = vals(widths, epochs, "edge_edge"), 100 * (v - vals(widths, epochs, "cloud_cloud"))
            fc = [r["fc_in"] for r in recs if r["widths"] == list(widths)][0]
            print(f"| {'/'.join(map(str, widths))} | {epochs} | {fc} | "
                  f"{cost['cloud']['flops'] / cost['x'.join(map(str, widths))]['flops']:.1f}x | "
                  f"{ee.mean():.3f} ± {se(ee):.3f} | {v.mean():.3f} ± {se(v):.3f} | {gap.mean():+.1f} ± {se(gap):.1f} | "
                  f"{len(v)} |")
    for a, b, what in (([4, 8, 8, 8], 25, "4/8/8/8: 25 - 15 epochs"), ([8, 16, 16, 16], 25, "8/16/16/16: 25 - 15 epochs")):
        d = 100 * (vals(a, b) - vals(a, 15))
        print(f"- {what}: edge->cloud {d.mean():+.1f} ± {se(d):.1f} pts (paired SE; per seed {np.round(d, 1).tolist()})")
    d = 100 * (vals([4, 8, 8, 16], 25) - vals([4, 8, 8, 8], 25))
    print(f"- 4/8/8/16 - 4/8/8/8 at 25 epochs (no rank limit): {d.mean():+.1f} ± {se(d):.1f} pts "
          f"(per seed {np.round(d, 1).tolist()})")
    print("train seconds:", sorted(r["train_s"] for r in recs))


def add_main_to_grid(records):
    """The grid's depth-4 points are main edges (same method and seed): add them as grid records."""
    grid = [r for r in records if r["grid"]]
    if not grid:
        return records
    seed, have = grid[0]["seed"], {(r["width"], r["depth"]) for r in grid}
    extra = [{**r, "grid": True} for r in records if not r["grid"] and r["seed"] == seed
             and r["method"] == GRID_METHOD and (r["width"], r["depth"]) in set(GRID) - have]
    return records + extra


def costs(records, s, cloud_path, n_repeats=10, n_rounds=7):
    """FLOPs, parameters (query path: conv + fc, no classifier) and median latency of every architecture.

    Latency: ``n_rounds`` rounds, each timing every model in turn (median of ``n_repeats`` calls); the
    median over rounds is kept, so a burst of load from other processes hits all models alike.
    """
    cloud, _ = load_cloud(cloud_path)
    archs = {"cloud": list(s["cloud_widths"])}
    archs.update({"x".join(map(str, r["widths"])): r["widths"] for r in records})
    models = {name: cloud if name == "cloud" else make_embedder(widths, 0) for name, widths in archs.items()}
    times = {name: {b: [] for b in LATENCY_BATCHES} for name in archs}
    for _ in range(n_rounds):
        for name, model in models.items():
            for b in LATENCY_BATCHES:
                times[name][b].append(measure_latency(model, (64, 64), batch_size=b, n_repeats=n_repeats, n_warmup=2))
    out = {}
    for name, widths in archs.items():
        out[name] = {"widths": list(widths), "flops": count_flops(models[name], (64, 64)),
                     "params": count_params(models[name], include=["features", "fc"]),
                     "latency_ms": {str(b): float(np.median(times[name][b])) for b in LATENCY_BATCHES}}
        print(f"{name:>12s}: {out[name]['flops'] / 1e6:6.2f} MFLOPs, {out[name]['params']:7d} params, "
              f"latency {out[name]['latency_ms']}", flush=True)
    return out


def write(path, obj):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(obj, indent=None, separators=(",", ":")).encode())


def report(path):
    """Print the benchmark tables (markdown) of a sweep file."""
    data = json.loads(Path(path).read_text())
    recs, cost = data["records"], data["costs"]
    c = cost["cloud"]
    cc = [r["cloud_cloud"] for r in recs if not r["grid"] and r["method"] == "independent"]
    # mean ± SE over seeds (sd with ddof=1 over sqrt(n))
    ms = lambda v: f"{np.mean(v):.3f} ± {np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0:.3f}"  # noqa: E731
    print(f"cloud {c['widths']}: {c['flops'] / 1e6:.2f} MFLOPs, {c['params']} params; cloud/cloud {ms(cc)}; "
          f"chance {1 / data['meta']['setup']['n_test']:.3f}; seeds {sorted({r['seed'] for r in recs})}")
    print("| edge widths | params | MFLOPs | FLOPs ratio | latency ratio b=1 | b=64 | method | edge/edge | "
          "edge→cloud | gap to paragon (pts) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in sorted({r["width"] for r in recs if not r["grid"]}):
        for m in METHODS:
            rs = [r for r in recs if not r["grid"] and r["width"] == w and r["method"] == m]
            if not rs:
                continue
            a = cost["x".join(map(str, rs[0]["widths"]))]
            lat = [c["latency_ms"][b] / a["latency_ms"][b] for b in ("1", "64")]
            gap = [100 * (r["edge_cloud"] - r["cloud_cloud"]) for r in rs]
            print(f"| {'/'.join(map(str, rs[0]['widths']))} | {a['params']:,} | {a['flops'] / 1e6:.2f} | "
                  f"{c['flops'] / a['flops']:.1f}x | {lat[0]:.1f}x | {lat[1]:.1f}x | {m} | "
                  f"{ms([r['edge_edge'] for r in rs])} | {ms([r['edge_cloud'] for r in rs])} | "
                  f"{np.mean(gap):+.1f} ± {np.std(gap, ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else 0:.1f} |")
    main_recs = sorted([r for r in recs if not r["grid"]], key=lambda r: r["seed"])
    per = lambda m, w, k: np.array([r[k] for r in main_recs if r["method"] == m and r["width"] == w])  # noqa: E731
    print("\nheterogeneous (better compatible method by mean) minus best homogeneous small, paired over seeds:")
    for w in sorted({r["width"] for r in main_recs}):
        m = max(("bct", "l2"), key=lambda m: per(m, w, "edge_cloud").mean())
        d = 100 * (per(m, w, "edge_cloud") - np.maximum(per("independent", w, "edge_edge"), per(m, w, "edge_edge")))
        print(f"- w = {w} ({m}): {d.mean():+.1f} ± {np.std(d, ddof=1) / np.sqrt(len(d)):.1f} pts (SE; per seed "
              f"{np.round(d, 1).tolist()})")
    g = [r for r in recs if r["grid"]]
    if g:
        print(f"\ngrid ({GRID_METHOD}, seed {g[0]['seed']}):")
        print("| widths | MFLOPs | FLOPs ratio | edge→cloud | gap (pts) |")
        print("|---|---|---|---|---|")
        for r in sorted(g, key=lambda r: cost["x".join(map(str, r["widths"]))]["flops"]):
            a = cost["x".join(map(str, r["widths"]))]
            print(f"| {'/'.join(map(str, r['widths']))} | {a['flops'] / 1e6:.2f} | {c['flops'] / a['flops']:.1f}x | "
                  f"{r['edge_cloud']:.3f} | {100 * (r['edge_cloud'] - r['cloud_cloud']):+.1f} |")
    print("\ntrain seconds:", {k: v for k, v in data["meta"].items() if k.endswith("seconds")},
          "per edge:", sorted(r["train_s"] for r in recs)[::6])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny sizes (a quick check; writes nothing to data/ "
                                                             "unless --out/--cloud say so)")
    parser.add_argument("--cloud-only", action="store_true", help="train and save the cloud, then stop")
    parser.add_argument("--cloud", default=None, help=f"cloud file (default {CLOUD_FILE.relative_to(ROOT)})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grid", action="store_true", help="also run the width x depth grid (first seed)")
    parser.add_argument("--no-main", action="store_true", help="skip the main edges (grid only)")
    parser.add_argument("--no-cost", action="store_true", help="skip the FLOPs/latency measurements")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="join part files, measure costs, write --out")
    parser.add_argument("--out", default=None)
    parser.add_argument("--report", metavar="JSON")
    parser.add_argument("--confound", action="store_true", help="the targeted confound sweep (epochs, bottleneck)")
    parser.add_argument("--only", nargs="+", choices=sorted(CONFOUND), default=sorted(CONFOUND),
                        help="confound parts to run")
    parser.add_argument("--merge-confound", nargs="+", metavar="JSON", help="join confound parts, write --out")
    args = parser.parse_args(argv)
    if args.report:
        return report_confound(args.report) if "confound" in Path(args.report).name else report(args.report)
    torch.set_num_threads(1)
    s = FAST if args.fast else FULL
    cloud_path = Path(args.cloud) if args.cloud else (Path("/tmp/edge_cloud_fast.pt") if args.fast else CLOUD_FILE)
    out = Path(args.out) if args.out else (Path("/tmp/edge_cloud_fast.json") if args.fast else SWEEP_FILE)
    if args.cloud_only or (args.fast and not cloud_path.exists()):
        make_cloud(s, cloud_path)
        if args.cloud_only:
            return
    if args.confound or args.merge_confound:
        cout = Path(args.out) if args.out else (Path("/tmp/edge_cloud_confound_fast.json") if args.fast
                                                else CONFOUND_FILE)
        if args.merge_confound:
            parts = [json.loads(Path(p).read_text()) for p in args.merge_confound]
            records = [r for p in parts for r in p["records"]]
            seconds = sum(p["meta"]["seconds"] for p in parts)
        else:
            records, seconds = confound(s, args.seeds, args.only, cloud_path, cout)
        return write_confound(records, seconds, s, cloud_path, cout)
    start = time.perf_counter()
    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        records = [r for p in parts for r in p["records"]]
        seconds = [p["meta"]["seconds"] for p in parts]
    else:
        records = run(s, args.seeds, args.grid, not args.no_main, cloud_path,
                      partial=out.with_suffix(".partial.json"))
        seconds = [round(time.perf_counter() - start, 1)]
    records = add_main_to_grid(records)
    _, cmeta = load_cloud(cloud_path)
    meta = {"made_by": "tools/make_edge_cloud.py" + (" --fast" if args.fast else ""), "setup": s,
            "recipe": RECIPE, "widths": WIDTHS, "methods": METHODS, "grid_method": GRID_METHOD,
            "seeds": sorted({r["seed"] for r in records}), "seconds": sum(seconds), "parts_seconds": seconds,
            "cloud_train_seconds": cmeta.get("train_seconds"), "threads": 1, "torch": torch.__version__,
            "python": platform.python_version(), "gracekit": gracekit.__version__,
            "note": "training faces seed 0 (300 ids x 12); test ids 1000.. seed 0; edge seed s: init, batch "
                    "order, augmentation and gallery draws; cloud trained once with seed 0, float16"}
    obj = {"meta": meta, "records": records}
    if not args.no_cost:
        obj["costs"] = costs(records, s, cloud_path)
        obj["meta"]["latency_note"] = ("median ms per call (median over 7 interleaved rounds of 10 calls), "
                                       f"1 torch thread, on a shared 2-core CPU (batch sizes {LATENCY_BATCHES})")
    write(out, obj)
    print(f"{len(records)} records written to {out}")


if __name__ == "__main__":
    main()
