"""The blend explorer of notebook 01: slide from the old model to the new one, watch the flips.

The computation is a plain object (``BlendModel``) that tests drive directly; the view
(``BlendView``, the kit's ``ExplorerView``) holds ``.controls`` and ``.output`` and only redraws
precomputed arrays; ``show`` builds and displays one.
"""
import numpy as np

from gracekit.metrics import flip_masks, flip_report
from gracekit.viz.explorer import ExplorerView, display_view

__all__ = ["BlendModel", "BlendView", "show"]


def _probs(p, name):
    p = np.asarray(p.detach().cpu().numpy() if hasattr(p, "detach") else p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"{name} must be class probabilities of shape (n, n_classes), got {p.shape}")
    if np.isnan(p).any():
        raise ValueError(f"{name} contains NaN")
    return p


class BlendModel:
    """Predictions of the blend (1 - a) * p_old + a * p_new for a in [0, 1], with their flips.

    Args:
        y_true: test labels (n,).
        p_old, p_new: test-set class probabilities (n, K) of the old and new model.
        X: optional (n, 2) test points, kept for the flip map.
        grid_old, grid_new: optional probabilities on a plotting grid (res, res, K), and
        extent: the grid's (xmin, xmax, ymin, ymax).
        alphas: the blend weights of the precomputed curve.
    Used in: notebooks/01_negative_flips.py
    """

    def __init__(self, y_true, p_old, p_new, X=None, grid_old=None, grid_new=None, extent=None,
                 alphas=np.linspace(0, 1, 21)):
        self.y_true = np.asarray(y_true)
        self.p_old, self.p_new = _probs(p_old, "p_old"), _probs(p_new, "p_new")
        if self.p_old.shape != self.p_new.shape or len(self.y_true) != len(self.p_old):
            raise ValueError(f"p_old {self.p_old.shape}, p_new {self.p_new.shape} and y_true "
                             f"({len(self.y_true)},) must describe the same samples and classes")
        self.X, self.extent = X, extent
        self.grid_old, self.grid_new = grid_old, grid_new
        self.alphas = np.asarray(alphas, dtype=float)
        self.curve = [self.evaluate(a, with_grid=False) for a in self.alphas]

    def predict(self, alpha):
        """Labels of the blend at weight ``alpha`` (0 = old model, 1 = new model)."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        return ((1 - alpha) * self.p_old + alpha * self.p_new).argmax(1)

    def evaluate(self, alpha, with_grid=True):
        """Metrics, flip masks and (optionally) grid labels of the blend at ``alpha``."""
        y_blend = self.predict(alpha)
        y_old = self.p_old.argmax(1)
        rep = flip_report(self.y_true, y_old, y_blend, n_classes=self.p_old.shape[1])
        masks = flip_masks(self.y_true, y_old, y_blend)
        state = {"alpha": float(alpha), "y_pred": y_blend, **rep.rates,
                 "negative": masks["negative"], "positive": masks["positive"]}
        if with_grid and self.grid_new is not None:
            state["grid"] = ((1 - alpha) * self.grid_old + alpha * self.grid_new).argmax(-1)
        return state

    def curve_arrays(self):
        """(err_new, nfr, pfr) along the precomputed blend curve."""
        return tuple(np.array([s[k] for s in self.curve]) for k in ("err_new", "nfr", "pfr"))


class BlendView(ExplorerView):
    """A slider over the blend weight, a line of metrics and the flip map with the trade-off curve.

    Args:
        model: a BlendModel.
        alpha: the initial blend weight.
    """

    def __init__(self, model, *, alpha=1.0):
        import ipywidgets as w
        import matplotlib.pyplot as plt

        from gracekit.flips.plots import plot_flip_map, plot_tradeoff_curve
        from gracekit.viz.blit import BlitFigure
        from gracekit.viz.style import HIGHLIGHT

        super().__init__(model)
        self.slider = w.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05,
                                    description="blend a", continuous_update=True, readout_format=".2f")
        self.html = w.HTML()
        self.fig, (self.ax_map, self.ax_curve) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=80)
        plt.close(self.fig)  # shown through the image widget only
        m = model
        err, nfr, _ = m.curve_arrays()
        plot_tradeoff_curve(err, nfr, ax=self.ax_curve)
        self.ax_curve.set_title("blend curve: a from 0 (old) to 1 (new)")
        (self.marker,) = self.ax_curve.plot([], [], "o", ms=11, mfc="none", mec=HIGHLIGHT, mew=2)
        dynamic, self.region = [], None
        if m.X is not None:
            st = m.evaluate(1.0)
            plot_flip_map(m.X, m.y_true, m.p_old.argmax(1), st["y_pred"], m.extent,
                          m.p_old.argmax(1) if m.grid_old is None else m.grid_old.argmax(-1),
                          st.get("grid"), ax=self.ax_map)
            self.region = self.ax_map.images[0] if self.ax_map.images else None
            self.pos_dots, self.neg_dots = self.ax_map.collections[-2:]
            # the old boundary sits on top of the changing regions, so it is redrawn too
            dynamic = [a for a in (self.region, *self.ax_map.collections, self.ax_map.get_legend()) if a]
        self.fig.tight_layout()
        self.blit = BlitFigure(self.fig, dynamic + [self.marker])
        self._assemble([self.slider, self.html], watch=[self.slider])

    def _compute(self):
        return self.model.evaluate(self.slider.value)

    def _draw(self, st):
        from gracekit.viz.style import FLIP_COLORS

        self.html.value = (f"<b>a = {st['alpha']:.2f}</b> &nbsp; error {100 * st['err_new']:.2f}% "
                           f"(old {100 * st['err_old']:.2f}%) &nbsp; "
                           f"<span style='color:{FLIP_COLORS['negative']}'>NFR {100 * st['nfr']:.2f}%</span>"
                           f" &nbsp; <span style='color:{FLIP_COLORS['positive']}'>PFR {100 * st['pfr']:.2f}%"
                           f"</span> &nbsp; relative NFR {st['relative_nfr']:.2f}")
        self.marker.set_data([100 * st["err_new"]], [100 * st["nfr"]])
        if self.model.X is not None:
            X = self.model.X
            if self.region is not None and "grid" in st:
                self.region.set_data(st["grid"])
            self.neg_dots.set_offsets(X[st["negative"]] if st["negative"].any() else np.empty((0, 2)))
            self.pos_dots.set_offsets(X[st["positive"]] if st["positive"].any() else np.empty((0, 2)))
            texts = self.ax_map.get_legend().get_texts()
            texts[0].set_text(f"positive flips ({st['positive'].sum():,})")
            texts[1].set_text(f"negative flips ({st['negative'].sum():,})")


def show(model, *, alpha=1.0):
    """Build and display the blend explorer of a BlendModel; return the view.

    Used in: notebooks/01_negative_flips.py
    """
    return display_view(BlendView(model, alpha=alpha))
