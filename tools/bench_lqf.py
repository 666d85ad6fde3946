"""Full-size LQF benchmark behind docs/bench/lqf.md: accuracy, churn, convergence, LOO, ablations.

Usage: python tools/bench_lqf.py [--out lqf_bench.json] [--episodes 3] [--only selection,accuracy] [--merge]
Takes about 10-20 minutes on one CPU core (all parts). "accuracy" uses the settings "selection" chose
on episode 0 when both run (or are merged from --out), as notebook 05 does. Seeds: episode e draws its shots with
numpy default_rng(1000 + e) and its new head with seed e; nonlinear fine-tuning seeds 0, 1, 2.
"""
import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gracekit.lqf import kfac as kfac  # noqa: E402
from gracekit.datasets import make_multiclass, split_classes  # noqa: E402
from gracekit.lqf.solver import LQF, linear_probe, load_backbone, transfer_model  # noqa: E402
from gracekit.metrics import disagreement_rate  # noqa: E402
from gracekit.train import fit, predict  # noqa: E402

RIDGES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
NL_STEPS = 400


def data():
    X, y, Xt, yt = make_multiclass(seed=0)
    Xn, yn = split_classes(X, y, range(5, 10))
    Xnt, ynt = split_classes(Xt, yt, range(5, 10))
    return Xn, yn, Xnt, ynt


def episode(Xn, yn, shots, ep):
    rng = np.random.default_rng(1000 + ep)
    idx = np.concatenate([rng.choice(np.flatnonzero(yn == c), shots, replace=False) for c in range(5)])
    return Xn[idx], yn[idx]


def nonlinear(model0, X, y, seed, loss_fn=None, lr=1e-3):
    epochs = math.ceil(NL_STEPS / math.ceil(len(X) / 32))
    return fit(copy.deepcopy(model0), X, y, n_epochs=epochs, lr=lr, batch_size=32, seed=seed,
               loss_fn=loss_fn, progress=False)


def lqf_by_loo(model0, X, y, ridges=RIDGES):
    m = LQF(model0, ridge=ridges[0]).fit(X, y)
    scores = []
    for r in ridges:
        m.set_ridge(r)
        scores.append(float(np.mean(m.leave_one_out().argmax(1).numpy() == y)))
    m.set_ridge(ridges[int(np.argmax(scores))])
    return m, scores


def acc(pred, y):
    return float(np.mean(np.asarray(pred) == y))


def bench_accuracy(nets, Xn, yn, Xnt, ynt, episodes, out):
    """Notebook 05, section 5: the settings chosen on episode 0 (``bench_selection``), all shots of each episode."""
    sel = out["selection"][0] if "selection" in out else {a: {"head_std": 0.1, "lr": 1e-3, "C": 1.0} for a in nets}
    out["accuracy_settings"] = {a: {k: sel[a][k] for k in ("head_std", "lr", "C")} for a in nets}
    for shots in (100, 20):
        for act, net in nets.items():
            rows, st = [], sel[act]
            for ep in range(episodes):
                X, y = episode(Xn, yn, shots, ep)
                model0 = transfer_model(net, 5, head_std=st["head_std"], seed=ep)
                t = time.perf_counter()
                nl = [predict(nonlinear(model0, X, y, s, lr=st["lr"]), Xnt).argmax(1).numpy() for s in range(3)]
                t_nl = (time.perf_counter() - t) / 3
                *_, probe = linear_probe(net, X, y, C=st["C"])
                t = time.perf_counter()
                m, loo = lqf_by_loo(model0, X, y)
                lqf_pred = m.predict(Xnt)
                t_lqf = time.perf_counter() - t
                perms = [np.random.default_rng(s).permutation(len(X)) for s in range(3)]
                lqf_perm = [LQF(model0, ridge=m.ridge).fit(X[p], y[p]).predict(Xnt) for p in perms]
                rows.append({
                    "episode": ep, "nonlinear": [acc(p, ynt) for p in nl], "probe": acc(probe(Xnt), ynt),
                    "lqf": acc(lqf_pred, ynt), "lqf_ridge": m.ridge, "loo_acc_by_ridge": loo,
                    "nl_churn": float(np.mean([disagreement_rate(nl[i], nl[j]) for i, j in ((0, 1), (0, 2), (1, 2))])),
                    "lqf_churn": float(np.mean([disagreement_rate(lqf_perm[i], lqf_perm[j])
                                                for i, j in ((0, 1), (0, 2), (1, 2))])),
                    "seconds_nl_per_run": t_nl, "seconds_lqf_with_loo_ridge": t_lqf})
                print(shots, act, rows[-1], flush=True)
            out.setdefault("accuracy", {})[f"{act}_{shots}"] = rows


