"""Notebook 07's experiments on the PC-training toy: ensemble distillation, churn budgets, interpolation.

The data are notebook 02's (``gracekit.pct.experiment.make_pct_data``). Unlike notebook 02, the old
model has the *new* architecture and sees the first ``n_old`` training rows: a data update, the
setting of Jiang et al. (churn) and Schumann et al. (BCWI), and the one where the old weights can
start the new model. Every model is trained by ``gracekit.train.fit_cached`` (cached on disk).

* ``run_elodi``: single new model, a homogeneous ensemble of ``n_members`` new models, one new model
  distilled from that ensemble with LDI (Zhao et al., ELODI), and focal distillation from the old
  model (Yan et al., PCT); NFR, error and inference FLOPs against the old model.
* ``run_churn``: the churn-error curve of distillation from the base model (Jiang et al., ICLR 2022),
  of the anchor method (Milani Fard et al., NeurIPS 2016) and of an explicit churn constraint.
* ``run_interpolation``: error and NFR along theta(alpha) = alpha * theta_old + (1 - alpha) * theta_new
  (Schumann et al., EACL 2024), for a new model fine-tuned from the old one and for one trained from
  another initialization; in weight space and, for comparison, in output space.
Each returns tidy records (one dict per model and seed).
"""
import copy
from dataclasses import dataclass, replace

import numpy as np
import torch.nn.functional as F
from torch import nn

from gracekit.beyond_pct.losses import DualAscent, anchor_loss, churn_distillation
from gracekit.cache import fingerprint
from gracekit.chain.experiment import interpolate
from gracekit.config import progress as progress_bar
from gracekit.losses import ldi
from gracekit.metrics import disagreement_rate
from gracekit.models import LogitEnsemble, make_mlp
from gracekit.pct.experiment import PCTSetup, make_pct_data, pct_record, train_new, train_old
from gracekit.train import fit_cached, predict

__all__ = ["BeyondSetup", "make_data", "old_model", "single_model", "ensemble_members", "distill_ensemble",
           "focal_model", "churn_model", "finetune", "inference_flops", "update_record", "run_elodi",
           "run_churn", "run_interpolation", "curve_gap", "CHURN_METHODS"]

CHURN_METHODS = ("none", "distill", "anchor", "constraint")
_METRICS = ("err_old", "err_new", "nfr", "pfr", "relative_nfr")


@dataclass(frozen=True)
class BeyondSetup:
    """Sizes and recipes of notebook 07 (full size by default).

    Both models are MLPs with ``hidden`` layers trained ``epochs`` epochs with Adam at ``lr``; the old
    one sees the first ``n_old`` rows, with initialization seed ``old_seed_offset + seed``.
    """

    n_train: int = 6_000
    n_test: int = 20_000
    n_old: int = 1_500
    hidden: tuple = (128, 128)
    epochs: int = 30
    lr: float = 2e-3
    batch_size: int = 256
    n_members: int = 5
    ldi_lam: float = 1.0
    ldi_top_k: int = 3
    ldi_margin: float = 0.0
    fd_lam: float = 0.003
    old_seed_offset: int = 100

    def fast(self):
        """FAST mode: half the training rows, 10,000 test points, shorter training, three members."""
        return replace(self, n_train=3_000, n_test=10_000, n_old=750, epochs=20, n_members=3)

    def pct(self):
        """The same sizes as a ``PCTSetup``, so notebook 02's data and training recipes apply."""
        return replace(PCTSetup(), n_train=self.n_train, n_test=self.n_test, n_old=self.n_old,
                       old_hidden=tuple(self.hidden), new_hidden=tuple(self.hidden), old_epochs=self.epochs,
                       new_epochs=self.epochs, old_lr=self.lr, new_lr=self.lr, batch_size=self.batch_size)


def make_data(setup=BeyondSetup()):
    """X_train, y_train, X_test, y_test (notebook 02's generator at this setup's sizes)."""
    return make_pct_data(setup.pct())


def old_model(setup, X, y, seed=0):
    """The old model: the new architecture on the first ``n_old`` rows (cached)."""
    return train_old(setup.pct(), X, y, seed=setup.old_seed_offset + seed)


def single_model(setup, X, y, seed=0):
    """One new model trained with plain cross-entropy on all rows (cached)."""
    return train_new(setup.pct(), X, y, seed=seed)


def ensemble_members(setup, X, y, seed=0):
    """``n_members`` new models from their own initializations (seeds 1000 + 10 * seed + i)."""
    return [train_new(setup.pct(), X, y, seed=1000 + 10 * seed + i) for i in range(setup.n_members)]


