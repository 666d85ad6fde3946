"""Real face images: the Olivetti faces (read from the original ``olivettifaces.mat`` in
``gracekit.config.real_data_dir()``, downloaded only when asked) and folders or zip files of
``<identity>/*.pgm|png|jpg``; ``load_faces`` also makes the synthetic faces of ``gracekit.bct.faces``
and falls back to them when real data is missing.

Nothing read here can run code: the .mat file is parsed by ``scipy.io.loadmat`` (no pickle; see
``gracekit.bct.olivetti``), images by Pillow after their header size is checked, and zip members are
read by name without extracting.
"""
import io
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from gracekit.bct.faces import FaceSet, make_faces
from gracekit.bct.olivetti import (OLIVETTI_FILE, OLIVETTI_SHA256, OLIVETTI_URL, build_olivetti_cache,
                                   download_olivetti, load_olivetti, read_olivetti_mat)
from gracekit.config import real_data_dir

__all__ = ["load_faces", "build_olivetti_cache", "download_olivetti", "read_olivetti_mat", "OLIVETTI_FILE",
           "OLIVETTI_URL", "OLIVETTI_SHA256"]

_IMG_EXT = (".pgm", ".png", ".jpg", ".jpeg")
# limits on what one file may make us read: an image's bytes and pixels
MAX_IMAGE_BYTES = 64 * 2 ** 20
MAX_IMAGE_PIXELS = 4096 * 4096
_MAX_SIZE = 1024


def _natural(name):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _decode(data, label, size):
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:  # reads the header only
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise ValueError(f"root: image {label!r} is {w}x{h} pixels, more than the "
                                     f"{MAX_IMAGE_PIXELS:,} allowed; resize it first")
                im = im.convert("L")
                side = min(w, h)  # centre square crop, then resize
                left, top = (w - side) // 2, (h - side) // 2
                im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
                return np.asarray(im, dtype=np.float32) / 255.0
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ValueError(f"root: image {label!r} is too large ({err.__class__.__name__}: {err}); at most "
                         f"{MAX_IMAGE_PIXELS:,} pixels are allowed") from None
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError) as err:
        if str(err).startswith("root: "):
            raise
        raise ValueError(f"root: cannot read image {label!r} ({err.__class__.__name__}: {err})") from None


def _zip_member_parts(zname, info):
    """Path parts of a zip member; '..', absolute paths and drive letters are refused."""
    n = info.filename
    if n.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", n) or "\\" in n:
        raise ValueError(f"root: {zname} member {n!r} has an absolute or Windows path; "
                         f"expected <identity>/<image> inside the zip")
    parts = [p for p in n.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError(f"root: {zname} member {n!r} contains '..' or '.'; expected <identity>/<image>")
    return parts


def _zip_reader(zf, zname, info):
    def read():
        if info.flag_bits & 0x1:
            raise ValueError(f"root: {zname} member {info.filename!r} is encrypted; unpack it yourself first")
        if info.file_size > MAX_IMAGE_BYTES:
            raise ValueError(f"root: {zname} member {info.filename!r} unpacks to {info.file_size:,} bytes, "
                             f"more than the {MAX_IMAGE_BYTES:,} allowed for an image")
        try:
            with zf.open(info) as f:
                data = f.read(MAX_IMAGE_BYTES + 1)
        except Exception as err:  # zlib.error, BadZipFile (CRC), NotImplementedError, EOFError...
            raise ValueError(f"root: {zname} member {info.filename!r} is corrupt "
                             f"({err.__class__.__name__}: {err})") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"root: {zname} member {info.filename!r} unpacks to more than "
                             f"{MAX_IMAGE_BYTES:,} bytes")
        return data
    return read


def _file_reader(path, label):
    def read():
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ValueError(f"root: image {label!r} has {path.stat().st_size:,} bytes, more than the "
                             f"{MAX_IMAGE_BYTES:,} allowed")
        return path.read_bytes()
    return read