def bench_head_init(nets, Xn, yn, Xnt, ynt, episodes, out):
    stds = (0.001, 0.01, 0.03, 0.1, 0.3, 1.0)
    for act, net in nets.items():
        rows = []
        for ep in range(episodes):
            X, y = episode(Xn, yn, 100, ep)
            row = {"episode": ep}
            for s in stds:
                m, _ = lqf_by_loo(transfer_model(net, 5, head_std=s, seed=ep), X, y, (1e-2, 3e-2, 1e-1))
                row[f"std_{s}"] = acc(m.predict(Xnt), ynt)
            W, b, _ = linear_probe(net, X, y)
            m, _ = lqf_by_loo(transfer_model(net, 5, head=(W, b)), X, y, (1e-2, 3e-2, 1e-1))
            row["probe_init"] = acc(m.predict(Xnt), ynt)
            # churn over head-init seeds: random heads change w0 itself; the probe head does not
            preds = [LQF(transfer_model(net, 5, head_std=0.1, seed=10 + s), ridge=3e-2).fit(X, y).predict(Xnt)
                     for s in range(3)]
            row["lqf_churn_over_head_seeds"] = float(np.mean([disagreement_rate(preds[i], preds[j])
                                                              for i, j in ((0, 1), (0, 2), (1, 2))]))
            rows.append(row)
            print("head", act, row, flush=True)
        out.setdefault("head_init", {})[act] = rows


def bench_convergence(nets, Xn, yn, Xnt, ynt, episodes, out):
    grid_damping, grid_adam = (0.03, 0.1, 0.3), (0.03, 0.1)
    for act, net in nets.items():
        rows = []
        for ep in range(episodes):
            X, y = episode(Xn, yn, 100, ep)
            m = LQF(transfer_model(net, 5, head_std=0.1, seed=ep), ridge=1e-3, target_scale=15.0).fit(X, y)
            F_star, F_0 = m.decision_function(Xnt), m.lin_(Xnt)
            scale = float((F_star - F_0).norm())

            def out_dist(delta):
                return float((m.decision_function(Xnt, delta) - F_star).norm()) / scale

            ev = torch.linalg.eigvalsh(m.kernel_)
            lmax = float(ev[-1]) / len(X) + m.ridge  # exact top curvature of H
            row = {"episode": ep, "cond_kernel": float(ev[-1] / ev[ev > 1e-9 * ev[-1]][0]),
                   "cond_H": float((ev[-1] / len(X) + m.ridge) / (ev[0].clamp_min(0) / len(X) + m.ridge))}
            gd = {c: kfac.gd_steps_to_gap(m, c / lmax, tol=1e-3) for c in (1.0, 1.5, 1.9, 1.99)}
            c_best = min((c for c in gd if gd[c] is not None), key=lambda c: gd[c])
            row["gd_steps_1e-3"], row["gd_c"] = gd[c_best], c_best
            row["gd_steps_1e-2"] = kfac.gd_steps_to_gap(m, c_best / lmax, tol=1e-2)
            row["gd_out_dist"] = out_dist(kfac.gd_closed_form_delta(m, c_best / lmax, gd[c_best]))
            t = time.perf_counter()
            best = None
            for d in grid_damping:
                r = kfac.descend(m, n_steps=4000, method="kfac", damping=d, step_scale=1.9, tol=1e-3)
                s = kfac.steps_to_gap(r["gap"], tol=1e-3)
                if s is not None and (best is None or s < best[0]):
                    best = (s, d, r)
            row["kfac_seconds_grid"] = time.perf_counter() - t
            if best:
                s, d, r = best
                row.update({"kfac_steps_1e-3": s, "kfac_damping": d, "kfac_steps_1e-2": kfac.steps_to_gap(r["gap"], tol=1e-2),
                            "kfac_out_dist": out_dist(r["delta"])})
                r2 = kfac.descend(m, n_steps=2000, method="kfac", damping=d, step_scale=1.9)
                row["kfac_gap_2000"], row["kfac_out_dist_2000"] = float(r2["gap"][-1]), out_dist(r2["delta"])
            best = None
            for lr in grid_adam:
                r = kfac.descend(m, n_steps=4000, lr=lr, method="adam", tol=1e-3)
                s = kfac.steps_to_gap(r["gap"], tol=1e-3)
                if s is not None and (best is None or s < best[0]):
                    best = (s, lr, r)
            if best:
                row.update({"adam_steps_1e-3": best[0], "adam_lr": best[1], "adam_out_dist": out_dist(best[2]["delta"])})
            rows.append(row)
            print("conv", act, row, flush=True)
        out.setdefault("convergence", {})[act] = rows


