"""`make offline-kit` / `make warm`: prepare a room with no network.

    python tools/offline_kit.py build [--out offline-kit]   # make offline-kit
    python tools/offline_kit.py warm                         # make warm: warm this user's model cache
    python tools/offline_kit.py use KIT                      # make lab OFFLINE=KIT runs this

``build`` writes one folder a USB stick can carry:

    wheels/    every wheel `make lab` installs (torch, the lab extras, pip, and the build
               dependencies setuptools>=77 and wheel that an editable install needs)
    cache/     the model cache warmed by running every notebook at full size; with
               cache/real_data/olivettifaces.mat when the builder has it in real_data_dir()
    gracekit/  the project's files (notebooks, library, Makefile): what git tracks or would
    README.md  the two commands for a participant's laptop
    kit.json   what was built, when, and a fingerprint per warmed notebook

A rebuild keeps an existing cache/ and reruns only the notebooks whose source or library changed
(the rest are already warm); ``--cache-from DIR`` seeds cache/ from a warm cache folder.
Wheels are for the machine that builds the kit; ``--platform`` and ``--python-version`` (passed to
``pip download`` with ``--only-binary=:all:``) fetch them for another one, but pip evaluates dependency
markers on the building machine, so torch's Linux-only CUDA dependencies break a Windows or macOS
wheelhouse built on Linux: build there instead.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OLIVETTI = "olivettifaces.mat"
BUILD_REQUIRES = ["setuptools>=77", "wheel", "pip"]

__all__ = ["requirements", "download_wheels", "warm_cache", "copy_source", "build", "use_kit"]


def _pyproject():
    try:
        import tomllib
    except ImportError:  # Python < 3.11: pip carries a TOML reader
        from pip._vendor import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements(extras=("lab",)):
    """The requirement strings of the project and the given extras (from pyproject.toml)."""
    project = _pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        if extra not in project.get("optional-dependencies", {}):
            raise ValueError(f"extras: pyproject.toml has no extra {extra!r}")
        reqs += project["optional-dependencies"][extra]
    return reqs


def download_wheels(dest, torch="torch==2.13.0", wheels_from=(), platform_tag=None, python_version=None):
    """``pip download`` every wheel of ``torch``, the project with its lab extras, and the build
    requirements into ``dest``; build wheels for any source archive. Returns the wheel count.

    Args:
        dest: wheelhouse folder (created).
        torch: the torch requirement, as in the Makefile's TORCH (may carry pip options such as
            ``--index-url``).
        wheels_from: extra folders of wheels pip may take files from (``--find-links``).
        platform_tag, python_version: build for another machine (pip's ``--platform`` and
            ``--python-version``; binary wheels only).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    build_reqs = _pyproject().get("build-system", {}).get("requires", [])
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest)]
    for folder in wheels_from:
        cmd += ["--find-links", str(Path(folder).resolve())]
    if platform_tag or python_version:
        cmd += ["--only-binary=:all:", "--implementation", "cp"]
        cmd += ["--platform", platform_tag] if platform_tag else []
        cmd += ["--python-version", python_version] if python_version else []
    if any(dest.glob("torch-*.whl")) and not (platform_tag or python_version):
        # a rebuild (say after editing an exercise) needs no network when the wheelhouse already
        # holds everything; delete the wheels folder to fetch newer releases
        check = [sys.executable, "-m", "pip", "download", "--quiet", "--no-index", "--find-links", str(dest),
                 "--dest", str(dest), *shlex.split(torch), *requirements(), *build_reqs, *BUILD_REQUIRES]
        if subprocess.run(check, capture_output=True).returncode == 0:
            return sum(1 for _ in dest.glob("*.whl"))
    # torch first and on its own, as `make lab` installs it (TORCH may name its own index); then
    # the rest, held to the torch just saved so that no other build is fetched as a dependency
    subprocess.run(cmd + shlex.split(torch), check=True)
    saved = sorted(dest.glob("torch-*.whl"), key=lambda p: p.stat().st_mtime)
    pin = [f"torch=={saved[-1].name.split('-')[1]}", "--find-links", str(dest)] if saved else []
    subprocess.run(cmd + pin + requirements() + build_reqs + BUILD_REQUIRES, check=True)
    sources = [p for p in dest.iterdir() if p.suffix != ".whl"]
    if sources:  # an sdist would need its build tools offline: ship its wheel instead
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dest),
                        *map(str, sources)], check=True)
        for p in sources:
            p.unlink()
    return sum(1 for _ in dest.glob("*.whl"))


