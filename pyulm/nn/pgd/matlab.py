"""``pyulm.synth`` for MATLAB/Octave: MATLAB's values in, the block's variables out."""
from __future__ import annotations

import numpy as np


def _whole(v, name):
    """A MATLAB double holding a whole number -> int (MATLAB has no integer literals)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, np.ndarray) and v.size == 1 and float(v.ravel()[0]).is_integer():
        return int(v.ravel()[0])
    return v


def synth_for_matlab(params, n_frames, *, out=None, overrides=None, shape=(64, 64), density=4.0, seed=0,
                     weights=None, source="pgd", snr_db=None, steps=None) -> dict:
    """``block = pyulm.synth(params, n_frames, ...)``: :func:`pyulm.nn.pgd.synth` for MATLAB.

    Parameters
    ----------
    params : struct or text
        A struct of :class:`~pyulm.nn.pgd.physics.PhysicsParams` fields, or a ``.toml`` parameter
        file or a Verasonics workspace ``.mat`` (``overrides``: a struct of fields replacing or
        completing the workspace's, e.g. ``f_number``).
    n_frames : number
    out : text, optional
        Also write the block to this ``.mat`` file (atomically) before returning.
    shape, density, seed, weights, source, snr_db, steps
        As :func:`pyulm.nn.pgd.synth` (``shape`` as ``[Nz Nx]``).

    Returns
    -------
    struct
        The block's variables (``IQ``, ``UF``, ``PData``, ``Resource``, ``GT`` = [z x frame id]
        1-based, ``GT_intensity``, ``Synth``) and ``file`` (``out`` or empty).
    """
    from .block import write_block
    from .synthesis import load_params, synth

    if isinstance(params, dict):
        params = {k: _whole(np.asarray(v).ravel()[0].item() if isinstance(v, np.ndarray) and v.size == 1 else v, k)
                  for k, v in params.items()}
    if overrides is not None and not isinstance(overrides, dict):
        raise ValueError(f"overrides: expected a struct of parameter fields, got {type(overrides).__name__}")
    p = load_params(params, {k: _whole(v, k) for k, v in (overrides or {}).items()})
    shp = np.asarray(shape, dtype=float).ravel()
    if shp.size != 2 or not np.all(shp == np.round(shp)):
        raise ValueError(f"shape: expected [Nz Nx], two whole numbers, got {np.asarray(shape).tolist()}")
    block = synth(p, _whole(n_frames, "n_frames"), shape=(int(shp[0]), int(shp[1])), density=density,
                  seed=_whole(seed, "seed"), weights=weights or None, source=source, snr_db=snr_db,
                  steps=None if steps is None else _whole(steps, "steps"))
    if out:
        write_block(out, block)
    return {**block.to_mat_dict(), "file": str(out or "")}