def _load_folder(root, size):

    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"root: no such folder or zip file: {root}")
    files = {}  # identity name -> list of (label, bytes-reader)
    dirs = set()
    if root.is_file():
        try:
            zf = zipfile.ZipFile(root)
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise ValueError(f"root: {root.name} is not a readable zip file ({err})") from None
        for info in infos:
            n = info.filename
            parts = _zip_member_parts(root.name, info)
            if n.endswith("/") and parts:
                dirs.add(tuple(parts))
            elif len(parts) >= 2 and n.lower().endswith(_IMG_EXT):
                files.setdefault(tuple(parts[:-1]), []).append((n, _zip_reader(zf, root.name, info)))
    else:
        for d in root.rglob("*"):
            rel = d.relative_to(root).parts
            if d.is_dir():
                dirs.add(rel)
            elif len(rel) >= 2 and d.suffix.lower() in _IMG_EXT:
                label = str(d.relative_to(root))
                files.setdefault(rel[:-1], []).append((label, _file_reader(d, label)))
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


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size must be an integer number of pixels, got {size!r} ({type(size).__name__})")
    if not 8 <= size <= _MAX_SIZE:
        raise ValueError(f"size must be between 8 and {_MAX_SIZE} pixels, got {size}")
    return int(size)


def load_faces(source="synthetic", *, root=None, data_home=None, allow_download=False, size=64,
               fallback="synthetic", timeout=30.0, **synthetic_kwargs):
    """Load face images with identities from one of three sources.

    Args:
        source: "synthetic" (``make_faces``), "olivetti" (``olivettifaces.mat``) or "folder"
            (``root/<identity>/*.pgm|png|jpg``, or a zip of that, e.g. the ORL att_faces.zip).
        root: the folder or zip file, for source="folder".
        data_home: folder holding ``olivettifaces.mat`` for "olivetti"; default
            ``gracekit.config.real_data_dir()`` ($GRACEKIT_REAL_DATA, else ``<cache>/real_data``).
        allow_download: let "olivetti" download the .mat when it is missing (off by default: no
            network in the default path); the file's SHA-256 is checked before it is kept.
        size: image side for "folder" (centre square crop, bilinear resize) and "synthetic".
        fallback: "synthetic" to warn and return synthetic faces when Olivetti is unavailable
            (missing file, failed or timed-out download); None to raise instead.
        timeout: seconds allowed for the download.
        **synthetic_kwargs: passed to ``make_faces`` (n_identities, n_per_identity, difficulty, seed).
    Returns:
        FaceSet(images (n, H, W) float32 in [0,1], identity (n,) int64, names, source); ``names[j]``
        names the j-th identity of ``np.unique(identity)``; ``source`` says what was really loaded.
    Raises:
        ValueError naming the argument, file or zip member for bad input (a corrupt, encrypted or
        oversized image, a zip member with '..' or an absolute path, a bad ``size``).

    Example:
        >>> faces = load_faces("synthetic", n_identities=3, n_per_identity=2, size=32)
        >>> faces.images.shape
        (6, 32, 32)

    Used in: notebooks/03_bct_faces.py
    """
    size = _check_size(size)
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
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    try:
        return load_olivetti(data_home, allow_download=bool(allow_download), timeout=float(timeout))
    except Exception as err:  # no file, no download (URLError, timeout, HTTPError), bad digest or file
        where = Path(data_home) if data_home is not None else real_data_dir()
        msg = (f"real data unavailable ({err.__class__.__name__}: {err}) -> using synthetic faces; "
               f"to use real data offline, place {OLIVETTI_FILE} in {where} "
               f"(or set GRACEKIT_REAL_DATA to its folder), or pass allow_download=True")
        if fallback is None:
            raise OSError(msg) from err
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        synthetic_kwargs.setdefault("n_identities", 40)
        synthetic_kwargs.setdefault("n_per_identity", 10)
        return make_faces(size=size, **synthetic_kwargs)
