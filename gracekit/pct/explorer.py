"""The accuracy-versus-NFR trade-off explorer of notebook 02 (precomputed sweep, instant redraw).

``PCTModel`` (plain Python) turns sweep records (``gracekit.pct.experiment.run_pct_sweep`` or
``load_records``) into seed-averaged points; ``PCTView`` shows them with core ipywidgets: a method
dropdown, a lambda slider (ensemble size for "ensemble") and a beta selector; ``show`` builds and
displays one. ``gracekit.pct.plots`` draws the same content as static figures.
"""
import numpy as np

from gracekit.pct.plots import METHOD_LABELS  # plain data; the plots module loads matplotlib lazily
from gracekit.sweeps import summarize
from gracekit.viz.explorer import ExplorerView, display_view

__all__ = ["PCTModel", "PCTView", "show"]

_REQUIRED = ("method", "seed", "err_old", "err_new", "nfr", "pfr", "relative_nfr", "n_per_class",
             "nf_per_class", "pf_per_class")
_BY = ("method", "lam", "beta", "size")


class PCTModel:
    """Seed-averaged sweep points, looked up by method, lambda (or ensemble size) and beta.

    Args:
        records: tidy records with the fields of ``run_pct_sweep`` (several seeds per point).
        default_beta: the beta whose lambda curve is drawn for the FD methods (paper: 5).
    Used in: notebooks/02_pc_training.py
    """

    def __init__(self, records, default_beta=5.0):
        records = list(records)
        if not records:
            raise ValueError("records is empty; expected a PC-training sweep")
        missing = [f for f in _REQUIRED if f not in records[0]]
        if missing:
            raise ValueError(f"records lack the fields {missing}; expected run_pct_sweep records")
        records = [{"lam": 0.0, "beta": 0.0, "size": 1, **r} for r in records]
        if not any(r["method"] == "none" for r in records):
            raise ValueError("records need the 'none' (unconstrained) baseline")
        self.default_beta = float(default_beta)
        self.points = {}
        for row in summarize(records, _BY):
            rows = [r for r in records if tuple(r[k] for k in _BY) == tuple(row[k] for k in _BY)]
            n = np.sum([r["n_per_class"] for r in rows], axis=0).astype(float)
            row["nf_class"] = np.sum([r["nf_per_class"] for r in rows], axis=0) / np.maximum(n, 1)
            row["pf_class"] = np.sum([r["pf_per_class"] for r in rows], axis=0) / np.maximum(n, 1)
            self.points[tuple(row[k] for k in _BY)] = row
        self.methods = [m for m in METHOD_LABELS if any(k[0] == m for k in self.points)]
        self.baseline = self._points("none")[0]

    def _points(self, method):
        return [p for k, p in sorted(self.points.items(), key=lambda kv: kv[0][1:]) if k[0] == method]

    def _base(self, method):  # what a method's changes are measured against
        return self._points("ensemble")[0] if method == "ensemble" else self.baseline

    def knobs(self, method):
        """The values the slider steps through: lambdas, or ensemble sizes for "ensemble"."""
        return sorted({p[_field(method)] for p in self._points(self._check(method))})

    def betas(self, method):
        """The beta values swept for ``method`` (one value for methods without a beta)."""
        return sorted({p["beta"] for p in self._points(self._check(method))})

    def _check(self, method):
        if method not in self.methods:
            raise ValueError(f"method must be one of {self.methods}, got {method!r}")
        return method

    def point(self, method, knob=None, beta=None):
        """The seed-averaged point nearest to (knob, beta) for ``method``, with changes vs "none".

        Returns:
            dict with err_old, err_new, nfr, pfr, relative_nfr (means), their ``_sd``, n (seeds),
            nf_class / pf_class (per-class flip rates), and nfr_change (relative to "none").
        """
        pts, field = self._points(self._check(method)), _field(method)
        knob = pts[0][field] if knob is None else knob
        beta = (self.default_beta if self.default_beta in self.betas(method) else pts[0]["beta"]) \
            if beta is None else beta
        best = min(pts, key=lambda p: (abs(np.log10(p["beta"] + 1) - np.log10(beta + 1)),
                                       abs(np.log10(p[field] + 1e-6) - np.log10(knob + 1e-6))))
        base = self._base(method)
        return {**best, "nfr_change": best["nfr"] / base["nfr"] - 1 if base["nfr"] > 0 else float("nan"),
                "relative_nfr_change": best["relative_nfr"] / base["relative_nfr"] - 1,
                "baseline": base}

    def best_point(self, method, max_err_rise=0.01, beta=None):
        """The point of ``method`` with the lowest mean NFR whose mean error is at most ``max_err_rise``
        above the baseline's (the unconstrained model; single models for "ensemble"), or None.

        The choice is made on the test set the sweep reports, so it is optimistic; a held-out
        validation split is the rigorous way to pick lambda.
        """
        limit = self._base(method)["err_new"] + max_err_rise
        ok = [p for p in self._points(self._check(method))
              if (beta is None or p["beta"] == beta) and p["err_new"] <= limit]
        best = min(ok, key=lambda p: p["nfr"]) if ok else None
        return None if best is None else self.point(method, best[_field(method)], best["beta"])

    def curve(self, method, beta=None):
        """Arrays (knob, err_new, nfr, err_new_sd, nfr_sd) along the knob at one beta."""
        betas = self.betas(method)
        beta = (self.default_beta if self.default_beta in betas else betas[0]) if beta is None else beta
        beta = min(betas, key=lambda b: abs(b - beta))
        pts = [p for p in self._points(method) if p["beta"] == beta]
        return tuple(np.array([p[f] for p in pts])
                     for f in (_field(method), "err_new", "nfr", "err_new_sd", "nfr_sd"))