def _fingerprint(notebook):
    """Hash of one notebook source and everything it imports from the library (code and data)."""
    h = hashlib.sha256(Path(notebook).read_bytes())
    for p in sorted((ROOT / "gracekit").rglob("*")):
        if p.is_file() and p.suffix in {".py", ".json", ".pt", ".csv"} and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(ROOT)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _notebooks(only=None):
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    if only:
        paths = [p for p in paths if p.name[:2] in only or p.stem in only]
        if not paths:
            raise ValueError(f"only: no notebook matches {' '.join(only)} (e.g. 01 03)")
    return paths


def warm_cache(cache, only=None, done=None, log=print):
    """Run notebooks at full size with GRACEKIT_CACHE=cache, so their models are trained once.

    Args:
        cache: model cache folder (created).
        only: notebook numbers, e.g. ["02", "06"]; None for all.
        done: {notebook stem: fingerprint} of runs already in this cache; a notebook whose
            fingerprint is unchanged is skipped.
    Returns:
        {notebook stem: {"fingerprint", "seconds", "new_files"}} for the notebooks run or kept.
    """
    sys.path.insert(0, str(ROOT / "tools"))
    from nbrun import execute_notebook, notebook_errors

    cache = Path(cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("GRACEKIT_CACHE", "GRACEKIT_FAST", "GRACEKIT_REAL_DATA", "MPLBACKEND")}
    os.environ.update(GRACEKIT_CACHE=str(cache), GRACEKIT_FAST="0",
                      MPLBACKEND="module://matplotlib_inline.backend_inline")
    os.environ.pop("GRACEKIT_REAL_DATA", None)  # the kit's real data lives in cache/real_data
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    results = {}
    try:
        for nb in _notebooks(only):
            fp = _fingerprint(nb)
            if done and done.get(nb.stem, {}).get("fingerprint") == fp:
                results[nb.stem] = done[nb.stem]
                log(f"{nb.stem}: already warm (unchanged since the last build)")
                continue
            before = {p for p in cache.rglob("*") if p.is_file()}
            nb_run, seconds = execute_notebook(nb, timeout=1800, wall_timeout=3600)
            errors = notebook_errors(nb_run)
            if errors:
                raise RuntimeError(f"{nb.name} failed at full size: {errors[0]['ename']}: {errors[0]['evalue']}")
            new = len({p for p in cache.rglob("*") if p.is_file()} - before)
            results[nb.stem] = {"fingerprint": fp, "seconds": round(seconds, 1), "new_files": new}
            log(f"{nb.stem}: ran at full size in {seconds:.0f} s, {new} new cache files")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return results


def copy_source(dest):
    """Copy the project's files to ``dest``: those git tracks, as they are in the working tree, and new
    files git does not ignore (an adapted exercise travels before it is committed). A rebuild rewrites
    only changed files, removes files the project no longer has, and leaves the rest (a ``.venv``) alone.
    """
    import filecmp

    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True)
    dest = Path(dest)
    listing = dest / ".kit-files"
    files = sorted(f for f in out.stdout.decode().split("\0") if f and (ROOT / f).is_file())
    old = set(listing.read_text().splitlines()) if listing.is_file() else set()
    for rel in old - set(files):
        (dest / rel).unlink(missing_ok=True)
    for rel in files:
        target = dest / rel
        if not (target.is_file() and filecmp.cmp(ROOT / rel, target, shallow=True)):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target)
    listing.write_text("\n".join(files) + "\n")
    return len(files)


README = Path(__file__).with_name("offline_kit_README.md")  # the kit's README, filled in by build()


