"""The top level of a training config, checked the same way for every trainer.

Every ``pyulm train`` config (MBL-Net/3DML, Deep-stULM, fUS -> ULM, MB-DT, MBT-Net, PgD)
is a TOML file with a few plain keys (``seed`` and, for some, ``architecture`` or
``model``) and a few tables: :func:`top_level` checks the first, :func:`check_fields` each
table's fields against its trainer's settings dataclass (with optional (low, high) ranges,
checked by :func:`check_number`, which a trainer's own rules may call too).
"""
from __future__ import annotations

import math
from dataclasses import fields


def top_level(raw: dict, where: str, keys=("seed",), tables=()) -> int:
    """Check the top level of a training config and return its ``seed`` (default 0).

    Parameters
    ----------
    raw : dict
        The config as read from TOML.
    where : str
        Where it came from (file name), the start of every message.
    keys : sequence of str
        Plain keys allowed at the top level (``seed`` among them).
    tables : sequence of str
        Tables allowed at the top level; each must be a table when present.

    Raises
    ------
    ValueError
        An unknown key (listing the accepted ones), a ``seed`` that is not a whole
        number >= 0, or a table given as something else.
    """
    bad = sorted(set(raw) - set(keys) - set(tables))
    if bad:
        expected = ", ".join([*keys, *(f"[{t}]" for t in tables)])
        raise ValueError(f"{where}: unknown key(s) {bad}; expected {expected}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{where}: seed: expected a whole number >= 0, got {seed!r}")
    for t in tables:
        if not isinstance(raw.get(t, {}), dict):
            raise ValueError(f"{where}: [{t}] must be a table")
    return seed


def check_fields(cls, d, where: str, *, zero_ok=(), positive: bool = False, numeric_tuples: bool = False,
                 variable_length=(), special=None, bounds=None) -> dict:
    """Check one table of a training config against the frozen dataclass ``cls`` of its settings.

    Every trainer's tables go through here, so a value is judged by the type of its default the
    same way everywhere: a list for a tuple, true/false for a bool, a whole number >= 1 for an int
    (>= 0 for the fields in ``zero_ok``), a finite number >= 0 for a float (> 0 with
    ``positive``), a string for a str; a field in ``bounds`` must lie in its range instead.

    Parameters
    ----------
    cls : dataclass type
        The settings; its defaults give each field's type.
    d : dict
        The table as read from TOML (never modified).
    where : str
        Start of every message (file and table, e.g. ``"cfg.toml [train]"``).
    zero_ok : collection of str
        Whole-number fields where 0 is allowed (0 meaning "none" or "off").
    positive : bool
        Floats must be > 0 rather than >= 0.
    numeric_tuples : bool
        Tuples hold finite numbers, as many as the default holds (any number for the fields in
        ``variable_length``); float entries of the default make float entries. Otherwise any list
        becomes a tuple, unchecked (the caller checks its contents).
    variable_length : collection of str
        See ``numeric_tuples``.
    special : dict, optional
        ``field -> check(value, name)`` returning the value, for fields with their own rule.
    bounds : dict, optional
        ``field -> (low, high)``, both inclusive, None for an open side: the range of a
        whole-number or float field, in place of the rule above (``zero_ok``, ``positive``).
        An int field still takes whole numbers only, a float field any finite number (made
        a float).

    Returns
    -------
    dict
        The checked values (only the fields given), ready for ``cls(**...)``.

    Raises
    ------
    ValueError
        ``where`` is not a table, a field is unknown (listing the known ones), or a value is
        of the wrong kind or out of range (naming ``where.field``, and the range).
    TypeError
        ``bounds`` names a field of ``cls`` that is not a whole number or a float (a mistake of
        the caller, not of the config).
    """
    bounds = bounds or {}
    numeric = {f.name for f in fields(cls) if _number(f.default)}
    if set(bounds) - numeric:
        raise TypeError(f"check_fields: bounds for {sorted(set(bounds) - numeric)}, "
                        f"which are not number fields of {cls.__name__}")
    reject_unknown(cls, d, where)
    out = {}
    for k, v in d.items():
        default, name = getattr(cls, k), f"{where}.{k}"
        if special and k in special:
            v = special[k](v, name)
        elif isinstance(default, tuple):
            v = _tuple(v, default, name, numeric_tuples, k in variable_length)
        elif isinstance(default, bool):
            if not isinstance(v, bool):
                raise ValueError(f"{name}: expected true or false, got {v!r}")
        elif isinstance(default, int):
            v = check_number(v, name, *bounds.get(k, (0 if k in zero_ok else 1, None)), whole=True)
        elif isinstance(default, str):
            if not isinstance(v, str):
                raise ValueError(f"{name}: expected a string, got {v!r}")
        elif k in bounds:
            v = check_number(v, name, *bounds[k])
        elif not _number(v) or v < 0 or (positive and v == 0):
            raise ValueError(f"{name}: expected a finite number {'> 0' if positive else '>= 0'}, got {v!r}")
        else:
            v = float(v)
        out[k] = v
    return out


def reject_unknown(cls, d, where: str) -> None:
    """One error naming ``where`` when ``d`` is not a table or holds a field ``cls`` does not have
    (listing the fields it has)."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a table, got {type(d).__name__}")
    known = {f.name for f in fields(cls)}
    bad = sorted(set(d) - known)
    if bad:
        raise ValueError(f"{where}: unknown field(s) {bad}; expected some of {sorted(known)}")


def check_number(v, name: str, low=None, high=None, *, whole: bool = False):
    """``v`` checked to be a finite number (a whole number with ``whole``) in ``[low, high]``.

    Parameters
    ----------
    v : object
        The value, as read from the config.
    name : str
        Start of the message (file, table and field).
    low, high : number or None
        Inclusive bounds; None leaves that side open.
    whole : bool
        Only ints (never a bool, never a float such as 2.0).

    Returns
    -------
    int or float
        ``v`` itself when ``whole``, else ``float(v)``.

    Raises
    ------
    ValueError
        ``"{name}: expected a whole number in [1, 1024], got 0"`` and the like
        (``>= low`` or ``<= high`` for one open side).
    """
    ok = isinstance(v, int) and not isinstance(v, bool) if whole else _number(v)
    if not ok or (low is not None and v < low) or (high is not None and v > high):
        rng = (f" in [{low}, {high}]" if low is not None and high is not None else f" >= {low}" if low is not None
               else f" <= {high}" if high is not None else "")
        raise ValueError(f"{name}: expected {'a whole number' if whole else 'a number'}{rng}, got {v!r}")
    return v if whole else float(v)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _tuple(v, default: tuple, name: str, numeric: bool, variable: bool) -> tuple:
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"{name}: expected a list, got {v!r}")
    if not numeric:
        return tuple(v)
    n = None if variable else len(default)
    if (n is not None and len(v) != n) or not all(_number(a) for a in v):
        raise ValueError(f"{name}: expected {'a list of' if n is None else n} finite numbers, got {v!r}")
    if n is None:
        return tuple(v)
    return tuple(float(a) if isinstance(d0, float) else a for a, d0 in zip(v, default))
