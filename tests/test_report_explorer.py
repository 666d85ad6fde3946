"""The model-comparison widget, driven headlessly: set the controls, assert on the selection and table."""
import numpy as np
import pytest

from gracekit.report import update_report
from gracekit.report.explorer import ReportModel, ReportView


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    n, k = 800, 5
    y = rng.integers(0, k, n)
    s_old = rng.normal(size=(n, k)) + 1.8 * np.eye(k)[y]
    s_new = 0.5 * s_old + rng.normal(size=(n, k)) + 2.4 * np.eye(k)[y]
    images = rng.random((n, 8, 8))
    names = ["cat", "dog", "<b>fox</b>", "owl", "emu"]
    return update_report(y, s_old, s_new, class_names=names, images=images)


def test_model_filters_match_masks(report):
    m = ReportModel(report, max_rows=5)
    neg = m.select("negative")
    assert len(neg) == report.flips.counts["negative_flips"] > 5
    for c, name in enumerate(report.class_names):
        sel = m.select("negative", name)
        assert len(sel) == report.flips.per_class[c]["negative_flips"]
        assert (report.y_true[sel] == c).all() and (report.y_old[sel] == c).all() and (report.y_new[sel] != c).all()
    total, rows = m.rows("positive", 1)
    assert total == report.flips.per_class[1]["positive_flips"] and len(rows) == min(5, total)
    assert all(r["true"] == "dog" and r["new"] == "dog" and r["old"] != "dog" for r in rows)
    conf = [r["confidence"] for r in m.rows("negative")[1]]
    assert conf == sorted(conf, reverse=True)
    assert len(m.select("any_error")) == (report.masks["any_error"]).sum()


def test_table_escapes_and_shows_images(report):
    m = ReportModel(report)
    text = m.table_html("negative", None)
    assert "<b>fox</b>" not in text
    assert "data:image/png;base64," in text
    page = m.table_html("negative", "<b>fox</b>")
    assert "&lt;b&gt;fox&lt;/b&gt;" in page and "<b>fox</b>" not in page


def test_controls_drive_the_view(report):
    ex = ReportView(ReportModel(report))
    assert ex.state["region"] == "negative" and ex.state["cls"] is None
    assert ex.state["count"] == report.flips.counts["negative_flips"]
    before_table, before_png = ex.table.value, ex.image.value
    ex.class_box.value = "owl"
    assert ex.state["cls"] == 3 and (report.y_true[ex.state["indices"]] == 3).all()
    assert ex.state["count"] == report.flips.per_class[3]["negative_flips"]
    assert f"<b>{ex.state['count']:,}</b> samples" in ex.table.value
    assert ex.table.value != before_table and ex._band.get_visible()
    assert ex.image.value != before_png
    ex.region_box.value = "positive flips"
    assert ex.state["region"] == "positive"
    assert len(ex.state["indices"]) == report.flips.per_class[3]["positive_flips"]
    ex.class_box.value = "all classes"
    assert ex.state["cls"] is None and not ex._band.get_visible()
    assert np.isfinite(ex.last_redraw_ms)


def test_control_changes_only_blit(report, no_full_redraw):
    """Every state, seen before or not, redraws the highlights over the cached figure."""
    ex = ReportView(ReportModel(report))
    pngs = set()
    with no_full_redraw():
        for region in ("positive flips", "both wrong", "negative flips"):
            ex.region_box.value = region
            for name in ["cat", "dog", "owl", "emu", "all classes"]:
                ex.class_box.value = name
                pngs.add(ex.image.value)
    assert len(pngs) == 15  # each (region, class) looks different


def test_bad_input(report):
    with pytest.raises(ValueError, match="report"):
        ReportModel("not a report")
    with pytest.raises(ValueError, match="max_rows"):
        ReportModel(report, max_rows=0)
    m = ReportModel(report)
    with pytest.raises(ValueError, match="cls"):
        m.select("negative", "wolf")
    with pytest.raises(ValueError, match="region"):
        m.select("sideways")
