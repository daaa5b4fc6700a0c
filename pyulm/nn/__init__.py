"""Learned localization: MBL-Net and 3DML-ResNet, trained on pyulm.sim data.

Importing this package does **not** import torch: it only registers the
methods ``"mblnet"`` and ``"3dml"``, which import torch when called. So::

    locs = pyulm.localize(frames, "mblnet", number_of_particles=100)
    locs = pyulm.localize(frames, "3dml", number_of_particles=100, weights="my_model_dir")

and ``ULM.LocMethod = 'mblnet'`` in :func:`pyulm.pala.ULM_localization2D` work
like any other method. Rooms (DECODE-like layout): :mod:`.models` (networks),
:mod:`.losses`, :mod:`.data` (simulation → training batches), :mod:`.train`,
:mod:`.inference` + :mod:`.decode` (+ :mod:`.options`, the decode options and
their checks), :mod:`.calibrate` (choosing the decode cutoff on validation
simulations), :mod:`.weights_io` (model directories),
``weights/<name>/`` (shipped models). Scores come from the one matcher,
:func:`pyulm.metrics.match` / :func:`pyulm.metrics.pooled_scores`. See docs/nn.md.
"""
from __future__ import annotations

from ..localization.registry import register_method
from .deepstulm import track_maps  # Deep-stULM tracker (issue 16); torch imported on call

_TORCH_HINT = ("the learned localization method {name!r} needs PyTorch, which is not installed; "
               "install it with `pip install torch` (or `pip install pyulm[nn]`)")


def _require_torch(name: str):
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ImportError(_TORCH_HINT.format(name=name)) from None


def _reject_unknown(name, options):
    if options:
        accepted = ("weights, threshold, max_sigma, subpixel, batch_size, device, precision" if name == "mblnet"
                    else "weights, min_probability, subpixel, batch_size, device, precision")
        raise ValueError(f"{name}: unknown option(s) {sorted(options)}; {name} accepts {accepted}")


def _check_decode(name, **values):
    from .options import check_decode_option

    return {k: check_decode_option(name, k, v, f"{name}: ") for k, v in values.items()}


@register_method("mblnet", description="MBL-Net (CycleULM): U-Net with detection, localisation and uncertainty heads")
def mblnet(frames, *, fwhm=None, number_of_particles=None, n_local_max=None, weights=None, threshold=None,
           max_sigma=None, subpixel=None, batch_size=32, device=None, precision="fp32", **options):
    """Localize microbubbles with MBL-Net.

    Parameters
    ----------
    frames : ndarray (z, x, t)
        Filtered IQ (complex) or its amplitude. The network sees ``|IQ|`` divided
        by each frame's maximum.
    fwhm, n_local_max
        Accepted for a uniform interface and ignored: the network was trained on
        PSF FWHM 2–6 pixels and needs neither.
    number_of_particles : int, optional
        At most this many detections per frame (most probable first).
    weights : str or Path, optional
        A model directory (``weights.pt`` + ``config.json``) or its weights file;
        default: the shipped model ``pyulm/nn/weights/mblnet``.
    threshold : float, optional
        Minimum detection probability (summed over the 3x3 neighbourhood of a
        presence maximum), in (0, 1). Default: the model's own, chosen at the
        end of training to maximise F1 on the validation simulations
        (``config.json`` → ``decode.threshold``; 0.5 when absent).
    max_sigma : float or dict, optional
        Drop the detections whose predicted localisation uncertainty
        ``sqrt(sigma_z**2 + sigma_x**2)`` (pixels) is above this, in (0, inf]
        (``math.inf``: no cutoff), or a table ``{"density": [...], "cutoff":
        [...]}`` of cutoffs against the frame's bubble density (bubbles per 100
        pixels, estimated by the network: sum of its presence probabilities),
        interpolated linearly. Default: the model's ``config.json`` →
        ``decode.max_sigma``, chosen on validation simulations by
        :func:`pyulm.nn.calibrate.calibrate`; no cutoff when absent. The cutoff
        trades recall of the hard (faint, overlapping) bubbles for precision.
    subpixel : {"weighted", "max"}, optional
        Sub-pixel position: ``pixel + offset`` of the presence maximum
        (``"max"``), or the presence-probability-weighted average of ``pixel +
        offset`` over the maximum's 3x3 neighbours whose estimates lie within
        0.75 px of the maximum's (``"weighted"``, the default unless the model's
        ``config.json`` says otherwise).
    batch_size : int
        Frames per forward pass.
    device : str, optional
        ``"cpu"``, ``"cuda"``...; default CUDA when available.
    precision : {"fp32", "bf16"}
        Arithmetic of the forward pass: float32 (default), or bfloat16 autocast
        (about 2x faster on CPUs with AMX / AVX-512 BF16; deterministic; same
        detections up to rare borderline ones, see docs/nn.md). Any other value
        is a ValueError.

    Returns
    -------
    Localizations
        0-based pixel coordinates with columns ``probability``, ``sigma_z``,
        ``sigma_x`` (pixels) and ``sigma_intensity``; ``intensity`` is the
        predicted peak amplitude in the units of the input.

    Examples
    --------
    >>> import numpy as np, pyulm
    >>> from pyulm.sim.free import free_motion
    >>> sim = free_motion((64, 64), n_frames=4, n_bubbles=10, seed=1)
    >>> locs = pyulm.localize(sim.iq, "mblnet", number_of_particles=50)  # doctest: +SKIP
    """
    _require_torch("mblnet")
    _reject_unknown("mblnet", options)
    dec = _check_decode("mblnet", threshold=threshold, max_sigma=max_sigma, subpixel=subpixel)
    from .inference import run_mblnet

    return run_mblnet(frames, weights=weights, **dec, max_per_frame=number_of_particles,
                      batch_size=int(batch_size), device=device, precision=precision)


