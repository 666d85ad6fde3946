"""`gracekit report`: numbers equal gracekit.metrics, files load, bad files exit 2 with one line, HTML escaped."""
import base64
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gracekit.datasets import shipped
from gracekit import metrics
from gracekit.__main__ import main as cli
from gracekit.report import compare_models, load_report_inputs, update_report
from gracekit.report.plots import circle_overlap_distance, report_figures

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = shipped("examples/old.csv").parent


def _sample(n=600, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    s_old = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y]
    s_new = 0.5 * s_old + rng.normal(size=(n, k)) + 2.5 * np.eye(k)[y]
    return y, s_old, s_new


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_numbers_equal_metrics():
    y, s_old, s_new = _sample()
    rep = update_report(y, s_old, s_new)
    for key, fn in [("nfr", metrics.negative_flip_rate), ("pfr", metrics.positive_flip_rate),
                    ("relative_nfr", metrics.relative_nfr), ("btc", metrics.backward_trust_compatibility),
                    ("bec", metrics.backward_error_compatibility)]:
        assert rep[key] == pytest.approx(fn(y, s_old, s_new), abs=1e-12)
    assert rep["err_new"] == pytest.approx(metrics.error_rate(y, s_new))
    c = rep.flips.counts
    assert rep.confusion.sum() == c["negative_flips"] == rep.masks["negative"].sum()
    assert np.all(np.diag(rep.confusion) == 0)  # a negative flip's new label is never the true one
    assert rep.confusion.sum(1).tolist() == [rep.flips.per_class[k]["negative_flips"] for k in range(4)]
    assert rep.masks["any_error"].sum() == c["negative_flips"] + c["positive_flips"] + c["both_wrong"]


def test_hand_computed_case_and_verdicts():
    y = [0, 0, 1, 1, 2, 2]
    rep = update_report(y, [0, 0, 1, 0, 2, 1], [0, 1, 1, 1, 2, 2], class_names=["a", "b", "c"])
    assert rep.flips.counts["negative_flips"] == 1 and rep.flips.counts["positive_flips"] == 2
    assert rep.confusion[0, 1] == 1 and rep.confusion_pairs() == [("a", "b", 1)]
    assert rep.top_negative_flips()[0]["index"] == 1
    assert "verdict" in rep.to_text() and rep.verdict.startswith("NO CLEAR CHANGE")  # n = 6 is tiny
    n = 1000
    y = np.zeros(n, int)
    better = update_report(y, np.r_[np.ones(200, int), np.zeros(800, int)], np.zeros(n, int))
    assert better.verdict.startswith("BETTER, NO REGRESSIONS")
    worse = update_report(y, np.zeros(n, int), np.r_[np.ones(200, int), np.zeros(800, int)])
    assert worse.verdict.startswith("WORSE")
    mixed = update_report(y, np.r_[np.ones(200, int), np.zeros(800, int)],
                          np.r_[np.zeros(200, int), np.ones(20, int), np.zeros(780, int)])
    assert mixed.verdict.startswith("BETTER, WITH REGRESSIONS") and "20 negative flips" in mixed.verdict


def test_confident_flips_are_sorted_and_scores_become_probabilities():
    y, s_old, s_new = _sample()
    rep = update_report(y, s_old, s_new, top=5)
    top = rep.top_negative_flips()
    assert len(top) == 5
    conf = [t["confidence"] for t in top]
    assert conf == sorted(conf, reverse=True) and 0 < conf[-1] <= 1
    np.testing.assert_allclose(rep.p_new.sum(1), 1)
    only = rep.instances("negative", cls=2)
    assert (rep.y_true[only] == 2).all() and len(only) == rep.flips.per_class[2]["negative_flips"]


def test_compare_models_sklearn_and_torch():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    d = load_digits()
    X, y = d.data[:600] / 16, d.target[:600]
    old = KNeighborsClassifier(3).fit(X[:200], y[:200])
    new = LogisticRegression(max_iter=500).fit(X[:400], y[:400])
    rep = compare_models(old, new, X[400:], y[400:], images=d.images[400:600])
    assert rep["nfr"] == pytest.approx(metrics.negative_flip_rate(y[400:], old.predict(X[400:]), new.predict(X[400:])))
    assert "examples" in report_figures(rep)
    # string classes map through classes_
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    o2 = KNeighborsClassifier(3).fit(X[:200], names[y[:200]])
    n2 = LogisticRegression(max_iter=500).fit(X[:400], names[y[:400]])
    rep2 = compare_models(o2, n2, X[400:], names[y[400:]])
    assert rep2["nfr"] == pytest.approx(rep["nfr"]) and "eight" in rep2.class_names
    import torch

    lin = torch.nn.Linear(64, 10)
    rep3 = compare_models(lin, lin, X[400:], y[400:])
    assert rep3["nfr"] == 0 and rep3["disagreement"] == 0