def build(out, torch="torch==2.13.0", only=None, cache_from=None, wheels_from=(), platform_tag=None,
          python_version=None, warm=True, log=print):
    """Write the offline kit folder ``out`` (see the module docstring). Returns the kit.json dict."""
    from gracekit.config import real_data_dir

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "kit.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    olivetti = real_data_dir() / OLIVETTI  # the builder's: read before GRACEKIT_CACHE points at the kit
    timings = {}

    start = time.perf_counter()
    n_wheels = download_wheels(out / "wheels", torch, wheels_from, platform_tag, python_version)
    timings["wheels"] = round(time.perf_counter() - start, 1)
    log(f"wheels: {n_wheels} files in {out / 'wheels'} ({timings['wheels']:.0f} s)")

    cache = out / "cache"
    cache.mkdir(exist_ok=True)
    if cache_from:
        cache_from = Path(cache_from)
        if not cache_from.is_dir():
            raise FileNotFoundError(f"cache_from: no such folder: {cache_from}")
        shutil.copytree(cache_from, cache, dirs_exist_ok=True)
        log(f"cache: copied from {cache_from}")
    if olivetti.is_file():  # notebook 03 finds it there while warming, and participants later
        (cache / "real_data").mkdir(parents=True, exist_ok=True)
        shutil.copy2(olivetti, cache / "real_data" / OLIVETTI)
    log(f"Olivetti: {'copied from ' + str(olivetti) if olivetti.is_file() else 'not found at ' + str(olivetti)}")

    warmed = dict(manifest.get("warmed", {}))
    if warm:
        start = time.perf_counter()
        warmed.update(warm_cache(cache, only, done=warmed, log=log))
        timings["warm"] = round(time.perf_counter() - start, 1)
    n_files = copy_source(out / "gracekit")
    log(f"source: {n_files} files in {out / 'gracekit'}")

    target = (f"platform {platform_tag or 'this one'}, Python {python_version or platform.python_version()}"
              if platform_tag or python_version else
              f"{platform.system()} {platform.machine()}, Python {platform.python_version()}")
    manifest = {"built": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "torch": torch,
                "target": target, "wheels": n_wheels, "warmed": warmed,
                "olivetti": (cache / "real_data" / OLIVETTI).is_file(), "seconds": timings}
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    (out / "README.md").write_text(README.read_text().format(
        date=manifest["built"], machine=f"{platform.system()} {platform.machine()}",
        n_wheels=n_wheels, target=target, torch=torch,
        warmed=", ".join(sorted(warmed)) or "none (run the build without --no-warm)",
        olivetti="included (cache/real_data/)" if manifest["olivetti"] else "not included"))
    return manifest


def use_kit(kit):
    """Point this Python environment at the kit's cache: write <sys.prefix>/etc/gracekit/config.json."""
    from gracekit.config import env_config_file

    cache = Path(kit).resolve() / "cache"
    if not cache.is_dir():
        raise FileNotFoundError(f"kit: {kit} has no cache/ folder; is it an offline kit (make offline-kit)?")
    path = env_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cache": str(cache)}, indent=1) + "\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the offline kit folder")
    b.add_argument("--out", default=str(ROOT / "offline-kit"))
    b.add_argument("--torch", default=os.environ.get("TORCH", "torch==2.13.0"), help="torch requirement")
    b.add_argument("--only", nargs="*", help="warm only these notebooks, e.g. 02 06")
    b.add_argument("--no-warm", action="store_true", help="keep cache/ as it is")
    b.add_argument("--cache-from", help="copy this warm cache folder into the kit first")
    b.add_argument("--wheels-from", action="append", default=[], help="folder of wheels pip may reuse")
    b.add_argument("--platform", help="pip download --platform, e.g. win_amd64, macosx_11_0_arm64")
    b.add_argument("--python-version", help="pip download --python-version, e.g. 3.12")
    w = sub.add_parser("warm", help="run every notebook at full size into the model cache")
    w.add_argument("--cache", help="cache folder (default: gracekit.cache_dir())")
    w.add_argument("--only", nargs="*")
    u = sub.add_parser("use", help="point this environment at a kit's cache")
    u.add_argument("kit")
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.out, args.torch, args.only, args.cache_from, args.wheels_from, args.platform,
              args.python_version, warm=not args.no_warm)
        print(f"wrote {args.out}; see {Path(args.out) / 'README.md'}")
    elif args.command == "warm":
        from gracekit.config import cache_dir

        cache = Path(args.cache) if args.cache else cache_dir()
        print(f"warming {cache}")
        warm_cache(cache, args.only)
    else:
        print(f"wrote {use_kit(args.kit)}: the kit's models are read from {Path(args.kit).resolve() / 'cache'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
