"""Colab links: every badge and every Colab setup call names one repository, and
`tools/set_repo.py OWNER/NAME` moves all of them, generated notebooks included, to a fork."""
import importlib
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def _tool(name):
    """A developer tool's module (tests/conftest.py puts tools/ on the path)."""
    return importlib.import_module(name)


def _named(root):
    """{path relative to root: [(kind, repo), ...]} over sources, generated notebooks and docs."""
    root = Path(root)
    paths = [*(root / "notebooks").glob("[0-9][0-9]_*.*"), *(root / "notebooks" / "student").glob("*.ipynb"),
             root / "README.md", *(root / "docs").rglob("*.md")]
    set_repo = _tool("set_repo")
    return {str(p.relative_to(root)): set_repo.repositories(p.read_text()) for p in paths if p.is_file()}


def test_every_badge_and_setup_call_names_the_same_repository():
    named = _named(ROOT)
    for py in SOURCES:
        for rel in (f"notebooks/{py.name}", f"notebooks/{py.stem}.ipynb", f"notebooks/student/{py.stem}.ipynb"):
            kinds = {kind for kind, _ in named[rel]}
            assert kinds == {"badge", "setup"}, f"{rel} lacks a Colab badge or the Colab setup call: {named[rel]}"
    assert any(kind == "badge" for kind, _ in named["README.md"]), "README has no Colab badge"
    repos = {repo for pairs in named.values() for _, repo in pairs}
    assert len(repos) == 1, f"badges and setup calls name different repositories: {sorted(repos)}"


def test_set_repo_moves_every_link_to_a_fork(tmp_path):
    for rel in ("notebooks", "docs", "README.md"):
        src = ROOT / rel
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / rel)
    before = _named(tmp_path)
    changed = _tool("set_repo").set_repo("alice/gk-fork", branch="spring", root=tmp_path)
    after = _named(tmp_path)
    assert changed, "nothing was rewritten"
    assert {p: len(v) for p, v in after.items()} == {p: len(v) for p, v in before.items()}
    assert {repo for pairs in after.values() for _, repo in pairs} == {"alice/gk-fork"}
    text = (tmp_path / "notebooks" / "student" / f"{SOURCES[0].stem}.ipynb").read_text()
    assert "github/alice/gk-fork/blob/spring/notebooks/" in text, "the student copy was not regenerated"
    assert "git+https://github.com/alice/gk-fork" in text
    sync = _tool("sync_notebooks")
    for py in (tmp_path / "notebooks").glob("[0-9][0-9]_*.py"):
        assert py.with_suffix(".ipynb").read_text() == sync.to_ipynb(py), f"{py.stem}.ipynb is stale"


@pytest.mark.parametrize("repo", ["gracekit", "a/b/c", "-x/y", "alice/gk fork", ""])
def test_set_repo_rejects_a_malformed_name(tmp_path, repo):
    with pytest.raises(ValueError, match="repo: expected OWNER/NAME"):
        _tool("set_repo").set_repo(repo, root=tmp_path)
