"""Data-parallel training and exact cross-rank update metrics, for runs under torchrun.

``fit_ddp`` is ``gracekit.train.fit`` for several processes: a DistributedSampler splits every
epoch's shuffled order between the ranks, the model is wrapped in DistributedDataParallel, the old
model runs on each rank's own batches, and the same ``extra_loss`` terms plug in (e.g.
``gracekit.pct.experiment.pct_term``). ``batch_size`` is the global batch: with as many samples as a
multiple of it, two processes train on the same batches as one. Checkpoints are written by rank 0
only, atomically, after every epoch, and a rerun resumes from them.

``evaluate_update`` counts flips on each rank's shard of the test set and sums the counts across
ranks (all_reduce), so NFR, PFR and the error rates are those of the full test set, exactly.

The CIFAR experiment and its command line built on these are in ``gracekit.scale.cli``.
"""
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from gracekit.config import get_device, seed_everything
from gracekit.config import progress as progress_bar
from gracekit.cache import load_torch, save_torch, settings_key
from gracekit.metrics import FlipReport, flip_rates
from gracekit.train import train_step

__all__ = ["init_distributed", "dist_info", "fit_ddp", "update_counts", "report_from_counts",
           "evaluate_update", "flip_metric"]


def dist_info():
    """(rank, world_size) of this process: (0, 1) when no process group is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(backend=None):
    """Join the process group that torchrun describes in the environment; a no-op in a plain run.

    Args:
        backend: "nccl" or "gloo"; default nccl when CUDA is present, else gloo.
    Returns:
        (rank, world_size, device): this process's GPU (LOCAL_RANK) when CUDA is present, else CPU.
    """
    local = int(os.environ.get("LOCAL_RANK", 0))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    rank, world = dist_info()
    return rank, world, torch.device("cuda", local) if cuda else torch.device("cpu")


def _check_data(X, y):
    X, y = (a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a)) for a in (X, y))
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(f"X must have shape (n_samples, ...) with n_samples > 0, got {tuple(X.shape)}")
    if y.ndim != 1 or len(y) != len(X) or torch.is_floating_point(y):
        raise ValueError(f"y must be 1-D integer labels, one per row of X ({len(X)}), got {y.dtype} "
                         f"of shape {tuple(y.shape)}")
    if torch.is_floating_point(X) and torch.isnan(X).any():
        raise ValueError("X contains NaN values")
    if (y < 0).any():
        raise ValueError("y must hold class indices >= 0")
    return X, y.long()


def _broadcast(obj):
    """Rank 0's ``obj`` on every rank (identity in a single process)."""
    if dist_info()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _resume(path, key):
    """Rank 0 reads the checkpoint (so no shared file system is needed) and sends it to all ranks."""
    state = None
    if dist_info()[0] == 0 and path.exists():
        try:
            state = load_torch(path)
        except Exception as err:  # a corrupt file: start over, as the cache does
            warnings.warn(f"checkpoint {path.name} is unreadable ({err.__class__.__name__}); starting over",
                          RuntimeWarning, stacklevel=3)
        if state is not None and state.get("key") != key:
            state = {"error": f"checkpoint {path} was written with other settings; delete it or pass "
                              f"another checkpoint path"}
    state = _broadcast(state)
    if state is not None and "error" in state:
        raise ValueError(state["error"])
    return state


