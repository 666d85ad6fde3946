"""The PC-training experiment of notebook 02 (Yan et al., CVPR 2021) on a 10-class synthetic problem.

Two settings of the old model:

* "capacity" (``train_old``): a small MLP trained on the first ``n_old`` rows, replaced by a larger
  MLP trained on all rows (a capacity-and-data update);
* "same" (``train_old_same``): the paper's own setting, the new architecture on the same data with
  another seed (it is the first member of the old side of the ensembles, seed 1000 + 10 * seed).

The new model is trained with one of "none", "naive", "kd", "fd_lm" or "fd_kl"; "ensemble" replaces
both sides by logit-averaging ensembles of the new architecture. ``run_pct_sweep`` returns one tidy
record per (config, seed).
"""
from dataclasses import asdict, dataclass, replace


from gracekit.datasets import make_multiclass
from gracekit.losses import focal_distillation, naive_pc
from gracekit.metrics import flip_report
from gracekit.models import LogitEnsemble, make_mlp
from gracekit.sweeps import METRICS, grid
from gracekit.train import fit_cached, predict

__all__ = ["PCTSetup", "make_pct_data", "pct_term", "train_old", "train_old_same", "train_new",
           "pct_record", "run_pct_sweep", "pct_configs", "same_configs", "setup_dict", "paired_change",
           "matched_lam", "METHODS", "SETTINGS"]

METHODS = ("none", "naive", "kd", "fd_lm", "fd_kl", "ensemble")
SETTINGS = ("capacity", "same")


@dataclass(frozen=True)
class PCTSetup:
    """Sizes and training settings of the PC-training experiment (full size by default)."""

    n_train: int = 12_000
    n_test: int = 20_000
    n_old: int = 2_000
    n_classes: int = 10
    n_features: int = 20
    class_sep: float = 1.5
    data_seed: int = 0
    old_hidden: tuple = (32,)
    new_hidden: tuple = (256, 256)
    old_epochs: int = 30
    new_epochs: int = 20
    old_lr: float = 3e-3
    new_lr: float = 1e-3
    batch_size: int = 128

    def fast(self):
        """The FAST-mode version: fewer training samples, >= 10,000 test points, shorter training."""
        return replace(self, n_train=3_000, n_test=10_000, n_old=1_000, new_hidden=(128, 128),
                       old_epochs=30, new_epochs=15)


def pct_configs(lams_lm=(0.001, 0.003, 0.01, 0.03, 0.1), lams_kl=(0.01, 0.03, 0.1, 0.3, 1.0),
                betas=(1.0, 2.0, 5.0, 10.0, 20.0, 50.0), lams_naive=(0.3, 1.0, 3.0, 10.0)):
    """The configurations of the shipped sweep: every method over its lambda grid (and beta for FD-LM).

    lambda is the weight of 1/2||dz||^2 for KD and FD-LM and of tau^2 KL for FD-KL (tau=100, about
    1/K as strong at equal lambda); FD-KL uses beta=5.
    """
    return ([{"method": "none"}]
            + grid(method=["naive"], lam=list(lams_naive))
            + grid(method=["kd"], lam=list(lams_lm), beta=[0.0])
            + grid(method=["fd_lm"], lam=list(lams_lm), beta=list(betas))
            + grid(method=["fd_kl"], lam=list(lams_kl), beta=[5.0])
            + [{"method": "ensemble"}])


def same_configs(lams_lm=(0.003, 0.01, 0.03), lams_naive=(1.0, 3.0)):
    """The configurations of the shipped same-architecture sweep (the paper's setting)."""
    return ([{"method": "none"}]
            + grid(method=["naive"], lam=list(lams_naive))
            + grid(method=["kd"], lam=[0.01], beta=[0.0])
            + grid(method=["fd_lm"], lam=list(lams_lm), beta=[5.0]))


def make_pct_data(setup=PCTSetup()):
    """X_train, y_train, X_test, y_test of the setup (the old model sees the first n_old rows)."""
    if not 0 < setup.n_old <= setup.n_train:
        raise ValueError(f"n_old must be in [1, n_train={setup.n_train}], got {setup.n_old}")
    return make_multiclass(setup.n_train, setup.n_test, n_classes=setup.n_classes,
                           n_features=setup.n_features, class_sep=setup.class_sep, seed=setup.data_seed)


