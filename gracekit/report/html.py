"""The update report as one self-contained HTML page (jinja2 with autoescaping; figures as PNG)."""
import base64
import io

import numpy as np

__all__ = ["render_html"]


def _png(fig):
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_html(report, path=None):
    """Render an ``UpdateReport`` as HTML; every text from the data is escaped.

    Parameters
    ----------
    report : UpdateReport
    path : str or Path, optional
        File to write atomically; None only returns the text.

    Returns
    -------
    str
    """
    import jinja2

    from gracekit.report.plots import report_figures

    env = jinja2.Environment(loader=jinja2.PackageLoader("gracekit.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    r, c = report.flips.rates, report.flips.counts
    metric_rows = [("error, old model", f"{100 * r['err_old']:.2f}%", c["old_wrong"]),
                   ("error, new model", f"{100 * r['err_new']:.2f}%", c["new_wrong"]),
                   ("negative flip rate (NFR)", f"{100 * r['nfr']:.2f}%", c["negative_flips"]),
                   ("positive flip rate (PFR)", f"{100 * r['pfr']:.2f}%", c["positive_flips"]),
                   ("relative NFR", f"{r['relative_nfr']:.3f}", ""),
                   ("BTC = P(new right | old right)", f"{r['btc']:.3f}", ""),
                   ("BEC = P(new wrong | old wrong)", f"{r['bec']:.3f}", ""),
                   ("disagreement", f"{100 * r['disagreement']:.2f}%", c["disagree"])]
    pc = report.flips.per_class
    class_rows = [(str(name), pc[k]["n"], pc[k]["negative_flips"], pc[k]["positive_flips"])
                  for k, name in enumerate(report.class_names)]
    flips = [{"id": t["id"], "true": str(t["true"]), "old": str(t["old"]), "new": str(t["new"]),
              "conf": "" if np.isnan(t["confidence"]) else f"{t['confidence']:.3f}"}
             for t in report.top_negative_flips()]
    text = env.get_template("report.html").render(
        title=report.title, n=report.n, n_classes=len(report.class_names), verdict=report.verdict,
        bad=report.verdict.startswith(("WORSE", "NO CLEAR")), metric_rows=metric_rows,
        nfr_minus_pfr=f"{100 * (r['nfr'] - r['pfr']):+.2f}",
        figures=[(name, _png(fig)) for name, fig in report_figures(report).items()],
        class_rows=class_rows, flips=flips, id_header="index" if report.ids is None else "id")
    if path is not None:
        from gracekit.cache import atomic_write_bytes

        atomic_write_bytes(path, text.encode("utf-8"))
    return text
