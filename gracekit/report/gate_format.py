"""Rendering a gate (or compat) result: text for a terminal, JSON (versioned schema), Markdown for a pull
request comment, JUnit XML for CI test tabs.

``render(result, fmt)`` dispatches on ``fmt`` in FORMATS; ``junit_xml(suite, cases)`` is shared with
``gracekit compat``. The JSON schemas are documented in docs/gate.md.
"""
import json
import math
import xml.etree.ElementTree as ET

__all__ = ["FORMATS", "render", "render_text", "render_json", "render_markdown", "render_junit", "junit_xml",
           "clean_json", "pct"]

FORMATS = ("text", "json", "markdown", "junit")
RATE_LABELS = [("err_old", "error, old model"), ("err_new", "error, new model"),
               ("error_change", "error change (new - old)"), ("nfr", "negative flip rate (NFR)"),
               ("pfr", "positive flip rate (PFR)"), ("nfi", "negative flip impact (NFI)"),
               ("nfr_retrain", "NFR of the old recipe retrained")]


def pct(v, signed=False, unit="%"):
    """A rate as percent text ('n/a' when undefined)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{100 * v:+.2f}{unit}" if signed else f"{100 * v:.2f}{unit}"


def clean_json(obj):
    """Replace NaN/inf floats by None (JSON has no NaN), recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return clean_json(obj.item())
    return obj


def _interval(t, signed=False):
    v, lo, hi = t
    unit = " pt" if signed else "%"  # differences of rates are percentage points
    return f"{pct(v, signed, unit)} [{pct(lo, signed, unit)}, {pct(hi, signed, unit)}]"


def _check_line(c, width=34):
    signed = c.metric in ("error_change", "nfr_vs_retrain")
    value = _interval((c.excess, c.excess_low, c.excess_high), True) if c.metric == "nfr_vs_retrain" else \
        _interval((c.value, c.low, c.high), signed)
    label = "excess" if c.metric == "nfr_vs_retrain" else "value"
    return (f"  {c.status.upper():<5} {c.name:<{width}} n={c.n:<6} {label} {value}  budget "
            f"{pct(c.budget, True, ' pt') if c.metric == 'error_change' else pct(c.budget)}"
            f"  ({c.note})")


def render_text(result, max_slices=12):
    """Terminal text of a GateResult."""
    r = result
    lines = [f"gracekit gate: {r.n:,} samples, {len(r.class_names)} classes; {r.method} intervals at "
             f"{100 * r.confidence:g}%" + ("; strict (point estimates)" if r.strict else ""),
             f"budget: {r.budget['source']}", "", f"{'metric':<34}{'estimate and interval':>30}"]
    for key, label in RATE_LABELS:
        if key in r.rates:
            lines.append(f"{label:<34}{_interval(r.rates[key], key == 'error_change'):>30}")
    lines.append(f"McNemar's exact test (error change): p = {r.mcnemar_p:.4g} "
                 f"({r.counts['negative_flips']} negative vs {r.counts['positive_flips']} positive flips)")
    overall = [c for c in r.checks if c.slice is None]
    sl = [c for c in r.checks if c.slice is not None]
    lines += ["", "checks on all samples:"] + [_check_line(c) for c in overall]
    if sl:
        judged = [c for c in sl if c.status != "skipped"]
        conf = judged[0].confidence if judged else r.confidence
        lines += ["", f"slice checks: {len(judged)} judged, {len(sl) - len(judged)} skipped (< {r.min_slice_size} "
                      f"samples); slice intervals at {100 * conf:.4g}% ({r.correction} correction)"]
        shown = sorted(judged, key=lambda c: (c.status != "fail", -(c.excess if math.isfinite(c.excess)
                                                                      else -1)))[:max_slices]
        lines += [_check_line(c) for c in shown]
        if len(judged) > len(shown):
            lines.append(f"  ... {len(judged) - len(shown)} more passing slice checks (--format json lists all)")
    lines += ["", f"verdict: {r.verdict}"]
    return "\n".join(lines)


def render_json(result):
    """The JSON document of ``result.to_dict()`` (schema in its "schema" field)."""
    return json.dumps(clean_json(result.to_dict()), indent=2, allow_nan=False)


