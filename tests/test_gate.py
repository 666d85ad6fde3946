"""`gracekit gate`: intervals and McNemar agree with scipy, the verdict follows the budget and its interval,
slices fail the gate, outputs parse (JSON schema, JUnit structure, Markdown), bad files exit 2 with one line,
and the docs' CI workflow is valid YAML."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gracekit.__main__ import main as cli
from gracekit.report.gate import SCHEMA, gate_update
from gracekit.report.intervals import clopper_pearson, difference_interval, mcnemar_exact, proportion_interval
from junit_check import check_junit

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("k,n,conf", [(0, 10, 0.95), (3, 100, 0.95), (10, 10, 0.9), (57, 899, 0.99), (1, 2, 0.5)])
def test_clopper_pearson_matches_scipy_binomtest(k, n, conf):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=conf, method="exact")
    assert clopper_pearson(k, n, conf) == pytest.approx((ci.low, ci.high), abs=1e-10)


@pytest.mark.parametrize("n10,n01", [(0, 0), (12, 3), (3, 12), (22, 11), (5, 0), (40, 41), (100, 60)])
def test_mcnemar_exact_matches_scipy_binomtest(n10, n01):
    expected = 1.0 if n10 + n01 == 0 else stats.binomtest(n10, n10 + n01, 0.5).pvalue
    assert mcnemar_exact(n10, n01) == pytest.approx(expected, rel=1e-10)


def test_difference_interval_is_the_conditional_binomial_interval_and_covers():
    # independent computation: the discordant pairs' split by scipy, mapped to (2p - 1) m / n
    n10, n01, n = 22, 11, 899
    ci = stats.binomtest(n10, n10 + n01).proportion_ci(0.95, method="exact")
    est, lo, hi = difference_interval(n10, n01, n)
    assert est == pytest.approx(11 / 899)
    assert (lo, hi) == pytest.approx(((2 * ci.low - 1) * 33 / n, (2 * ci.high - 1) * 33 / n))
    assert difference_interval(0, 0, 50) == (0.0, 0.0, 0.0)
    # coverage on simulated paired samples with a known difference of 0.02
    rng = np.random.default_rng(0)
    p = np.array([0.05, 0.03, 0.92])
    draws = rng.multinomial(800, p, size=400)
    covered = [lo <= 0.02 <= hi for lo, hi in
               (difference_interval(a, b, 800)[1:] for a, b, _ in draws)]
    assert np.mean(covered) >= 0.93


def test_bootstrap_intervals_agree_with_exact_ones_on_large_samples():
    rng = np.random.default_rng(1)
    e = proportion_interval(300, 10_000)
    b = proportion_interval(300, 10_000, method="bootstrap", n_boot=4000, rng=rng)
    assert b[0] == e[0] and b[1] == pytest.approx(e[1], abs=0.0015) and b[2] == pytest.approx(e[2], abs=0.0015)
    e = difference_interval(300, 200, 10_000)
    b = difference_interval(300, 200, 10_000, method="bootstrap", n_boot=4000, rng=rng)
    assert b[1] == pytest.approx(e[1], abs=0.002) and b[2] == pytest.approx(e[2], abs=0.002)


def _update(n=2000, k=5, nfr=0.02, pfr=0.02, err_old=0.1, seed=0):
    """Labels with exactly the given rates: old right/new wrong on the first nfr*n samples, etc."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    old, new = y.copy(), y.copy()
    a, b, c = int(nfr * n), int(pfr * n), int(err_old * n)
    new[:a] = (y[:a] + 1) % k
    old[a:a + b] = (y[a:a + b] + 1) % k
    old[a + b:a + c] = (y[a + b:a + c] + 2) % k          # both wrong: old errors beyond the positive flips
    new[a + b:a + c] = (y[a + b:a + c] + 2) % k
    perm = rng.permutation(n)
    return y[perm], old[perm], new[perm]


def test_verdict_uses_the_interval_unless_strict():
    y, old, new = _update(nfr=0.012)       # point estimate 1.2% over a 1% budget, within noise at n=2000
    soft = gate_update(y, old, new, max_nfr=0.01, class_slices=False)
    hard = gate_update(y, old, new, max_nfr=0.01, class_slices=False, strict=True)
    assert soft.passed and soft.exit_code == 0 and soft.checks[0].excess > 0 and soft.checks[0].excess_low < 0
    assert not hard.passed and hard.exit_code == 1
    bad = gate_update(y, *_update(nfr=0.03)[1:], max_nfr=0.01, class_slices=False)
    assert not bad.passed and bad.checks[0].low > 0.01
    c = bad.checks[0]
    ci = stats.binomtest(60, 2000).proportion_ci(0.95)
    assert (c.value, c.low, c.high) == pytest.approx((0.03, ci.low, ci.high))


