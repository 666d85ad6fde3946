"""Pick an edge query model under a query-cost budget; plot retrieval accuracy against query FLOPs.

``summarize`` turns a sweep (records + costs, as written by ``tools/make_edge_cloud.py``) into one row
per edge architecture and training method (mean and sd over seeds). ``EdgeBudget`` is the plain model
behind the widget: the best compatible edge under a FLOPs budget, its gap to the paragon and its
speed-ups. ``EdgeBudgetView`` holds the widgets (``.controls``, ``.output``); ``show`` displays one.
"""
import numpy as np

__all__ = ["summarize", "EdgeBudget", "EdgeBudgetView", "show", "plot_accuracy_vs_flops", "plot_latency_vs_flops"]


def _arch(widths):
    return "x".join(str(int(w)) for w in widths)


def summarize(records, costs, grid=None):
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


class EdgeBudget:
    """The best compatible edge under a query-FLOPs budget (precomputed candidates only).

    Args:
        candidates: dicts with name, flops, edge_cloud (mean top-1 against the cloud gallery) and
            optionally latency_ms {batch size: ms} and cloud_cloud (the paragon on the same gallery
            draws, used for that candidate's gap) (e.g. rows of ``summarize``).
        paragon: cloud/cloud top-1 (the large model searching its own gallery); the default gap reference.
        cloud_flops: the cloud's FLOPs per query; cloud_latency_ms: {batch size: ms} of the cloud.
    """

    def __init__(self, candidates, paragon, cloud_flops, cloud_latency_ms=None):
        self.candidates = sorted([dict(c) for c in candidates], key=lambda c: c["flops"])
        if not self.candidates:
            raise ValueError("candidates must hold at least one edge")
        for c in self.candidates:
            flops, acc = c.get("flops", np.nan), c.get("edge_cloud", np.nan)
            if not (np.isfinite(flops) and flops > 0 and np.isfinite(acc)):
                raise ValueError(f"candidates need finite flops > 0 and edge_cloud, got {c}")
        if not (np.isfinite(paragon) and np.isfinite(cloud_flops) and cloud_flops > 0):
            raise ValueError("paragon and cloud_flops must be finite (cloud_flops > 0)")
        self.paragon, self.cloud_flops = float(paragon), float(cloud_flops)
        self.cloud_latency_ms = {int(b): float(v) for b, v in (cloud_latency_ms or {}).items()}

    @classmethod
    def from_rows(cls, rows, costs, method=None):
        """Build from ``summarize`` rows (of one ``method``, or every method when None) and the costs."""
        rows = [r for r in rows if method is None or r["method"] == method]
        rows = [r for r in rows if r["method"] != "independent"]
        if not rows:
            raise ValueError(f"no compatible rows for method={method!r}")
        c = costs["cloud"]
        return cls(rows, float(np.mean([r["cloud_cloud"] for r in rows])), c["flops"], c.get("latency_ms"))

    @property
    def budget_range(self):
        """(smallest candidate FLOPs, cloud FLOPs)."""
        return self.candidates[0]["flops"], max(self.cloud_flops, self.candidates[-1]["flops"])

    def gap(self, candidate):
        """edge->cloud minus the paragon (a fraction; negative = below), on the candidate's own draws."""
        return candidate["edge_cloud"] - candidate.get("cloud_cloud", self.paragon)

    def best_under(self, budget):
        """The most accurate candidate with flops <= budget (cheaper wins a tie), or None."""
        if not np.isfinite(budget) or budget <= 0:
            raise ValueError(f"budget must be a positive number of FLOPs, got {budget!r}")
        fits = [c for c in self.candidates if c["flops"] <= budget * (1 + 1e-9)]
        return max(fits, key=lambda c: (c["edge_cloud"], -c["flops"])) if fits else None

    def cheapest_within(self, gap):
        """The cheapest candidate whose edge->cloud top-1 is within ``gap`` (a fraction) of the paragon."""
        if not np.isfinite(gap) or gap < 0:
            raise ValueError(f"gap must be a number >= 0 (a fraction, 0.02 = 2 points), got {gap!r}")
        fits = [c for c in self.candidates if -self.gap(c) <= gap + 1e-12]
        return min(fits, key=lambda c: c["flops"]) if fits else None

    def summary(self, budget):
        """The choice under ``budget``: candidate, gap to the paragon (points) and speed-ups vs the cloud."""
        c = self.best_under(budget)
        if c is None:
            return {"budget": float(budget), "choice": None}
        lat = {b: self.cloud_latency_ms[b] / ms for b, ms in c.get("latency_ms", {}).items()
               if b in self.cloud_latency_ms and ms > 0}
        return {"budget": float(budget), "choice": c, "gap_points": 100 * self.gap(c),
                "flops_speedup": self.cloud_flops / c["flops"], "latency_speedup": lat}

    def describe(self, budget):
        """One HTML-free line of text for the choice under ``budget``."""
        s = self.summary(budget)
        if s["choice"] is None:
            return (f"budget {budget / 1e6:.2f} MFLOPs: no edge fits (the smallest needs "
                    f"{self.candidates[0]['flops'] / 1e6:.2f} MFLOPs)")
        c = s["choice"]
        lat = ", ".join(f"{v:.1f}x at batch {b}" for b, v in sorted(s["latency_speedup"].items()))
        return (f"budget {budget / 1e6:.2f} MFLOPs -> edge {c['name']} ({c.get('method', '')}, "
                f"{c['flops'] / 1e6:.2f} MFLOPs): edge->cloud top-1 {c['edge_cloud']:.3f} vs paragon "
                f"{c.get('cloud_cloud', self.paragon):.3f} ({s['gap_points']:+.1f} points); "
                f"{s['flops_speedup']:.1f}x fewer FLOPs"
                + (f"; measured latency {lat}" if lat else ""))


