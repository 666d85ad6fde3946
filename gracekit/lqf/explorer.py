"""Notebook 05's head-initialization explorer.

The tangent features of a linearized network pass through the new head: f = W_head phi(x; theta),
so J_theta = W_head d phi / d theta. The explorer moves the head's initial scale and shows the LQF
test accuracy and how much of the tangent kernel each layer contributes. The computation is a plain
object (``HeadInitModel``, precomputed arrays only; the shares come from
``gracekit.lqf.linearize.layer_kernel_shares``); the view (``HeadInitView``) has ``.controls`` and
``.output``; ``show`` builds and displays it. The figures are in ``gracekit.lqf.plots``.
"""
import numpy as np

from gracekit.viz.explorer import ExplorerView, display_view

__all__ = ["HeadInitModel", "HeadInitView", "show"]


class HeadInitModel:
    """Precomputed LQF accuracy and layer kernel shares over a grid of head-init scales.

    Args:
        stds: head-init standard deviations (k,).
        acc_lqf: dict activation -> LQF test accuracy per std (k,).
        shares: dict activation -> kernel-trace shares per std (k, n_layers).
        acc_probe, acc_nonlinear: dict activation -> reference accuracy (float).
        layer_names: names of the layers (n_layers,).
    Used in: notebooks/05_lqf.py
    """

    def __init__(self, stds, acc_lqf, shares, acc_probe, acc_nonlinear, layer_names):
        self.stds = np.asarray(stds, float)
        self.activations = list(acc_lqf)
        if not self.activations:
            raise ValueError("acc_lqf must hold at least one activation")
        for act in self.activations:
            if np.shape(acc_lqf[act]) != self.stds.shape:
                raise ValueError(f"acc_lqf[{act!r}] must have one value per std ({len(self.stds)})")
            if np.shape(shares[act]) != (len(self.stds), len(layer_names)):
                raise ValueError(f"shares[{act!r}] must have shape ({len(self.stds)}, {len(layer_names)})")
        self.acc_lqf = {a: np.asarray(v, float) for a, v in acc_lqf.items()}
        self.shares = {a: np.asarray(v, float) for a, v in shares.items()}
        self.acc_probe, self.acc_nonlinear, self.layer_names = acc_probe, acc_nonlinear, list(layer_names)

    def state(self, activation, index):
        """Everything the view shows at one (activation, std index)."""
        if activation not in self.acc_lqf:
            raise ValueError(f"activation must be one of {self.activations}, got {activation!r}")
        if not 0 <= index < len(self.stds):
            raise ValueError(f"index must lie in [0, {len(self.stds)}), got {index}")
        return {"std": self.stds[index], "acc": self.acc_lqf[activation][index],
                "shares": self.shares[activation][index], "head_share": self.shares[activation][index][-1],
                "probe": self.acc_probe[activation], "nonlinear": self.acc_nonlinear[activation]}


class HeadInitView(ExplorerView):
    """Slider over the head-init scale and a dropdown over the backbone's activation.

    Each backbone's figure is drawn once; a control change redraws only the marker, the bars and the
    bar title over that cached background (``BlitFigure``) and shows the PNG.

    Args:
        model: a HeadInitModel.
        activation: the initial backbone (default the first).
        index: the initial head-scale index (default the middle one).
    """

    def __init__(self, model, *, activation=None, index=None):
        import ipywidgets as w

        super().__init__(model)
        activation = activation or model.activations[0]
        index = len(model.stds) // 2 if index is None else index
        self.activation = w.Dropdown(options=model.activations, value=activation, description="backbone")
        self.slider = w.IntSlider(value=index, min=0, max=len(model.stds) - 1, description="head scale",
                                  readout=False, continuous_update=True)
        self.html = w.HTML()
        self._figures = {act: self._build(act) for act in model.activations}
        self._assemble([w.HBox([self.activation, self.slider]), self.html], watch=[self.activation, self.slider])

    def _build(self, act):
        """The figure of one backbone: static curves drawn once, marker/bars/title left to the blit."""
        import matplotlib.pyplot as plt

        from gracekit.lqf.plots import plot_head_init, plot_layer_shares
        from gracekit.viz.blit import BlitFigure
        from gracekit.viz.style import HIGHLIGHT

        m = self.model
        fig, (ax_acc, ax_bar) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80)
        plt.close(fig)
        plot_head_init(m.stds, m.acc_lqf[act], m.acc_probe[act], m.acc_nonlinear[act], ax=ax_acc)
        (marker,) = ax_acc.plot([], [], "o", ms=13, mfc="none", mec=HIGHLIGHT, mew=2)
        plot_layer_shares(m.shares[act][0], m.layer_names, ax=ax_bar)
        ax_bar.set_title("who carries the tangent kernel (std 0.000)", fontsize=10)
        fig.tight_layout()
        bars = list(ax_bar.patches)
        return {"fig": fig, "marker": marker, "bars": bars, "title": ax_bar.title,
                "blit": BlitFigure(fig, [marker, *bars, ax_bar.title])}

    @property
    def fig(self):
        return self._figures[self.activation.value]["fig"]

    @property
    def bars(self):
        return self._figures[self.activation.value]["bars"]

    def _figure(self):
        return self._figures[self.activation.value]["blit"]

    def _compute(self):
        return self.model.state(self.activation.value, self.slider.value)

    def _draw(self, st):
        self.html.value = (f"head init std <b>{st['std']:g}</b>: LQF test accuracy <b>{100 * st['acc']:.1f}%</b> "
                           f"(linear probe {100 * st['probe']:.1f}%, nonlinear fine-tuning "
                           f"{100 * st['nonlinear']:.1f}%); the head holds {100 * st['head_share']:.1f}% "
                           f"of the tangent kernel")
        view = self._figures[self.activation.value]
        view["marker"].set_data([st["std"]], [100 * st["acc"]])
        for bar, h in zip(view["bars"], st["shares"]):
            bar.set_height(100 * h)
        view["title"].set_text(f"who carries the tangent kernel (std {st['std']:g})")


def show(model, *, activation=None, index=None):
    """Build and display the head-init explorer of a HeadInitModel; return the view.

    Used in: notebooks/05_lqf.py
    """
    return display_view(HeadInitView(model, activation=activation, index=index))
