"""Aggregate an edge/cloud sweep: one row per edge architecture and training method.

``summarize`` joins the sweep's records (as written by ``tools/make_edge_cloud.py``) with the measured
query costs and averages over seeds; the explorer and the figures of notebook 04 read its rows.
"""
import numpy as np

__all__ = ["summarize"]


def _arch(widths):
    return "x".join(str(int(w)) for w in widths)


def summarize(records, costs, *, grid=None):
    """Mean and sd over seeds of each (architecture, method), joined with its query cost.

    Args:
        records: dicts with seed, method, widths, grid, edge_edge, edge_cloud, cloud_cloud.
        costs: dict architecture ("4x8x8x8", and "cloud") -> {flops, params, latency_ms {batch: ms}}.
        grid: None for all records, True/False for grid-search records only / main records only.
    Returns:
        list of dicts (sorted by FLOPs, then method) with name, widths, method, n, flops, params,
        latency_ms, edge_cloud, edge_cloud_sd, edge_edge, edge_edge_sd, cloud_cloud.
    Used in: notebooks/04_edge_cloud.py
    """
    if not records:
        raise ValueError("records must be a non-empty list of sweep records")
    if not isinstance(costs, dict) or "cloud" not in costs:
        raise ValueError("costs must be a dict with a 'cloud' entry and one per edge architecture")
    groups = {}
    for r in records:
        if grid is not None and bool(r.get("grid", False)) != grid:
            continue
        groups.setdefault((_arch(r["widths"]), r["method"]), []).append(r)
    rows = []
    for (arch, method), rs in groups.items():
        if arch not in costs:
            raise ValueError(f"costs has no entry for architecture {arch}")
        c = costs[arch]
        sd = lambda k: float(np.std([r[k] for r in rs], ddof=1)) if len(rs) > 1 else 0.0  # noqa: E731
        rows.append({"name": f"{'/'.join(arch.split('x'))}", "arch": arch, "widths": list(rs[0]["widths"]),
                     "method": method, "n": len(rs), "flops": float(c["flops"]), "params": int(c["params"]),
                     "latency_ms": {int(b): float(v) for b, v in c["latency_ms"].items()},
                     "edge_cloud": float(np.mean([r["edge_cloud"] for r in rs])), "edge_cloud_sd": sd("edge_cloud"),
                     "edge_edge": float(np.mean([r["edge_edge"] for r in rs])), "edge_edge_sd": sd("edge_edge"),
                     "cloud_cloud": float(np.mean([r["cloud_cloud"] for r in rs]))})
    if not rows:
        raise ValueError(f"no records with grid={grid}")
    return sorted(rows, key=lambda r: (r["flops"], r["method"]))
