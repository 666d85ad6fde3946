"""Point every Colab badge and the notebooks' Colab setup at a published fork, then regenerate the .ipynb files.

Usage: python tools/set_repo.py OWNER/NAME [--branch BRANCH]
       python tools/set_repo.py --show          # print the repository the files name now

Rewrites, in notebooks/NN_topic.py, README.md and docs/*.md:
  https://colab.research.google.com/github/OWNER/NAME/blob/BRANCH/notebooks/...   (the badges)
  git+https://github.com/OWNER/NAME                                               (the Colab setup cell)
then writes the paired notebooks/NN_topic.ipynb and notebooks/student/ copies (tools/sync_notebooks.py).
"""
import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sync_notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_PART = r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]+?"
BADGE = re.compile(r"(https://colab\.research\.google\.com/github/)(" + _PART + r")(/blob/)([^/\s)]+)(/)")
SETUP = re.compile(r"(git\+https://github\.com/)(" + _PART + r")(?=[@\"'\\\s#]|\.git|$)")

__all__ = ["files", "repositories", "set_repo"]


def files(root=ROOT):
    """The hand-written files that name the repository (sources, not generated notebooks)."""
    root = Path(root)
    return [*sorted((root / "notebooks").glob("[0-9][0-9]_*.py")), root / "README.md",
            *sorted((root / "docs").rglob("*.md"))]


def repositories(text):
    """Every (kind, 'owner/name') a text names in a Colab badge ('badge') or setup call ('setup')."""
    return ([("badge", m.group(2)) for m in BADGE.finditer(text)] +
            [("setup", m.group(2)) for m in SETUP.finditer(text)])


def set_repo(repo, branch=None, root=ROOT):
    """Rewrite badges and setup calls in ``files(root)`` to name ``repo``; regenerate the notebooks.

    Returns:
        {path: number of replacements} for the files that changed.
    """
    if not isinstance(repo, str) or not REPO_RE.match(repo):
        raise ValueError(f"repo: expected OWNER/NAME as on GitHub (e.g. alice/gracekit), got {repo!r}")
    if branch is not None and not re.fullmatch(r"[A-Za-z0-9._/-]+", branch):
        raise ValueError(f"branch: expected a git branch name, got {branch!r}")
    changed = {}
    for path in files(root):
        if not path.is_file():
            continue
        text = path.read_text()
        new, n_badge = BADGE.subn(lambda m: m.group(1) + repo + m.group(3) + (branch or m.group(4)) + m.group(5), text)
        new, n_setup = SETUP.subn(lambda m: m.group(1) + repo, new)
        if new != text:
            path.write_text(new)
            changed[path] = n_badge + n_setup
    root = Path(root)
    for py in sorted((root / "notebooks").glob("[0-9][0-9]_*.py")):
        for target, student in ((py.with_suffix(".ipynb"), False),
                                (root / "notebooks" / "student" / (py.stem + ".ipynb"), True)):
            text = sync_notebooks.to_ipynb(py, student)
            if not target.exists() or target.read_text() != text:
                target.parent.mkdir(exist_ok=True)
                target.write_text(text)
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", help="OWNER/NAME of the published fork")
    parser.add_argument("--branch", help="branch the badges open (default: keep the current one)")
    parser.add_argument("--show", action="store_true", help="print the repositories named now")
    args = parser.parse_args(argv)
    if args.show or not args.repo:
        named = sorted({r for p in files() if p.is_file() for _, r in repositories(p.read_text())})
        print("\n".join(named) or "no Colab badge or setup call found")
        return 0 if len(named) == 1 else 1
    try:
        changed = set_repo(args.repo, args.branch)
    except ValueError as err:
        parser.error(str(err))
    for path, n in changed.items():
        print(f"{path.relative_to(ROOT)}: {n} links")
    print(f"Colab badges and setup now name {args.repo}; notebooks regenerated. Commit and push to the fork.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
