"""Regenerate gracekit/data/pct_sweep.json: the PC-training sweep behind notebook 02's trade-off explorer.

Usage: python tools/make_pct_sweep.py [--fast] [--seeds 0 1 2] [--out gracekit/data/pct_sweep.json]
Full size (12,000 training / 20,000 test points, 3 seeds) takes about 10-15 minutes on one CPU core;
trained models are cached (gracekit.cache_dir()), so a rerun is quick.
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
from gracekit.sweeps import save_records  # noqa: E402
from gracekit.pct.experiment import PCTSetup, pct_configs, run_pct_sweep, setup_dict  # noqa: E402

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="FAST-mode sizes (for a quick check)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "gracekit" / "data" / "pct_sweep.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    setup = PCTSetup().fast() if args.fast else PCTSetup()
    start = time.perf_counter()
    records = run_pct_sweep(pct_configs(), seeds=args.seeds, setup=setup)
    seconds = time.perf_counter() - start
    meta = {"made_by": "tools/make_pct_sweep.py" + (" --fast" if args.fast else ""),
            "seeds": args.seeds, "setup": setup_dict(setup), "seconds": round(seconds, 1),
            "threads": 1, "torch": torch.__version__, "python": platform.python_version(),
            "gracekit": gracekit.__version__,
            "note": "seed s: old model seed s, new models seed s; ensembles: old members "
                    "1000+10s+i, new members 2000+10s+i (i < 5)"}
    save_records(records, args.out, meta=meta)
    print(f"{len(records)} records written to {args.out} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
