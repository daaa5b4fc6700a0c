"""Verasonics workspaces: ``IQData{n}`` / ``ImgData{n}`` buffer cells ``[rows cols pages frames]``.

A buffer is chosen from the cell's headers alone (no buffer is read); frames
are pages-fastest, so frame ``k`` of ``pages x frames`` is page ``k mod pages``
of frame ``k div pages``.
"""
from __future__ import annotations

import numpy as np

from . import _v5, _v73
from ._errors import FormatError


def inspect_buffer(path, fmt, name, idx, names, notes) -> tuple[int, tuple, tuple, str]:
    """Choose a buffer of cell ``name`` (1-based ``idx``, or the first non-empty one) from the cell's
    headers; returns (buffer, (z, x, t) shape, stored 4-D shape, dtype name). Notes go to ``notes``."""
    v = names[name]
    if v.mclass != "cell":
        raise FormatError(f"{path}: {name} is a {v.mclass}, expected a Verasonics buffer cell {name}{{n}}")
    # Element shapes from headers: no buffer is read.
    if fmt in ("mat73", "hdf5"):
        n_cells = int(np.prod(v.shape))
        shapes = []
        for i in range(n_cells):
            try:
                shapes.append(_v73.h5_dataset_info(path, name, i))
            except FormatError:
                shapes.append(((0,), np.dtype(float)))
    else:
        shapes = _v5.cell_shapes(path, name)
    nonempty = [i for i, (s, _) in enumerate(shapes) if int(np.prod(s)) > 0]
    if not nonempty:
        raise FormatError(f"{path}: every {name} buffer is empty")
    if idx is None:
        idx = nonempty[0] + 1
        if len(nonempty) > 1:
            notes.append(f"{name} has {len(nonempty)} non-empty buffers ({', '.join(f'{{{i + 1}}}' for i in nonempty)}); "
                         f"reading {name}{{{idx}}} (choose with --variable {name}{{n}})")
    if not 1 <= idx <= len(shapes):
        raise FormatError(f"{path}: {name} has {len(shapes)} buffer(s); {name}{{{idx}}} does not exist")
    shape, dtype = shapes[idx - 1]
    if int(np.prod(shape)) == 0:
        raise FormatError(f"{path}: {name}{{{idx}}} is empty")
    if dtype is None or np.dtype(dtype).kind not in "biufc":
        raise FormatError(f"{path}: {name}{{{idx}}} is not a numeric array")
    shape4 = tuple(shape) + (1,) * (4 - len(shape))
    if len(shape4) != 4:
        raise FormatError(f"{path}: {name}{{{idx}}} has {len(shape)} axes (shape {'x'.join(map(str, shape))}); "
                          "expected [rows cols pages frames]")
    r, c, p, f = shape4
    if p == 1:
        zxt = (r, c, f)
    elif f == 1:
        zxt = (r, c, p)
        notes.append(f"{name}{{{idx}}} has {p} pages and 1 frame: pages read as frames")
    else:
        zxt = (r, c, p * f)
        notes.append(f"{name}{{{idx}}} has {p} pages x {f} frames: read as {p * f} consecutive frames (pages fastest)")
    if name != "IQData":
        notes.append(f"{name} holds intensity (real), not complex IQ: the SVD clutter filter then acts on intensity")
    return idx, zxt, shape4, str(np.dtype(dtype))


def read_buffer_frames(info, start: int, stop: int) -> np.ndarray:
    """Frames ``start:stop`` of the Verasonics buffer ``info`` describes (pages fastest)."""
    r, c, p, f = info.stored_shape
    idx = info.buffer - 1
    if info.format in ("mat73", "hdf5"):
        # Frames are pages-fastest: a frame range maps to a range of (page, frame) pairs.
        if p == 1:
            data = _v73.h5_read_slice(info.path, info.variable, idx, 3, start, stop)
            return data.reshape(r, c, -1, order="F")
        f0, f1 = start // p, -(-stop // p)
        data = _v73.h5_read_slice(info.path, info.variable, idx, 3, f0, f1)
        data = data.reshape(r, c, -1, order="F")
        return data[:, :, start - f0 * p: stop - f0 * p]
    return _v5.read_frames(info.path, info.variable, (r, c, p * f), start, stop, cell=idx)
