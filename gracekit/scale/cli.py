"""Beyond the laptop: the PC-training experiment on CIFAR-10/100, data-parallel under torchrun.

Two settings of Yan et al., "Positive-Congruent Training", CVPR 2021:
* same architecture (paper Table 2a): old and new are the same CNN trained on the same data from
  different seeds; the new one is trained with CE + lam * L_PC.
* new classes (paper Table 5b, ``old_classes=k``): the old CNN knows the first k classes and was
  trained on their images only; the new one learns all classes. Flips are counted on the test
  images of the old classes; the PC term acts on those samples' first k logits.

The training loop, losses and metrics are gracekit's (``gracekit.ddp.fit_ddp``,
``gracekit.pct.experiment.pct_term``, ``gracekit.ddp.evaluate_update``). Command line:
    python -m gracekit.scale pct --data cifar10 --folder DIR
    torchrun --nproc_per_node 4 -m gracekit.scale pct --data cifar100 --old-classes 50 --folder DIR
Writes ``results.json`` and ``results.md`` (a table beside the paper's) to ``--out``; model
checkpoints go to ``--out``/ckpt and a rerun of the same command resumes from them.
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gracekit.config import cache_dir
from gracekit.cache import atomic_write_bytes, settings_key
from gracekit.scale.cifar import CIFAR, CifarAugment, load_cifar, make_cifar_net
from gracekit.scale.ddp import dist_info, evaluate_update, fit_ddp, init_distributed

# gracekit.sweeps (pct_term, summarize) is imported where it is used: it pulls in scikit-learn, which
# every one of torchrun's processes would otherwise spend a second or two importing at start-up.

__all__ = ["PAPER", "old_classes_term", "parse_method", "pct_cifar", "pct_table", "main"]

# Yan et al., CVPR 2021: Err_new / NFR / relative NFR in %, ResNet-18 -> ResNet-18 on ImageNet
# (Table 2a, Err_old 30.24; kd is Table 3's FD-LM with (alpha, beta) = (1, 0), no relative NFR
# given) and old 500 -> all 1000 ImageNet classes, ResNet-50 (Table 5b, Err_old 19.30).
PAPER = {
    "same": {"err_old": 30.24, "none": (30.29, 6.44, 30.48), "naive": (29.34, 5.72, 27.95),
             "kd": (31.12, 3.90, None), "fd_kl": (30.63, 2.50, 11.70), "fd_lm": (30.47, 2.35, 11.06)},
    "classes": {"err_old": 19.30, "none": (23.65, 8.05, 41.90), "naive": (23.74, 7.70, 40.20),
                "fd_kl": (24.14, 7.07, 36.29), "fd_lm": (25.11, 7.37, 36.35)},
}
_LABELS = {"none": "unconstrained", "naive": "naive reweighting", "kd": "plain distillation (LM)",
           "fd_kl": "FD-KL, tau=100", "fd_lm": "FD-LM"}


def old_classes_term(term, k_old):
    """Wrap an extra loss so it acts only on samples of the old classes, on their first k_old logits.

    Samples of new classes are left out of the term, as in the official PCT code.
    """
    def wrapped(out_new, out_old, yb, **kw):
        keep = yb < k_old
        if not keep.any():
            return out_new.sum() * 0.0
        return term(out_new=out_new[keep, :k_old], out_old=out_old[keep], yb=yb[keep], **kw)
    return wrapped


def parse_method(spec, n_classes):
    """'fd_lm:0.05' -> ("fd_lm", 0.05); without ':lam' the default weight of that method.

    Defaults: fd_kl 1 (the paper's lambda with tau=100), kd and fd_lm 1/K (as strong as fd_kl:1: at
    large tau, tau^2 KL ~ 1/(2K) ||dz - mean(dz)||^2 = (1/K) * the kit's 1/2 ||dz||^2 distance on
    centred logit differences), naive 1, none 0.
    """
    name, _, lam = str(spec).partition(":")
    if name not in _LABELS:
        raise ValueError(f"methods must be among {sorted(_LABELS)} (optionally 'name:lambda'), got {spec!r}")
    default = {"none": 0.0, "naive": 1.0, "fd_kl": 1.0}.get(name, 1.0 / n_classes)
    try:
        lam = float(lam) if lam else default
    except ValueError:
        raise ValueError(f"methods: lambda in {spec!r} must be a number") from None
    if not lam >= 0:
        raise ValueError(f"methods: lambda in {spec!r} must be >= 0")
    return name, lam


def _device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def pct_cifar(folder=None, data="cifar10", *, old_classes=0, methods=("none", "fd_kl", "fd_lm"), seeds=(0,),
              n_epochs=30, old_epochs=None, batch_size=256, lr=0.1, width=32, blocks=(1, 1, 1), beta=5.0,
              tau=100.0, out=None, limit_train=None, limit_test=None, progress=True):
    """Train old and new CNNs on CIFAR for each method and seed; return tidy records (all ranks).

    Args:
        folder: folder with the CIFAR python archive (default ``gracekit.cache_dir()/cifar``).
        data: "cifar10" or "cifar100".
        old_classes: 0 for the same-architecture setting, k for the new-classes setting.
        methods: "none", "naive", "kd", "fd_kl", "fd_lm", each optionally "name:lambda".
        seeds: seed s trains the old model from seed 100 + s and every new model from seed s.
        n_epochs, old_epochs, batch_size, lr: SGD with momentum, cosine decay, global batch.
        width, blocks: size of ``make_cifar_net``.  beta, tau: focal filter and KL temperature.
        out: folder for checkpoints and (rank 0) results.json / results.md; None keeps nothing.
        limit_train, limit_test: use only the first N images (smoke runs).
    Returns:
        list of dicts, one per (method, seed): settings, rates, counts, seconds, device.
    """
    from gracekit.pct.experiment import pct_term

    if data not in CIFAR:
        raise ValueError(f"data must be one of {sorted(CIFAR)}, got {data!r}")
    k_all = CIFAR[data]["n_classes"]
    if isinstance(old_classes, bool) or not isinstance(old_classes, int) or not 0 <= old_classes < k_all:
        raise ValueError(f"old_classes must be 0 (same classes) or in [2, {k_all}), got {old_classes!r}")
    if old_classes == 1:
        raise ValueError("old_classes must be at least 2")
    k_old = old_classes or k_all
    if isinstance(methods, str) or not list(methods) or not list(seeds):
        raise ValueError(f"methods and seeds must be non-empty lists, got {methods!r} and {seeds!r}")
    methods = [parse_method(m, k_old) for m in methods]
    rank, world, device = init_distributed()
    X, y, X_test, y_test = load_cifar(folder if folder is not None else cache_dir() / "cifar", data)
    X, y, X_test, y_test = (torch.from_numpy(a) for a in (X, y, X_test, y_test))
    X, y = X[:limit_train], y[:limit_train]
    X_test, y_test = X_test[:limit_test], y_test[:limit_test]
    eval_mask = y_test < k_old
    old_mask = y < k_old
    ckpt = Path(out) / "ckpt" if out is not None else None
    fit_kw = dict(batch_size=batch_size, lr=lr, device=device, progress=progress)
    base = {"data": data, "old_classes": old_classes, "width": width, "blocks": list(blocks),
            "n_train": len(X), "n_test": len(X_test)}

    def train(key, X_, y_, k, seed, epochs, **kw):
        key = {**base, **key, "n_classes": k, "seed": seed, "epochs": epochs, "batch": batch_size, "lr": lr}
        path = ckpt / f"{key['name']}-{settings_key(key)}.pt" if ckpt is not None else None
        t0 = time.perf_counter()
        model = fit_ddp(make_cifar_net(k, width, blocks, seed=seed), X_, y_, n_epochs=epochs, seed=seed,
                        augment=CifarAugment(len(X_), seed=seed), checkpoint=path, key=key,
                        desc=key["name"], **fit_kw, **kw)
        return model, time.perf_counter() - t0

    records = []
    for s in seeds:
        old, t_old = train({"name": f"old-s{s}"}, X[old_mask], y[old_mask], k_old, 100 + s, old_epochs or n_epochs)
        for method, lam in methods:
            term = pct_term(method, lam, 1.0, beta, tau)
            if term is not None and old_classes:
                term = old_classes_term(term, k_old)
            new, secs = train({"name": f"new-{method}-s{s}", "method": method, "lam": lam, "beta": beta,
                               "tau": tau}, X, y, k_all, s, n_epochs,
                              old=old if term is not None else None, extra_loss=term)
            rep = evaluate_update(old, new, X_test[eval_mask], y_test[eval_mask], n_classes=k_old, device=device)
            rec = {"data": data, "setting": "classes" if old_classes else "same", "old_classes": old_classes,
                   "method": method, "lam": lam, "beta": beta if method in ("fd_kl", "fd_lm") else 0.0,
                   "seed": s, **rep.rates, **{f"n_{k}": v for k, v in rep.counts.items()}, "n_eval": rep.n,
                   "seconds_old": t_old, "seconds": secs, "world_size": world, "device": _device_name(device)}
            if old_classes:
                rec["err_new_all"] = evaluate_update(new, new, X_test, y_test, n_classes=k_all,
                                                     device=device).rates["err_new"]
            records.append(rec)
    meta = {**base, "methods": [f"{m}:{lam:g}" for m, lam in methods], "seeds": list(seeds), "epochs": n_epochs,
            "old_epochs": old_epochs or n_epochs, "batch_size": batch_size, "lr": lr, "beta": beta, "tau": tau,
            "world_size": world, "device": _device_name(device)}
    if out is not None and rank == 0:
        text = json.dumps({"meta": meta, "records": records}, indent=1, default=float)
        atomic_write_bytes(Path(out) / "results.json", text.encode())
        atomic_write_bytes(Path(out) / "results.md", pct_table(records, meta).encode())
    return records


def _pm(rows, key, scale=100.0, digits=2):
    r = rows[key] * scale
    return f"{r:.{digits}f}" + (f" ± {rows[key + '_sd'] * scale:.{digits}f}" if rows["n"] > 1 else "")


def pct_table(records, meta):
    """Markdown results table of ``pct_cifar`` records (mean ± sd over seeds) beside the paper's numbers."""
    from gracekit.sweeps import summarize

    if not records:
        raise ValueError("records is empty")
    setting = records[0]["setting"]
    rows = summarize(records, by=("method", "lam"), metrics=("err_old", "err_new", "nfr", "pfr", "relative_nfr"))
    ref = next((r for r in rows if r["method"] == "none"), None)
    paper = PAPER[setting]
    what = ("same architecture, same data, new seed (paper: Table 2a, ImageNet ResNet-18 -> ResNet-18)"
            if setting == "same" else
            f"old model on the first {records[0]['old_classes']} classes, new on all; flips on the old classes' "
            "test images (paper: Table 5b, ImageNet 500 -> 1000 classes, ResNet-50)")
    n = records[0]["n_eval"]
    lines = [f"# PC training at CIFAR scale: {meta['data']}", "", f"Setting: {what}.", "",
             f"Device: {meta['device']} x {meta['world_size']} process(es). CNN width {meta['width']}, blocks "
             f"{meta['blocks']}; {meta['old_epochs']} / {meta['epochs']} epochs (old / new), global batch "
             f"{meta['batch_size']}, SGD lr {meta['lr']} cosine; seeds {meta['seeds']}; {n:,} evaluation images "
             f"(NFR standard error about {100 * np.sqrt(max(ref['nfr'] if ref else 0.02, 1e-4) / n):.2f} pt).",
             "", "| method | λ | Err_old % | Err_new % | NFR % | PFR % | rel. NFR % | NFR vs none | "
             f"paper Err_new / NFR / rel. NFR % (Err_old {paper['err_old']}) |", "|---" * 9 + "|"]
    for r in rows:
        change = f"{100 * (r['nfr'] / ref['nfr'] - 1):+.0f}%" if ref and ref["nfr"] > 0 else ""
        p = paper.get(r["method"])
        p = " / ".join("-" if v is None else f"{v:.2f}" for v in p) if p else "-"
        lines.append(f"| {_LABELS[r['method']]} | {r['lam']:g} | {_pm(r, 'err_old')} | {_pm(r, 'err_new')} | "
                     f"{_pm(r, 'nfr')} | {_pm(r, 'pfr')} | {_pm(r, 'relative_nfr')} | {change} | {p} |")
    secs = sum(r["seconds"] for r in records) + sum({r["seed"]: r["seconds_old"] for r in records}.values())
    lines += ["", f"Training time, all models: {secs / 60:.1f} min.", ""]
    return "\n".join(lines)