def pct_term(method, lam=0.0, alpha=1.0, beta=5.0, tau=100.0):
    """The extra loss ``lam * L_PC`` for ``gracekit.train.fit`` (None for "none").

    Args:
        method: "none", "naive" (CE on old-correct), "kd" (1/2||dz||^2, alpha=1, beta=0),
            "fd_lm" (focal distillation, logit matching) or "fd_kl" (focal distillation, KL at tau).
        lam, alpha, beta, tau: loss weight, filter weights and temperature.
    Returns:
        callable(out_new=, out_old=, yb=, ...) -> scalar tensor, or None.
    """
    if method not in METHODS or method == "ensemble":
        raise ValueError(f"method must be one of {METHODS[:-1]}, got {method!r}")
    if method == "none":
        return None
    if not lam >= 0:
        raise ValueError(f"lam must be >= 0, got {lam!r}")
    if method == "naive":
        return lambda out_new, out_old, yb, **_: lam * naive_pc(out_new, out_old, yb)
    if method == "kd":
        alpha, beta = 1.0, 0.0
    distance = "kl" if method == "fd_kl" else "lm"
    return lambda out_new, out_old, yb, **_: lam * focal_distillation(
        out_new, out_old, yb, alpha=alpha, beta=beta, distance=distance, tau=tau)


def _fit(setup, X, y, hidden, epochs, lr, seed, key, old=None, extra=None):
    def make():
        return make_mlp(X.shape[1], hidden, setup.n_classes, seed=seed)
    key = {**key, "hidden": list(hidden)}
    return fit_cached(make, X, y, key=key, old=old, extra_loss=extra, n_epochs=epochs, lr=lr,
                      batch_size=setup.batch_size, seed=seed, progress=False)


def train_old(setup, X, y, seed=0):
    """The old model: a small MLP trained on the first ``n_old`` training rows (cached)."""
    return _fit(setup, X[:setup.n_old], y[:setup.n_old], setup.old_hidden, setup.old_epochs,
                setup.old_lr, seed, {"name": "pct-old"})


def train_old_same(setup, X, y, seed=0):
    """The old model of the paper's setting: the new architecture on all rows, seed 1000 + 10 * seed.

    It is the first old-side ensemble member of ``run_pct_sweep`` (so it is cached once for both),
    and its seed differs from every new model's (seed ``seed``).
    """
    return train_new(setup, X, y, seed=1000 + 10 * seed)


def train_new(setup, X, y, old=None, method="none", lam=0.0, alpha=1.0, beta=5.0, tau=100.0, seed=0):
    """The new model: a larger MLP on all training rows, with the PC term of ``method`` (cached)."""
    key = {"name": "pct-new", "method": method, "lam": lam, "alpha": alpha, "beta": beta, "tau": tau}
    extra = pct_term(method, lam, alpha, beta, tau)
    if extra is not None and old is None:
        raise ValueError(f"method {method!r} needs the old model (old=None given)")
    return _fit(setup, X, y, setup.new_hidden, setup.new_epochs, setup.new_lr, seed, key,
                old=old if extra is not None else None, extra=extra)


def pct_record(y_true, y_old, y_new, n_classes=None):
    """Update metrics of one old -> new pair as a flat dict (rates, per-class flip counts)."""
    rep = flip_report(y_true, y_old, y_new, n_classes=n_classes)
    per = [rep.per_class[c] for c in range(rep.n_classes)]
    return {**{m: rep.rates[m] for m in METRICS}, "n_test": rep.n,
            "n_per_class": [p["n"] for p in per],
            "nf_per_class": [p["negative_flips"] for p in per],
            "pf_per_class": [p["positive_flips"] for p in per]}


def run_pct_sweep(configs, seeds=(0, 1, 2), setup=PCTSetup(), ensemble_sizes=(1, 3, 5),
                  keep_predictions=False, progress=True, setting="capacity"):
    """Train old and new models for every config and seed; return tidy records.

    Args:
        configs: dicts with "method" and its settings ("lam", "alpha", "beta", "tau"), e.g. from
            ``grid``. Methods other than "ensemble" share the seed's old model.
        seeds: each seed gets its own old model and new-model initialization.
        setup: a PCTSetup.
        ensemble_sizes: sizes k for the "ensemble" method: old = average of k new-architecture
            models, new = average of k others (all unconstrained), as in PCT eq. 10.
        keep_predictions: add "y_true", "y_old", "y_new" arrays to each record (not JSON-able).
        progress: show a progress bar over seeds.
        setting: "capacity" (old = ``train_old``) or "same" (old = ``train_old_same``).
    Returns:
        list of dicts: setting, method, lam, alpha, beta, tau, size, seed, metrics, per-class flips.
    Used in: notebooks/02_pc_training.py, tools/make_pct_sweep.py
    """
    from gracekit.config import progress as progress_bar

    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    X, y, X_test, y_test = make_pct_data(setup)
    records = []
    for seed in progress_bar(list(seeds), desc="seeds", disable=not progress, leave=True):
        old = (train_old if setting == "capacity" else train_old_same)(setup, X, y, seed=seed)
        z_old = predict(old, X_test)
        seen = slice(None) if setting == "same" else slice(setup.n_old)  # the rows the old model saw
        old_fit = float((predict(old, X[seen]).argmax(1).numpy() == y[seen]).mean())
        for cfg in configs:
            cfg = {"lam": 0.0, "alpha": 1.0, "beta": 5.0, "tau": 100.0, **cfg}
            if cfg["method"] == "ensemble":
                records += _ensemble_records(setup, X, y, X_test, y_test, seed, ensemble_sizes,
                                             keep_predictions)
                continue
            new = train_new(setup, X, y, old, cfg["method"], cfg["lam"], cfg["alpha"], cfg["beta"],
                            cfg["tau"], seed=seed)
            z_new = predict(new, X_test)
            rec = {"setting": setting, **cfg, "size": 1, "seed": seed, "old_train_acc": old_fit,
                   **pct_record(y_test, z_old, z_new, setup.n_classes)}
            if keep_predictions:
                rec.update(y_true=y_test, y_old=z_old.argmax(1).numpy(), y_new=z_new.argmax(1).numpy())
            records.append(rec)
    return records


