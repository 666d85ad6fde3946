"""Reading the extra files of ``gracekit gate`` (a retrained model's predictions, slice attributes) and of
``gracekit compat`` (embeddings and identities).

Formats:

* ``--old-retrain``: the same formats as ``--old`` (see ``gracekit.report.io``).
* ``--slices``: a CSV with a header and one column per slice attribute (e.g. ``region,device``), one
  row per sample in the order of the predictions; an optional ``id`` column is checked against the
  predictions' ids.
* embeddings: ``.npy`` float arrays (n, d), one row per item, no NaN.
* identities: ``.npy`` 1-D (integers or strings), or a CSV with a header row and one column (or a
  column named ``id``, ``identity`` or ``label``).

Every problem raises FileNotFoundError or ValueError with one line naming the file and what was expected.
"""
import csv
from pathlib import Path

import numpy as np

from gracekit.report.io import load_predictions

__all__ = ["load_retrain", "load_slices", "load_embeddings", "load_ids", "ID_COLUMNS"]

ID_COLUMNS = ("id", "identity", "label")


def _csv(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise ValueError(f"{path.name}: not a UTF-8 text CSV file") from None
    except csv.Error as err:
        raise ValueError(f"{path.name}: not a readable CSV file ({err})") from None
    if len(rows) < 2:
        raise ValueError(f"{path.name}: expected a header row and one row per item, got {len(rows)} row(s)")
    header = [h.strip() for h in rows[0]]
    if "" in header or len(set(header)) != len(header):
        raise ValueError(f"{path.name}: the header must name every column once (got: {', '.join(header)})")
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise ValueError(f"{path.name} row {i}: {len(r)} fields, but the header has {len(header)}")
    return path.name, header, {h: [r[j].strip() for r in rows[1:]] for j, h in enumerate(header)}


def load_retrain(path, classes, n):
    """Predictions of the retrained old recipe as class indices (n,) (or scores (n, K)).

    ``classes``: the class names in index order (from ``load_report_inputs``); ``n``: the number of samples.
    """
    src = load_predictions(path, "y_pred")
    name = src["source"]
    if "scores" in src:
        s = src["scores"]
        if src.get("score_classes") and src["score_classes"] != list(classes):
            raise ValueError(f"{name}: score columns {src['score_classes'][:5]} differ from the classes "
                             f"{list(classes)[:5]} of the old and new predictions")
        if s.shape != (n, len(classes)):
            raise ValueError(f"{name}: expected scores of shape ({n}, {len(classes)}), got {s.shape}")
        return s
    labels = src["labels"]
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} rows but the true labels have {n}")
    lookup = {c: i for i, c in enumerate(classes)}
    by_index = all(v.isdigit() for v in labels) and not set(labels) <= set(lookup)
    out = np.empty(n, dtype=np.int64)
    for i, v in enumerate(labels):
        j = (int(v) if int(v) < len(classes) else None) if by_index else lookup.get(v)
        if j is None:
            raise ValueError(f"{name} row {i + 2}: unknown label {v!r} (known classes: {', '.join(classes[:10])})")
        out[i] = j
    return out


def load_slices(path, n, ids=None):
    """Slice attributes: dict column -> list of n values (the ``id`` column is checked, not a slice)."""
    name, header, cols = _csv(path)
    if len(cols[header[0]]) != n:
        raise ValueError(f"{name} has {len(cols[header[0]])} rows but the predictions have {n}")
    if "id" in cols:
        if ids is not None and list(map(str, ids)) != cols["id"]:
            i = next(i for i, (a, b) in enumerate(zip(cols["id"], map(str, ids))) if a != b)
            raise ValueError(f"{name} row {i + 2}: id {cols['id'][i]!r} differs from the predictions' "
                             f"id {str(ids[i])!r}; sort the files the same way")
        del cols["id"]
    if not cols:
        raise ValueError(f"{name}: no slice column besides id; expected one column per attribute")
    for h, vals in cols.items():
        if "" in vals:
            raise ValueError(f"{name} row {vals.index('') + 2}: empty value in column {h!r}")
    return cols


def load_embeddings(path, role="embeddings"):
    """A float array (n, d) from a .npy file; ``role`` names it in errors (e.g. "--old-gallery")."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found ({role})")
    if path.suffix.lower() != ".npy":
        raise ValueError(f"{path.name}: {role} must be a .npy file of float embeddings (n, d)")
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path.name}: not a readable .npy array ({role}: {err})") from None
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{path.name}: {role} must be a 2-D array (n items, d dims), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{path.name}: {role} must hold float embeddings, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        row = int(np.flatnonzero(~np.isfinite(a).all(1))[0])
        raise ValueError(f"{path.name}: {role} row {row} holds NaN or infinite values")
    return a.astype(np.float64)


def load_ids(path, role="ids"):
    """Identities (n,) as strings from a 1-D .npy or a one-column CSV with a header."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found ({role})")
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise ValueError(f"{path.name}: not a readable .npy array ({role}: {err})") from None
        if a.ndim != 1 or len(a) == 0:
            raise ValueError(f"{path.name}: {role} must be a non-empty 1-D array, got shape {a.shape}")
        if np.issubdtype(a.dtype, np.floating):
            if not (np.isfinite(a).all() and np.all(a == np.round(a))):
                raise ValueError(f"{path.name}: {role} must be whole numbers or names, got non-integer values")
            a = a.astype(np.int64)
        return np.array([str(v) for v in a.tolist()], dtype=object)
    name, header, cols = _csv(path)
    col = header[0] if len(header) == 1 else next((c for c in ID_COLUMNS if c in cols), None)
    if col is None:
        raise ValueError(f"{name}: expected one column of identities or a column named "
                         f"{' / '.join(ID_COLUMNS)} (found: {', '.join(header)})")
    if "" in cols[col]:
        raise ValueError(f"{name} row {cols[col].index('') + 2}: empty identity")
    return np.array(cols[col], dtype=object)
