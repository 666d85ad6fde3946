"""Explore a BCT lambda sweep: the cross-model retrieval matrix and the update gain at each lambda.

The computation lives in ``BCTSweepModel`` (plain Python, testable without a kernel);
``BCTSweepView`` holds the widgets (``.controls``, ``.output``); ``show`` builds and displays one.
``gracekit.bct.plots`` draws the same content as static figures.
"""
import numpy as np

from gracekit.retrieval import update_gain

from gracekit.viz.explorer import ExplorerView, display_view

__all__ = ["BCTSweepModel", "BCTSweepView", "show"]


class BCTSweepModel:
    """Precomputed lambda sweep: one cross-model matrix per lambda, plus the update gain.

    Args:
        lambdas: lambda per sweep point.
        matrices: (n_lambda, 3, 3) arrays M[query, gallery] over the models (old, a reference new model, BCT).
        names: the three model names in matrix order (default old, new*, BCT).
        paragon: new/new of the independent model per lambda, the denominator of G (default: M[1, 1]).
    """

    def __init__(self, lambdas, matrices, names=("old", "new*", "BCT"), paragon=None):
        self.lambdas = [float(x) for x in lambdas]
        self.matrices = np.asarray(matrices, dtype=float)
        self.names = list(names)
        if self.matrices.shape != (len(self.lambdas), 3, 3) or len(self.names) != 3:
            raise ValueError(f"matrices must have shape ({len(self.lambdas)}, 3, 3) for 3 names, "
                             f"got {self.matrices.shape}")
        if not self.lambdas:
            raise ValueError("lambdas must hold at least one value")
        self.paragon = None if paragon is None else [float(x) for x in paragon]
        if self.paragon is not None and len(self.paragon) != len(self.lambdas):
            raise ValueError(f"paragon must hold one value per lambda ({len(self.lambdas)}), got {len(self.paragon)}")

    @classmethod
    def from_records(cls, records, names=("old", "new*", "BCT")):
        """Build from a list of dicts with keys ``lam`` and ``matrix`` (3x3), and optionally ``paragon``."""
        if not records:
            raise ValueError("records must be a non-empty list of {'lam', 'matrix'} dicts")
        records = sorted(records, key=lambda r: r["lam"])
        paragon = [r["paragon"] for r in records] if all("paragon" in r for r in records) else None
        return cls([r["lam"] for r in records], [r["matrix"] for r in records], names, paragon)

    def at(self, i):
        """Summary of sweep point i: lambda, matrix, M(new,old), M(old,old), G and whether it passes."""
        if not 0 <= int(i) < len(self.lambdas):
            raise ValueError(f"i must be in 0..{len(self.lambdas) - 1}, got {i}")
        M = self.matrices[int(i)]
        m_no, m_oo = M[2, 0], M[0, 0]
        m_paragon = M[1, 1] if self.paragon is None else self.paragon[int(i)]
        gain = update_gain(m_no, m_oo, m_paragon)
        return {"lam": self.lambdas[int(i)], "matrix": M, "new_old": m_no, "old_old": m_oo,
                "new_new": M[2, 2], "paragon": m_paragon, "gain": gain, "passes": bool(m_no > m_oo)}

    def describe(self, i):
        """One line of text for sweep point i."""
        s = self.at(i)
        verdict = "PASSES" if s["passes"] else "fails"
        return (f"λ = {s['lam']:g}: M(BCT, old) = {s['new_old']:.3f} vs M(old, old) = {s['old_old']:.3f} "
                f"-> {verdict}; update gain G = {s['gain']:+.2f}; BCT new/new = {s['new_new']:.3f} "
                f"(independent {s['paragon']:.3f})")


class BCTSweepView(ExplorerView):
    """Slider over the lambda sweep; shows the cross-model matrix and prints G (precomputed only).

    The matrix figure is drawn once; a slider move blits the new cell colours, numbers and title over
    the cached background.

    Args:
        model: a BCTSweepModel.
        start: index of the initial lambda (default the middle one).
    """

    def __init__(self, model, *, start=None):
        import ipywidgets as W
        import matplotlib.pyplot as plt

        from gracekit.bct.plots import plot_cross_model_matrix
        from gracekit.viz.blit import BlitFigure

        super().__init__(model)
        n = len(model.lambdas)
        self.slider = W.IntSlider(value=n // 2 if start is None else int(start), min=0, max=n - 1,
                                  description="λ index", continuous_update=True)
        self.label = W.Label()
        self.text = W.HTML()
        k = len(model.names)
        self.fig, self.ax = plt.subplots(figsize=(1.3 * k + 1.8, 1.1 * k + 1.2), dpi=80)
        plt.close(self.fig)  # shown through the image widget only
        plot_cross_model_matrix(model.matrices[0], model.names, title=" ", ax=self.ax)
        self.fig.tight_layout()
        self.cells = self.ax.images[0]
        self.numbers = list(self.ax.texts)
        self.blit = BlitFigure(self.fig, [self.cells, *self.numbers, self.ax.title])
        self._assemble([W.HBox([self.slider, self.label]), self.text], watch=[self.slider])

    def _compute(self):
        return self.model.at(self.slider.value)

    def _draw(self, s):
        M, k = s["matrix"], len(self.model.names)
        self.cells.set_data(M)
        for idx, t in enumerate(self.numbers):
            v = M[idx // k, idx % k]
            t.set_text(f"{v:.2f}")
            t.set_color("white" if v < 0.6 else "black")
        self.ax.set_title(f"top-1, λ = {s['lam']:g}")
        self.label.value = f"λ = {s['lam']:g}"
        self.text.value = f"<b>{self.model.describe(self.slider.value)}</b>"


def show(model, *, start=None):
    """Build and display the lambda-sweep explorer of a BCTSweepModel; return the view.

    Used in: notebooks/03_bct_faces.py
    """
    return display_view(BCTSweepView(model, start=start))
