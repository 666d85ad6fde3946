"""The layout of docs/architecture.md, checked: imports point down, modules stay small.

Read with ``ast`` (nothing is imported), except the last test, which imports explorers in a fresh
interpreter to check that a widget does not pull in training libraries.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gracekit"
TOPICS = {"flips", "pct", "bct", "edge", "lqf", "report", "chain", "scale", "beyond_pct", "beyond_bct"}
PRESENTATION = {"plots", "explorer", "html", "text", "cli", "gate_cli", "compat_cli", "gate_format", "compat_format",
                "__main__"}
# what computing code must never import: figures and widgets (a report object may render itself as
# text or HTML through its renderers, like pandas' to_html)
DRAWING = {"plots", "explorer"}
# a topic may build on another topic's experiment code (never on its plots or explorer)
ALLOWED_TOPIC_EDGES = {"scale": {"pct"}, "edge": {"bct"}, "beyond_pct": {"pct", "chain"},
                       "beyond_bct": {"bct", "chain"}}
ENTRY_POINTS = {"gracekit.__main__", "gracekit.doctor"}
MAX_LINES = 300


def _modules():
    for f in sorted(PKG.rglob("*.py")):
        parts = f.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        yield name, f


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            if node.module in ("gracekit",) or node.module.split(".")[-1] in TOPICS | {"viz"}:
                out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "gracekit" or m.startswith("gracekit.")} | (
        {m for m in out if m.split(".")[0] in ("nbrun", "bench")})


MODULES = dict(_modules())


def _topic(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in TOPICS else None


def _role(name):
    return name.split(".")[-1]


def test_the_map_lists_real_modules():
    assert "gracekit.metrics" in MODULES and "gracekit.pct.experiment" in MODULES
    assert {_topic(m) for m in MODULES} - {None} >= {"flips", "pct", "bct", "edge", "lqf", "report", "chain"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
    deps = _imports(MODULES[name])
    assert not {d for d in deps if d.split(".")[0] in ("nbrun", "bench")}, "the package never imports tools/"
    topic = _topic(name)
    if topic is None and name.split(".")[1:2] != ["viz"] and name not in ENTRY_POINTS:
        bad = {d for d in deps if _topic(d) or d.startswith("gracekit.viz")}
        assert not bad, f"core module {name} imports a topic or the widgets: {sorted(bad)}"
        return
    if topic is None:
        return
    role = _role(name)
    if role not in PRESENTATION:
        bad = {d for d in deps if _role(d) in DRAWING or d.startswith("gracekit.viz")}
        assert not bad, f"{name} computes; it must not import plots, explorers or widgets: {sorted(bad)}"
    if role == "plots":
        bad = {d for d in deps if _role(d) == "explorer" or d == "gracekit.train"}
        assert not bad, f"{name} draws; it must not import an explorer or training: {sorted(bad)}"
    others = {_topic(d) for d in deps} - {None, topic}
    assert others <= ALLOWED_TOPIC_EDGES.get(topic, set()), f"{name} imports the topics {sorted(others)}"
    for d in deps:
        if _topic(d) not in (None, topic):
            assert _role(d) not in PRESENTATION, f"{name} imports another topic's presentation {d}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    n = len(MODULES[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{name} has {n} lines (split it by job; the guide is about {MAX_LINES})"


def test_the_architecture_page_names_every_module():
    page = (PKG.parent / "docs" / "architecture.md").read_text()
    missing = [name for name, path in MODULES.items()
               if path.name != "__init__.py" and name.split(".", 1)[1].replace(".", "/") + ".py" not in page]
    assert not missing, f"docs/architecture.md does not describe: {missing}"


def test_pct_explorer_imports_without_training_libraries():
    code = ("import sys, gracekit.pct.explorer, gracekit.flips.plots, gracekit.sweeps; "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"importing the trade-off explorer loads {out.stdout.strip()}"
