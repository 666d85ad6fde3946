"""Summaries of chain records (``gracekit.chain.experiment``): mean and spread over seeds, and the
compatibility tax of a method, paired with the independent model of the same seed and step."""
import numpy as np

__all__ = ["summarize_chains", "tax_per_seed", "pair_per_seed"]


def summarize_chains(records):
    """Mean and sd over seeds: {method: {"pair": T x T mean matrix, "pair_sd", "step": {field: (mean, sd) per step}}}."""
    out = {}
    for method in dict.fromkeys(r["method"] for r in records):
        rs = [r for r in records if r["method"] == method]
        T = max(r["query"] for r in rs if r["kind"] == "pair")
        seeds = sorted({r["seed"] for r in rs})
        M = np.full((len(seeds), T, T), np.nan)
        for r in rs:
            if r["kind"] == "pair":
                M[seeds.index(r["seed"]), r["query"] - 1, r["gallery"] - 1] = r["top1"]
        steps = {}
        for f in ("err", "nfr_prev", "nfr_first", "self_top1"):
            v = np.full((len(seeds), T), np.nan)
            for r in rs:
                if r["kind"] == "step":
                    v[seeds.index(r["seed"]), r["step"] - 1] = r[f]
            steps[f] = (v.mean(0), v.std(0, ddof=1) if len(seeds) > 1 else np.zeros(T))
        out[method] = {"pair": M.mean(0), "pair_sd": M.std(0, ddof=1) if len(seeds) > 1 else np.zeros((T, T)),
                       "step": steps, "n_seeds": len(seeds)}
    return out


def _per_seed(records, method, kind, key, value):
    rs = [r for r in records if r["method"] == method and r["kind"] == kind]
    if not rs:
        raise ValueError(f"no {kind!r} records for method {method!r}")
    seeds = sorted({r["seed"] for r in rs})
    T = max(r[key] for r in rs)
    out = np.full((len(seeds), T), np.nan)
    for r in rs:
        out[seeds.index(r["seed"]), r[key] - 1] = value(r)
    return seeds, out


def tax_per_seed(records, method, *, field="self_top1", reference="independent"):
    """The tax of ``method`` at every step, per seed: how much worse than the reference model trained on
    the same data with the same seed (self top-1: reference - method; error: method - reference).

    Returns:
        (seeds, array (n_seeds, T)); positive values mean the constraint costs accuracy.
    """
    seeds, got = _per_seed(records, method, "step", "step", lambda r: r[field])
    seeds_ref, ref = _per_seed(records, reference, "step", "step", lambda r: r[field])
    if seeds != seeds_ref:
        raise ValueError(f"{method} and {reference} were run with different seeds: {seeds} vs {seeds_ref}")
    return seeds, (ref - got) if field == "self_top1" else (got - ref)


def pair_per_seed(records, method, *, gallery=1):
    """M(phi_t, phi_gallery) - M(phi_gallery, phi_gallery) for every query model t, per seed."""
    rs = [r for r in records if r["method"] == method and r["kind"] == "pair"]
    seeds = sorted({r["seed"] for r in rs})
    T = max(r["query"] for r in rs)
    cell = {(r["seed"], r["query"], r["gallery"]): r["top1"] for r in rs}
    return seeds, np.array([[cell[(s, t, gallery)] - cell[(s, gallery, gallery)] for t in range(1, T + 1)]
                            for s in seeds])