def _ensemble_records(setup, X, y, X_test, y_test, seed, sizes, keep_predictions):
    k_max = max(sizes)
    members = {side: [train_new(setup, X, y, seed=1000 * (side + 1) + 10 * seed + i) for i in range(k_max)]
               for side in (0, 1)}
    out = []
    for k in sizes:
        z_old = predict(LogitEnsemble(members[0][:k]), X_test)
        z_new = predict(LogitEnsemble(members[1][:k]), X_test)
        rec = {"setting": "capacity", "method": "ensemble", "lam": 0.0, "alpha": 1.0, "beta": 0.0,
               "tau": 100.0, "size": k, "seed": seed, **pct_record(y_test, z_old, z_new, setup.n_classes)}
        if keep_predictions:
            rec.update(y_true=y_test, y_old=z_old.argmax(1).numpy(), y_new=z_new.argmax(1).numpy())
        out.append(rec)
    return out


def _runs(records, method, lam=None, beta=None, size=1):
    out = {}
    for r in records:
        if r["method"] != method or r.get("size", 1) != size:
            continue
        if lam is not None and abs(r.get("lam", 0.0) - lam) > 1e-12 * max(1.0, lam):
            continue
        if beta is not None and r.get("beta", 0.0) != beta:
            continue
        out[r["seed"]] = r
    return out


def paired_change(records, method, lam, beta=None):
    """Per-seed changes of one configuration against the unconstrained model of the same seed.

    Args:
        records: sweep records of one setting (``run_pct_sweep`` or a shipped sweep).
        method, lam, beta: the configuration (beta None: any, for methods swept at one beta).
    Returns:
        dict with "seeds", "nfr_change" (relative: NFR / NFR_none - 1), "err_change" (Err_new -
        Err_new of "none", a fraction) and "nfr", "pfr", "err_new" of both ("..._none"), as arrays
        over the shared seeds.
    Used in: notebooks/02_pc_training.py, tools/make_pct_sweep.py
    """
    import numpy as np

    runs, base = _runs(records, method, lam, beta), _runs(records, "none")
    seeds = sorted(set(runs) & set(base))
    if not seeds:
        raise ValueError(f"no seed has both {method!r} (lam={lam}, beta={beta}) and 'none' in records")
    get = lambda rs, f: np.array([rs[s][f] for s in seeds], float)  # noqa: E731
    return {"seeds": seeds, "nfr_change": get(runs, "nfr") / get(base, "nfr") - 1,
            "err_change": get(runs, "err_new") - get(base, "err_new"),
            "nfr": get(runs, "nfr"), "nfr_none": get(base, "nfr"), "pfr": get(runs, "pfr"),
            "pfr_none": get(base, "pfr"),
            "err_new": get(runs, "err_new"), "err_none": get(base, "err_new")}


def matched_lam(records, method, max_err_change=0.003, beta=None):
    """The lambda of ``method`` with the largest mean NFR cut whose mean |error change| is at most
    ``max_err_change`` (a fraction: 0.003 = 0.3 pt), or None. Chosen on the test set (optimistic).
    Used in: notebooks/02_pc_training.py, tools/make_pct_sweep.py
    """
    lams = sorted({r["lam"] for r in records if r["method"] == method
                   and (beta is None or r.get("beta") == beta)})
    ok = []
    for lam in lams:
        ch = paired_change(records, method, lam, beta)
        if abs(ch["err_change"].mean()) <= max_err_change:
            ok.append((ch["nfr_change"].mean(), lam))
    return min(ok)[1] if ok else None


def setup_dict(setup):
    """PCTSetup as a JSON-able dict (for a sweep file's meta)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(setup).items()}
