"""Check cells for the notebooks' exercises, in the manner of otter-grader or nbgrader checks.

An exercise asks the learner to compute a named result (``ex1 = ...``). The check cell after it calls
:func:`check` with that value and a test. The learner sees one line: "not done yet" while the value is
still ``None`` (so Run All goes on to the end of a student copy), a tick when the result passes, or
what to look at when it does not. In the instructor's copy, run by the tests with
``GRACEKIT_STRICT_CLAIMS=1``, a failing or missing answer raises :class:`ExerciseFailed`.

Example
-------
>>> from gracekit.exercises import check
>>> check("Exercise 1", 0.031, lambda v: 0.02 < v < 0.04, hint="NFR is a fraction, not a percentage")
✓ Exercise 1: your answer passes the check (0.031)
True
"""
import numpy as np

from gracekit.claims import strict
from gracekit.config import is_fast

__all__ = ["check", "ExerciseFailed"]


class ExerciseFailed(AssertionError):
    """The instructor's solution of an exercise does not pass its own check."""


def _show(value):
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)) and len(value) <= 8:
        return "[" + ", ".join(_show(v) for v in value) + "]"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check(name, value, test, *, hint, only_full=False, fast=None):
    """Check a learner's result and say, in one line, whether it passes.

    Parameters
    ----------
    name : str
        The exercise, e.g. ``"Exercise 1"``.
    value : object
        The learner's result; ``None`` means "not done yet".
    test : callable
        ``test(value) -> bool``: True when the result is right (within its tolerance).
    hint : str
        What to look at when the result is off (shown only then).
    only_full : bool, default False
        The expected effect appears only at full size; in FAST mode the result is shown, not judged.
    fast : bool or None
        Override FAST detection (None reads ``GRACEKIT_FAST``).

    Returns
    -------
    bool or None
        True (passes), False (off) or None (not done yet, or not judged in FAST mode).

    Raises
    ------
    ExerciseFailed
        Under ``GRACEKIT_STRICT_CLAIMS=1`` when the value is missing or fails the test (the instructor's
        copy must pass its own checks).
    """
    if not callable(test):
        raise ValueError("test must be a function value -> bool")
    if value is None:
        print(f"· {name}: not done yet — compute your result and run this cell again")
        if strict():
            raise ExerciseFailed(f"{name}: no result (the solution cell left the answer None)")
        return None
    if fast is None:
        fast = is_fast()
    if only_full and fast:
        print(f"· {name}: your result is {_show(value)} (checked at full size only; FAST mode is too small)")
        return None
    try:
        ok = bool(test(value))
    except Exception as err:  # a result of the wrong shape or type is an answer that is off
        ok, hint = False, f"{hint} (the check could not read your result: {err.__class__.__name__}: {err})"
    if ok:
        print(f"✓ {name}: your answer passes the check ({_show(value)})")
        return True
    print(f"✗ {name}: not yet right ({_show(value)}). Look at: {hint}")
    if strict():
        raise ExerciseFailed(f"{name}: the solution {_show(value)} fails its check")
    return False
