"""The model-comparison widget: the update report, interactive.

Pick a true class (Dropdown) and an overlap region (ToggleButtons: negative flips, positive flips,
both wrong, ...); the figure highlights both and the table lists the matching samples, most
confident first, with their images when the report has them. The computation is a plain object
(``ReportModel``, tested headlessly); the view (``ReportView``) has ``.controls`` and ``.output``
(the figure and ``.table``, an HTML widget) and redraws precomputed data only (the highlights are
blitted over a cached background); ``show`` builds and displays one.
"""
import base64
import html
import io

import numpy as np

from gracekit.viz.explorer import ExplorerView, display_view

__all__ = ["ReportModel", "ReportView", "show", "REGION_LABELS"]

REGION_LABELS = {"negative flips": "negative", "positive flips": "positive", "both wrong": "both_wrong",
                 "disagree": "disagree", "any error": "any_error"}


# table cells are padded and ruled: adjacent columns (an id, then a class) never run together
_CELL = "style='padding:2px 10px;border-bottom:1px solid #ddd;text-align:left'"


class ReportModel:
    """Filters of an UpdateReport: which samples lie in a region and class, as table rows.

    Args:
        report: a gracekit.report.UpdateReport.
        max_rows: rows the table shows at most.
    Used in: notebooks/06_your_update.py
    """

    def __init__(self, report, max_rows=12):
        if not hasattr(report, "instances") or not hasattr(report, "flips"):
            raise ValueError("report must be an UpdateReport (from gracekit.report.update_report)")
        if not isinstance(max_rows, (int, np.integer)) or max_rows < 1:
            raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
        self.report, self.max_rows = report, int(max_rows)
        self.class_names = list(report.class_names)
        self.conf = report.confidence()
        self._thumbs = {}

    def class_index(self, cls):
        """Class index from an index, a class name, or None / "all classes" for every class."""
        if cls is None or cls == "all classes":
            return None
        if isinstance(cls, str):
            if cls not in self.class_names:
                raise ValueError(f"cls must be one of the class names, got {cls!r}")
            return self.class_names.index(cls)
        if not 0 <= int(cls) < len(self.class_names):
            raise ValueError(f"cls must be a class index in [0, {len(self.class_names)}), got {cls!r}")
        return int(cls)

    def state(self, region="negative", cls=None):
        """The numbers the view shows for a region and a true class: region, class index, indices, count."""
        idx = self.select(region, cls)
        return {"region": region, "cls": self.class_index(cls), "indices": idx, "count": len(idx)}

    def select(self, region="negative", cls=None):
        """Indices of the samples in ``region`` (a key of gracekit.report.REGIONS) of true class ``cls``."""
        return self.report.instances(region, self.class_index(cls))

    def rows(self, region="negative", cls=None):
        """(total count, list of row dicts for the first ``max_rows`` samples) of a selection."""
        idx = self.select(region, cls)
        r, names = self.report, self.class_names
        ids = r.ids
        out = [{"index": int(i), "id": str(i) if ids is None else str(ids[i]), "true": names[r.y_true[i]],
                "old": names[r.y_old[i]], "new": names[r.y_new[i]], "confidence": float(self.conf[i])}
               for i in idx[:self.max_rows]]
        return len(idx), out

    def thumbnail(self, i):
        """A small PNG (base64) of sample i's image, cached; None without images."""
        if self.report.images is None:
            return None
        if i not in self._thumbs:
            import matplotlib.pyplot as plt

            buf = io.BytesIO()
            img = np.asarray(self.report.images[i], dtype=float)
            plt.imsave(buf, img, cmap="gray_r" if img.ndim == 2 else None, format="png")
            self._thumbs[i] = base64.b64encode(buf.getvalue()).decode("ascii")
        return self._thumbs[i]

    def table_html(self, region="negative", cls=None):
        """The selection as an HTML table (text escaped), with a line saying how many rows match."""
        total, rows = self.rows(region, cls)
        e = html.escape
        where = "all classes" if self.class_index(cls) is None else f"true class {self.class_names[self.class_index(cls)]}"
        head = f"<b>{total:,}</b> samples: {e(region.replace('_', ' '))}, {e(where)}"
        if total > len(rows):
            head += f" (first {len(rows)} shown{', most confident first' if self.report.p_new is not None else ''})"
        if not rows:
            return f"<p>{head}</p>"
        has_img = self.report.images is not None
        cells = []
        for row in rows:
            img = (f"<td><img style='width:32px;image-rendering:pixelated' "
                   f"src='data:image/png;base64,{self.thumbnail(row['index'])}'></td>") if has_img else ""
            conf = "" if np.isnan(row["confidence"]) else f"{row['confidence']:.3f}"
            cells.append(f"<tr>{img}" + "".join(f"<td {_CELL}>{v}</td>" for v in (
                e(row['id']), e(row['true']), e(row['old']), e(row['new']), conf)) + "</tr>")
        th = ("<th></th>" if has_img else "") + "".join(f"<th {_CELL}>{h}</th>"
                                                       for h in ("id", "true", "old", "new", "conf."))
        return (f"<p>{head}</p><table style='border-collapse:collapse'><tr>{th}</tr>{''.join(cells)}</table>")


