"""Argument checks shared by every public function.

Each check raises one ``ValueError`` naming the parameter, what it got and what
is expected, so bad input never turns into a silent wrong answer.
"""
from __future__ import annotations

import numbers

import numpy as np


def as_frames(frames, name: str = "frames", *, allow_complex: bool = True, check_finite: bool = True) -> np.ndarray:
    """Return ``frames`` as a 3-D (z, x, t) array without copying or modifying it.

    Raises ``ValueError`` for a wrong number of axes, an empty array or
    non-finite values (``check_finite=False``: not looked for; the caller checks
    them on its way through the data, by calling this again when it sees one).
    """
    return as_frames_nan(frames, name, allow_complex=allow_complex, allow_nan=False, check_finite=check_finite)[0]


def as_frames_nan(frames, name: str = "frames", *, allow_complex: bool = True,
                  allow_nan: bool = True, check_finite: bool = True) -> tuple[np.ndarray, bool]:
    """:func:`as_frames` that may let NaN through; returns ``(array, whether it holds NaN)``.

    Infinite values are refused either way.
    """
    arr = np.asarray(frames)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr) and not allow_complex:
        raise ValueError(f"{name}: expected a real array, got complex {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if arr.ndim != 3:
        raise ValueError(
            f"{name}: expected a (z, x, t) array with 3 axes (or one 2-D frame), got {arr.ndim} axes "
            f"with shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name}: the array is empty (shape {arr.shape})")
    if not check_finite or np.all(np.isfinite(arr)):
        return arr, False
    if allow_nan and not np.any(np.isinf(arr)):
        return arr, True
    bad = int(np.count_nonzero(np.isinf(arr))) if allow_nan else int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
    what = "Inf" if allow_nan else "NaN or Inf"
    raise ValueError(f"{name}: {bad} value(s) are {what}; expected finite values")


def positive(value, name: str, *, integer: bool = False, allow_zero: bool = False, allow_inf: bool = False):
    """Check a positive scalar; return it as ``int`` or ``float``."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    if np.isnan(v) or (np.isinf(v) and not allow_inf):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a value {bound}, got {value!r}")
    if integer:
        if np.isinf(v) or v != int(v):
            raise ValueError(f"{name}: expected a whole number, got {value!r}")
        return int(v)
    return v


def pair(value, name: str) -> tuple[float, float]:
    """Accept a scalar or a 2-sequence of positive numbers; return a (a, b) tuple."""
    arr = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2:
        raise ValueError(f"{name}: expected one number or two numbers, got {value!r}")
    for v in arr:
        positive(float(v), name)
    return float(arr[0]), float(arr[1])


def choice(value, name: str, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}: expected one of {sorted(allowed)}, got {value!r}")
    return value


def round_half_away(x):
    """MATLAB ``round``: halves go away from zero (numpy rounds them to even)."""
    x = np.asarray(x)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


class UnknownOptionError(ValueError, TypeError):
    """An option (keyword argument or parameter field) that the callee does not have.

    A ``ValueError`` like every other bad-input error of pyulm, and a
    ``TypeError`` like Python's own refusal of an unexpected keyword argument,
    so either ``except`` clause catches it.
    """


#: PALA's ``ULM`` field names and the Python argument each one becomes.
PALA_NAMES = {
    "numberOfParticles": "number_of_particles", "NLocalMax": "n_local_max", "InterpMethod": "interp_method",
    "LocMethod": "method", "fwhm": "fwhm", "res": "res", "max_linking_distance": "max_linking_distance",
    "max_gap_closing": "max_gap_closing", "min_length": "min_length", "SVD_cutoff": "cutoff", "butter": "band",
    "interp_factor": "interp_factor",
}


def suggest(name: str, accepted) -> str | None:
    """The name of ``accepted`` that ``name`` most likely stands for (PALA's field name, or a close spelling), or None."""
    import difflib

    accepted = list(accepted)
    alias = PALA_NAMES.get(name)
    if alias in accepted and alias != name:
        return alias
    folded = {a.lower().replace("_", ""): a for a in accepted}
    if name.lower().replace("_", "") in folded:
        return folded[name.lower().replace("_", "")]
    close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_option(where: str, name: str, accepted, related=()) -> UnknownOptionError:
    """The one error for an unknown option: who refuses it, the option, a suggestion and the accepted names.

    ``related`` are names the caller could have meant although they are not
    options here (e.g. :func:`pyulm.localize`'s own arguments): suggested, not listed.
    """
    accepted = sorted(accepted)
    hint = suggest(name, [*accepted, *related])
    hint = f" (did you mean {hint}?)" if hint else ""
    listing = ", ".join(accepted) if accepted else "no options"
    return UnknownOptionError(f"{name}: {where} has no option {name!r}{hint}; it accepts: {listing}")


def check_options(where: str, options, accepted, related=()) -> None:
    """Raise :func:`unknown_option` for the first (sorted) key of ``options`` not in ``accepted``."""
    bad = sorted(set(options) - set(accepted))
    if bad:
        raise unknown_option(where, bad[0], accepted, related)


def renamed(exc: Exception, names: dict) -> Exception:
    """A copy of ``exc`` whose message names the caller's argument instead of the callee's.

    pyulm's errors start with ``"<argument>: "``; when that argument is a key
    of ``names`` it becomes ``names[argument]`` (e.g. ``number_of_particles``
    -> ``ULM.numberOfParticles`` in :mod:`pyulm.pala`). The exception's class
    is kept; a message that does not start with a known name is returned as is.
    """
    msg = str(exc)
    head, sep, rest = msg.partition(": ")
    if not sep or head not in names:
        return exc
    new = type(exc)(f"{names[head]}: {rest}")
    new.__cause__ = exc.__cause__
    return new
