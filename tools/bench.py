"""`python tools/bench.py` (`make bench`): time every notebook (FAST and full), time widget redraws, and write
the numbers the notebooks report into docs/benchmarks.md.

A notebook marks the cells whose printed output belongs in the report with the tag ``report``.
Timings depend on the machine and on what else runs on it; the report records both.
"""
import argparse
import datetime
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from gracekit.cache import atomic_write_bytes

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FAST_BAR_S, FULL_BAR_S, REDRAW_BAR_MS = 60, 120, 100

__all__ = ["time_notebook", "blend_explorer_redraws", "main"]


def time_notebook(path, fast):
    """Execute one notebook in FAST or full mode; return (seconds, report text, error or None)."""
    from nbrun import execute_notebook, notebook_errors

    import tempfile

    os.environ["GRACEKIT_FAST"] = "1" if fast else "0"
    # an empty model cache: the time a learner's first run takes (shipped data/ files still count)
    os.environ["GRACEKIT_CACHE"] = tempfile.mkdtemp(prefix="gracekit-bench-cache-")
    try:
        nb, seconds = execute_notebook(path, timeout=900)
    except Exception as err:  # a failed run is recorded, not fatal to the report
        return float("nan"), "", f"{err.__class__.__name__}: {str(err).splitlines()[-1][:200]}"
    errors = notebook_errors(nb)
    texts = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "report" in cell.metadata.get("tags", []):
            texts += [o["text"] for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
    err = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else None
    return seconds, "".join(texts).strip(), err


def blend_explorer_redraws(n_moves=20):
    """Milliseconds per slider move of notebook 01's blend explorer (state + figure to PNG)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    from gracekit.datasets import make_moons_data
    from gracekit.flips import explorer as widgets
    from gracekit.flips import plots as plots

    X, y, Xt, yt = make_moons_data(200, 20_000, noise=0.3, seed=0)
    Xn, yn, _, _ = make_moons_data(2000, 1, noise=0.3, seed=100)
    old = LogisticRegression().fit(X, y)
    new = MLPClassifier((32, 32), max_iter=2000, random_state=0).fit(Xn, yn)
    extent, g_old = plots.decision_grid(old.predict_proba, Xt, resolution=200)
    _, g_new = plots.decision_grid(new.predict_proba, Xt, resolution=200)
    model = widgets.BlendModel(yt, old.predict_proba(Xt), new.predict_proba(Xt), X=Xt,
                               grid_old=g_old, grid_new=g_new, extent=extent)
    ex = widgets.BlendView(model)
    times = []
    for i in range(n_moves):
        ex.slider.value = round(0.05 * ((i + 1) % 21), 2)  # each move renders the PNG the page shows
        times.append(ex.last_redraw_ms)
    return times


def _time_moves(control, values):
    """Milliseconds from setting ``control.value`` until its observers have redrawn, per value."""
    times = []
    for v in values:
        start = time.perf_counter()
        control.value = v
        times.append(1000 * (time.perf_counter() - start))
    return times


def pct_explorer_redraws(n_moves=20):
    """Milliseconds per lambda-slider move of notebook 02's trade-off explorer (shipped sweep)."""
    from gracekit.pct.explorer import PCTModel, PCTView
    from gracekit.sweeps import load_records

    records, _ = load_records(ROOT / "gracekit" / "data" / "pct_sweep.json")
    view = PCTView(PCTModel(records))
    n = view.knob.max + 1
    return _time_moves(view.knob, [(i + 1) % n for i in range(n_moves)])


def edge_budget_redraws(n_moves=20):
    """Milliseconds per budget-slider move of notebook 04's explorer (shipped sweep)."""
    from gracekit.edge.recipe import load_sweep
    from gracekit.edge.explorer import EdgeBudgetModel, EdgeBudgetView
    from gracekit.edge.sweep import summarize

    sweep = load_sweep()
    view = EdgeBudgetView(EdgeBudgetModel.from_rows(summarize(sweep["records"], sweep["costs"], grid=False),
                                               sweep["costs"]))
    lo, hi = view.slider.min, view.slider.max
    return _time_moves(view.slider, [lo + (hi - lo) * ((i * 7) % n_moves) / n_moves for i in range(n_moves)])


def bct_sweep_redraws(n_moves=20):
    """Milliseconds per lambda-slider move of notebook 03's sweep explorer (shipped sweep, seed 0)."""
    from gracekit.bct.explorer import BCTSweepModel, BCTSweepView
    from gracekit.sweeps import load_records

    records, _ = load_records(ROOT / "gracekit" / "data" / "bct_sweep.json")
    seed0 = [r for r in records if r["seed"] == 0 and r["name"].startswith("bct-") and r["name"] != "bct-oldonly"]
    view = BCTSweepView(BCTSweepModel.from_records(seed0))
    n = view.slider.max + 1
    return _time_moves(view.slider, [(i + 1) % n for i in range(n_moves)])


def head_init_redraws(n_moves=20):
    """Milliseconds per head-scale move of notebook 05's explorer (arrays shaped like the notebook's)."""
    from gracekit.lqf.explorer import HeadInitModel, HeadInitView

    rng = np.random.default_rng(0)
    stds, acts = (0.001, 0.01, 0.03, 0.1, 0.3, 1.0), ("relu", "leaky_relu")
    shares = {a: [list(s / s.sum()) for s in rng.uniform(0.1, 1, (len(stds), 3))] for a in acts}
    model = HeadInitModel(stds, {a: list(rng.uniform(0.6, 0.75, len(stds))) for a in acts}, shares,
                          {a: 0.66 for a in acts}, {a: 0.72 for a in acts}, ["layer 1", "layer 2", "head"])
    ex = HeadInitView(model, activation="relu", index=0)
    n = len(stds)
    return _time_moves(ex.slider, [(i + 1) % n for i in range(n_moves)])


def report_explorer_redraws(n_moves=20):
    """Milliseconds per control change of notebook 06's comparison widget (digits report), each state new."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    from gracekit.report import compare_models
    from gracekit.report.explorer import REGION_LABELS, ReportModel, ReportView

    digits = load_digits()
    X, y = digits.data / 16, digits.target
    idx = np.random.default_rng(0).permutation(len(y))
    tr, te = idx[:898], idx[898:]
    old = KNeighborsClassifier(3).fit(X[tr[:300]], y[tr[:300]])
    new = RandomForestClassifier(100, random_state=0).fit(X[tr], y[tr])
    ex = ReportView(ReportModel(compare_models(old, new, X[te], y[te], images=digits.images[te])))
    classes, regions = list(ex.class_box.options), list(REGION_LABELS)
    times = []
    for i in range(n_moves):  # alternate the two controls through states not seen before
        if i % 2:
            times += _time_moves(ex.region_box, [regions[(i // 2 + 1) % len(regions)]])
        else:
            times += _time_moves(ex.class_box, [classes[(i // 2 + 1) % len(classes)]])
    return times


def _redraw_benchmarks():
    """Every widget with a redraw benchmark: name -> function returning milliseconds per move."""
    return {"01 blend explorer": blend_explorer_redraws, "02 trade-off explorer": pct_explorer_redraws,
            "03 BCT sweep explorer": bct_sweep_redraws, "04 query-budget explorer": edge_budget_redraws,
            "05 head-init explorer": head_init_redraws, "06 comparison widget": report_explorer_redraws}


def _machine():
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, torch {torch.__version__}, load average {load:.1f} at start")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="notebook numbers, e.g. 01 03")
    parser.add_argument("--no-full", action="store_true", help="skip the full-size runs")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    if args.only:
        paths = [p for p in paths if p.name[:2] in args.only]
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    rows, reports, times = [], [], {}
    for p in paths:
        fast_s, _, fast_err = time_notebook(p, fast=True)
        full_s, text, full_err = (float("nan"), "", "skipped") if args.no_full else time_notebook(p, False)
        print(f"{p.name}: FAST {fast_s:.1f} s, full {full_s:.1f} s", file=sys.stderr)
        times[p] = (fast_s, full_s)
        ok = (fast_s <= FAST_BAR_S) and (args.no_full or full_s <= FULL_BAR_S)
        rows.append(f"| {p.stem} | {fast_s:.1f} | {full_s:.1f} | {'yes' if ok else 'NO'} | "
                    f"{fast_err or full_err or ''} |")
        if text:
            reports.append(f"### {p.stem} (full size)\n\n```\n{text}\n```\n")
    redraws = []
    for name, bench in _redraw_benchmarks().items():
        try:
            ms = bench()
        except Exception as err:  # a missing data file or an API change is reported, not fatal
            redraws.append(f"| {name} | 0 | - | - | failed: {err.__class__.__name__}: {err} |")
            continue
        med, worst = statistics.median(ms), max(ms)
        redraws.append(f"| {name} | {len(ms)} | {med:.1f} | {worst:.1f} | "
                       f"{'yes' if med <= REDRAW_BAR_MS else 'NO'} |")
    extra = sorted((ROOT / "docs" / "bench").glob("*.md"))
    lines = [
        "# Benchmarks", "",
        f"Written by `python tools/bench.py` (`make bench`) on {started}. Machine: {_machine()}.", "",
        f"Bars: FAST within {FAST_BAR_S} s and full within {FULL_BAR_S} s per notebook on 2 CPU cores; "
        f"a widget redraw within {REDRAW_BAR_MS} ms.", "",
        "## Notebook wall time (seconds, one run each, empty model cache, kernel start included)", "",
        "| notebook | FAST | full | within bars | note |", "|---|---|---|---|---|", *rows, "",
        "## Widget redraw (ms per slider move: new state, figure rendered to PNG)", "",
        "| widget | moves | median | worst | within bar |", "|---|---|---|---|---|", *redraws, "",
        "Each move is timed from setting the control's value to the end of its redraw (the view's "
        "`update`, which its `last_redraw_ms` also records). Every explorer blits the changing artists "
        "over a cached background (`gracekit.viz.blit.BlitFigure`) and sends PNG bytes to an "
        "`ipywidgets.Image`.", "",
        "## Numbers the notebooks report", "", *reports,
        "## Per-topic results (seeds, spreads, paper numbers side by side)", "",
        *[f"* [{p.stem}](bench/{p.name})" for p in extra], "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, "\n".join(lines).encode())
    print(f"wrote {out}", file=sys.stderr)
    if not args.only and not args.no_full:
        update_guide(times, started)
    return 0


GUIDE = ROOT / "docs" / "instructors.md"
_MARKS = ("<!-- bench-times: written by tools/bench.py -->", "<!-- end bench-times -->")


def update_guide(times, started, guide=GUIDE):
    """Rewrite the time table of the instructor guide (between its markers) from this run."""
    import jupytext

    text = guide.read_text()
    if _MARKS[0] not in text or _MARKS[1] not in text:
        print(f"{guide.name} has no bench-times markers; left as it is", file=sys.stderr)
        return
    rows = ["| notebook | learner time | machine time, FAST | machine time, full (empty cache) |",
            "|---|---|---|---|"]
    for p, (fast_s, full_s) in times.items():
        first = jupytext.read(p).cells[0].source
        title = re.sub(r"\s*·\s*", " ", first.splitlines()[0].lstrip("# ")).strip()
        learner = re.search(r"\*\*Time:\*\*\s*(~[\d-]+ min)", first)
        rows.append(f"| {title} | {learner.group(1) if learner else '?'} | {fast_s:.1f} s | {full_s:.1f} s |")
    rows.append("")
    rows.append(f"Machine times: `make bench` on {started}, {_machine()}; `docs/benchmarks.md` has the run.")
    head, rest = text.split(_MARKS[0], 1)
    _, tail = rest.split(_MARKS[1], 1)
    atomic_write_bytes(guide, (head + _MARKS[0] + "\n" + "\n".join(rows) + "\n" + _MARKS[1] + tail).encode())


if __name__ == "__main__":
    sys.exit(main())
