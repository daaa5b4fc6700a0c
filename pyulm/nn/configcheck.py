"""The top level of a training config, checked the same way for every trainer.

Every ``pyulm train`` config (MBL-Net/3DML, Deep-stULM, fUS -> ULM, MB-DT, MBT-Net, PgD)
is a TOML file with a few plain keys (``seed`` and, for some, ``architecture`` or
``model``) and a few tables; each trainer checks its own tables' fields.
"""
from __future__ import annotations


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