def plot_accuracy_vs_flops(curves, paragon=None, cloud_flops=None, chance=None, ax=None, budget=None):
    """Top-1 against query FLOPs (log axis), one line per curve; returns the Figure.

    Args:
        curves: dict label -> (flops, accuracy) or (flops, accuracy, sd) sequences.
        paragon: cloud/cloud top-1, drawn as a star at ``cloud_flops`` and a dotted line.
        chance: drawn as a grey line. budget: a vertical line at this many FLOPs.
    Used in: notebooks/04_edge_cloud.py
    """
    import matplotlib.pyplot as plt

    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict label -> (flops, accuracy[, sd])")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 4.2))
    for i, (label, val) in enumerate(curves.items()):
        f, a = np.asarray(val[0], float), np.asarray(val[1], float)
        if f.shape != a.shape or f.ndim != 1 or (f <= 0).any():
            raise ValueError(f"curve {label!r}: flops must be positive and match accuracy in length")
        sd = np.asarray(val[2], float) if len(val) > 2 and val[2] is not None else None
        order = np.argsort(f)
        ax.errorbar(f[order], a[order], yerr=None if sd is None else sd[order], marker="os^vD<>"[i % 7],
                    capsize=3, label=label, ls="--" if "edge/edge" in label else "-")
    if paragon is not None and cloud_flops is not None:
        ax.plot([cloud_flops], [paragon], marker="*", ms=14, color="k", ls="none", label="cloud/cloud (paragon)")
        ax.axhline(paragon, color="k", ls=":", lw=1)
    if chance is not None:
        ax.axhline(chance, color="grey", lw=1, label=f"chance ({chance:.2f})")
    if budget is not None:
        ax.axvline(budget, color="C3", lw=1.5, label="budget")
    ax.set_xscale("log")
    ax.set_xlabel("query FLOPs per image (log scale)")
    ax.set_ylabel("top-1 retrieval")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_latency_vs_flops(flops, latency, labels=None, ax=None):
    """Measured ms per query against FLOPs per query (log-log), one line per batch size; returns the Figure.

    Args:
        flops: FLOPs per query of each model.
        latency: dict batch size -> ms per query of each model (same order as flops).
        labels: optional model names written beside the points.
    Used in: notebooks/04_edge_cloud.py
    """
    import matplotlib.pyplot as plt

    f = np.asarray(flops, float)
    if f.ndim != 1 or len(f) == 0 or (f <= 0).any():
        raise ValueError("flops must be a non-empty 1-D array of positive numbers")
    if not isinstance(latency, dict) or any(len(v) != len(f) for v in latency.values()):
        raise ValueError("latency must be a dict batch size -> one ms-per-query value per model")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.8))
    order = np.argsort(f)
    for b, ms in sorted(latency.items()):
        ms = np.asarray(ms, float)
        ax.plot(f[order], ms[order], marker="o", label=f"batch {b}: ms per query")
    ref = np.asarray(latency[max(latency)], float)[order]
    ax.plot(f[order], ref[-1] * f[order] / f[order][-1], color="grey", ls=":", label="proportional to FLOPs")
    if labels is not None:
        for x, yv, t in zip(f, np.asarray(latency[min(latency)], float), labels):
            ax.annotate(t, (x, yv), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("query FLOPs per image")
    ax.set_ylabel("ms per query (median)")
    ax.legend(fontsize=8)
    return fig


class EdgeBudgetView:
    """A budget slider (log10 MFLOPs) over an EdgeBudget; redraws by blitting onto a cached background.

    The scatter of every candidate is drawn once; a slider change moves the budget line and the ring on
    the chosen edge, then sends a PNG to an HTML widget, so a redraw takes tens of milliseconds.
    """

    def __init__(self, budget_model, start=None):
        import ipywidgets as w
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.model = budget_model
        lo, hi = budget_model.budget_range
        lo_log, hi_log = np.log10(lo / 1e6), np.log10(hi / 1e6)
        value = np.clip(np.log10(start / 1e6), lo_log, hi_log) if start is not None else (lo_log + hi_log) / 2
        self.slider = w.FloatSlider(value=float(value), min=float(lo_log), max=float(hi_log), step=0.01,
                                    description="log10 MFLOPs", readout=False, continuous_update=True)
        self.label = w.Label()
        self.summary = w.HTML()
        self.controls = w.VBox([w.HBox([self.slider, self.label]), self.summary])
        self.image = w.HTML()
        self.output = w.Output()
        self.fig = Figure(figsize=(7, 4))
        self._canvas = FigureCanvasAgg(self.fig)
        ax = self.fig.add_subplot()
        for i, method in enumerate(dict.fromkeys(c.get("method", "edge") for c in budget_model.candidates)):
            cs = [c for c in budget_model.candidates if c.get("method", "edge") == method]
            ax.plot([c["flops"] for c in cs], [c["edge_cloud"] for c in cs], "o", color=f"C{i}", alpha=0.7,
                    label=f"edge->cloud, {method}")
        ax.plot([budget_model.cloud_flops], [budget_model.paragon], "k*", ms=13, label="cloud/cloud (paragon)")
        ax.axhline(budget_model.paragon, color="k", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("query FLOPs per image")
        ax.set_ylabel("top-1 retrieval")
        ax.legend(fontsize=8, loc="lower right")
        self._vline = ax.axvline(lo, color="C3", lw=1.5, animated=True)
        self._ring = ax.plot([], [], "o", ms=16, mfc="none", mec="C3", mew=2, animated=True)[0]
        self._title = ax.set_title("", fontsize=9, animated=True)
        self.fig.tight_layout()
        self._canvas.draw()
        self._background = self._canvas.copy_from_bbox(self.fig.bbox)
        self.output.append_display_data(self.image)
        self.slider.observe(lambda change: self.update(), names="value")
        self.update()

    @property
    def budget(self):
        """The budget in FLOPs the slider is at."""
        lo, hi = self.model.budget_range
        if self.slider.value <= self.slider.min + 1e-9:
            return lo
        return min(hi, max(lo, 1e6 * 10 ** self.slider.value))

    def update(self):
        """Pick the edge under the current budget, refresh text and figure; return the summary."""
        s = self.model.summary(self.budget)
        self.label.value = f"budget {self.budget / 1e6:.2f} MFLOPs"
        text = self.model.describe(self.budget)
        self.summary.value = f"<b>{text}</b>"
        c = s["choice"]
        self._vline.set_xdata([self.budget, self.budget])
        self._ring.set_data(([c["flops"]], [c["edge_cloud"]]) if c else ([], []))
        self._title.set_text("no edge fits this budget" if c is None else
                             f"{c['name']}: {s['gap_points']:+.1f} pts, {s['flops_speedup']:.1f}x fewer FLOPs")
        self.image.value = f'<img src="data:image/png;base64,{self.render_png()}"/>'
        return s

    def render_png(self):
        """Blit the budget line, ring and title onto the cached background; return base64 PNG text."""
        import base64
        import io

        from PIL import Image

        self._canvas.restore_region(self._background)
        for a in (self._vline, self._ring, self._title):
            self.fig.draw_artist(a)
        buf = io.BytesIO()
        Image.fromarray(np.asarray(self._canvas.buffer_rgba())).save(buf, format="PNG", compress_level=1)
        return base64.b64encode(buf.getvalue()).decode()


def show(budget_model, start=None):
    """Build the query-budget explorer, display it and return the view.

    Args:
        budget_model: an ``EdgeBudget``; start: initial budget in FLOPs.
    Used in: notebooks/04_edge_cloud.py
    """
    import ipywidgets as w
    from IPython.display import display

    view = EdgeBudgetView(budget_model, start)
    display(w.VBox([view.controls, view.output]))
    return view