def fit_ddp(model, X, y, *, n_epochs=30, lr=0.1, batch_size=256, weight_decay=5e-4, seed=0, loss_fn=None,
            old=None, extra_loss=None, optimizer="sgd", schedule="cosine", augment=None, device=None,
            checkpoint=None, key=None, stop_after=None, progress=True, desc="training"):
    """Train ``model`` on (X, y) data-parallel over the running process group (or alone); resumable.

    Args:
        model: torch.nn.Module; every rank builds it with the same seed.
        X, y: the full training set on every rank (X of any dtype, e.g. uint8 images); each rank
            trains on its DistributedSampler shard of each epoch's shuffled order.
        n_epochs, lr, weight_decay, seed: the usual (seed: shuffling per epoch, torch's global RNG).
        batch_size: global batch, split evenly over the ranks (must be a multiple of world size).
        loss_fn, old, extra_loss: as in ``gracekit.train.fit``; ``extra_loss(out_new=, out_old=,
            xb=, yb=, model=)`` gets the old model's outputs on this rank's batch.
        optimizer: "sgd" (momentum 0.9) or "adam".  schedule: "cosine" decay or None (constant).
        augment: optional ``augment(xb, idx, epoch)`` applied to each batch (e.g. CifarAugment).
        device: default this rank's GPU when CUDA is present, else CPU.
        checkpoint: file written by rank 0 after every epoch (atomically); an existing one from a
            run with the same settings is resumed, a finished one returns at once.
        key: JSON-able dict naming what the callables hide (loss, lambda, old model); part of the
            settings a checkpoint must match.
        stop_after: stop after this epoch, as if killed (for tests of resumption).
        progress: tqdm bar over epochs (rank 0 only).
    Returns:
        the trained model (the plain module, eval mode, CPU), identical on every rank.
    """
    X, y = _check_data(X, y)
    rank, world = dist_info()
    if n_epochs < 1 or lr <= 0 or batch_size < 1:
        raise ValueError("n_epochs and batch_size must be >= 1 and lr > 0")
    if batch_size % world:
        raise ValueError(f"batch_size ({batch_size}) must be a multiple of the world size ({world})")
    if optimizer not in ("sgd", "adam") or schedule not in ("cosine", None):
        raise ValueError(f"optimizer must be 'sgd' or 'adam' and schedule 'cosine' or None, got "
                         f"{optimizer!r} and {schedule!r}")
    seed_everything(seed)
    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else None
    device = get_device(device)
    model, X, y = model.to(device), X.to(device), y.to(device)
    if old is not None:
        old = old.to(device).eval().requires_grad_(False)
    loss_fn = loss_fn or F.cross_entropy
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay) if optimizer == "sgd"
           else torch.optim.Adam(params, lr=lr, weight_decay=weight_decay))
    settings = {"key": key or {}, "n": len(X), "n_epochs": n_epochs, "lr": lr, "batch_size": batch_size,
                "weight_decay": weight_decay, "seed": seed, "optimizer": optimizer, "schedule": schedule}
    # cosine annealing to 0 over n_epochs, stepped once per epoch (its state is checkpointed)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_epochs) if schedule else None
    start = 0
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        state = _resume(checkpoint, settings_key(settings))
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if sched is not None and state.get("scheduler"):
                sched.load_state_dict(state["scheduler"])
            start = int(state["epoch"])
    net = model if world == 1 else DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = DistributedSampler(range(len(X)), num_replicas=world, rank=rank, shuffle=True, seed=seed)
    local_batch = batch_size // world
    end = n_epochs if stop_after is None else min(n_epochs, int(stop_after))
    bar = progress_bar(range(start, end), desc=desc, disable=not progress or rank != 0)
    for epoch in bar:
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), dtype=torch.long, device=device)
        net.train()
        total = torch.zeros((), device=device)
        for start_b in range(0, len(order), local_batch):
            idx = order[start_b:start_b + local_batch]
            xb, yb = X[idx], y[idx]
            if augment is not None:
                xb = augment(xb, idx, epoch)
            total += train_step(net, opt, xb, yb, loss_fn, old, extra_loss, model=model) * len(idx)
        if world > 1:
            dist.all_reduce(total)
        bar.set_postfix(loss=f"{float(total) / (len(order) * world):.4f}")
        if sched is not None:
            sched.step()
        if checkpoint is not None and rank == 0:
            save_torch({"key": settings_key(settings), "settings": json.dumps(settings, default=str),
                        "epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": None if sched is None else sched.state_dict()}, checkpoint)
    if world > 1:
        dist.barrier()
    return model.cpu().eval()


_COUNTS = ("n", "old_wrong", "new_wrong", "negative_flips", "positive_flips", "both_wrong", "both_right",
           "disagree")


