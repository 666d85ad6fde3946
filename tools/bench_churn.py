"""Retrain churn of notebook 01's new model, converged vs a fixed epoch budget: docs/bench/churn.md.

Usage: python tools/bench_churn.py [--out docs/bench/churn.md]
Data seeds 0, 1, 2 (notebook 01's recipe: training points seed + 100, 20,000 test points seed);
retrain seeds 0, 1, 2 for each, compared pairwise with seed 0. About a minute on one core.
"""
import argparse
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from gracekit.datasets import make_moons_data  # noqa: E402
from gracekit.metrics import disagreement_rate, error_rate  # noqa: E402

BUDGETS = {"until converged (max_iter 2000)": 2000, "fixed 50 epochs": 50}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench" / "churn.md"))
    args = parser.parse_args(argv)
    rows = []
    for regime, max_iter in BUDGETS.items():
        errs, churn = [], []
        for data_seed in (0, 1, 2):
            X, y, _, _ = make_moons_data(2000, 1, noise=0.3, seed=data_seed + 100)
            _, _, X_test, y_test = make_moons_data(200, 20_000, noise=0.3, seed=data_seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                preds = [MLPClassifier((32, 32), max_iter=max_iter, random_state=s).fit(X, y).predict(X_test)
                         for s in (0, 1, 2)]
            errs += [error_rate(y_test, p) for p in preds]
            churn += [disagreement_rate(preds[0], p) for p in preds[1:]]
        rows.append(f"| {regime} | {100 * np.mean(errs):.2f} ± {100 * np.std(errs, ddof=1):.2f} "
                    f"({100 * min(errs):.1f}-{100 * max(errs):.1f}) | {100 * np.mean(churn):.2f} ± "
                    f"{100 * np.std(churn, ddof=1):.2f} ({100 * min(churn):.2f}-{100 * max(churn):.2f}) |")
        print(rows[-1])
    text = ("# Retrain churn on two moons (notebook 01, section 5)\n\n"
            "Made by `python tools/bench_churn.py`. The new model of notebook 01 (MLP 32-32, Adam, 2,000 training\n"
            "points, noise 0.3) retrained with seeds 0, 1, 2 on the same data; churn is the share of 20,000 test\n"
            "points where seed 1 or 2 disagrees with seed 0. Data seeds 0, 1, 2: 9 models and 6 pairs per row.\n"
            "Mean ± sd (range).\n\n"
            "| training | error (%) | churn: disagreement with seed 0 (%) |\n|---|---|---|\n" + "\n".join(rows) +
            "\n\nFor scale: two ImageNet ResNet-152s of 78.3% accuracy disagree on 10.4% of the validation set\n"
            "(Yan et al., CVPR 2021, §1). A network trained to convergence on a 2-D problem lands near the same\n"
            "function from any seed; a fixed budget leaves the runs in different places at a similar error.\n")
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
