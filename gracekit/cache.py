"""On-disk cache keyed by settings: atomic writes, a SHA-256 digest per entry, damaged entries recomputed.

Each entry ``<name>-<key>.pt`` has a sidecar ``<name>-<key>.pt.sha256`` holding the digest of its
bytes, written after the entry. An entry whose digest is missing or differs (a flipped bit, a
truncated copy, an entry from an older kit) is recomputed with a warning, never loaded. Temporary
files left by a killed writer (``*.tmp``) are removed once their writer is gone or they are over an
hour old.
"""
import hashlib
import io
import json
import os
import re
import socket
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from gracekit.config import cache_dir

__all__ = ["settings_key", "fingerprint", "cached", "atomic_write_bytes", "save_torch", "load_torch",
           "file_digest", "clean_stale_temporaries", "STALE_TMP_SECONDS"]

STALE_TMP_SECONDS = 3600  # a temporary file older than this is a leftover, whoever wrote it
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"
_TMP_RE = re.compile(r"\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[^.]*\.tmp$")


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
    # the name records host and pid, so a leftover of a killed writer can be told from a live one
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp")
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


def _pid_alive(pid):
    if os.name != "posix":  # no cheap, harmless liveness probe: rely on the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists
        return True
    return True


def clean_stale_temporaries(folder, max_age=STALE_TMP_SECONDS):
    """Remove ``*.tmp`` files left in ``folder`` by writers that were killed.

    A temporary is stale when it is older than ``max_age`` seconds, or when it was written on this
    host by a process that no longer runs. Live writers' files are kept.

    Returns:
        list of the removed paths.
    """
    folder = Path(folder)
    removed, now = [], time.time()
    try:
        candidates = list(folder.glob("*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        m = _TMP_RE.search(tmp.name)
        try:
            old = now - tmp.stat().st_mtime > max_age
            dead = m is not None and m["host"] == _HOST and not _pid_alive(int(m["pid"]))
            if (old or dead) and tmp.is_file():
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone meanwhile (another cleaner), or not ours to remove
            continue
    return removed


def file_digest(path):
    """SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _digest_path(path):
    return path.with_name(path.name + ".sha256")


def _read_verified(path):
    """The entry's bytes when its recorded digest matches; else a reason string."""
    side = _digest_path(path)
    try:
        recorded = side.read_text().split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None, "has no recorded digest"
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != recorded:
        return None, "does not match its recorded SHA-256 digest (damaged)"
    return data, None


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


def cached(name, settings, compute, folder=None, save=save_torch, load=load_torch, check=None):
    """Return ``compute()``, cached on disk under ``name`` and the settings' hash.

    A missing entry is computed and written atomically, then its SHA-256 digest beside it. When read,
    an entry is used only if its digest matches and it loads (and passes ``check``); otherwise a
    warning says why and it is recomputed and overwritten. Stale temporaries of killed writers in
    the folder are removed before a write.

    Args:
        name: short readable prefix for the file name.
        settings: JSON-able dict that fully determines the result.
        compute: zero-argument function producing the result.
        folder: cache folder; default ``gracekit.cache_dir()``.
        save, load: functions ``save(obj, path)`` and ``load(path)``.
        check: optional ``check(obj)`` that raises when a loaded entry does not fit its use
            (for example a state dict of another architecture); the entry is then recomputed.
    Returns:
        the cached or freshly computed object.

    Example:
        >>> import tempfile, torch
        >>> d = tempfile.mkdtemp()
        >>> cached("demo", {"n": 3}, lambda: {"w": torch.zeros(3)}, folder=d)["w"].tolist()
        [0.0, 0.0, 0.0]
    """
    folder = Path(folder) if folder is not None else cache_dir()
    path = folder / f"{name}-{settings_key(settings)}.pt"
    if path.exists():
        problem = None
        try:
            data, problem = _read_verified(path)
            if problem is None:
                if load is load_torch:  # load the very bytes that were verified
                    import torch

                    result = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
                else:
                    result = load(path)
                if check is not None:
                    try:
                        check(result)
                    except Exception as err:
                        problem = f"does not fit ({err.__class__.__name__}: {str(err).splitlines()[0][:200]})"
                if problem is None:
                    return result
        except Exception as err:  # corrupt or from an incompatible version
            problem = f"is unreadable ({err.__class__.__name__})"
        warnings.warn(f"cache entry {path.name} {problem}; recomputing", RuntimeWarning, stacklevel=2)
    result = compute()
    clean_stale_temporaries(folder)
    save(result, path)
    atomic_write_bytes(_digest_path(path), f"{file_digest(path)}  {path.name}\n".encode())
    return result