def update_counts(y_true, y_old, y_new, n_classes):
    """Flip counts of one shard as an int64 tensor: 8 totals, then per true class n, NF and PF.

    Args:
        y_true: labels (n,); y_old, y_new: labels (n,) or scores (n, K) (argmax taken).
        n_classes: number of true classes (fixes the tensor's length, the same on every rank).
    Returns:
        tensor of length 8 + 3 * n_classes; sums of these over shards are the full set's counts.
    """
    t, o, w = (torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a
               for a in (y_true, y_old, y_new))
    o, w = (a.argmax(1) if a.ndim == 2 else a for a in (o, w))
    t, o, w = t.long().cpu(), o.long().cpu(), w.long().cpu()
    if not (t.ndim == o.ndim == w.ndim == 1 and len(t) == len(o) == len(w)):
        raise ValueError(f"y_true, y_old and y_new must give the same number of labels, got "
                         f"{tuple(t.shape)}, {tuple(o.shape)} and {tuple(w.shape)}")
    if len(t) and (t.min() < 0 or t.max() >= n_classes):
        raise ValueError(f"y_true must hold labels in [0, n_classes={n_classes})")
    ro, rn = o == t, w == t
    totals = torch.stack([torch.tensor(len(t)), (~ro).sum(), (~rn).sum(), (ro & ~rn).sum(), (~ro & rn).sum(),
                          (~ro & ~rn).sum(), (ro & rn).sum(), (o != w).sum()])
    per = [torch.bincount(t[m], minlength=n_classes) for m in (torch.ones_like(ro), ro & ~rn, ~ro & rn)]
    return torch.cat([totals, *per]).long()


def report_from_counts(counts):
    """A ``gracekit.metrics.FlipReport`` from summed ``update_counts`` (same rates as flip_report)."""
    c = [int(v) for v in torch.as_tensor(counts).tolist()]
    k = (len(c) - len(_COUNTS)) // 3
    if k < 1 or len(c) != len(_COUNTS) + 3 * k or c[0] < 1:
        raise ValueError(f"counts must come from update_counts over at least one sample, got {len(c)} values")
    tot = dict(zip(_COUNTS, c))
    n = tot.pop("n")
    rates = flip_rates(tot, n)  # the same formulas as flip_report (ratios of counts)
    per = np.array(c[len(_COUNTS):]).reshape(3, k)
    per_class = {i: {"n": int(per[0, i]), "negative_flips": int(per[1, i]), "positive_flips": int(per[2, i])}
                 for i in range(k)}
    return FlipReport(n=n, n_classes=k, counts=tot, rates=rates, per_class=per_class)


@torch.no_grad()
def evaluate_update(old, new, X_test, y_test, *, n_classes=None, batch_size=1000, device=None):
    """Flip report of old -> new on the full test set, each rank predicting only its shard.

    Args:
        old, new: models (plain modules); X_test, y_test: the full test set on every rank.
        n_classes: number of true classes; default the largest label + 1.
        batch_size: prediction batch; device: default CUDA when present.
    Returns:
        gracekit.metrics.FlipReport of the whole test set (counts summed over ranks with all_reduce).
    """
    X_test, y_test = _check_data(X_test, y_test)
    rank, world = dist_info()
    k = int(n_classes or int(y_test.max()) + 1)
    device = get_device(device)
    shard = torch.arange(rank, len(X_test), world)
    preds = []
    for model in (old, new):
        model = model.to(device).eval()
        preds.append(torch.cat([model(X_test[shard[i:i + batch_size]].to(device)).argmax(1).cpu()
                                for i in range(0, len(shard), batch_size)] or [torch.zeros(0, dtype=torch.long)]))
    counts = update_counts(y_test[shard], preds[0], preds[1], k).to(device)
    if world > 1:
        dist.all_reduce(counts)
    return report_from_counts(counts.cpu())


def flip_metric(n_classes):
    """The same counts as a torchmetrics ``Metric`` (sum-reduced across ranks); needs torchmetrics.

    ``m.update(y_true, y_old, y_new)`` per batch, ``m.compute()`` -> dict of rates and counts of all
    the batches on all the ranks. Optional: ``evaluate_update`` needs no torchmetrics.
    """
    try:
        from torchmetrics import Metric
    except ImportError as err:
        raise ImportError("flip_metric needs torchmetrics (pip install torchmetrics); evaluate_update "
                          "computes the same numbers without it") from err

    class FlipCounts(Metric):
        full_state_update = False

        def __init__(self):
            super().__init__()
            self.add_state("counts", default=torch.zeros(len(_COUNTS) + 3 * n_classes, dtype=torch.long),
                           dist_reduce_fx="sum")

        def update(self, y_true, y_old, y_new):
            self.counts += update_counts(y_true, y_old, y_new, n_classes).to(self.counts.device)

        def compute(self):
            rep = report_from_counts(self.counts.cpu())
            return {**rep.rates, **rep.counts, "n": rep.n}

    return FlipCounts()
