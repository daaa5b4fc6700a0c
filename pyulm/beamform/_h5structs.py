"""Verasonics' long struct arrays (``Receive``, ``Event``) from MAT v7.3: only the fields pyulm uses.

A workspace of 800 compound frames holds thousands of ``Receive`` and ``Event``
entries, each field of each entry a separate HDF5 dataset behind an object
reference. :func:`pyulm.io.read_mat` decodes every field of every entry with
its general MATLAB walker (class attributes, storage planning: ~0.5 ms each,
~12 s for 1,200 receives and 1,600 events); here only the wanted fields are
followed, with plain h5py reads (~0.05 ms each). Other variables, and struct
arrays not stored as MATLAB stores them, are left to :func:`pyulm.io.read_mat`.
"""
from __future__ import annotations

import numpy as np

RECEIVE_FIELDS = ("startSample", "endSample", "acqNum", "framenum", "bufnum", "sampleMode", "mode",
                  "demodFrequency", "decimSampleRate", "quadDecim", "startDepth", "Apod")
EVENT_FIELDS = ("tx", "rcv")
_CHAR_FIELDS = {"sampleMode"}  # the rest are numeric: no class attribute read per value


def read_struct_arrays(path, wanted: dict) -> dict:
    """``{name: list of dicts}`` for each ``name: fields`` of ``wanted`` stored as a MATLAB struct array.

    Values: numeric fields as 2-D float arrays in MATLAB's shape, char fields as ``str``,
    empty fields as ``None``; names absent or stored otherwise (a 1x1 struct) are not returned.
    """
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        for name, fields in wanted.items():
            g = f.get(name)
            if not isinstance(g, h5py.Group):
                continue
            have = [k for k in fields if isinstance(g.get(k), h5py.Dataset) and g[k].dtype == h5py.ref_dtype
                    and "MATLAB_class" not in g[k].attrs]  # a struct array's field: references, no class
            if not have:
                continue
            refs = {k: np.asarray(g[k][()]).T.ravel(order="F") for k in have}
            n = refs[have[0]].size
            if any(r.size != n for r in refs.values()):
                continue
            items = [{} for _ in range(n)]
            for k in have:
                char = k in _CHAR_FIELDS
                for i, r in enumerate(refs[k]):
                    items[i][k] = _value(f[r], char) if r else None
            out[name] = items
    return out


def _value(ds, char: bool):
    data = np.asarray(ds[()])
    if data.dtype == np.uint64 and ds.attrs.get("MATLAB_empty", 0):  # MATLAB stores [] as its dimensions
        return None
    if char:
        return "".join(map(chr, data.T.ravel(order="F")))
    return np.atleast_2d(data.T.astype(float))
