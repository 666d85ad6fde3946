"""The one widget API of the kit: a plain model, a view over it, one display function.

Every topic's ``explorer`` module has

* ``XxxModel``: a plain object holding the data, the state and the numbers. It computes without
  ipywidgets or matplotlib, so tests and scripts drive it directly.
* ``XxxView(ExplorerView)``: the widgets. ``.model`` is the model, ``.controls`` a box of controls,
  ``.output`` a box holding ``.image`` (an ``ipywidgets.Image`` of PNG bytes) and any extra widget
  (a table), ``.state`` the model's numbers at the current controls, ``.last_redraw_ms`` how long the
  last redraw took. A control change calls ``update()``, which redraws only the changing artists over a
  cached background (``gracekit.viz.blit.BlitFigure``).
* ``show(model, **initial_state)``: builds the view, displays it and returns it.

Example
-------
>>> from gracekit.flips.explorer import BlendModel, show      # doctest: +SKIP
>>> view = show(BlendModel(y_test, p_old, p_new), alpha=0.5)  # doctest: +SKIP
>>> view.controls.children[0].value = 1.0; view.state["nfr"]  # doctest: +SKIP
"""
import time

__all__ = ["ExplorerView", "display_view"]


class ExplorerView:
    """Base class of the explorer views (see the module docstring for the attributes).

    A subclass builds its figure and ``self.blit`` (a ``BlitFigure``), then calls
    ``self._assemble(controls, extras)``; it implements ``_compute()`` (the state at the current
    controls, asked of the model) and ``_draw(state)`` (move the changing artists, set the texts).

    Args:
        model: the topic's plain model object.
    """

    def __init__(self, model):
        import ipywidgets as w

        self.model = model
        self.state = None
        self.last_redraw_ms = float("nan")
        self.image = w.Image(format="png")
        self.controls = self.output = self.blit = None

    def _assemble(self, controls, extras=(), watch=()):
        """Put the controls and the output together, redraw on any change of ``watch``, draw once."""
        import ipywidgets as w

        self.controls = w.VBox(list(controls))
        self.output = w.VBox([self.image, *extras])
        for control in watch:
            control.observe(lambda change: self.update(), names="value")
        self.update()

    def _compute(self):
        raise NotImplementedError

    def _draw(self, state):
        raise NotImplementedError

    def _figure(self):
        """The ``BlitFigure`` on screen (a view with one figure per setting overrides this)."""
        return self.blit

    def update(self):
        """Recompute the state from the controls, redraw and show it; records ``last_redraw_ms``.

        Returns:
            the new ``state``.
        """
        start = time.perf_counter()
        self.state = self._compute()
        self._draw(self.state)
        self.image.value = self.render_png()
        self.last_redraw_ms = 1000 * (time.perf_counter() - start)
        return self.state

    def render_png(self):
        """The current figure as PNG bytes: the changing artists blitted over the cached background."""
        return self._figure().png()

    def _ipython_display_(self):
        import ipywidgets as w
        from IPython.display import display

        display(w.VBox([self.controls, self.output]))


def display_view(view):
    """Display an explorer view in the notebook and return it."""
    from IPython.display import display

    display(view)
    return view