def test_bad_function_input():
    with pytest.raises(ValueError, match="y_old"):
        update_report([0, 1], [0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="class_names"):
        update_report([0, 1], [0, 1], [0, 1], class_names=["a", "a"])
    with pytest.raises(ValueError, match="images"):
        update_report([0, 1], [0, 1], [0, 1], images=np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="region"):
        update_report([0, 1], [0, 1], [0, 1]).instances("nope")


def test_overlap_geometry():
    d = circle_overlap_distance(1.0, 1.0, 0.0)
    assert d == pytest.approx(2.0, abs=1e-6)
    assert circle_overlap_distance(1.0, 0.5, np.pi * 0.25) == pytest.approx(0.5, abs=1e-6)
    d = circle_overlap_distance(1.0, 1.0, 1.0)
    assert 0 < d < 2


# ------------------------------------------------------------------------------------------ CLI
def test_cli_on_examples_prints_table_and_writes_html(tmp_path, capsys):
    out = tmp_path / "r.html"
    rc = cli(["report", "--old", str(EXAMPLES / "old.csv"), "--new", str(EXAMPLES / "new.csv"),
              "--html", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    ids, y, y_old, y_new, names = _example_arrays()
    nfr = metrics.negative_flip_rate(y, y_old, y_new)
    assert f"{100 * nfr:.2f}%" in text and "verdict:" in text
    worst = max(range(3), key=lambda k: ((y == k) & (y_old == k) & (y_new != k)).sum())
    assert f"negative flips by true class: {names[worst]}: " in text  # class names, not indices
    page = out.read_text()
    assert page.count("data:image/png;base64,") >= 3 and "<script" not in page
    png = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page).group(1)
    assert base64.b64decode(png)[:4] == b"\x89PNG"


def _example_arrays():
    import csv

    old = list(csv.DictReader(open(EXAMPLES / "old.csv")))
    new = list(csv.DictReader(open(EXAMPLES / "new.csv")))
    names = ["cat", "dog", "fox"]
    y = np.array([names.index(r["y_true"]) for r in old])
    y_old = np.array([names.index(r["y_pred"]) for r in old])
    y_new = np.array([np.argmax([float(r[f"score_{c}"]) for c in names]) for r in new])
    return [r["id"] for r in old], y, y_old, y_new, names


def test_cli_npy_and_combined(tmp_path, capsys):
    y, s_old, s_new = _sample(200, 3)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "old.npy", s_old)
    np.save(tmp_path / "new.npy", s_new.argmax(1))
    assert cli(["report", "--true", str(tmp_path / "y.npy"), "--old", str(tmp_path / "old.npy"),
                "--new", str(tmp_path / "new.npy"), "--classes", "a,b,c"]) == 0
    text = capsys.readouterr().out
    assert f"{100 * metrics.negative_flip_rate(y, s_old, s_new):.2f}%" in text
    rows = "\n".join(f"{a},{b},{c}" for a, b, c in zip(y, s_old.argmax(1), s_new.argmax(1)))
    combined = _write(tmp_path / "all.csv", "y_true,y_old,y_new\n" + rows + "\n")
    assert cli(["report", combined]) == 0
    assert f"{100 * metrics.negative_flip_rate(y, s_old, s_new):.2f}%" in capsys.readouterr().out


BAD = {
    "missing file": (lambda d: ["--old", str(d / "nope.csv"), "--new", str(d / "nope.csv")], "file not found"),
    "empty file": (lambda d: [_write(d / "e.csv", "")], "empty"),
    "header only": (lambda d: [_write(d / "h.csv", "y_true,y_old,y_new\n")], "no data rows"),
    "missing column": (lambda d: [_write(d / "m.csv", "y_true,y_old\n0,1\n1,1\n")], "missing column.*y_new"),
    "no prediction column": (lambda d: ["--true", _write(d / "t.csv", "y_true\n0\n1\n"),
                                        "--old", _write(d / "o.csv", "foo,bar\n0,1\n1,1\n"),
                                        "--new", _write(d / "n.csv", "y_pred\n0\n1\n")], "no prediction column"),
    "mismatched lengths": (lambda d: ["--true", _write(d / "t.csv", "y_true\n0\n1\n2\n"),
                                      "--old", _write(d / "o.csv", "y_pred\n0\n1\n2\n"),
                                      "--new", _write(d / "n.csv", "y_pred\n0\n1\n")], "n.csv has 2 rows.* 3"),
    "unknown label": (lambda d: ["--true", _write(d / "t.csv", "y_true\ncat\ndog\n"),
                                 "--old", _write(d / "o.csv", "y_pred\ncat\ndog\n"),
                                 "--new", _write(d / "n.csv", "y_pred\ncat\nwolf\n")], "row 3: unknown label 'wolf'"),
    "label outside --classes": (lambda d: [_write(d / "c.csv", "y_true,y_old,y_new\n0,1\n1,1,5\n".replace(
        "0,1\n", "0,1,1\n")), "--classes", "a,b"], "unknown label"),
    "non-numeric score": (lambda d: ["--true", _write(d / "t.csv", "y_true\na\nb\n"),
                                     "--old", _write(d / "o.csv", "score_a,score_b\n0.9,0.1\nabc,0.5\n"),
                                     "--new", _write(d / "n.csv", "y_pred\na\nb\n")], "row 3: 'abc' is not a number"),
    "NaN score": (lambda d: ["--true", _write(d / "t.csv", "y_true\na\nb\n"),
                             "--old", _write(d / "o.csv", "score_a,score_b\n0.9,0.1\nnan,0.5\n"),
                             "--new", _write(d / "n.csv", "y_pred\na\nb\n")], "not a finite number"),
    "ragged row": (lambda d: [_write(d / "r.csv", "y_true,y_old,y_new\n0,1,1\n1,1\n")], "row 3: 2 fields"),
    "no true labels": (lambda d: ["--old", _write(d / "o.csv", "y_pred\n0\n1\n"),
                                  "--new", _write(d / "n.csv", "y_pred\n0\n1\n")], "no true labels"),
    "y_true disagrees": (lambda d: ["--old", _write(d / "o.csv", "y_true,y_pred\n0,0\n1,1\n"),
                                    "--new", _write(d / "n.csv", "y_true,y_pred\n0,0\n0,1\n")], "differs"),
    "ids differ": (lambda d: ["--old", _write(d / "o.csv", "id,y_true,y_pred\na,0,0\nb,1,1\n"),
                              "--new", _write(d / "n.csv", "id,y_true,y_pred\nb,0,0\na,1,1\n")], "different ids"),
    "score width": (lambda d: ["--true", str(_npy(d / "y.npy", np.array([0, 1]))),
                               "--old", str(_npy(d / "o.npy", np.eye(2))),
                               "--new", str(_npy(d / "n.npy", np.eye(3)[:2]))], "different numbers of classes"),
    "npy non-numeric": (lambda d: ["--true", str(_npy(d / "y.npy", np.array([0, 1]))),
                                   "--old", str(_npy(d / "o.npy", np.array([["a", "b"], ["c", "d"]]))),
                                   "--new", str(_npy(d / "n.npy", np.array([0, 1])))], "must be numeric"),
    "npy fractional labels": (lambda d: ["--true", str(_npy(d / "y.npy", np.array([0.5, 1.0]))),
                                         "--old", str(_npy(d / "o.npy", np.array([0, 1]))),
                                         "--new", str(_npy(d / "n.npy", np.array([0, 1])))], "non-integer"),
    "not an npy": (lambda d: ["--true", _write(d / "y.npy", "hello"), "--old", _write(d / "o.csv", "y_pred\n0\n"),
                              "--new", _write(d / "n.csv", "y_pred\n0\n")], "not a readable .npy"),
}


def _npy(path, a):
    np.save(path, a)
    return path


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_files_exit_2_with_one_line(case, tmp_path, capsys):
    make, pattern = BAD[case]
    rc = cli(["report", *make(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("gracekit report: error: ")
    assert re.search(pattern, err), err
    assert "Traceback" not in err


def test_module_entry_point_exit_code(tmp_path):
    bad = _write(tmp_path / "x.csv", "y_true,y_old\n0,1\n")
    proc = subprocess.run([sys.executable, "-m", "gracekit", "report", bad], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "missing column" in proc.stderr


def test_hostile_labels_and_ids_are_escaped(tmp_path):
    evil = "<script>alert(1)</script>"
    rows = [("x<img src=y onerror=alert(2)>", evil, evil, "$\\frac{a"), ("r2", "$\\frac{a", "$\\frac{a", evil),
            ("r3", "ok & fine", "ok & fine", "ok & fine"), ("r4", evil, evil, evil)]
    text = "id,y_true,y_old,y_new\n" + "\n".join(",".join(f'"{c}"' for c in r) for r in rows) + "\n"
    path = _write(tmp_path / "evil.csv", text)
    y, o, n, names, ids = load_report_inputs(path)
    rep = update_report(y, o, n, class_names=names, ids=ids, title=f"title {evil}")
    page = rep.to_html(tmp_path / "evil.html")
    assert "<script" not in page.lower() and "<img src=y" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "ok &amp; fine" in page
    assert (tmp_path / "evil.html").read_text() == page


@pytest.mark.browser
def test_html_page_shows_its_figures_in_chromium(tmp_path):
    """Open the page in a real Chromium: every figure decodes (naturalWidth > 0); save a screenshot."""
    import os
    import shutil

    playwright = pytest.importorskip("playwright.sync_api")
    chromium = os.environ.get("GRACEKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed")
        pytest.skip("no system Chromium")
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    d = load_digits()
    X, y = d.data / 16, d.target
    old = KNeighborsClassifier(3).fit(X[:300], y[:300])
    new = LogisticRegression(max_iter=500).fit(X[:900], y[:900])
    page_path = tmp_path / "digits.html"
    compare_models(old, new, X[900:], y[900:], images=d.images[900:]).to_html(page_path)
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(page_path.as_uri(), timeout=60_000)
            page.wait_for_function("[...document.images].every(i => i.complete)", timeout=60_000)
            widths = page.evaluate("[...document.images].map(i => i.naturalWidth)")
            assert len(widths) == 4 and min(widths) > 100
            assert "Verdict" in page.inner_text("body")
            page.screenshot(path=str(artifacts / "browser-report.png"), full_page=True)
        finally:
            browser.close()
