"""Copy the notebooks into workspace/ (ignored by git) for a learner, keeping files already there.

`make lab` runs this and opens JupyterLab on workspace/, so saving a notebook (autosave too) never
changes the tracked notebooks/*.ipynb or their .py sources. Delete a file in workspace/ to get a fresh
copy of it next time.
"""
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(dest=ROOT / "workspace"):
    dest = Path(dest)
    copied = 0
    for src in sorted((ROOT / "notebooks").glob("**/[0-9][0-9]_*.ipynb")):
        target = dest / src.relative_to(ROOT / "notebooks")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            copied += 1
    print(f"workspace: {dest} ({copied} notebooks copied, others kept)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
