"""`gracekit gate` on a real update: scikit-learn's digits (shipped offline), 1-NN -> logistic regression.

The test half of the 1,797 digits is held out. The old model is a 1-nearest-neighbour classifier on one
quarter of the digits (set A); the old recipe retrained is the same 1-NN on the other quarter (set B),
the churn any retrain of the old recipe causes; the new model is a logistic regression on A and B.
The script writes the predictions as .npy files and runs the gate with the retrain as the budget.

Usage: python tools/gate_digits_demo.py [--out DIR] [--format text|json|markdown|junit]
Exit status: the gate's (0 pass, 1 regresses, 2 bad input).
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier


def write_digits_update(out, seed=0):
    """Fit the three models and save y_true, old, new and retrain predictions (.npy) under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    X, y = digits.data / 16, digits.target
    rest, test = train_test_split(np.arange(len(y)), test_size=0.5, random_state=seed, stratify=y)
    a, b = train_test_split(rest, test_size=0.5, random_state=seed, stratify=y[rest])
    old = KNeighborsClassifier(1).fit(X[a], y[a])
    retrain = KNeighborsClassifier(1).fit(X[b], y[b])
    new = LogisticRegression(max_iter=2000).fit(X[rest], y[rest])
    np.save(out / "y_true.npy", y[test])
    for name, m in (("old", old), ("new", new), ("old_retrain", retrain)):
        np.save(out / f"{name}.npy", m.predict(X[test]))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="folder for the .npy files (default: a temporary folder)")
    p.add_argument("--format", default="text", choices=("text", "json", "markdown", "junit"))
    args = p.parse_args(argv)
    out = write_digits_update(args.out or tempfile.mkdtemp(prefix="gracekit-digits-"))
    cmd = ["gate", "--true", "y_true.npy", "--old", "old.npy", "--new", "new.npy",
           "--old-retrain", "old_retrain.npy", "--format", args.format]
    print("$ gracekit " + " ".join(cmd) + f"    (in {out})", flush=True)
    done = subprocess.run([sys.executable, "-m", "gracekit", *cmd], cwd=out)
    print(f"exit code {done.returncode}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
