"""Real face images: scikit-learn's Olivetti faces (offline through a pre-built cache, downloaded only
when asked) and folders or zip files of ``<identity>/*.pgm|png|jpg``; ``load_faces`` also makes the
synthetic faces of ``gracekit.bct.faces`` and falls back to them when real data is missing.
"""
import io
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from gracekit.bct.faces import FaceSet, make_faces

__all__ = ["load_faces", "build_olivetti_cache"]

_IMG_EXT = (".pgm", ".png", ".jpg", ".jpeg")


def _natural(name):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _decode(data, label, size):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("L")
            w, h = im.size
            side = min(w, h)  # centre square crop, then resize
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"root: cannot read image {label!r} ({err.__class__.__name__}: {err})") from None


def _load_folder(root, size):

    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"root: no such folder or zip file: {root}")
    files = {}  # identity name -> list of (label, bytes-reader)
    dirs = set()
    if root.is_file():
        try:
            zf = zipfile.ZipFile(root)
            names = zf.namelist()
        except zipfile.BadZipFile as err:
            raise ValueError(f"root: {root.name} is not a readable zip file ({err})") from None
        for n in names:
            parts = [p for p in n.split("/") if p]
            if n.endswith("/") and parts:
                dirs.add(tuple(parts))
            elif len(parts) >= 2 and n.lower().endswith(_IMG_EXT):
                files.setdefault(tuple(parts[:-1]), []).append((n, lambda n=n: zf.read(n)))
    else:
        for d in root.rglob("*"):
            rel = d.relative_to(root).parts
            if d.is_dir():
                dirs.add(rel)
            elif len(rel) >= 2 and d.suffix.lower() in _IMG_EXT:
                files.setdefault(rel[:-1], []).append((str(d.relative_to(root)), d.read_bytes))
    if not files:
        raise ValueError(f"root: found no identity folders with .pgm/.png/.jpg images in {root.name}")
    depth = max(len(k) for k in files)  # identities are the deepest folders holding images
    empty = sorted("/".join(d) for d in dirs if len(d) == depth and d not in files)
    if empty:
        raise ValueError(f"root: identity folder {empty[0]!r} holds no images (.pgm/.png/.jpg)")
    keys = sorted(files, key=lambda k: _natural("/".join(k)))
    images, identity = [], []
    for j, k in enumerate(keys):
        for label, read in sorted(files[k], key=lambda t: _natural(t[0])):
            images.append(_decode(read(), label, size))
            identity.append(j)
    return FaceSet(np.stack(images), np.array(identity, np.int64), [k[-1] for k in keys], "folder")


def build_olivetti_cache(mat_path, data_home):
    """Turn a local ``olivettifaces.mat`` into scikit-learn's offline cache ``olivetti_py3.pkz``.

    These are the steps scikit-learn runs after its own download, so
    ``fetch_olivetti_faces(data_home=data_home, download_if_missing=False)`` then works with no network.

    Args:
        mat_path: path to olivettifaces.mat (variable ``faces``, 4096 x 400 uint8).
        data_home: scikit-learn data folder to write into (created when missing).
    Returns:
        Path of the cache file.
    Used in: notebooks/03_bct_faces.py
    """
    import joblib
    from scipy.io import loadmat

    mat_path = Path(mat_path)
    if not mat_path.is_file():
        raise FileNotFoundError(f"mat_path: no such file: {mat_path}")
    try:
        faces = loadmat(str(mat_path))["faces"].T.copy()
    except Exception as err:
        raise ValueError(f"mat_path: {mat_path.name} is not a readable Olivetti .mat file ({err})") from None
    if faces.shape != (400, 4096):
        raise ValueError(f"mat_path: expected 'faces' of shape (4096, 400), got {faces.T.shape}")
    out = Path(data_home) / "olivetti_py3.pkz"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".pkz.tmp")
    joblib.dump(faces, tmp, compress=6)
    tmp.replace(out)
    return out


def _load_olivetti(data_home, allow_download):

    from sklearn.datasets import fetch_olivetti_faces

    bunch = fetch_olivetti_faces(data_home=data_home, download_if_missing=allow_download)
    names = [f"olivetti-{i}" for i in range(40)]
    return FaceSet(bunch.images.astype(np.float32), bunch.target.astype(np.int64), names, "olivetti")


def load_faces(source="synthetic", *, root=None, data_home=None, allow_download=False, size=64,
               fallback="synthetic", **synthetic_kwargs):
    """Load face images with identities from one of three sources.

    Args:
        source: "synthetic" (``make_faces``), "olivetti" (scikit-learn's fetcher) or "folder"
            (``root/<identity>/*.pgm|png|jpg``, or a zip of that, e.g. the ORL att_faces.zip).
        root: the folder or zip file, for source="folder".
        data_home: scikit-learn data folder for "olivetti" (see ``build_olivetti_cache``).
        allow_download: let "olivetti" download when its cache is missing (off by default: no
            network in the default path).
        size: image side for "folder" (centre square crop, bilinear resize) and "synthetic".
        fallback: "synthetic" to warn and return synthetic faces when Olivetti is unavailable
            (missing cache, failed download); None to raise instead.
        **synthetic_kwargs: passed to ``make_faces`` (n_identities, n_per_identity, difficulty, seed).
    Returns:
        FaceSet(images (n, H, W) float32 in [0,1], identity (n,) int64, names, source); ``names[j]``
        names the j-th identity of ``np.unique(identity)``; ``source`` says what was really loaded.
    Used in: notebooks/03_bct_faces.py
    """

    if source == "synthetic":
        return make_faces(size=size, **synthetic_kwargs)
    if source == "folder":
        if root is None:
            raise ValueError("root: source='folder' needs root=<folder or zip of identity folders>")
        return _load_folder(root, size)
    if source != "olivetti":
        raise ValueError(f"source must be 'synthetic', 'olivetti' or 'folder', got {source!r}")
    if fallback not in ("synthetic", None):
        raise ValueError(f"fallback must be 'synthetic' or None, got {fallback!r}")
    try:
        return _load_olivetti(data_home, bool(allow_download))
    except Exception as err:  # HTTPError, URLError, OSError (no cache, no download), corrupt cache
        where = data_home if data_home is not None else "scikit-learn's data_home"
        msg = (f"real data unavailable ({err.__class__.__name__}: {err}) -> using synthetic faces; "
               f"to use real data offline, place olivetti_py3.pkz in {where} "
               f"(gracekit.faces.build_olivetti_cache makes it from olivettifaces.mat), "
               f"or pass allow_download=True")
        if fallback is None:
            raise OSError(msg) from err
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        synthetic_kwargs.setdefault("n_identities", 40)
        synthetic_kwargs.setdefault("n_per_identity", 10)
        return make_faces(size=size, **synthetic_kwargs)