def _field(method):
    return "size" if method == "ensemble" else "lam"


class PCTView(ExplorerView):
    """Widgets over a PCTModel: method, lambda (or ensemble size) and beta; a summary line; the figure.

    The static parts of the figure are rendered once; a change of the controls redraws only the
    ring, the selected curve, the bars and the title onto that background (``BlitFigure``).

    Args:
        model: a PCTModel.
        method, knob, beta: the initial selection (knob: lambda, or ensemble size).
    """

    def __init__(self, model, *, method="fd_lm", knob=None, beta=None):
        import ipywidgets as w

        from gracekit.pct.plots import dynamic_artists, explorer_figure
        from gracekit.viz.blit import BlitFigure

        super().__init__(model)
        method = method if method in model.methods else model.methods[0]
        self.method = w.Dropdown(options=[(METHOD_LABELS[m], m) for m in model.methods], value=method,
                                 description="method")
        self.knob = w.IntSlider(min=0, max=0, value=0, description="lambda", readout=False,
                                continuous_update=True)
        self.knob_label = w.Label()
        self.beta = w.Dropdown(options=[0.0], value=0.0, description="beta")
        self.summary = w.HTML()
        self.fig, self._artists = explorer_figure(model, pyplot=False)
        self.blit = BlitFigure(self.fig, dynamic_artists(self._artists))
        self._busy = False
        self._sync_options(method, knob, beta)
        self.method.observe(self._on_method, names="value")
        self.knob.observe(self._on_change, names="value")
        self.beta.observe(self._on_change, names="value")
        self._assemble([w.HBox([self.method, self.beta]), w.HBox([self.knob, self.knob_label]), self.summary])

    def _sync_options(self, method, knob=None, beta=None):
        self._busy = True
        knobs, betas = self.model.knobs(method), self.model.betas(method)
        self.knob.max = len(knobs) - 1
        self.knob.value = int(np.argmin([abs(k - knob) for k in knobs])) if knob is not None else 0
        self.knob.description = "ens. size" if method == "ensemble" else "lambda"
        self.knob.disabled = len(knobs) == 1
        self.beta.options = [(f"{b:g}", b) for b in betas]
        default = self.model.default_beta if self.model.default_beta in betas else betas[0]
        self.beta.value = min(betas, key=lambda b: abs(b - (default if beta is None else beta)))
        self.beta.disabled = len(betas) == 1
        self._busy = False

    def _on_method(self, change):
        self._sync_options(change["new"])
        self.update()

    def _on_change(self, change):
        if not self._busy:
            self.update()

    def _compute(self):
        method = self.method.value
        knob = self.model.knobs(method)[self.knob.value]
        return {"method": method, "knob": knob, "beta": self.beta.value,
                "point": self.model.point(method, knob, self.beta.value)}

    def _draw(self, st):
        from gracekit.pct.plots import show_point

        show_point(self.model, self._artists, st["method"], st["knob"], st["beta"])
        self.knob_label.value = (f"{st['knob']:g} models" if st["method"] == "ensemble"
                                 else f"lambda = {st['knob']:g}")
        self.summary.value = _summary_html(st["method"], st["point"])


def _summary_html(method, p):
    sd = lambda m: f"{100 * p[m]:.2f} ± {100 * p[m + '_sd']:.2f}%"  # noqa: E731
    base = "single models" if method == "ensemble" else "unconstrained new model"
    return (f"<b>{METHOD_LABELS[method]}</b> (mean ± sd over {p['n']} seeds): "
            f"Err_old {100 * p['err_old']:.2f}% &nbsp; Err_new {sd('err_new')} &nbsp; NFR {sd('nfr')} &nbsp; "
            f"PFR {sd('pfr')} &nbsp; relative NFR {p['relative_nfr']:.3f}<br>"
            f"NFR change vs {base}: {100 * p['nfr_change']:+.0f}% &nbsp; relative NFR change: "
            f"{100 * p['relative_nfr_change']:+.0f}%")


def show(model, *, method="fd_lm", knob=None, beta=None):
    """Build and display the trade-off explorer of a PCTModel; return the view.

    Args:
        model: a PCTModel (``PCTModel(load_records(...)[0])`` or ``PCTModel(run_pct_sweep(...))``).
        method, knob, beta: the initial selection.
    Returns:
        the PCTView.
    Used in: notebooks/02_pc_training.py
    """
    return display_view(PCTView(model, method=method, knob=knob, beta=beta))
