"""Session-wide switches: FAST mode, seeds, device and the cache folder."""
import json
import os
import random
import sys
import warnings
from pathlib import Path

import numpy as np

__all__ = ["is_fast", "progress", "setup", "get_device", "cache_dir", "cache_setting", "env_config_file",
           "real_data_dir", "seed_everything"]


def is_fast():
    """Return True when GRACEKIT_FAST is set to 1/true/yes (small sizes for tests)."""
    return os.environ.get("GRACEKIT_FAST", "0").strip().lower() in {"1", "true", "yes", "on"}


def progress(iterable, *, desc=None, disable=False, leave=False, total=None):
    """The kit's progress bar: plain text on stdout, so a saved notebook shows its final state.

    tqdm's widget bars (``tqdm.auto`` in Jupyter) are saved as references to widget models that no
    longer exist ("Error displaying widget: model not found" when the notebook is reopened); text
    bars are ordinary output. ``leave=False`` clears the bar when it finishes.
    """
    import sys

    from tqdm.std import tqdm

    return tqdm(iterable, desc=desc, disable=disable, leave=leave, total=total, file=sys.stdout,
                mininterval=0.5, dynamic_ncols=False, ncols=90)


def seed_everything(seed=0):
    """Seed Python, NumPy and torch (when imported) with one integer.

    Args:
        seed: non-negative integer.
    Returns:
        the seed, for logging.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return int(seed)
    torch.manual_seed(int(seed))
    return int(seed)


def get_device(device=None):
    """Pick the torch device: the one asked for, else CUDA when present, else CPU."""
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def env_config_file():
    """The settings file of this Python environment: ``<sys.prefix>/etc/gracekit/config.json``.

    ``make lab OFFLINE=<kit>`` writes ``{"cache": "<kit>/cache"}`` there, so every process of the
    environment (JupyterLab's kernels, ``gracekit doctor``) finds the kit's warmed model cache
    without an environment variable.
    """
    return Path(sys.prefix) / "etc" / "gracekit" / "config.json"


def _env_config():
    path = env_config_file()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        warnings.warn(f"{path}: not readable JSON ({err}); ignored", stacklevel=3)
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("cache", ""), str):
        warnings.warn(f'{path}: expected {{"cache": "<folder>"}}; ignored', stacklevel=3)
        return {}
    return data


def cache_setting():
    """Where the cache folder comes from: (path, source), source one of ``GRACEKIT_CACHE``,
    the environment's config file (see ``env_config_file``) or ``default``."""
    root = os.environ.get("GRACEKIT_CACHE")
    if root:
        return Path(root), "GRACEKIT_CACHE"
    configured = _env_config().get("cache")
    if configured:
        return Path(configured), str(env_config_file())
    return Path.home() / ".cache" / "gracekit", "default"


def cache_dir():
    """Folder for trained models and sweeps: $GRACEKIT_CACHE, else the ``cache`` entry of
    ``<sys.prefix>/etc/gracekit/config.json`` (written by ``make lab OFFLINE=...``), else
    ~/.cache/gracekit."""
    path, _ = cache_setting()
    path.mkdir(parents=True, exist_ok=True)
    return path


def real_data_dir():
    """The one folder for optional real data (Olivetti's ``olivettifaces.mat``): $GRACEKIT_REAL_DATA,
    else ``<cache_dir>/real_data``. The doctor, the notebooks and the offline kit all look here."""
    root = os.environ.get("GRACEKIT_REAL_DATA")
    return Path(root) if root else cache_dir() / "real_data"


def setup(seed=0, fast=None, threads=None):
    """Prepare a notebook session: seeds, FAST switch, matplotlib style, torch threads.

    Args:
        seed: seed for Python, NumPy and torch.
        fast: force FAST mode on or off; None reads GRACEKIT_FAST.
        threads: torch intra-op threads; None reads $GRACEKIT_THREADS, else keeps torch's default.
    Returns:
        dict with ``fast``, ``seed`` and ``device`` for the notebook to print.
    """
    import torch

    if fast is not None:
        os.environ["GRACEKIT_FAST"] = "1" if fast else "0"
    if threads is None and os.environ.get("GRACEKIT_THREADS"):
        threads = os.environ["GRACEKIT_THREADS"]
    if threads is not None:
        torch.set_num_threads(int(threads))
    seed_everything(seed)
    try:
        import matplotlib as mpl

        mpl.rcParams.update({"figure.dpi": 90, "axes.grid": True, "grid.alpha": 0.3,
                             "axes.spines.top": False, "axes.spines.right": False})
    except ImportError:  # pragma: no cover
        pass
    return {"fast": is_fast(), "seed": int(seed), "device": str(get_device())}
