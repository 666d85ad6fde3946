"""Parameter sweeps as tidy records (one dict per run).

``grid`` (cartesian product of settings), ``run_sweep``, ``summarize`` (mean, sd, n by group),
``select``, ``save_records`` / ``load_records`` (small JSON files, written atomically).
"""
import itertools
import json
import math

import numpy as np

from gracekit.cache import atomic_write_bytes

__all__ = ["grid", "run_sweep", "summarize", "select", "by_seed", "save_records", "load_records", "METRICS"]

METRICS = ("err_old", "err_new", "nfr", "pfr", "relative_nfr")


def grid(**axes):
    """All combinations of the given settings: grid(lam=[1, 2], beta=[0]) -> [{lam:1, beta:0}, ...]."""
    lists = {}
    for name, values in axes.items():
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise ValueError(f"{name} must be a list of values, got {values!r}")
        lists[name] = list(values)
        if not lists[name]:
            raise ValueError(f"{name} must be a non-empty list of values")
    names = list(lists)
    return [dict(zip(names, combo)) for combo in itertools.product(*(lists[n] for n in names))]


def run_sweep(fn, configs, *, seeds=(0,), progress=False):
    """Call ``fn(**config, seed=seed)`` for every config and seed; return tidy records.

    Args:
        fn: function returning a dict of results (metrics) for one run.
        configs: list of dicts of keyword arguments.
        seeds: seeds to repeat each config with.
        progress: show a tqdm bar.
    Returns:
        list of dicts ``{**config, "seed": seed, **fn(...)}``.
    """
    configs, seeds = list(configs), list(seeds)
    if not configs or not seeds:
        raise ValueError("configs and seeds must both be non-empty")
    from gracekit.config import progress as progress_bar

    runs = [(c, s) for c in configs for s in seeds]
    return [{**c, "seed": s, **fn(**c, seed=s)} for c, s in progress_bar(runs, disable=not progress, desc="sweep")]


def select(records, **where):
    """Records whose fields equal every ``where`` value (floats compared with a relative tolerance)."""
    def match(r):
        for k, v in where.items():
            got = r.get(k)
            if isinstance(v, float) and isinstance(got, (int, float)) and got is not None:
                if not math.isclose(got, v, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif got != v:
                return False
        return True
    return [r for r in records if match(r)]


def by_seed(records, field, **where):
    """The values of ``field`` in the records matching ``where``, ordered by seed (for paired differences)."""
    rows = sorted(select(records, **where), key=lambda r: r["seed"])
    return np.array([r[field] for r in rows], dtype=float)


def summarize(records, by, *, metrics=METRICS):
    """Mean, sample standard deviation and count of ``metrics`` per group of the ``by`` fields.

    Args:
        records: list of dicts.
        by: field names that define a group, e.g. ("method", "lam", "beta").
        metrics: numeric fields to average.
    Returns:
        list of dicts: the group fields, then ``<metric>`` (mean), ``<metric>_sd`` and ``n``,
        in first-seen order.
    """
    if not records:
        raise ValueError("records is empty")
    by = tuple(by)
    groups = {}
    for r in records:
        groups.setdefault(tuple(r.get(k) for k in by), []).append(r)
    out = []
    for key, rows in groups.items():
        row = dict(zip(by, key))
        for m in metrics:
            vals = np.array([r[m] for r in rows if r.get(m) is not None], dtype=float)
            row[m] = float(vals.mean()) if len(vals) else float("nan")
            row[m + "_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        row["n"] = len(rows)
        out.append(row)
    return out


def save_records(records, path, *, meta=None):
    """Write records (and a ``meta`` dict saying how they were made) to a JSON file, atomically."""
    text = json.dumps({"meta": meta or {}, "records": list(records)}, separators=(",", ":"))
    atomic_write_bytes(path, text.encode())


def load_records(path):
    """Read a file written by ``save_records``; return (records, meta)."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file not found: {path}")
    try:
        data = json.loads(path.read_text())
        records, meta = data["records"], data.get("meta", {})
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path.name} is not a sweep file written by save_records ({err})") from None
    if not isinstance(records, list):
        raise ValueError(f"{path.name}: 'records' must be a list")
    return records, meta
