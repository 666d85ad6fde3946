"""Regenerate gracekit/data/examples/old.csv and new.csv: a tiny model update for `gracekit report` to audit.

Usage: python tools/make_report_examples.py [--seed 0] [--out gracekit/data/examples]
A 3-class problem (scikit-learn's make_classification, classes named cat / dog / fox): the old model
is a logistic regression on 100 training points, the new one a small neural network on 500. Both
files describe the same 200 test rows (column ``id``) with the true label; old.csv holds the old
model's labels (``y_pred``), new.csv the new model's class probabilities (``score_<class>``).
"""
import argparse
import csv
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

CLASSES = ["cat", "dog", "fox"]


def make_examples(seed=0, n_test=200):
    """Return (ids, y_true, old labels, new probabilities) as lists/arrays, all seeded."""
    X, y = make_classification(600 + n_test, n_features=8, n_informative=5, n_redundant=1, n_classes=3,
                               n_clusters_per_class=2, class_sep=1.2, random_state=seed)
    X_tr, y_tr, X_te, y_te = X[:600], y[:600], X[600:], y[600:]
    old = LogisticRegression(max_iter=1000).fit(X_tr[:100], y_tr[:100])
    new = MLPClassifier((32,), max_iter=2000, random_state=seed).fit(X_tr[100:], y_tr[100:])
    return [f"img_{i:04d}" for i in range(n_test)], y_te, old.predict(X_te), new.predict_proba(X_te)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "gracekit" / "data" / "examples"))
    args = parser.parse_args(argv)
    ids, y, y_old, p_new = make_examples(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "old.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "y_true", "y_pred"])
        w.writerows([i, CLASSES[t], CLASSES[o]] for i, t, o in zip(ids, y, y_old))
    with open(out / "new.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "y_true"] + [f"score_{c}" for c in CLASSES])
        w.writerows([i, CLASSES[t]] + [f"{v:.4f}" for v in p] for i, t, p in zip(ids, y, p_new))
    err_old, err_new = np.mean(y_old != y), np.mean(p_new.argmax(1) != y)
    nfr = np.mean((y_old == y) & (p_new.argmax(1) != y))
    print(f"wrote {out}/old.csv and new.csv: error {err_old:.1%} -> {err_new:.1%}, NFR {nfr:.1%}")


if __name__ == "__main__":
    main()