def main(argv=None):
    """``python -m gracekit.scale pct ...`` (also under torchrun); prints the results table on rank 0."""
    parser = argparse.ArgumentParser(prog="python -m gracekit.scale", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pct", help="PC training on CIFAR: old model, new models per method, flip metrics")
    p.add_argument("--data", choices=sorted(CIFAR), default="cifar10")
    p.add_argument("--folder", default=None, help="folder with the CIFAR python archive "
                   "(default: the gracekit cache folder's cifar/)")
    p.add_argument("--old-classes", type=int, default=0, help="0: same-architecture setting; k: old model "
                   "knows the first k classes (new-classes setting)")
    p.add_argument("--methods", nargs="+", default=["none", "fd_kl", "fd_lm"],
                   help="none naive kd fd_kl fd_lm, each optionally name:lambda")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--old-epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=256, help="global batch (split over the processes)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--blocks", type=int, nargs=3, default=[1, 1, 1])
    p.add_argument("--beta", type=float, default=5.0)
    p.add_argument("--out", default=None, help="results and checkpoints (default runs/pct-DATA-SETTING)")
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--limit-test", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    a = parser.parse_args(argv)
    out = a.out or f"runs/pct-{a.data}-{'classes' + str(a.old_classes) if a.old_classes else 'same'}"
    try:
        records = pct_cifar(a.folder, a.data, old_classes=a.old_classes, methods=a.methods, seeds=a.seeds,
                            n_epochs=a.epochs, old_epochs=a.old_epochs, batch_size=a.batch_size, lr=a.lr,
                            width=a.width, blocks=a.blocks, beta=a.beta, out=out, limit_train=a.limit_train,
                            limit_test=a.limit_test, progress=not a.no_progress)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if dist_info()[0] == 0:
        print((Path(out) / "results.md").read_text())
        print(f"({len(records)} runs; results.json and results.md in {out})")
    if torch.distributed.is_initialized():
        # leave together: a rank that tears its process group down while another is still writing
        # the results was seen to abort ("terminate called without an active exception") under load
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