def split_val(y, share=0.2):
    """(train, val) masks: the first ``share`` of each class's (shuffled) shots held out, as in notebook 05."""
    val = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        val[idx[:max(1, round(share * len(idx)))]] = True
    return ~val, val


def bench_selection(nets, Xn, yn, Xnt, ynt, episodes, out, stds=(0.001, 0.01, 0.03, 0.1, 0.3, 1.0),
                    lrs=(3e-4, 1e-3, 3e-3), cs=(0.1, 1.0, 10.0)):
    """Notebook 05, section 3: head std by LQF leave-one-out on 80% of the shots, lr and C on the other 20%."""
    rows = []
    for ep in range(episodes):
        X, y = episode(Xn, yn, 100, ep)
        tr, va = split_val(y)
        row = {"episode": ep}
        for act, net in nets.items():
            loo, test = [], []
            for s in stds:
                m = LQF(transfer_model(net, 5, head_std=s, seed=ep), ridge=3e-2).fit(X[tr], y[tr])
                loo.append(float(np.mean(m.leave_one_out().argmax(1).numpy() == y[tr])))
                test.append(acc(m.predict(Xnt), ynt))
            std_c = stds[int(np.argmax(loo))]
            nl_val, nl_test = [], []
            for lr in lrs:
                f = nonlinear(transfer_model(net, 5, head_std=std_c, seed=ep), X[tr], y[tr], 0, lr=lr)
                nl_val.append(acc(predict(f, X[va]).argmax(1).numpy(), y[va]))
                nl_test.append(acc(predict(f, Xnt).argmax(1).numpy(), ynt))
            pr = [linear_probe(net, X[tr], y[tr], C=c)[2] for c in cs]
            pr_val, pr_test = [acc(p(X[va]), y[va]) for p in pr], [acc(p(Xnt), ynt) for p in pr]
            row[act] = {"stds": list(stds), "loo": loo, "test": test, "head_std": std_c,
                        "lrs": list(lrs), "nl_val": nl_val, "nl_test": nl_test, "lr": lrs[int(np.argmax(nl_val))],
                        "Cs": list(cs), "probe_val": pr_val, "probe_test": pr_test, "C": cs[int(np.argmax(pr_val))]}
        rows.append(row)
        print("selection", row, flush=True)
    out["selection"] = rows


