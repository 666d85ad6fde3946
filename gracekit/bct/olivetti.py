"""The Olivetti faces from the original ``olivettifaces.mat``: read with ``scipy.io.loadmat`` (no pickle),
kept in ``gracekit.config.real_data_dir()``, downloaded only when asked, with a timeout and a SHA-256 check.

The images, their scaling and the identities are those of scikit-learn's ``fetch_olivetti_faces``; its
offline cache ``olivetti_py3.pkz`` is a pickle (loading one can run code), so it is neither read nor
written here.
"""
import hashlib
import time
from pathlib import Path

import numpy as np

from gracekit.bct.faces import FaceSet
from gracekit.config import real_data_dir

__all__ = ["OLIVETTI_FILE", "OLIVETTI_URL", "OLIVETTI_SHA256", "read_olivetti_mat", "download_olivetti",
           "build_olivetti_cache", "load_olivetti"]

# Olivetti as scikit-learn fetches it (sklearn/datasets/_olivetti_faces.py: URL and SHA-256 of the .mat)
OLIVETTI_FILE = "olivettifaces.mat"
OLIVETTI_URL = "https://ndownloader.figshare.com/files/5976027"
OLIVETTI_SHA256 = "b612fb967f2dc77c9c62d3e1266e0c73d5fca46a4b8906c18e454d41af987794"
_MAX_MAT_BYTES = 64 * 2 ** 20  # the real file has 1.4 MB


def read_olivetti_mat(path):
    """The Olivetti faces from the original ``olivettifaces.mat`` (no pickle: ``scipy.io.loadmat``).

    The same images, scaling and identities as scikit-learn's ``fetch_olivetti_faces``.

    Args:
        path: the .mat file (variable ``faces``, 4096 x 400).
    Returns:
        FaceSet(images (400, 64, 64) float32 in [0, 1], identity (400,) 0..39, names, "olivetti").
    Raises:
        FileNotFoundError when missing; ValueError naming the file when it is not the Olivetti .mat.
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.stat().st_size > _MAX_MAT_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size:,} bytes is too large for the Olivetti .mat")
    try:
        faces = loadmat(str(path), variable_names=["faces"])["faces"]
    except Exception as err:  # not a MATLAB v5 file, no 'faces' variable, truncated...
        raise ValueError(f"{path.name} is not a readable Olivetti .mat file ({err.__class__.__name__}: {err})") \
            from None
    if faces.shape != (4096, 400) or faces.dtype.kind not in "uif":
        raise ValueError(f"{path.name}: expected 'faces' of shape (4096, 400), got {faces.shape} {faces.dtype}")
    faces = np.float32(faces.T)
    if not np.isfinite(faces).all():
        raise ValueError(f"{path.name}: 'faces' holds NaN or infinite values")
    faces = faces - faces.min()  # the scaling of scikit-learn's fetcher
    faces /= max(float(faces.max()), 1e-12)
    images = faces.reshape((400, 64, 64)).transpose(0, 2, 1)
    identity = np.arange(400, dtype=np.int64) // 10
    return FaceSet(np.ascontiguousarray(images), identity, [f"olivetti-{i}" for i in range(40)], "olivetti")


def download_olivetti(dest, *, timeout=30.0, url=None, sha256=None):
    """Download ``olivettifaces.mat`` to ``dest`` (atomically), checking its SHA-256.

    Args:
        dest: file to write.
        timeout: seconds for the whole download (each socket wait is bounded by it too); a server that
            accepts and never answers raises TimeoutError instead of stalling.
        url, sha256: where from, and the digest the file must have; default ``OLIVETTI_URL`` and
            ``OLIVETTI_SHA256`` (scikit-learn's).
    Returns:
        ``dest`` as a Path.
    """
    import urllib.request

    from gracekit.cache import atomic_write_bytes

    url = OLIVETTI_URL if url is None else url
    sha256 = OLIVETTI_SHA256 if sha256 is None else sha256
    deadline = time.monotonic() + timeout
    chunks, total = [], 0
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"downloading {url} took more than {timeout:g} s")
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            total += len(chunk)
            if total > _MAX_MAT_BYTES:
                raise ValueError(f"{url} sent more than {_MAX_MAT_BYTES:,} bytes; not the Olivetti .mat")
            chunks.append(chunk)
    data = b"".join(chunks)
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise ValueError(f"{url}: SHA-256 {got[:12]}... differs from the expected {sha256[:12]}...; not saved")
    atomic_write_bytes(dest, data)
    return Path(dest)


def build_olivetti_cache(mat_path, data_home=None):
    """Put a local ``olivettifaces.mat`` where ``load_faces("olivetti")`` reads it (checked, then copied).

    Kept for notebooks that call it: no scikit-learn ``.pkz`` cache is written any more (that cache
    is a pickle, and a pickle can run code); the .mat file itself is the cache.

    Args:
        mat_path: path to olivettifaces.mat (variable ``faces``, 4096 x 400).
        data_home: folder to copy it into; default ``gracekit.config.real_data_dir()``.
    Returns:
        Path of the copy (``<data_home>/olivettifaces.mat``).
    Used in: notebooks/03_bct_faces.py
    """
    mat_path = Path(mat_path)
    if not mat_path.is_file():
        raise FileNotFoundError(f"mat_path: no such file: {mat_path}")
    try:
        read_olivetti_mat(mat_path)
    except ValueError as err:
        raise ValueError(f"mat_path: {err}") from None
    out = (Path(data_home) if data_home is not None else real_data_dir()) / OLIVETTI_FILE
    if out.resolve() != mat_path.resolve():
        from gracekit.cache import atomic_write_bytes

        atomic_write_bytes(out, mat_path.read_bytes())
    return out


def load_olivetti(data_home=None, *, allow_download=False, timeout=30.0):
    """The Olivetti FaceSet from ``<data_home>/olivettifaces.mat`` (default ``real_data_dir()``),
    downloading it first only when ``allow_download`` is true."""
    path = (Path(data_home) if data_home is not None else real_data_dir()) / OLIVETTI_FILE
    if not path.is_file():
        if not allow_download:
            raise FileNotFoundError(f"{path} not found and allow_download is False")
        download_olivetti(path, timeout=timeout)
    return read_olivetti_mat(path)
