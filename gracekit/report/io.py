"""Reading an update's files for ``gracekit report``: true labels and two models' predictions.

A CSV with a header and either a label column (``y_pred``, ``prediction``, ``label``, ``y_old`` or
``y_new``) or score columns ``score_<class>``, plus an optional ``y_true`` (and ``id``) column; one
CSV holding ``y_true``, ``y_old`` and ``y_new``; or .npy arrays of labels (n,) or scores (n, K).
Labels may be integers or class names. Every problem raises FileNotFoundError or ValueError with
one line naming the file, the row or column, and what was expected; an unreadable file raises an
OSError whose message names the path.
"""
from pathlib import Path

import numpy as np

from gracekit.validation import check_labels, check_scores, label_from_text

__all__ = ["LABEL_COLUMNS", "SCORE_PREFIX", "load_predictions", "load_labels", "load_report_inputs"]

LABEL_COLUMNS = ("y_pred", "prediction", "label", "y_old", "y_new")
SCORE_PREFIX = "score_"


def _check_file(path):
    """``path`` as a Path that names an existing file (not a folder)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected a file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    return path


def _os_error(path, err):
    """One-line OSError naming ``path`` (permission denied, I/O error...)."""
    return type(err)(f"{path}: cannot read ({err.strerror or err})")


def _read_csv(path):
    import csv

    path = _check_file(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise ValueError(f"{path.name}: not a UTF-8 text CSV file") from None
    except csv.Error as err:
        raise ValueError(f"{path.name}: not a readable CSV file ({err})") from None
    except OSError as err:
        raise _os_error(path, err) from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise ValueError(f"{path.name}: the file is empty; expected a header row and one row per sample")
    header = [h.strip() for h in rows[0]]
    for j, h in enumerate(header):
        if not h:
            raise ValueError(f"{path.name}: column {j + 1} of the header has no name")
        if h in header[:j]:
            raise ValueError(f"{path.name}: column name {h!r} appears twice in the header "
                             f"(columns {header.index(h) + 1} and {j + 1})")
    if len(rows) == 1:
        raise ValueError(f"{path.name}: only a header, no data rows")
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise ValueError(f"{path.name} row {i}: {len(r)} fields, but the header has {len(header)}")
    return path.name, header, {h: [r[j].strip() for r in rows[1:]] for j, h in enumerate(header)}


def _numbers(values, where):
    out = np.empty(len(values))
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except ValueError:
            try:
                complex(v)
            except ValueError:
                raise ValueError(f"{where} row {i + 2}: {v!r} is not a number") from None
            raise ValueError(f"{where} row {i + 2}: {v!r} is a complex number; expected a real score") from None
        if not np.isfinite(out[i]):
            raise ValueError(f"{where} row {i + 2}: {v!r} is not a finite number")
    return out


def _labels_raw(values, source, column):
    """Labels as text, checked: class names, or whole numbers >= 0 ('3' and '3.0' become '3')."""
    return [label_from_text(v, f"{source} row {i + 2} column {column}") for i, v in enumerate(values)]


def load_predictions(path, role="y_pred"):
    """Read one model's predictions from a CSV or .npy file.

    Args:
        path: CSV with a header and a label column (``y_pred``, ``prediction``, ``label``, or ``role``)
            or score columns ``score_<class>``, optionally ``y_true``; or .npy labels (n,) / scores (n, K).
        role: the column name tried first ("y_old" or "y_new" for a combined file).
    Returns:
        dict with "labels" (list of str) or "scores" (float array) and "score_classes" (list of str),
        and "y_true" (list of str) when the file has it.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        a = _load_npy(path)
        if a.ndim == 2:
            a = check_scores(a, path.name)
            if not np.isfinite(a).all():
                raise ValueError(f"{path.name}: scores contain infinite values")
            return {"scores": a, "score_classes": None, "source": path.name}
        return {"labels": _npy_labels(a, path.name), "source": path.name}
    name, header, cols = _read_csv(path)
    out = {"source": name}
    if "y_true" in cols:
        out["y_true"] = _labels_raw(cols["y_true"], name, "y_true")
    if "id" in cols:
        out["ids"] = cols["id"]
    score_cols = [h for h in header if h.startswith(SCORE_PREFIX)]
    label_col = next((c for c in (role, *LABEL_COLUMNS) if c in cols), None)
    if label_col is not None and (label_col == role or not score_cols):
        out["labels"] = _labels_raw(cols[label_col], name, label_col)
    elif score_cols:
        classes = [h[len(SCORE_PREFIX):] for h in score_cols]
        if len(set(classes)) != len(classes) or "" in classes:
            raise ValueError(f"{name}: score columns must name distinct classes (score_<class>)")
        out["scores"] = np.stack([_numbers(cols[h], f"{name} column {h}") for h in score_cols], 1)
        out["score_classes"] = classes
    else:
        raise ValueError(f"{name}: no prediction column; expected one named {' / '.join(LABEL_COLUMNS)} or "
                         f"score columns score_<class> (found: {', '.join(header)})")
    return out