class ReportView(ExplorerView):
    """Dropdown (class) + ToggleButtons (region) over the overlap figure, per-class bars and the table.

    Args:
        model: a ReportModel.
        region: the initial region (a value of ``REGION_LABELS``); cls: the initial true class.
    """

    def __init__(self, model, *, region="negative", cls=None):
        import ipywidgets as w
        import matplotlib.pyplot as plt

        from gracekit.report.plots import plot_class_flips, plot_error_overlap
        from gracekit.viz.blit import BlitFigure
        from gracekit.viz.style import BAND

        super().__init__(model)
        names = ["all classes"] + model.class_names
        self.class_box = w.Dropdown(options=names, value=names[0] if cls is None else
                                    model.class_names[model.class_index(cls)], description="true class")
        inv = {v: k for k, v in REGION_LABELS.items()}
        if region not in inv:
            raise ValueError(f"region must be one of {list(inv)}, got {region!r}")
        self.region_box = w.ToggleButtons(options=list(REGION_LABELS), value=inv[region], description="region")
        self.html = w.HTML()
        self.table = w.HTML()
        rep = model.report
        self.fig, (self.ax_venn, self.ax_bars) = plt.subplots(
            1, 2, figsize=(10, 3.4), dpi=80, gridspec_kw={"width_ratios": [1, 1.5]})
        plt.close(self.fig)
        plot_error_overlap({**rep.flips.counts}, rep.n, ax=self.ax_venn)
        plot_class_flips(rep.flips.per_class, model.class_names, ax=self.ax_bars)
        self.fig.tight_layout()
        self._venn_texts = {key: t for key, t in zip(("positive", "both_wrong", "negative"), self.ax_venn.texts[:3])}
        self._band = self.ax_bars.axvspan(-0.5, 0.5, color=BAND, alpha=0.35, zorder=0, visible=False)
        # only the highlights change: redraw them over the figure drawn once
        bars = [p for p in self.ax_bars.patches if p is not self._band]  # drawn again, over the band
        legend = [self.ax_bars.get_legend()] if self.ax_bars.get_legend() else []  # stays on top of the bars
        self.blit = BlitFigure(self.fig, [*self._venn_texts.values(), self._band, *bars, *legend])
        self._assemble([w.HBox([self.class_box]), self.region_box, self.html], extras=[self.table],
                       watch=[self.class_box, self.region_box])

    def _compute(self):
        return self.model.state(REGION_LABELS[self.region_box.value], self.class_box.value)

    def _draw(self, st):
        from gracekit.viz.style import FLIP_COLORS

        m, region, cls = self.model, st["region"], st["cls"]
        for key, t in self._venn_texts.items():
            on = key == region or (region == "any_error")
            t.set_bbox(dict(boxstyle="round", fc="white", ec=t.get_color(), lw=2.5) if on else None)
        self._band.set_visible(cls is not None)
        if cls is not None:
            if hasattr(self._band, "set_x"):  # matplotlib >= 3.9 returns a Rectangle
                self._band.set_x(cls - 0.5)
            else:
                self._band.set_xy([[cls - 0.5, 0], [cls - 0.5, 1], [cls + 0.5, 1], [cls + 0.5, 0], [cls - 0.5, 0]])
        r = m.report.flips.rates
        self.html.value = (f"error {100 * r['err_old']:.2f}% → {100 * r['err_new']:.2f}% &nbsp; "
                           f"<span style='color:{FLIP_COLORS['negative']}'>NFR {100 * r['nfr']:.2f}%</span> &nbsp; "
                           f"<span style='color:{FLIP_COLORS['positive']}'>PFR {100 * r['pfr']:.2f}%</span> &nbsp; "
                           f"relative NFR {r['relative_nfr']:.2f} &nbsp; BTC {r['btc']:.3f} &nbsp; BEC {r['bec']:.3f}"
                           f"<br><i>{html.escape(m.report.verdict)}</i>")
        self.table.value = m.table_html(region, cls)


def show(model, *, region="negative", cls=None):
    """Build and display the comparison widget of a ReportModel; return the view.

    Args:
        model: a ReportModel (``ReportModel(update_report(...), max_rows=12)``).
        region: the initial region ("negative", "positive", "both_wrong", "disagree", "any_error").
        cls: the initial true class (index or name; None for all classes).
    Used in: notebooks/06_your_update.py
    """
    return display_view(ReportView(model, region=region, cls=cls))
