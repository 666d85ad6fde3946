"""Regenerate gracekit/data/pct_sweep.json: the PC-training sweep behind notebook 02's trade-off explorer.

Usage: python tools/make_pct_sweep.py [--setting capacity|same] [--fast] [--seeds ...] [--out FILE]
       python tools/make_pct_sweep.py --report   # the tables of docs/bench/pct.md, from the shipped files
--setting capacity (default) writes gracekit/data/pct_sweep.json: old = small MLP on 2,000 rows, the
full grid, seeds 0 1 2 (about 15 minutes on one CPU core). --setting same writes
gracekit/data/pct_same_sweep.json: the paper's setting (old = the new architecture on the same data,
another seed), a small grid (``same_configs``), seeds 0-4 (about 5 minutes). Trained models are cached
(gracekit.cache_dir()), so a rerun is quick.
"""
import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import gracekit  # noqa: E402
from gracekit.claims import paired_diff, se_mean  # noqa: E402
from gracekit.sweeps import load_records, save_records  # noqa: E402
from gracekit.pct.experiment import (PCTSetup, matched_lam, paired_change, pct_configs,  # noqa: E402
                                     run_pct_sweep, same_configs, setup_dict)

DATA = Path(__file__).resolve().parents[1] / "gracekit" / "data"

def _pm(values, scale=100.0, digits=1, sign=True):
    m, se = se_mean(values)
    fmt = f"{{:{'+' if sign else ''}.{digits}f}}"
    return f"{fmt.format(scale * m)} ± {scale * se:.{digits}f}"


def report(capacity_file=DATA / "pct_sweep.json", same_file=DATA / "pct_same_sweep.json"):
    """The markdown of docs/bench/pct.md's two-settings section and acceptance bars, from the shipped files."""
    cap, _ = load_records(capacity_file)
    same, same_meta = load_records(same_file)
    lines = ["| setting | seeds | old-model training accuracy | method | λ | NFR change % (mean ± SE) | "
             "error change pt (mean ± SE) |", "|---|---|---|---|---|---|---|"]
    for name, recs in (("capacity (old 1×32 on 2,000 rows)", cap), ("paper's (old = new arch., new seed)", same)):
        seeds = sorted({r["seed"] for r in recs})
        fit = [r.get("old_train_acc") for r in recs if r["method"] == "none"]
        fit = f"{sum(fit) / len(fit):.3f}" if all(v is not None for v in fit) else "n/a"
        for m, b in (("naive", None), ("kd", 0.0), ("fd_lm", 5.0)):
            lams = sorted({r["lam"] for r in recs if r["method"] == m and (b is None or r["beta"] == b)})
            pick = matched_lam(recs, m, 0.003, beta=b)
            for lam in lams:
                if m != "naive" and lam != pick:
                    continue
                ch = paired_change(recs, m, lam, b)
                tag = " (matched)" if lam == pick else ""
                lines.append(f"| {name} | {len(seeds)} | {fit} | {m} | {lam:g}{tag} | {_pm(ch['nfr_change'])} | "
                             f"{_pm(ch['err_change'], digits=2)} |")
    out = ["### Both settings (paired with the unconstrained model of each seed)", "", *lines, ""]
    bars = []
    for name, recs in (("capacity", cap), ("paper's", same)):
        fd = paired_change(recs, "fd_lm", matched_lam(recs, "fd_lm", 0.003, beta=5.0), 5.0)
        nv = paired_change(recs, "naive", 1.0)
        gap, se = paired_diff(nv["nfr_change"], fd["nfr_change"])
        bars.append(f"| {name}: FD-LM at matched error (|Δerr| ≤ 0.3 pt) cuts NFR ≥ 15% beyond 3 SE | "
                    f"{_pm(fd['nfr_change'])} % | {'met' if se_mean(fd['nfr_change'])[0] < -max(0.15, 3 * se_mean(fd['nfr_change'])[1]) else 'not met'} |")
        nm = se_mean(nv["nfr_change"])[0]
        bars.append(f"| {name}: naive λ = 1 changes NFR by less than 10% | {_pm(nv['nfr_change'])} % | "
                    f"{'met' if abs(nm) < 0.10 else 'not met'} |")
        bars.append(f"| {name}: FD-LM (matched) beats naive λ = 1, paired over seeds | "
                    f"{100 * gap:+.1f} ± {100 * se:.1f} points of NFR change | {'met' if gap > 3 * se else 'not met'} |")
    head = paired_change(cap, "fd_lm", 0.01, 5.0)
    bars.append(f"| capacity: FD-LM headline λ = 0.01 (1-pt error budget) | NFR {_pm(head['nfr_change'])} % at "
                f"{_pm(head['err_change'], digits=2)} pt (paper: −63% at +0.18 pt) | costs more error than the paper |")
    out += ["### Acceptance bars (moved here from the notebook)", "", "| bar | measured | verdict |",
            "|---|---|---|", *bars]
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="FAST-mode sizes (for a quick check)")
    parser.add_argument("--report", action="store_true",
                        help="only print the markdown tables of docs/bench/pct.md from the shipped files")
    parser.add_argument("--setting", choices=["capacity", "same"], default="capacity")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="default: 0 1 2 (capacity), 0 1 2 3 4 (same)")
    parser.add_argument("--out", default=None, help="default: gracekit/data/pct_sweep.json or pct_same_sweep.json")
    args = parser.parse_args(argv)
    if args.report:
        print(report())
        return
    same = args.setting == "same"
    seeds = args.seeds or ([0, 1, 2, 3, 4] if same else [0, 1, 2])
    out = args.out or str(DATA / ("pct_same_sweep.json" if same else "pct_sweep.json"))
    torch.set_num_threads(1)
    setup = PCTSetup().fast() if args.fast else PCTSetup()
    start = time.perf_counter()
    records = run_pct_sweep(same_configs() if same else pct_configs(), seeds=seeds, setup=setup,
                            setting=args.setting)
    seconds = time.perf_counter() - start
    made_by = "tools/make_pct_sweep.py" + (" --setting same" if same else "") + (" --fast" if args.fast else "")
    note = ("seed s: old model = new architecture on all rows, seed 1000+10s; new models seed s" if same else
            "seed s: old model seed s, new models seed s; ensembles: old members "
            "1000+10s+i, new members 2000+10s+i (i < 5)")
    meta = {"made_by": made_by, "setting": args.setting,
            "seeds": seeds, "setup": setup_dict(setup), "seconds": round(seconds, 1),
            "threads": 1, "torch": torch.__version__, "python": platform.python_version(),
            "gracekit": gracekit.__version__,
            "note": note}
    save_records(records, out, meta=meta)
    print(f"{len(records)} records written to {out} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
