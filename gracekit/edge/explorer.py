"""Pick an edge query model under a query-cost budget (notebook 04's explorer).

``EdgeBudgetModel`` is the plain model behind the widget: the best compatible edge under a FLOPs
budget, its gap to the paragon and its speed-ups; its rows come from ``gracekit.edge.sweep.summarize``.
``EdgeBudgetView`` holds the widgets (``.controls``, ``.output``); ``show`` displays one. The figures
are in ``gracekit.edge.plots``.
"""
import numpy as np

from gracekit.viz.explorer import ExplorerView, display_view

__all__ = ["EdgeBudgetModel", "EdgeBudgetView", "show"]


class EdgeBudgetModel:
    """The best compatible edge under a query-FLOPs budget (precomputed candidates only).

    Args:
        candidates: dicts with name, flops, edge_cloud (mean top-1 against the cloud gallery) and
            optionally latency_ms {batch size: ms} and cloud_cloud (the paragon on the same gallery
            draws, used for that candidate's gap) (e.g. rows of ``gracekit.edge.sweep.summarize``).
        paragon: cloud/cloud top-1 (the large model searching its own gallery); the default gap reference.
        cloud_flops: the cloud's FLOPs per query; cloud_latency_ms: {batch size: ms} of the cloud.
    """

    def __init__(self, candidates, paragon, cloud_flops, *, cloud_latency_ms=None):
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
    def from_rows(cls, rows, costs, *, method=None):
        """Build from ``summarize`` rows (of one ``method``, or every method when None) and the costs."""
        rows = [r for r in rows if method is None or r["method"] == method]
        rows = [r for r in rows if r["method"] != "independent"]
        if not rows:
            raise ValueError(f"no compatible rows for method={method!r}")
        c = costs["cloud"]
        paragon = float(np.mean([r["cloud_cloud"] for r in rows]))
        return cls(rows, paragon, c["flops"], cloud_latency_ms=c.get("latency_ms"))

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


class EdgeBudgetView(ExplorerView):
    """A budget slider (log10 MFLOPs) over an EdgeBudgetModel; redraws by blitting.

    The scatter of every candidate is drawn once; a slider change moves the budget line and the ring on
    the chosen edge and rewrites the title over that background (``BlitFigure``).

    Args:
        model: an EdgeBudgetModel.
        start: the initial budget in FLOPs (default the middle of the slider's range).
    """

    def __init__(self, model, *, start=None):
        import ipywidgets as w
        import matplotlib.pyplot as plt

        from gracekit.edge.plots import plot_budget_candidates
        from gracekit.viz.blit import BlitFigure
        from gracekit.viz.style import HIGHLIGHT

        super().__init__(model)
        lo, hi = model.budget_range
        lo_log, hi_log = np.log10(lo / 1e6), np.log10(hi / 1e6)
        value = np.clip(np.log10(start / 1e6), lo_log, hi_log) if start is not None else (lo_log + hi_log) / 2
        self.slider = w.FloatSlider(value=float(value), min=float(lo_log), max=float(hi_log), step=0.01,
                                    description="budget", readout=False, continuous_update=True,
                                    style={"description_width": "initial"}, layout=w.Layout(width="360px"))
        self.label = w.Label(layout=w.Layout(width="260px"))  # room for "budget 24.25 MFLOPs (log scale)"
        self.summary = w.HTML()
        self.fig, ax = plt.subplots(figsize=(9.5, 4.2), dpi=80)
        plt.close(self.fig)  # shown through the image widget only
        plot_budget_candidates(model.candidates, model.paragon, model.cloud_flops, ax=ax)
        self._vline = ax.axvline(lo, color=HIGHLIGHT, lw=1.5, ls="-.")
        self._ring = ax.plot([], [], "o", ms=16, mfc="none", mec=HIGHLIGHT, mew=2)[0]
        # the longest title the view writes, so tight_layout leaves room for every one (no clipping)
        self._title = ax.set_title("24/48/48/48 (independent): -100.0 pts, 100.0x fewer FLOPs", fontsize=9)
        self.fig.tight_layout()
        self.blit = BlitFigure(self.fig, [self._vline, self._ring, self._title, ax.get_legend()])  # legend on top
        self._assemble([w.HBox([self.slider, self.label]), self.summary], watch=[self.slider])

    @property
    def budget(self):
        """The budget in FLOPs the slider is at."""
        lo, hi = self.model.budget_range
        if self.slider.value <= self.slider.min + 1e-9:
            return lo
        return min(hi, max(lo, 1e6 * 10 ** self.slider.value))

    def _compute(self):
        return self.model.summary(self.budget)

    def _draw(self, s):
        c = s["choice"]
        self.label.value = f"{s['budget'] / 1e6:.2f} MFLOPs per query (log scale)"
        self.summary.value = f"<b>{self.model.describe(s['budget'])}</b>"
        self._vline.set_xdata([s["budget"], s["budget"]])
        self._ring.set_data(([c["flops"]], [c["edge_cloud"]]) if c else ([], []))
        self._title.set_text("no edge fits this budget" if c is None else
                             f"{c['name']} ({c.get('method', 'edge')}): {s['gap_points']:+.1f} pts, "
                             f"{s['flops_speedup']:.1f}x fewer FLOPs")


def show(model, *, start=None):
    """Build and display the query-budget explorer of an EdgeBudgetModel; return the view.

    Args:
        model: an ``EdgeBudgetModel``; start: initial budget in FLOPs.
    Used in: notebooks/04_edge_cloud.py
    """
    return display_view(EdgeBudgetView(model, start=start))
