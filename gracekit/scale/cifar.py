"""CIFAR-10/100 from the standard python archives, a small residual CNN, and seeded augmentation.

The archives are the ones published by Alex Krizhevsky (https://www.cs.toronto.edu/~kriz/cifar.html):
``cifar-10-python.tar.gz`` and ``cifar-100-python.tar.gz``. Put the .tar.gz (or its unpacked folder,
``cifar-10-batches-py/`` or ``cifar-100-python/``) in one folder and pass that folder; nothing is
downloaded here and torchvision is not needed. The batches are Python pickles; they are read with a
restricted unpickler that builds only dicts, lists, bytes, strings, numbers and NumPy arrays, so a
crafted batch raises an error instead of running code.
"""
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["CIFAR", "load_cifar", "make_cifar_net", "CifarAugment", "safe_load_batch"]

CIFAR = {
    "cifar10": {"folder": "cifar-10-batches-py", "archive": "cifar-10-python.tar.gz", "n_classes": 10,
                "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    "cifar100": {"folder": "cifar-100-python", "archive": "cifar-100-python.tar.gz", "n_classes": 100,
                 "train": ["train"], "test": ["test"]},
}
_URL = "https://www.cs.toronto.edu/~kriz/"
# per-channel mean and sd of the CIFAR-10 training images, in 0-255 units (close for CIFAR-100 too)
_MEAN = (125.3, 123.0, 113.9)
_SD = (63.0, 62.1, 66.7)


def _numpy_globals():
    try:
        from numpy._core import multiarray  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core import multiarray
    # the only globals a CIFAR batch names: NumPy's array reconstruction (under its NumPy 1 and 2 module
    # names) and, in batches re-pickled by Python 3 at protocol 2, latin-1 encoding of bytes.
    # Everything else in the archive is dicts, lists, bytes, str and int, built by opcodes.
    return {(mod, name): obj for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
            for name, obj in (("_reconstruct", multiarray._reconstruct), ("scalar", multiarray.scalar))} | \
        {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _latin1}


def _latin1(text, encoding="latin1"):
    """``_codecs.encode`` as pickle protocol 2 uses it for bytes, limited to latin-1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler for CIFAR batches: any global beyond NumPy's array reconstruction is refused."""

    _allowed = None

    def find_class(self, module, name):
        if _BatchUnpickler._allowed is None:
            _BatchUnpickler._allowed = _numpy_globals()
        obj = _BatchUnpickler._allowed.get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: a CIFAR batch holds only dicts, "
                                         f"lists, bytes and NumPy arrays")
        return obj

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id: not a CIFAR batch")


def safe_load_batch(raw):
    """Unpickle one CIFAR batch with the restricted unpickler (bytes keys as in the archive)."""
    return _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()


def _read_batch(raw, label_key, where):
    try:
        d = safe_load_batch(raw)
        if not isinstance(d, dict):
            raise TypeError(f"expected a dict, got {type(d).__name__}")
        d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
        if not isinstance(d["data"], np.ndarray) or d["data"].dtype.kind not in "iu":
            raise TypeError(f"'data' must be an integer NumPy array, got {type(d['data']).__name__}")
        X = np.asarray(d["data"], dtype=np.uint8)
        if not isinstance(d[label_key], (list, np.ndarray)):
            raise TypeError(f"{label_key!r} must be a list of labels, got {type(d[label_key]).__name__}")
        y = np.asarray(d[label_key], dtype=np.int64)
    except Exception as err:
        raise ValueError(f"{where} is not a CIFAR python batch ({err.__class__.__name__}: {err})") from None
    if X.ndim != 2 or X.shape[1] != 3072 or len(y) != len(X):
        raise ValueError(f"{where}: expected 'data' of shape (n, 3072) and n labels, got {X.shape} and {len(y)}")
    return X.reshape(-1, 3, 32, 32), y