def focal_model(setup, X, y, old, seed=0):
    """Focal distillation from the old model (FD-LM, alpha=1, beta=5, lam=``fd_lam``; notebook 02)."""
    return train_new(setup.pct(), X, y, old, method="fd_lm", lam=setup.fd_lam, beta=5.0, seed=seed)


def _fit(setup, X, y, seed, key, old=None, extra=None, make=None):
    def fresh():
        return make_mlp(X.shape[1], setup.hidden, int(np.max(y)) + 1, seed=seed)
    return fit_cached(make or fresh, X, y, key={**key, "hidden": list(setup.hidden)}, old=old,
                      extra_loss=extra, n_epochs=setup.epochs, lr=setup.lr, batch_size=setup.batch_size,
                      seed=seed, progress=False)


def distill_ensemble(setup, X, y, teacher, seed=0, *, lam=None, top_k="setup", margin=None, exclude_gt=False):
    """One new model trained with CE + lam * LDI(z_new, z_teacher) (ELODI; cached).

    Args:
        setup, X, y: as above; teacher: the reference model (a ``LogitEnsemble``).
        seed: initialization seed (the same as ``single_model``'s, so the two pair up).
        lam, top_k, margin: LDI weight, classes counted and free margin; None/"setup" take the setup's.
        exclude_gt: leave the label's class out of the penalty (the official ensemble recipe).
    Returns:
        the trained model.
    """
    lam = setup.ldi_lam if lam is None else float(lam)
    top_k = setup.ldi_top_k if top_k == "setup" else top_k
    margin = setup.ldi_margin if margin is None else float(margin)

    def term(out_new, out_old, yb, **_):
        return lam * ldi(out_new, out_old, yb, margin=margin, top_k=top_k, exclude_gt=exclude_gt)
    key = {"name": "beyond-ldi", "lam": lam, "top_k": top_k, "margin": margin, "exclude_gt": exclude_gt,
           "members": len(teacher) if isinstance(teacher, LogitEnsemble) else 1}
    return _fit(setup, X, y, seed, key, old=teacher, extra=term)


def churn_model(setup, X, y, old, method, knob, seed=0, *, eps=None, step=0.05):
    """A new model trained to keep churn against ``old`` low (cached).

    Args:
        method: "distill" (knob = lam of ``churn_distillation``), "anchor" (knob = alpha of
            ``anchor_loss``, with eps = 1 - alpha unless given) or "constraint" (knob = the budget of
            ``DualAscent`` on the training batches' mean soft churn, dual step ``step``).
    Returns:
        the trained model.
    """
    if method not in CHURN_METHODS[1:]:
        raise ValueError(f"method must be one of {CHURN_METHODS[1:]}, got {method!r}")
    knob = float(knob)
    key = {"name": f"beyond-{method}", "knob": knob}
    if method == "distill":
        def term(out_new, out_old, yb, **_):  # fit adds CE: this replaces it by the mixture
            return churn_distillation(out_new, out_old, yb, lam=knob) - _ce(out_new, yb)
    elif method == "anchor":
        eps = 1.0 - knob if eps is None else float(eps)
        key["eps"] = eps

        def term(out_new, out_old, yb, **_):
            return anchor_loss(out_new, out_old, yb, alpha=knob, eps=eps) - _ce(out_new, yb)
    else:
        dual = DualAscent(knob, step)
        key["step"] = step

        def term(out_new, out_old, **_):
            return dual(out_new, out_old)
    return _fit(setup, X, y, seed, key, old=old, extra=term)


def _ce(logits, y):
    return F.cross_entropy(logits, y)


def finetune(setup, X, y, old, seed=0):
    """The old model fine-tuned on all rows (same recipe as training from scratch; cached)."""
    key = {"name": "beyond-finetune", "from": fingerprint(*old.state_dict().values())}
    return _fit(setup, X, y, seed, key, make=lambda: copy.deepcopy(old))


