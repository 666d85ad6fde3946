"""Explore a BCT lambda sweep: the cross-model retrieval matrix and the update gain at each lambda.

The computation lives in ``BCTSweep`` (plain Python, testable without a kernel); ``BCTSweepView``
holds the widgets (``.controls``, ``.output``); ``show`` builds and displays one. The ``plot_``
functions draw the same content as static figures.
"""
import numpy as np

__all__ = ["BCTSweep", "BCTSweepView", "show", "plot_cross_model_matrix", "plot_lambda_sweep", "plot_backfill"]


def plot_cross_model_matrix(M, names, title=None, ax=None, se=None):
    """Heat map of M[query model, gallery model] with the values written in; returns the Figure."""
    import matplotlib.pyplot as plt

    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] != len(names):
        raise ValueError(f"M must be square with one row per name ({len(names)}), got shape {M.shape}")
    size = (1.3 * len(names) + 1.8, 1.1 * len(names) + 1.2)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=size)
    ax.imshow(M, vmin=0, vmax=1, cmap="viridis")
    for i in range(len(names)):
        for j in range(len(names)):
            text = f"{M[i, j]:.3f}" + (f"\n±{se[i][j]:.3f}" if se is not None else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if M[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("gallery model")
    ax.set_ylabel("query model")
    ax.grid(False)
    ax.set_title(title or "top-1 retrieval")
    return fig


def plot_lambda_sweep(lambdas, new_old, old_old, new_new=None, paragon=None, se=None, ax=None):
    """Cross-model accuracy M(new, old) against lambda, with the old/old bar it must beat; returns the Figure.

    Args:
        lambdas: the lambda values (drawn on a log axis; must be > 0).
        new_old: M(new query, old gallery) per lambda; se: its standard errors (optional).
        old_old: the bar (a number). new_new: new/new per lambda (optional). paragon: independent new/new.
    """
    import matplotlib.pyplot as plt

    lam = np.asarray(lambdas, dtype=float)
    if lam.ndim != 1 or len(lam) == 0 or (lam <= 0).any() or len(new_old) != len(lam):
        raise ValueError("lambdas must be positive, one per new_old value")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.6))
    ax.errorbar(lam, new_old, yerr=se, marker="o", capsize=3, label="M(new, old): new queries, old gallery")
    ax.axhline(old_old, color="k", ls="--", label="M(old, old): the bar to beat")
    if new_new is not None:
        ax.plot(lam, new_new, marker="s", label="M(new, new)")
    if paragon is not None:
        ax.axhline(paragon, color="C2", ls=":", label="independent new/new (paragon)")
    ax.set_xscale("log")
    ax.set_xlabel("influence-loss weight λ")
    ax.set_ylabel("top-1")
    ax.legend(fontsize=8)
    return fig


def plot_backfill(fractions, curves, ax=None):
    """Top-1 against the fraction of the gallery re-indexed; ``curves`` maps a label to accuracies."""
    import matplotlib.pyplot as plt

    fr = np.asarray(fractions, dtype=float)
    if not isinstance(curves, dict) or not curves or any(len(v) != len(fr) for v in curves.values()):
        raise ValueError("curves must be a non-empty dict label -> one accuracy per fraction")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.6))
    for label, acc in curves.items():
        ax.plot(fr, acc, marker="o", label=label)
    ax.set_xlabel("fraction of the gallery re-indexed with the new model")
    ax.set_ylabel("top-1 (new queries)")
    ax.legend(fontsize=8)
    return fig