def bench_ablation(nets, Xn, yn, Xnt, ynt, episodes, out, budget=200, head_std=0.1):
    """Notebook 05, section 9: each (loss, optimizer) with its own curvature and a step chosen on held-out shots.

    Steps are c / lambda_max of the loss's own (K-FAC-preconditioned) curvature at w0, c from
    {1, 1.9} (MSE) or {1, 2, 4, 8} (CE), chosen by accuracy on the 20% held-out shots with the ReLU
    backbone and reused for Leaky-ReLU; training on the other 80%.
    """
    mults = {"mse": (1.0, 1.9), "ce": (1.0, 2.0, 4.0, 8.0)}
    rows = []
    for ep in range(episodes):
        X, y = episode(Xn, yn, 100, ep)
        tr, va = split_val(y)
        row, chosen = {"episode": ep}, {}
        for act in ("relu", "leaky_relu"):
            m = LQF(transfer_model(nets[act], 5, head_std=head_std, seed=ep), ridge=3e-2).fit(X[tr], y[tr])
            row[f"{act}_mse_exact"] = acc(m.predict(Xnt), ynt)
            for loss in ("mse", "ce"):
                for method in ("gd", "kfac"):
                    pre = kfac.KFACPreconditioner(m, damping=0.1, loss=loss) if method == "kfac" else None
                    lam = kfac.top_eigenvalue(m, precondition=pre, loss=loss)
                    best = None
                    for c in (mults[loss] if act == "relu" else (chosen[(loss, method)],)):
                        r = kfac.descend(m, n_steps=budget, lr=c / lam, method=method, loss=loss, damping=0.1)
                        v = acc(m.predict(X[va], r["delta"]), y[va])
                        if best is None or v > best[0]:
                            best = (v, c, r["delta"])
                    chosen.setdefault((loss, method), best[1])
                    row[f"{act}_{loss}_{method}"] = acc(m.predict(Xnt, best[2]), ynt)
                    row[f"{act}_{loss}_{method}_c"], row[f"{act}_{loss}_{method}_lam"] = best[1], lam
        rows.append(row)
        print("ablation", row, flush=True)
    out["ablation"] = {"budget_steps": budget, "ridge": 3e-2, "head_std": head_std, "train_share": 0.8, "rows": rows}


def bench_loo(nets, Xn, yn, out):
    X, y = episode(Xn, yn, 20, 0)
    model0 = transfer_model(nets["relu"], 5, head_std=0.1, seed=0)
    m = LQF(model0, ridge=3e-2).fit(X, y)
    t = time.perf_counter()
    loo = m.leave_one_out()
    t_closed = time.perf_counter() - t
    n, errs = len(X), []
    t = time.perf_counter()
    for i in range(n):
        keep = np.arange(n) != i
        f = LQF(model0, ridge=3e-2 * n / (n - 1)).fit(X[keep], y[keep]).decision_function(X[i:i + 1])[0]
        errs.append(float((loo[i] - f).norm() / f.norm()))
    out["loo"] = {"n": n, "max_rel_err": max(errs), "median_rel_err": float(np.median(errs)),
                  "seconds_closed_form": t_closed, "seconds_brute_force": time.perf_counter() - t}
    print("loo", out["loo"], flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="lqf_bench.json")
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--only", default="accuracy,head,convergence,ablation,loo,selection")
    ap.add_argument("--merge", action="store_true", help="update the parts run in an existing --out file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    nets = {a: load_backbone(a) for a in ("relu", "leaky_relu")}
    Xn, yn, Xnt, ynt = data()
    out = {"n_test": int(len(Xnt)), "episodes": args.episodes, "torch": torch.__version__}
    if args.merge and Path(args.out).is_file():
        out = {**json.loads(Path(args.out).read_text()), **out}
    start = time.perf_counter()
    parts = args.only.split(",")
    if "loo" in parts:
        bench_loo(nets, Xn, yn, out)
    if "selection" in parts:
        bench_selection(nets, Xn, yn, Xnt, ynt, args.episodes, out)
    if "accuracy" in parts:
        bench_accuracy(nets, Xn, yn, Xnt, ynt, args.episodes, out)
    if "convergence" in parts:
        bench_convergence(nets, Xn, yn, Xnt, ynt, args.episodes, out)
    if "ablation" in parts:
        bench_ablation(nets, Xn, yn, Xnt, ynt, args.episodes, out)
    if "head" in parts:
        bench_head_init(nets, Xn, yn, Xnt, ynt, args.episodes, out)
    out[f"seconds_{'_'.join(parts)}"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