def load_cifar(folder, name="cifar10", label="fine"):
    """Read CIFAR-10 or CIFAR-100 from the python archive (or its unpacked folder) in ``folder``.

    Args:
        folder: folder holding ``cifar-10-python.tar.gz`` / ``cifar-10-batches-py/`` (cifar10) or
            ``cifar-100-python.tar.gz`` / ``cifar-100-python/`` (cifar100).
        name: "cifar10" or "cifar100".
        label: for cifar100, "fine" (100 classes) or "coarse" (20 superclasses).
    Returns:
        X_train (50000, 3, 32, 32) uint8, y_train (50000,) int64, X_test (10000, 3, 32, 32), y_test.
    Raises:
        FileNotFoundError naming the files to download when neither form is in ``folder``.
    """
    if name not in CIFAR:
        raise ValueError(f"name must be one of {sorted(CIFAR)}, got {name!r}")
    if label not in ("fine", "coarse") or (label == "coarse" and name == "cifar10"):
        raise ValueError(f"label must be 'fine' (or 'coarse' for cifar100), got {label!r}")
    spec, folder = CIFAR[name], Path(folder)
    key = "labels" if name == "cifar10" else f"{label}_labels"
    unpacked, archive = folder / spec["folder"], folder / spec["archive"]
    if unpacked.is_dir():
        def read(member):
            path = unpacked / member
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: the folder {unpacked.name}/ is incomplete")
            return path.read_bytes()
    elif archive.is_file():
        try:
            tar = tarfile.open(archive, "r:gz")
            names = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError, EOFError) as err:
            raise ValueError(f"{archive} is not a readable .tar.gz ({err}); download it again") from None

        def read(member):
            if member not in names:
                raise ValueError(f"{archive.name} has no member {member!r}: not the CIFAR python archive")
            return tar.extractfile(names[member]).read()
    else:
        raise FileNotFoundError(
            f"{name} not found in {folder}: expected {spec['archive']} or its unpacked folder "
            f"{spec['folder']}/. Download {_URL}{spec['archive']} (the 'python version') into that folder.")
    parts = {}
    for split in ("train", "test"):
        batches = [_read_batch(read(m), key, f"{spec['folder']}/{m}") for m in spec[split]]
        parts[split] = (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
    k = spec["n_classes"] if label == "fine" else 20
    for split, (_, y) in parts.items():
        if y.min() < 0 or y.max() >= k:
            raise ValueError(f"{name} {split} labels fall outside [0, {k}): got [{y.min()}, {y.max()}]")
    return (*parts["train"], *parts["test"])


class _Block(nn.Module):
    """Two 3x3 convolutions with GroupNorm and a (projected) shortcut."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        g = min(8, c_out)
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.GroupNorm(g, c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.GroupNorm(g, c_out))
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out else
                     nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.GroupNorm(g, c_out)))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class _Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("sd", torch.tensor(_SD).view(1, 3, 1, 1))

    def forward(self, x):
        return (x.float() - self.mean) / self.sd


def make_cifar_net(n_classes=10, width=32, blocks=(1, 1, 1), seed=0):
    """A small ResNet-style CNN for 32x32 images (uint8 or 0-255 floats in, logits out).

    GroupNorm instead of BatchNorm: its output does not depend on the batch, so a run split over
    several processes computes the same function as one process (BatchNorm would need SyncBatchNorm).

    Args:
        n_classes: number of outputs.
        width: channels of the first stage (doubled at each of the three stages).
        blocks: residual blocks per stage; (1, 1, 1) has about 0.3 M parameters at width 32,
            (2, 2, 2) is ResNet-18's depth pattern (three stages instead of four).
        seed: seed of the weight initialization (torch's global RNG is left untouched).
    Returns:
        torch.nn.Sequential.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    blocks = tuple(blocks)
    if len(blocks) != 3 or any(not isinstance(b, int) or b < 1 for b in blocks):
        raise ValueError(f"blocks must be three positive integers, got {blocks!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        layers = [_Normalize(), nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.GroupNorm(min(8, width), width),
                  nn.ReLU(inplace=True)]
        c = width
        for stage, n in enumerate(blocks):
            c_out = width * 2 ** stage
            for i in range(n):
                layers.append(_Block(c, c_out, 2 if (stage > 0 and i == 0) else 1))
                c = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_classes)]
        return nn.Sequential(*layers)


class CifarAugment:
    """Random 32x32 crop from the image padded by 4 pixels, and a random horizontal flip.

    The draw for sample i in epoch e depends only on (seed, e, i), never on the batch or the
    process that holds i, so a run split over processes sees exactly the images one process sees.

    Args:
        n: number of training samples (the indices passed in are < n).
        seed: seed of the draws.
        pad: padding of the crop (0 turns cropping off).
    Call ``aug(xb, idx, epoch)`` with a batch (b, C, H, W) and its sample indices (b,).
    """

    def __init__(self, n, seed=0, pad=4):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if not isinstance(pad, int) or pad < 0:
            raise ValueError(f"pad must be an integer >= 0, got {pad!r}")
        self.n, self.seed, self.pad = n, int(seed), pad
        self._epoch, self._draws = None, None

    def _draw(self, epoch):
        if self._epoch != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(epoch))
            self._draws = torch.randint(0, 2 * self.pad + 1, (self.n, 2), generator=g), \
                torch.randint(0, 2, (self.n,), generator=g).bool()
            self._epoch = epoch
        return self._draws

    def __call__(self, xb, idx, epoch):
        shifts, flips = self._draw(epoch)
        idx = idx.cpu()
        shifts, flips = shifts[idx].to(xb.device), flips[idx].to(xb.device)
        out = torch.where(flips.view(-1, 1, 1, 1), xb.flip(-1), xb)
        if self.pad:
            p, (h, w) = self.pad, xb.shape[-2:]
            padded = nn.functional.pad(out, (p, p, p, p))
            rows = (shifts[:, 0, None] + torch.arange(h, device=xb.device)).view(-1, 1, h, 1)
            cols = (shifts[:, 1, None] + torch.arange(w, device=xb.device)).view(-1, 1, 1, w)
            b, c = out.shape[:2]
            padded = padded.gather(2, rows.expand(b, c, h, w + 2 * p))
            out = padded.gather(3, cols.expand(b, c, h, w))
        return out