class BCTSweep:
    """Precomputed lambda sweep: one cross-model matrix per lambda, plus the update gain.

    Args:
        lambdas: lambda per sweep point.
        matrices: (n_lambda, 3, 3) arrays M[query, gallery] over the models (old, independent new, BCT).
        names: the three model names in matrix order (default old, new*, BCT).
    """

    def __init__(self, lambdas, matrices, names=("old", "new*", "BCT")):
        self.lambdas = [float(x) for x in lambdas]
        self.matrices = np.asarray(matrices, dtype=float)
        self.names = list(names)
        if self.matrices.shape != (len(self.lambdas), 3, 3) or len(self.names) != 3:
            raise ValueError(f"matrices must have shape ({len(self.lambdas)}, 3, 3) for 3 names, "
                             f"got {self.matrices.shape}")
        if not self.lambdas:
            raise ValueError("lambdas must hold at least one value")

    @classmethod
    def from_records(cls, records):
        """Build from a list of dicts with keys ``lam`` and ``matrix`` (3x3), sorted by lambda."""
        if not records:
            raise ValueError("records must be a non-empty list of {'lam', 'matrix'} dicts")
        records = sorted(records, key=lambda r: r["lam"])
        return cls([r["lam"] for r in records], [r["matrix"] for r in records])

    def at(self, i):
        """Summary of sweep point i: lambda, matrix, M(new,old), M(old,old), G and whether it passes."""
        if not 0 <= int(i) < len(self.lambdas):
            raise ValueError(f"i must be in 0..{len(self.lambdas) - 1}, got {i}")
        M = self.matrices[int(i)]
        m_no, m_oo, m_paragon = M[2, 0], M[0, 0], M[1, 1]
        gain = (m_no - m_oo) / (m_paragon - m_oo) if m_paragon > m_oo else float("nan")
        return {"lam": self.lambdas[int(i)], "matrix": M, "new_old": m_no, "old_old": m_oo,
                "new_new": M[2, 2], "paragon": m_paragon, "gain": gain, "passes": bool(m_no > m_oo)}

    def describe(self, i):
        """One line of text for sweep point i."""
        s = self.at(i)
        verdict = "PASSES" if s["passes"] else "fails"
        return (f"λ = {s['lam']:g}: M(BCT, old) = {s['new_old']:.3f} vs M(old, old) = {s['old_old']:.3f} "
                f"-> {verdict}; update gain G = {s['gain']:+.2f}; BCT new/new = {s['new_new']:.3f} "
                f"(independent {s['paragon']:.3f})")


class BCTSweepView:
    """Slider over the lambda sweep; shows the cross-model matrix and prints G (precomputed only).

    Every lambda's figure is rendered to PNG once, when the view is built; a slider move only swaps
    the image and the text.
    """

    def __init__(self, sweep, start=None):
        import ipywidgets as W

        self.sweep = sweep
        n = len(sweep.lambdas)
        self.slider = W.IntSlider(value=n // 2 if start is None else int(start), min=0, max=n - 1,
                                  description="λ index", continuous_update=False)
        self.label = W.Label()
        self.text = W.HTML()
        self.controls = W.VBox([W.HBox([self.slider, self.label]), self.text])
        self.image = W.HTML()
        self.output = W.Output()
        self.output.append_display_data(self.image)
        self.pngs = [self._render(i) for i in range(n)]
        self.slider.observe(lambda change: self.redraw(), names="value")
        self.redraw()

    def _render(self, i):
        import io

        import matplotlib.pyplot as plt

        s = self.sweep.at(i)
        fig = plot_cross_model_matrix(s["matrix"], self.sweep.names, title=f"top-1, λ = {s['lam']:g}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        return buf.getvalue()

    def redraw(self):
        """Show the matrix of the selected lambda in ``.output`` and update the text."""
        import base64

        i = self.slider.value
        s = self.sweep.at(i)
        self.label.value = f"λ = {s['lam']:g}"
        self.text.value = f"<b>{self.sweep.describe(i)}</b>"
        self.image.value = f'<img src="data:image/png;base64,{base64.b64encode(self.pngs[i]).decode()}"/>'


def show(sweep, start=None):
    """Build the lambda-sweep explorer, display it and return the view.

    Used in: notebooks/03_bct_faces.py
    """
    from IPython.display import display
    import ipywidgets as W

    view = BCTSweepView(sweep, start)
    display(W.VBox([view.controls, view.output]))
    return view