@register_method("3dml", description="3DML-ResNet: 3-D convolutions over consecutive frames, top-N by a count network")
def dml3(frames, *, fwhm=None, number_of_particles=None, n_local_max=None, weights=None, min_probability=None,
         subpixel=None, batch_size=4, device=None, precision="fp32", **options):
    """Localize microbubbles with 3DML-ResNet and its bubble-count network.

    The ResNet sees ``clip`` consecutive frames (|IQ| / per-frame max) and
    gives a presence map and sub-pixel offsets per frame; the count network
    predicts how many bubbles each frame holds and the top-N presence maxima
    are kept (N = predicted count, capped at ``number_of_particles``).

    Parameters are those of :func:`mblnet` (``precision`` included) without ``threshold`` and
    ``max_sigma``; ``weights`` defaults to ``pyulm/nn/weights/3dml``;
    ``batch_size`` counts clips.

    min_probability : float or dict, optional
        Drop the detections (after the top-N selection) whose probability is
        below this, in [0, 1) (0: no cutoff), or a table ``{"density": [...],
        "cutoff": [...]}`` against the frame's bubble density estimated by the
        count network (bubbles per 100 pixels). A detection's probability is the
        presence probability summed over its maximum and the 3x3 neighbours whose
        position estimates agree with the maximum's (within 0.75 px), capped at 1.
        Default: the model's ``config.json`` → ``decode.min_probability``, chosen
        on validation simulations by :func:`pyulm.nn.calibrate.calibrate`; no
        cutoff when absent. Trades recall of the hard bubbles for precision.

    Returns
    -------
    Localizations
        0-based pixel coordinates, ``intensity`` = |IQ| at the detection pixel,
        column ``probability``.
    """
    _require_torch("3dml")
    _reject_unknown("3dml", options)
    dec = _check_decode("3dml", min_probability=min_probability, subpixel=subpixel)
    from .inference import run_3dml

    return run_3dml(frames, weights=weights, **dec, max_per_frame=number_of_particles, batch_size=int(batch_size),
                    device=device, precision=precision)


def translate(frames, weights, **options):
    """CycleULM's MB-DT translation of CEUS frames into the MB-only domain (needs torch);
    see :func:`pyulm.nn.cycleulm.translate.translate`."""
    _require_torch("mbdt")
    from .cycleulm.translate import translate as _translate

    return _translate(frames, weights, **options)


__all__ = ["mblnet", "dml3", "track_maps", "translate"]