def test_error_increase_and_nfi_budgets():
    y, old, new = _update(nfr=0.04, pfr=0.01)
    r = gate_update(y, old, new, max_error_increase=0.0, max_nfi=0.9, class_slices=False)
    by = {c.metric: c for c in r.checks}
    assert by["error_change"].status == "fail" and by["error_change"].value == pytest.approx(0.03)
    assert by["nfi"].status == "pass"
    assert r.mcnemar_p == pytest.approx(stats.binomtest(80, 100, 0.5).pvalue)
    assert gate_update(y, old, new, max_error_increase=0.05, class_slices=False).passed


def test_retrain_budget_is_paired():
    y, old, new = _update(nfr=0.03)
    retrain = new.copy()                    # a retrain that flips exactly the same samples: no excess
    same = gate_update(y, old, new, y_retrain=retrain, class_slices=False)
    assert same.passed and same.checks[0].excess == 0 and same.budget["retrain"]["nfr"] == pytest.approx(0.03)
    calm = old.copy()                       # a retrain with no churn: the new model's 3% NFR is too much
    r = gate_update(y, old, new, y_retrain=calm, class_slices=False)
    assert not r.passed and r.checks[0].metric == "nfr_vs_retrain" and r.checks[0].excess_low > 0
    assert "retrain" in r.budget["source"]


def test_a_slice_fails_while_the_average_passes_and_tiny_slices_are_skipped():
    rng = np.random.default_rng(3)
    n = 3000
    y = rng.integers(0, 5, n)
    old, new = y.copy(), y.copy()
    hit = np.flatnonzero(y == 2)[:60]       # class 2 loses 60 of its ~600 samples: 2% overall, 10% in class 2
    new[hit] = 3
    region = np.where(np.arange(n) < 20, "tiny", np.where(np.arange(n) % 2, "north", "south"))
    r = gate_update(y, old, new, max_nfr=0.03, slices={"region": region}, class_names=list("abcde"))
    overall = [c for c in r.checks if c.slice is None]
    assert overall[0].status == "pass"
    failed = [(c.attribute, c.slice) for c in r.failed]
    assert failed == [("class", "c")] and r.exit_code == 1
    tiny = next(c for c in r.checks if c.slice == "tiny")
    assert tiny.status == "skipped" and "20 samples" in tiny.note
    judged = [c for c in r.checks if c.slice is not None and c.status != "skipped"]
    assert judged[0].confidence == pytest.approx(1 - 0.05 / len(judged))   # Bonferroni over slice checks
    assert gate_update(y, old, new, max_nfr=0.03, class_slices=False).passed


def test_bad_function_input():
    y, old, new = _update()
    with pytest.raises(ValueError, match="no budget"):
        gate_update(y, old, new)
    with pytest.raises(ValueError, match="max_nfr"):
        gate_update(y, old, new, max_nfr=1.5)
    with pytest.raises(ValueError, match="y_retrain has 10"):
        gate_update(y, old, new, y_retrain=old[:10])
    with pytest.raises(ValueError, match="one value per sample"):
        gate_update(y, old, new, max_nfr=0.1, slices={"region": ["a"] * 5})


def _files(tmp_path, nfr=0.03):
    y, old, new = _update(nfr=nfr)
    for name, a in (("y", y), ("old", old), ("new", new), ("retrain", old)):
        np.save(tmp_path / f"{name}.npy", a)
    return [f"--true={tmp_path / 'y.npy'}", f"--old={tmp_path / 'old.npy'}", f"--new={tmp_path / 'new.npy'}"]


