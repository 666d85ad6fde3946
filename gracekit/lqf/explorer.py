"""Notebook 05's figures and its head-initialization explorer.

The tangent features of a linearized network pass through the new head: f = W_head phi(x; theta),
so J_theta = W_head d phi / d theta. The explorer moves the head's initial scale and shows the LQF
test accuracy and how much of the tangent kernel each layer contributes. The computation is a plain
object (``HeadInitModel``, precomputed arrays only); the view (``HeadInitExplorer``) has
``.controls`` and ``.output``; ``show_head_init_explorer`` builds and displays it.
"""
import time

import matplotlib.pyplot as plt
import numpy as np

from gracekit.lqf.linearize import Linearized

__all__ = ["layer_kernel_shares", "plot_convergence", "plot_head_init", "plot_layer_shares",
           "HeadInitModel", "HeadInitExplorer", "show_head_init_explorer"]


def layer_kernel_shares(model, X):
    """Share of the tangent kernel's trace contributed by each nn.Linear layer of ``model`` at X.

    trace(J J^T) = sum over layers of sum_i sum_k ||a_i||^2 ||g_ik||^2 (see Linearized.linear_layer_grads).
    Returns:
        NumPy array (n_layers,) summing to 1.
    Used in: notebooks/05_lqf.py
    """
    stats = Linearized(model).linear_layer_grads(X)
    if stats is None:
        raise ValueError("model must keep all its weights in nn.Linear layers")
    tr = np.array([float(((a ** 2).sum(1)[:, None] * (g ** 2).sum(2)).sum()) for a, g in stats])
    return tr / tr.sum()


def plot_convergence(curves, tol=1e-3, ax=None, title="normalized loss gap (L - L*) / (L0 - L*)"):
    """Log-log curves of the normalized gap against steps, one per method, with the tolerance line.

    Args:
        curves: dict name -> (steps array, gap array).
        tol: horizontal reference line.
    Returns:
        the matplotlib Figure.
    Used in: notebooks/05_lqf.py
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict name -> (steps, gaps)")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    for name, (steps, gaps) in curves.items():
        steps, gaps = np.asarray(steps, float), np.asarray(gaps, float)
        keep = (steps > 0) & (gaps > 0)
        ax.loglog(steps[keep], gaps[keep], label=name, lw=2)
    ax.axhline(tol, color="gray", ls=":", lw=1)
    ax.set_xlabel("full-batch steps")
    ax.set_ylabel("normalized gap")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_head_init(stds, acc_lqf, acc_probe=None, acc_nonlinear=None, ax=None, label="LQF"):
    """LQF test accuracy against the new head's initial scale (log x), with reference lines."""
    stds, acc_lqf = np.asarray(stds, float), np.asarray(acc_lqf, float)
    if stds.shape != acc_lqf.shape or stds.ndim != 1 or (stds <= 0).any():
        raise ValueError("stds and acc_lqf must be 1-D of equal length, with stds > 0")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 3.6))
    ax.semilogx(stds, 100 * acc_lqf, "o-", lw=2, label=label)
    if acc_probe is not None:
        ax.axhline(100 * acc_probe, color="#ff7f0e", ls="--", label="linear probe")
    if acc_nonlinear is not None:
        ax.axhline(100 * acc_nonlinear, color="#2ca02c", ls="--", label="nonlinear fine-tuning")
    ax.set_xlabel("std of the new head's initial weights")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_layer_shares(shares, names=None, ax=None):
    """Bar chart of each layer's share of the tangent kernel's trace (in %)."""
    shares = np.asarray(shares, float)
    names = names or [f"layer {i + 1}" for i in range(len(shares))]
    if len(names) != len(shares):
        raise ValueError(f"names has {len(names)} entries for {len(shares)} shares")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4, 3.6))
    ax.bar(names, 100 * shares, color=["#1f77b4"] * (len(shares) - 1) + ["#d62728"])
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of trace(J J^T) (%)")
    return fig


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


class HeadInitExplorer:
    """Slider over the head-init scale and a dropdown over the backbone's activation.

    Each backbone's figure is drawn once; a control change redraws only the marker, the bars and the
    bar title over that cached background (``gracekit.viz.blit``) and shows the PNG.
    """

    def __init__(self, model, activation=None, index=None):
        import ipywidgets as w

        self.model = model
        activation = activation or model.activations[0]
        index = len(model.stds) // 2 if index is None else index
        self.activation = w.Dropdown(options=model.activations, value=activation, description="backbone")
        self.slider = w.IntSlider(value=index, min=0, max=len(model.stds) - 1, description="head scale",
                                  readout=False, continuous_update=True)
        self.html = w.HTML()
        self.controls = w.VBox([w.HBox([self.activation, self.slider]), self.html])
        self.image = w.HTML()
        self.output = w.Output()
        self.output.append_display_data(self.image)
        self.last_redraw_ms = float("nan")
        self._figures = {act: self._build(act) for act in model.activations}
        self.activation.observe(lambda c: self.update(), names="value")
        self.slider.observe(lambda c: self.update(), names="value")
        self.update()

    def _build(self, act):
        """The figure of one backbone: static curves drawn once, marker/bars/title left to the blit."""
        from gracekit.viz.blit import BlitFigure

        m = self.model
        fig, (ax_acc, ax_bar) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80)
        plt.close(fig)
        plot_head_init(m.stds, m.acc_lqf[act], m.acc_probe[act], m.acc_nonlinear[act], ax=ax_acc)
        (marker,) = ax_acc.plot([], [], "o", ms=13, mfc="none", mec="#d62728", mew=2)
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

    def render_png(self):
        """Redraw the changing artists of the current backbone's figure; PNG bytes (what the page shows)."""
        return self._figures[self.activation.value]["blit"].png()

    def update(self):
        """Redraw for the current controls; records ``last_redraw_ms``."""
        import base64

        start = time.perf_counter()
        st = self.model.state(self.activation.value, self.slider.value)
        self.html.value = (f"head init std <b>{st['std']:g}</b>: LQF test accuracy <b>{100 * st['acc']:.1f}%</b> "
                           f"(linear probe {100 * st['probe']:.1f}%, nonlinear fine-tuning "
                           f"{100 * st['nonlinear']:.1f}%); the head holds {100 * st['head_share']:.1f}% "
                           f"of the tangent kernel")
        view = self._figures[self.activation.value]
        view["marker"].set_data([st["std"]], [100 * st["acc"]])
        for bar, h in zip(view["bars"], st["shares"]):
            bar.set_height(100 * h)
        view["title"].set_text(f"who carries the tangent kernel (std {st['std']:g})")
        self.image.value = f'<img src="data:image/png;base64,{base64.b64encode(self.render_png()).decode()}"/>'
        self.last_redraw_ms = 1000 * (time.perf_counter() - start)
        return st

    def _ipython_display_(self):
        from IPython.display import display

        import ipywidgets as w
        display(w.VBox([self.controls, self.output]))


def show_head_init_explorer(model, activation=None, index=None):
    """Build and display the head-init explorer; returns it so tests can move its controls."""
    from IPython.display import display

    explorer = HeadInitExplorer(model, activation=activation, index=index)
    display(explorer)
    return explorer
