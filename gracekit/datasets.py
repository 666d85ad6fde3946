"""Seeded toy data sets: 2-D moons for flip maps, a 10-class synthetic problem for sweeps."""
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification, make_moons

__all__ = ["make_moons_data", "make_multiclass", "split_classes", "shipped"]


def _check_sizes(**sizes):
    for name, value in sizes.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def make_moons_data(n_train=200, n_test=10_000, *, noise=0.3, seed=0):
    """Two interleaved half-moons: a small training set and a large test set.

    Args:
        n_train, n_test: sizes of the two sets (the test set is large so flip rates are resolvable).
        noise: standard deviation of the Gaussian noise added to the points.
        seed: seed for both sets (the test set uses ``seed + 10_000``).
    Returns:
        X_train (n_train, 2), y_train, X_test (n_test, 2), y_test as float32 / int64 arrays.
    Used in: notebooks/01_negative_flips.py
    """
    _check_sizes(n_train=n_train, n_test=n_test)
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    X_train, y_train = make_moons(n_train, noise=noise, random_state=seed)
    X_test, y_test = make_moons(n_test, noise=noise, random_state=seed + 10_000)
    return (X_train.astype(np.float32), y_train.astype(np.int64),
            X_test.astype(np.float32), y_test.astype(np.int64))


def make_multiclass(n_train=12_000, n_test=10_000, *, n_classes=10, n_features=20, n_informative=10,
                    class_sep=1.0, seed=0):
    """A K-class synthetic problem (scikit-learn's make_classification) split into train and test.

    Both splits come from one draw, so they share the class clusters. Features are standardized
    with the training mean and standard deviation.

    Args:
        n_train, n_test: split sizes.
        n_classes, n_features, n_informative: problem shape (n_informative <= n_features).
        class_sep: larger is easier.
        seed: random seed.
    Returns:
        X_train, y_train, X_test, y_test (float32 features, int64 labels).
    Used in: notebooks/02_pc_training.py, notebooks/05_lqf.py
    """
    _check_sizes(n_train=n_train, n_test=n_test, n_classes=n_classes, n_features=n_features,
                 n_informative=n_informative)
    if n_informative > n_features:
        raise ValueError(f"n_informative ({n_informative}) must be <= n_features ({n_features})")
    X, y = make_classification(n_train + n_test, n_features=n_features, n_informative=n_informative,
                               n_redundant=0, n_classes=n_classes, n_clusters_per_class=2,
                               class_sep=class_sep, flip_y=0.01, random_state=seed)
    X_train, X_test = X[:n_train], X[n_train:]
    mu, sd = X_train.mean(0), X_train.std(0) + 1e-8
    return (((X_train - mu) / sd).astype(np.float32), y[:n_train].astype(np.int64),
            ((X_test - mu) / sd).astype(np.float32), y[n_train:].astype(np.int64))


def split_classes(X, y, classes):
    """Keep the rows whose label is in ``classes`` and relabel them 0..len(classes)-1.

    Args:
        X, y: data and integer labels.
        classes: the class ids to keep, in the order of their new labels.
    Returns:
        X_sub, y_sub.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    classes = list(classes)
    if not classes:
        raise ValueError("classes must name at least one class")
    remap = {c: i for i, c in enumerate(classes)}
    keep = np.isin(y, classes)
    return X[keep], np.array([remap[c] for c in y[keep]], dtype=np.int64)


def shipped(name):
    """Path of a file shipped with the kit (``gracekit/data/<name>``), also from an installed wheel.

    Parameters
    ----------
    name : str
        File name inside the package data, e.g. ``"pct_sweep.json"`` or ``"examples/old.csv"``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        When the kit does not ship that file (the message lists what it ships).
    """
    from importlib.resources import files

    if not isinstance(name, str) or not name or name.startswith(("/", "\\")) or ".." in name.split("/"):
        raise ValueError(f"name must be a relative file name inside the shipped data, got {name!r}")
    path = Path(str(files("gracekit") / "data" / name))
    if not path.is_file():
        have = sorted(p.name for p in path.parent.glob("*")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"gracekit ships no data file {name!r}; shipped: {', '.join(have)}")
    return path
