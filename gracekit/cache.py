"""On-disk cache keyed by settings: atomic writes, corrupt entries recomputed."""
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from gracekit.config import cache_dir

__all__ = ["settings_key", "fingerprint", "cached", "atomic_write_bytes", "save_torch", "load_torch"]


def fingerprint(*arrays):
    """Short SHA-256 of array contents (shape, dtype and bytes), for cache keys."""
    h = hashlib.sha256()
    for a in arrays:
        if hasattr(a, "detach"):
            a = a.detach().cpu().numpy()
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def settings_key(settings):
    """Stable short hash of a JSON-able settings dict (sorted keys)."""
    if not isinstance(settings, dict):
        raise ValueError(f"settings must be a dict, got {type(settings).__name__}")
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def atomic_write_bytes(path, data):
    """Write bytes to ``path`` through a temporary file and os.replace (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if hasattr(os, "umask"):  # mkstemp makes the file private (0600): give it the usual mode
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_torch(obj, path):
    """torch.save ``obj`` to ``path`` atomically."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_torch(path):
    """torch.load a file written by save_torch (weights only, on the CPU)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def cached(name, settings, compute, folder=None, save=save_torch, load=load_torch):
    """Return ``compute()``, cached on disk under ``name`` and the settings' hash.

    A missing entry is computed and written atomically; an unreadable (corrupt) entry is
    reported with a warning, recomputed and overwritten.

    Args:
        name: short readable prefix for the file name.
        settings: JSON-able dict that fully determines the result.
        compute: zero-argument function producing the result.
        folder: cache folder; default ``gracekit.cache_dir()``.
        save, load: functions ``save(obj, path)`` and ``load(path)``.
    Returns:
        the cached or freshly computed object.
    """
    folder = Path(folder) if folder is not None else cache_dir()
    path = folder / f"{name}-{settings_key(settings)}.pt"
    if path.exists():
        try:
            return load(path)
        except Exception as err:  # corrupt or from an incompatible version
            warnings.warn(f"cache entry {path.name} is unreadable ({err.__class__.__name__}); recomputing",
                          RuntimeWarning, stacklevel=2)
    result = compute()
    save(result, path)
    return result