def test_cli_formats_and_exit_codes(tmp_path, capsys):
    base = _files(tmp_path)
    assert cli(["gate", *base, "--max-nfr", "0.05"]) == 0
    assert "verdict: PASS" in capsys.readouterr().out
    assert cli(["gate", *base, "--old-retrain", str(tmp_path / "retrain.npy"), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == SCHEMA == "gracekit.gate/1" and doc["passed"] is False and doc["exit_code"] == 1
    assert doc["rates"]["nfr"]["value"] == pytest.approx(0.03) and doc["budget"]["retrain"]["nfr"] == 0
    assert {"metric", "attribute", "slice", "value", "low", "high", "budget", "excess_low", "status"} <= set(
        doc["checks"][0])
    # every top-level field of the JSON is documented in docs/gate.md
    page = (ROOT / "docs" / "gate.md").read_text()
    assert all(f"`{k}`" in page for k in doc), [k for k in doc if f"`{k}`" not in page]
    out = tmp_path / "out" / "gate.xml"
    assert cli(["gate", *base, "--max-nfr", "0.01", "--format", "junit", "--output", str(out)]) == 1
    assert "verdict: FAIL" in capsys.readouterr().out     # the text still reaches the log
    root = check_junit(out.read_text())
    fails = root.findall(".//failure")
    expected = gate_update(*(np.load(tmp_path / f"{k}.npy") for k in ("y", "old", "new")), max_nfr=0.01)
    assert len(fails) == len(expected.failed) > 1 and "NFR [overall]" in fails[0].get("message")
    assert [t.get("name") for t in root.iter("testcase")] == [c.name for c in expected.checks]
    assert cli(["gate", *base, "--max-nfr", "0.01", "--format", "markdown"]) == 1
    md = capsys.readouterr().out
    assert md.startswith("### ❌ gracekit gate: FAIL") and "| NFR [overall] | ❌ fail |" in md
    assert cli(["gate", *base, "--max-nfr", "0.05", "--ci", "bootstrap", "--n-boot", "500", "--format", "junit"]) == 0
    check_junit(capsys.readouterr().out)


def _npy(path, a):
    np.save(path, a)
    return str(path)


def _bad_cases(tmp, base):
    y = np.load(tmp / "y.npy")
    return {
        "missing retrain": (["--max-nfr", "0.1", "--old-retrain", str(tmp / "nope.npy")], "nope.npy"),
        "short retrain": (["--old-retrain", _npy(tmp / "short.npy", y[:50])], "short.npy"),
        "retrain unknown label": (["--old-retrain", _npy(tmp / "big.npy", y + 9)], "big.npy"),
        "slices rows": (["--max-nfr", "0.1", "--slices", str(_w(tmp / "s.csv", "region\na\nb\n"))], "s.csv"),
        "slices empty value": (["--max-nfr", "0.1", "--slices",
                                str(_w(tmp / "e.csv", "region\n" + "a\n" * (len(y) - 1) + ",\n"))], "e.csv"),
        "slices id order": (["--max-nfr", "0.1", "--slices",
                             str(_w(tmp / "i.csv", "id,region\n" + "".join(f"x{i},a\n" for i in range(len(y)))))],
                            "i.csv"),
        "slice named class": (["--max-nfr", "0.1", "--slices", str(_w(tmp / "c.csv", "class\n" + "a\n" * len(y)))],
                              "class"),
        "old missing": (["--max-nfr", "0.1", "--old", str(tmp / "gone.csv")], "gone.csv"),
    }


def _w(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", ["missing retrain", "short retrain", "retrain unknown label", "slices rows",
                                  "slices empty value", "slices id order", "slice named class", "old missing"])
def test_bad_files_exit_2_with_one_line_naming_the_file(case, tmp_path, capsys):
    base = _files(tmp_path)
    args, needle = _bad_cases(tmp_path, base)[case]
    if case == "slices id order":   # ids to compare against: a combined CSV with an id column
        y, old, new = (np.load(tmp_path / f"{n}.npy") for n in ("y", "old", "new"))
        comb = _w(tmp_path / "comb.csv", "id,y_true,y_old,y_new\n" + "".join(
            f"r{i},{a},{b},{c}\n" for i, (a, b, c) in enumerate(zip(y, old, new))))
        base = [str(comb)]
    if case == "old missing":
        base = base[:1] + base[2:]
    assert cli(["gate", *base, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gracekit gate: error:") and len(err.splitlines()) == 1 and needle in err


def test_argument_errors_exit_2(tmp_path, capsys):
    base = _files(tmp_path)
    for args in ([], ["--max-nfr", "lots"], ["--max-nfr", "0.1", "--format", "yaml"], ["--max-nfr", "-0.1"]):
        with pytest.raises(SystemExit) as e:
            code = cli(["gate", *base, *args])
            raise SystemExit(code)
        assert e.value.code == 2, args
    assert "budget" in capsys.readouterr().err


def test_module_entry_point_exit_code_and_help(tmp_path):
    base = _files(tmp_path)
    run = [sys.executable, "-m", "gracekit", "gate", *base]
    assert subprocess.run(run + ["--max-nfr", "0.01"], capture_output=True, cwd=ROOT).returncode == 1
    assert subprocess.run(run + ["--max-nfr", "0.05"], capture_output=True, cwd=ROOT).returncode == 0
    helptext = subprocess.run([sys.executable, "-m", "gracekit", "gate", "--help"], capture_output=True, text=True,
                              cwd=ROOT).stdout
    assert "examples:" in helptext and "--old-retrain" in helptext


def test_docs_workflow_is_valid_yaml_and_runs_the_gate():
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "docs" / "examples" / "gate-workflow.yml").read_text()
    wf = yaml.safe_load(text)
    on = wf.get("on", wf.get(True))                      # YAML 1.1 reads the key `on` as True
    assert "pull_request" in on
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "gracekit gate" in runs and "--format junit" in runs and "--old-retrain" in runs
    assert all("uses" in s or "run" in s for s in steps)
    assert text.strip() in (ROOT / "docs" / "gate.md").read_text()   # the page shows this exact file


def test_os_errors_are_one_line_naming_the_path(tmp_path, capsys):
    """A folder given as a file is an OS error: one line naming it and exit code 2, for gate and compat."""
    from gracekit.__main__ import main

    folder = tmp_path / "a_folder.npy"
    folder.mkdir()
    for argv in (["gate", "--true", str(folder), "--old", str(folder), "--new", str(folder), "--max-nfr", "0.1"],
                 ["compat", "--old-gallery", str(folder), "--new-query", str(folder), "--gallery-ids", str(folder),
                  "--query-ids", str(folder)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "a_folder.npy" in err and "Traceback" not in err