def _md(s):
    return str(s).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(result):
    """A pull-request comment: verdict, metrics with intervals, failing checks, all slices folded."""
    r = result
    head = "### ✅ gracekit gate: PASS" if r.passed else "### ❌ gracekit gate: FAIL"
    lines = [head, "", _md(r.verdict), "", f"**Budget:** {_md(r.budget['source'])}. {r.n:,} samples, "
             f"{r.method} intervals at {100 * r.confidence:g}%{', strict' if r.strict else ''}.", "",
             "| metric | estimate | interval |", "|---|---:|---|"]
    for key, label in RATE_LABELS:
        if key in r.rates:
            v, lo, hi = r.rates[key]
            s, u = key == "error_change", " pt" if key == "error_change" else "%"
            lines.append(f"| {label} | {pct(v, s, u)} | [{pct(lo, s, u)}, {pct(hi, s, u)}] |")
    lines += ["", f"McNemar's exact test on the error change: p = {r.mcnemar_p:.4g}.", "",
              "| check | status | n | value | interval | budget | excess interval |", "|---|---|---:|---:|---|---:|---|"]

    def row(c):
        return (f"| {_md(c.name)} | {'❌ fail' if c.status == 'fail' else '✅ pass' if c.status == 'pass' else '➖ skipped'}"
                f" | {c.n} | {pct(c.value)} | [{pct(c.low)}, {pct(c.high)}] | {pct(c.budget)} | "
                f"[{pct(c.excess_low, True, ' pt')}, {pct(c.excess_high, True, ' pt')}] |")
    shown = [c for c in r.checks if c.slice is None or c.status == "fail"]
    lines += [row(c) for c in shown]
    rest = [c for c in r.checks if c not in shown]
    if rest:
        lines += ["", f"<details><summary>{len(rest)} more slice checks</summary>", "",
                  "| check | status | n | value | interval | budget | excess interval |",
                  "|---|---|---:|---:|---|---:|---|"] + [row(c) for c in rest] + ["", "</details>"]
    return "\n".join(lines) + "\n"


def junit_xml(suite, cases, properties=None):
    """JUnit XML text: ``cases`` is a list of dicts with name, classname, status ("pass", "fail",
    "skipped"), message and text."""
    n_fail = sum(c["status"] == "fail" for c in cases)
    n_skip = sum(c["status"] == "skipped" for c in cases)
    root = ET.Element("testsuites", name=suite, tests=str(len(cases)), failures=str(n_fail), errors="0",
                      skipped=str(n_skip), time="0")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(n_fail), errors="0",
                       skipped=str(n_skip), time="0")
    if properties:
        props = ET.SubElement(ts, "properties")
        for k, v in properties.items():
            ET.SubElement(props, "property", name=str(k), value=str(v))
    for c in cases:
        tc = ET.SubElement(ts, "testcase", name=c["name"], classname=c["classname"], time="0")
        if c["status"] == "fail":
            f = ET.SubElement(tc, "failure", message=c["message"], type="RegressionBudgetExceeded")
            f.text = c.get("text", c["message"])
        elif c["status"] == "skipped":
            ET.SubElement(tc, "skipped", message=c["message"])
        else:
            ET.SubElement(tc, "system-out").text = c.get("text", c["message"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_junit(result):
    """One JUnit test case per check (failures for checks over budget, skipped for small slices)."""
    cases = []
    for c in result.checks:
        where = "overall" if c.slice is None else f"{c.attribute}.{c.slice}"
        msg = (f"{c.name}: value {pct(c.value)} [{pct(c.low)}, {pct(c.high)}], budget {pct(c.budget)} "
               f"({c.budget_source}), excess [{pct(c.excess_low, True, ' pt')}, {pct(c.excess_high, True, ' pt')}]: "
               f"{c.note}")
        cases.append({"name": c.name, "classname": f"gracekit.gate.{where}", "status": c.status, "message": msg})
    return junit_xml("gracekit gate", cases, {"schema": "gracekit.gate/1", "verdict": result.verdict,
                                              "budget": result.budget["source"], "n": result.n})


def render(result, fmt):
    """Render a GateResult (or any object with matching ``to_*``) in one of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if hasattr(result, f"render_{fmt}"):  # CompatResult renders itself
        return getattr(result, f"render_{fmt}")()
    return {"text": render_text, "json": render_json, "markdown": render_markdown, "junit": render_junit}[fmt](result)
