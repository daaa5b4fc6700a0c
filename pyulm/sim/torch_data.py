"""On-the-fly training patches for torch (this module imports torch).

>>> from pyulm.sim.torch_data import SimulatedPatches
>>> ds = SimulatedPatches(shape=(32, 32), n_frames=4, seed=0, length=2)
>>> x, y = next(iter(ds))
>>> tuple(x.shape), tuple(y.shape)
((4, 2, 32, 32), (4, 1, 32, 32))
"""
from __future__ import annotations

import numpy as np
import torch

from .free import free_motion
from .result import density_map


class SimulatedPatches(torch.utils.data.IterableDataset):
    """Endless (or ``length``-long) stream of simulated free-motion patches.

    Each item is ``(iq, target)``: ``iq`` a float32 tensor (t, 2, z, x) with
    the real and imaginary parts as channels (or (t, 1, z, x) envelope with
    ``complex_iq=False``), and ``target`` a float32 (t, 1, z*res, x*res)
    ground-truth density (bubble counts on the ``res`` grid). With
    ``return_gt=True`` a third item, the GT ``Localizations``, is yielded
    (then use ``batch_size=None`` or a custom collate).

    Each DataLoader worker draws from its own stream spawned from ``seed``
    (worker ``k`` of ``n`` takes items ``k, k+n, ...``), so a run is
    reproducible for a given number of workers.

    Parameters
    ----------
    shape : (int, int)
        Patch size, pixels.
    n_frames : int
        Frames per item.
    res : int
        Super-resolution factor of the target.
    length : int or None
        Items per epoch; None: endless.
    seed : int
    complex_iq : bool
    return_gt : bool
    **sim_kwargs
        Passed to :func:`pyulm.sim.free_motion` (``n_bubbles``, ``speed``,
        ``psf_fwhm``, ``snr_db``, ``shrink``, ...).
    """

    def __init__(self, shape=(64, 64), n_frames: int = 8, *, res: int = 1, length: int | None = None, seed: int = 0,
                 complex_iq: bool = True, return_gt: bool = False, **sim_kwargs):
        super().__init__()
        free_motion(shape, 1, **{**sim_kwargs, "seed": 0})  # validate the arguments now, not in a worker
        if length is not None and (not isinstance(length, int) or length <= 0):
            raise ValueError(f"length: expected a positive integer or None, got {length!r}")
        self.shape, self.n_frames, self.res, self.length = tuple(shape), int(n_frames), res, length
        self.seed, self.complex_iq, self.return_gt, self.sim_kwargs = seed, complex_iq, return_gt, sim_kwargs

    def __len__(self):
        if self.length is None:
            raise TypeError("SimulatedPatches: endless stream (length=None) has no len()")
        return self.length

    def item(self, index: int):
        """Item ``index`` of the stream (deterministic)."""
        rng = np.random.default_rng([self.seed, index])
        sim = free_motion(self.shape, self.n_frames, complex_iq=self.complex_iq, seed=rng, **self.sim_kwargs)
        frames = np.transpose(sim.iq, (2, 0, 1))  # (t, z, x)
        if self.complex_iq:
            x = torch.from_numpy(np.stack([frames.real, frames.imag], axis=1).astype(np.float32))
        else:
            x = torch.from_numpy(np.ascontiguousarray(frames[:, None], dtype=np.float32))
        gt = sim.gt
        nz, nx = self.shape
        y = np.zeros((self.n_frames, 1, nz * self.res, nx * self.res), np.float32)
        for t in np.unique(gt.frame):
            sel = gt.frame == t
            y[t, 0] = density_map((gt.z[sel], gt.x[sel]), self.shape, self.res)
        y = torch.from_numpy(y)
        return (x, y, gt) if self.return_gt else (x, y)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        i = start
        while self.length is None or i < self.length:
            yield self.item(i)
            i += step