def _load_npy(path):
    path = _check_file(path)
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise _os_error(path, err) from None
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path.name}: not a readable .npy array ({err})") from None
    if a.size == 0:
        raise ValueError(f"{path.name}: the array is empty")
    if a.ndim not in (1, 2):
        raise ValueError(f"{path.name}: expected labels (n,) or scores (n, K), got shape {a.shape}")
    return a


def _npy_labels(a, name):
    if a.dtype.kind in "SU":  # class names
        a = a.astype(str)
        return [label_from_text(v, f"{name} index {i}") for i, v in enumerate(a.tolist())]
    return [str(v) for v in check_labels(a, name).tolist()]


def load_labels(path):
    """True labels from .npy, or a CSV/text file with a ``y_true`` column (or a single column)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        a = _load_npy(path)
        if a.ndim != 1:
            raise ValueError(f"{path.name}: true labels must be 1-D, got shape {a.shape}")
        return _npy_labels(a, path.name)
    name, header, cols = _read_csv(path)
    if "y_true" in cols:
        return _labels_raw(cols["y_true"], name, "y_true")
    if len(header) == 1:
        return _labels_raw(cols[header[0]], name, header[0])
    raise ValueError(f"{name}: no y_true column (found: {', '.join(header)})")


def _encode(labels, classes, where):
    lookup = {c: i for i, c in enumerate(classes)}
    for i, v in enumerate(labels):
        if v not in lookup:
            shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
            raise ValueError(f"{where} row {i + 2}: unknown label {v!r} (known classes: {shown}); "
                             f"list every class with --classes")
    return np.array([lookup[v] for v in labels], dtype=np.int64)


def _sort_classes(values):
    vals = sorted(set(values))
    if all(v.lstrip("-").isdigit() for v in vals):
        return [str(v) for v in sorted(int(v) for v in vals)]
    return vals


def load_report_inputs(combined=None, true=None, old=None, new=None, classes=None):
    """Read files into (y_true, y_old, y_new, class_names) ready for ``update_report``.

    Args:
        combined: one CSV with y_true, y_old and y_new columns (or None).
        true: labels file (.npy, or CSV with a y_true column); optional when a model file has y_true.
        old, new: each model's predictions (``load_predictions``).
        classes: list of class names in index order; default from score columns or the labels seen.
    Returns:
        y_true (n,), y_old and y_new (labels (n,) or scores (n, K)), class_names, and the ids of the
        rows (from an ``id`` column) or None.
    Raises:
        FileNotFoundError or ValueError with a one-line message naming the file, row and problem.
    """
    if combined is not None:
        if old is not None or new is not None:
            raise ValueError("give either one combined CSV or --old and --new, not both")
        name, header, cols = _read_csv(combined)
        missing = [c for c in ("y_true", "y_old", "y_new") if c not in cols]
        if missing and not (true and "y_true" in missing and len(missing) == 1):
            raise ValueError(f"{name}: missing column(s) {', '.join(missing)} (found: {', '.join(header)})")
        src_old = {"labels": _labels_raw(cols["y_old"], name, "y_old"), "source": name}
        if "id" in cols:
            src_old["ids"] = cols["id"]
        src_new = {"labels": _labels_raw(cols["y_new"], name, "y_new"), "source": name}
        if "y_true" in cols:
            src_old["y_true"] = _labels_raw(cols["y_true"], name, "y_true")
    else:
        if old is None or new is None:
            raise ValueError("give the old and the new model's predictions (--old and --new) or one combined CSV")
        src_old, src_new = load_predictions(old, "y_old"), load_predictions(new, "y_new")
    if true is not None:
        y_true, true_src = load_labels(true), Path(true).name
    elif "y_true" in src_old or "y_true" in src_new:
        src = src_old if "y_true" in src_old else src_new
        y_true, true_src = src["y_true"], src["source"]
    else:
        raise ValueError("no true labels: give --true or a y_true column in a predictions file")
    for src in (src_old, src_new):
        n = len(src["labels"]) if "labels" in src else len(src["scores"])
        if n != len(y_true):
            raise ValueError(f"{src['source']} has {n} rows but the true labels ({true_src}) have {len(y_true)}")
        if "y_true" in src and src["y_true"] != y_true:
            i = next(i for i, (a, b) in enumerate(zip(src["y_true"], y_true)) if a != b)
            raise ValueError(f"{src['source']} row {i + 2}: y_true {src['y_true'][i]!r} differs from "
                             f"{true_src} ({y_true[i]!r}); are the rows in the same order?")
    if "ids" in src_old and "ids" in src_new and src_old["ids"] != src_new["ids"]:
        i = next(i for i, (a, b) in enumerate(zip(src_old["ids"], src_new["ids"])) if a != b)
        raise ValueError(f"{src_old['source']} and {src_new['source']} list different ids at row {i + 2} "
                         f"({src_old['ids'][i]!r} vs {src_new['ids'][i]!r}); sort both files the same way")
    # the class list: given, else from score columns, else every label seen in y_true
    score_cls = [s["score_classes"] for s in (src_old, src_new) if s.get("score_classes")]
    if len(score_cls) == 2 and score_cls[0] != score_cls[1]:
        raise ValueError(f"{src_old['source']} and {src_new['source']} have different score columns")
    widths = sorted({s["scores"].shape[1] for s in (src_old, src_new) if "scores" in s})
    if len(widths) > 1:
        raise ValueError(f"the two score files have different numbers of classes: {widths}")
    if classes is not None:
        classes = [str(c) for c in classes]
        if len(set(classes)) != len(classes):
            raise ValueError("--classes must list distinct names")
    elif score_cls:
        classes = score_cls[0]
    elif widths and all(v.isdigit() for v in y_true):
        classes = [str(i) for i in range(widths[0])]
    else:
        seen = list(y_true) + [v for s in (src_old, src_new) for v in s.get("labels", [])]
        if all(v.isdigit() for v in seen):  # integer labels: the classes that occur, in order
            classes = [str(i) for i in sorted({int(v) for v in seen})]
        else:  # names: the classes are those of the true labels
            classes = _sort_classes(y_true)
    if widths and len(classes) != widths[0]:
        raise ValueError(f"the scores have {widths[0]} columns but there are {len(classes)} classes "
                         f"({', '.join(classes[:10])}); name them with --classes")
    seen = list(y_true) + [v for s in (src_old, src_new) for v in s.get("labels", [])]
    if all(v.isdigit() for v in seen) and not set(seen) <= set(classes):
        # integer labels with class names given: label i means classes[i]
        def name_of(v):
            return classes[int(v)] if int(v) < len(classes) else v
        y_true = [name_of(v) for v in y_true]
        for s in (src_old, src_new):
            if "labels" in s:
                s["labels"] = [name_of(v) for v in s["labels"]]
    yt = _encode(y_true, classes, true_src)
    outs = [_encode(s["labels"], classes, s["source"]) if "labels" in s else s["scores"] for s in (src_old, src_new)]
    ids = src_old.get("ids", src_new.get("ids"))
    return yt, outs[0], outs[1], classes, ids