def inference_flops(model):
    """FLOPs of one prediction (2 per multiply-add of every ``nn.Linear``; an ensemble counts all members)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return int(sum(2 * m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear)))


def update_record(y_true, z_old, z_new, **fields):
    """One tidy record: ``fields``, the update metrics of old -> new and the churn (disagreement)."""
    rec = pct_record(y_true, z_old, z_new)
    return {**fields, **{m: rec[m] for m in _METRICS}, "churn": disagreement_rate(z_old, z_new),
            "n_test": rec["n_test"]}


def run_elodi(setup=BeyondSetup(), seeds=(0, 1, 2), *, data=None, progress=True):
    """Records of "single", "ensemble", "ldi" and "fd" per seed, each against that seed's old model."""
    X, y, X_test, y_test = data or make_data(setup)
    records = []
    for seed in progress_bar(list(seeds), desc="ELODI seeds", disable=not progress, leave=True):
        old = old_model(setup, X, y, seed)
        z_old = predict(old, X_test)
        ensemble = LogitEnsemble(ensemble_members(setup, X, y, seed))
        models = {"single": single_model(setup, X, y, seed), "ensemble": ensemble,
                  "ldi": distill_ensemble(setup, X, y, ensemble, seed), "fd": focal_model(setup, X, y, old, seed)}
        for name, model in models.items():
            records.append(update_record(y_test, z_old, predict(model, X_test), method=name, seed=seed,
                                         flops=inference_flops(model)))
    return records


def run_churn(setup=BeyondSetup(), seeds=(0, 1, 2), *, lams=(0.2, 0.4, 0.6, 0.8), alphas=(0.3, 0.6, 0.9),
              budgets=(0.03, 0.06, 0.1), data=None, progress=True):
    """Churn-error records: "none" (knob 0), "distill" per lam, "anchor" per alpha, "constraint" per budget."""
    X, y, X_test, y_test = data or make_data(setup)
    records = []
    for seed in progress_bar(list(seeds), desc="churn seeds", disable=not progress, leave=True):
        old = old_model(setup, X, y, seed)
        z_old = predict(old, X_test)
        records.append(update_record(y_test, z_old, predict(single_model(setup, X, y, seed), X_test),
                                     method="none", knob=0.0, seed=seed))
        for method, knobs in (("distill", lams), ("anchor", alphas), ("constraint", budgets)):
            for knob in knobs:
                model = churn_model(setup, X, y, old, method, knob, seed)
                records.append(update_record(y_test, z_old, predict(model, X_test), method=method,
                                             knob=float(knob), seed=seed, train_churn=disagreement_rate(
                                                 predict(old, X), predict(model, X))))
    return records


def run_interpolation(setup=BeyondSetup(), seeds=(0, 1, 2), *, alphas=tuple(np.round(np.linspace(0, 1, 11), 2)),
                      data=None, progress=True):
    """Records along theta(alpha) = alpha * old + (1 - alpha) * new, for the "fine-tuned" new model and
    the "independent" one (trained from its own initialization), in "weights" and in "outputs"."""
    X, y, X_test, y_test = data or make_data(setup)
    records = []
    for seed in progress_bar(list(seeds), desc="interpolation seeds", disable=not progress, leave=True):
        old = old_model(setup, X, y, seed)
        z_old = predict(old, X_test)
        for pair, new in (("fine-tuned", finetune(setup, X, y, old, seed)),
                          ("independent", single_model(setup, X, y, seed))):
            z_new = predict(new, X_test)
            for alpha in alphas:
                alpha = float(alpha)
                z_w = predict(interpolate(old, new, alpha), X_test)
                records.append(update_record(y_test, z_old, z_w, pair=pair, space="weights", alpha=alpha, seed=seed))
                records.append(update_record(y_test, z_old, alpha * z_old + (1 - alpha) * z_new, pair=pair,
                                             space="outputs", alpha=alpha, seed=seed))
    return records


def curve_gap(records, method, knob, *, reference="distill"):
    """Per seed: error of ``method`` at ``knob`` minus the ``reference`` curve's error at the same churn.

    The reference curve of each seed runs through its "none" record and its ``reference`` records,
    ordered by churn, and is linearly interpolated (held flat outside its range).
    Returns:
        dict seed -> gap in error (positive: above the curve, i.e. worse at equal churn).
    """
    out = {}
    for seed in sorted({r["seed"] for r in records}):
        mine = [r for r in records if r["seed"] == seed and r["method"] == method and r["knob"] == knob]
        curve = sorted((r["churn"], r["err_new"]) for r in records if r["seed"] == seed
                       and r["method"] in ("none", reference))
        if len(mine) != 1 or len(curve) < 2:
            raise ValueError(f"seed {seed}: need one {method!r} record at knob {knob} and a {reference!r} curve")
        churn, err = np.array(curve).T
        out[seed] = float(mine[0]["err_new"] - np.interp(mine[0]["churn"], churn, err))
    return out
