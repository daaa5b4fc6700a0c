"""Deep-stULM: a 3-D CNN that turns dense cine loops into super-resolved track maps.

After Milecki et al., IEEE TMI 2021. Instead of localizing bubbles frame by
frame and linking them, the network reads a space-time block of complex
correlation maps χ = IQ ⋆ PSF and outputs the 2-D projection of the bubbles'
trajectories on an ``r``-times finer grid; the angiogram is the sum of these
track maps over the acquisition. It keeps working at bubble concentrations
where the conventional pipeline (localize, link, render) breaks down.

Rooms: :mod:`.config` (sizes, simulation ranges, schedule), :mod:`.data`
(correlation maps, targets, simulated windows), :mod:`.model` (network, Dice
loss), :mod:`.train`, :mod:`.modeldir` (model directories),
:mod:`.inference` (sliding windows). Importing this package does not import
torch; :func:`track_maps` does when called. See docs/deepstulm.md.
"""
from __future__ import annotations

__all__ = ["track_maps"]

_HINT = ("Deep-stULM needs PyTorch, which is not installed; install it with `pip install torch` "
         "(or `pip install pyulm[nn]`)")


def track_maps(frames, psf=None, *, weights=None, r=None, time_stride=None, stride=None, crop=None, threshold=None,
               combine="mean", batch_size=16, device=None, return_blocks=False):
    """Super-resolved angiogram of a block of IQ frames by Deep-stULM.

    Parameters
    ----------
    frames : ndarray (z, x, t)
        Clutter-filtered complex IQ, sampled like the model's training data
        (the shipped model: pixels of λ/4, the PSF of ``config.json`` → ``data``);
        any memory order; never modified. At least ``n_frames`` frames (64 for
        the shipped model) of at least ``size`` x ``size`` pixels (32 x 32).
    psf : ndarray (kz, kx) or pyulm.psf.PSF, optional
        Template of the correlation maps χ = IQ ⋆ PSF. Default: the PSF the
        model was trained with.
    weights : str or Path, optional
        A model directory (or its ``weights.pt``); default the shipped model
        ``pyulm/nn/weights/deepstulm``.
    r : int, optional
        Expected refinement factor; an error when the weights have another one.
    time_stride : int, optional
        Frames between temporal windows, 1 .. n_frames (default n_frames: blocks
        without overlap; the last window is aligned with the end of the block).
    stride : int, optional
        Pixels between spatial windows, at most ``size - 2 crop`` (default).
    crop : int, optional
        Input pixels dropped from each window side inside the field (default ``size // 4``).
    threshold : float, optional
        Probability above which a pixel is a track (default: the model's,
        chosen on validation data).
    combine : {"mean", "max"}
        How the probabilities of overlapping windows combine ("max": a logical
        OR of the binary maps, as the paper).
    batch_size : int
        Windows per forward pass.
    device : str, optional
        "cpu", "cuda", ...; default CUDA when available.
    return_blocks : bool
        Also return the binary track map of every temporal window and its first frame.

    Returns
    -------
    angio : ndarray float64 (r * nz, r * nx)
        Number of temporal windows whose track map covers each pixel. SR pixel
        ``k`` covers input positions ``[k / r - 0.5, (k + 1) / r - 0.5)`` (the
        grid of :func:`pyulm.sim.density_map`; :func:`~.inference.to_pala_grid`
        resamples it on PALA's ``MatOut`` grid).
    blocks, starts : ndarray bool (n_windows, r * nz, r * nx), ndarray int
        With ``return_blocks=True``.

    Examples
    --------
    >>> import pyulm
    >>> from pyulm.nn.deepstulm.config import DataConfig
    >>> sim = pyulm.sim.simulate((48, 48), 64, concentration=10.0, psf=DataConfig().psf(), seed=0)
    >>> angio = pyulm.nn.track_maps(sim.iq)  # doctest: +SKIP
    >>> angio.shape  # doctest: +SKIP
    (192, 192)
    """
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ImportError(_HINT) from None
    from .inference import run_track_maps

    return run_track_maps(frames, psf, weights=weights, r=r, time_stride=time_stride, stride=stride, crop=crop,
                          threshold=threshold, combine=combine, batch_size=batch_size, device=device,
                          return_blocks=return_blocks)
