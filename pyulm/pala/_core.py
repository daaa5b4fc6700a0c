"""PALA's SVDfilter and ULM_localization2D over the pyulm core."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import _validate as V
from ..filtering import svd_filter
from ..localization import default_n_local_max, get_method, localize
from ._ulm import field, scalar, text, vector


def SVDfilter(IQ, cutoff):
    """PALA ``SVDfilter(IQ, cutoff)``: keep the 1-based singular components ``cutoff``.

    Examples
    --------
    >>> import numpy as np
    >>> iq = np.random.default_rng(1).standard_normal((6, 7, 30)) * (1 + 0j)
    >>> SVDfilter(iq, [5, 30]).dtype
    dtype('complex128')
    >>> SVDfilter(iq, [0, 30])
    Traceback (most recent call last):
    ...
    ValueError: SVD_cutoff: expected 1-based whole component numbers >= 1, got [0, 30]
    """
    try:
        return svd_filter(IQ, cutoff)
    except ValueError as exc:  # errors name PALA's arguments here
        raise V.renamed(exc, {"cutoff": "SVD_cutoff", "frames": "IQ"}) from None


def argument_names(kwargs) -> dict:
    """For errors: the ULM field each :func:`pyulm.localize` argument of ``kwargs`` came from.

    Pass it to :func:`pyulm._validate.renamed` so that an error about
    ``number_of_particles`` names ``ULM.numberOfParticles``.

    Examples
    --------
    >>> argument_names({"fwhm": (3, 3), "interp_method": "cubic"})["interp_method"]
    'ULM.parameters.InterpMethod'
    """
    names = {"frames": "MatIn", "fwhm": "ULM.fwhm", "number_of_particles": "ULM.numberOfParticles",
             "n_local_max": "ULM.parameters.NLocalMax", "interp_method": "ULM.parameters.InterpMethod"}
    return {**{k: f"ULM.parameters.{k}" for k in kwargs}, **names}


def localization_arguments(ULM) -> tuple[str, dict]:
    """Map PALA's ULM struct to ``(method, keyword arguments of pyulm.localize)``.

    ``ULM.fwhm(1)`` is fwhm_x and ``ULM.fwhm(2)`` fwhm_z (PALA's own use, whatever its
    comments say); :func:`pyulm.localize` takes ``fwhm=(fwhm_z, fwhm_x)``. Fields of
    ``ULM.parameters`` other than PALA's ``NLocalMax`` and ``InterpMethod`` are the
    method's options under their Python names; any other field is refused
    (errors name the ULM field; see :func:`argument_names`).
    """
    fwhm = vector(ULM, "fwhm")
    if fwhm.size == 1:
        fwhm = np.repeat(fwhm, 2)
    if fwhm.size != 2:
        raise ValueError(f"ULM.fwhm: expected [fwhm_x fwhm_z] (two numbers), got {fwhm.tolist()}")
    fx, fz = float(fwhm[0]), float(fwhm[1])
    if V.round_half_away(fx / 2) != V.round_half_away(fz / 2):
        raise ValueError(
            f"ULM.fwhm: PALA only supports a square localization window (round(fwhm_x/2) == round(fwhm_z/2)), "
            f"got fwhm = [{fx:g} {fz:g}]; use pyulm.localize for non-square windows"
        )
    n = scalar(ULM, "numberOfParticles")
    loc_method = text(ULM, "LocMethod", "radial")
    method = loc_method.lower()
    m = get_method(method)  # unknown names fail here, before any work
    params = field(ULM, "parameters", {})
    keys = list(params.keys()) if isinstance(params, Mapping) else list(vars(params)) if hasattr(params, "__dict__") else []
    own = {"NLocalMax"} | ({"InterpMethod"} if method == "interp" else set())
    accepted = own | (set(m.options) - {"interp_method"} if method == "interp" else set(m.options))
    try:
        V.check_options(f"ULM.parameters with LocMethod {loc_method!r}", keys, accepted)
    except V.UnknownOptionError as exc:
        raise V.renamed(exc, {k: f"ULM.parameters.{k}" for k in keys}) from None
    nlm = field(params, "NLocalMax", None, parent="ULM.parameters")
    nlm = default_n_local_max((fz, fx)) if nlm is None else scalar(params, "NLocalMax", parent="ULM.parameters")
    options = {k: field(params, k, parent="ULM.parameters") for k in keys if k not in own}
    if method == "interp":
        if loc_method == "interp":
            interp = text(params, "InterpMethod", "spline", parent="ULM.parameters")
        else:  # PALA sets the spline default only for the exact lowercase name
            interp = text(params, "InterpMethod", parent="ULM.parameters")
        options["interp_method"] = interp
    kwargs = dict(fwhm=(fz, fx), number_of_particles=V.positive(n, "ULM.numberOfParticles", integer=True),
                  n_local_max=V.positive(nlm, "ULM.parameters.NLocalMax", integer=True), **options)
    return method, kwargs


def _matlab_class(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``out`` converted to the class of ``like`` as MATLAB assigns into it.

    Single (and complex single) give single; integer classes round half away
    from zero and saturate, as MATLAB's conversions do; anything else double.
    """
    if like.dtype in (np.float32, np.complex64):
        return out.astype(np.float32, copy=False)
    if like.dtype.kind in "iu":
        info = np.iinfo(like.dtype)
        return np.clip(V.round_half_away(out), info.min, info.max).astype(like.dtype)
    return out.astype(np.float64, copy=False)


def ULM_localization2D(MatIn, ULM) -> np.ndarray:
    """PALA ``MatTracking = ULM_localization2D(MatIn, ULM)``.

    Returns an (N, 4) array ``[intensity, z, x, frame]`` in **1-based** pixel
    coordinates, in PALA's row order (frame, then x, then z of the detection
    pixel), of MatIn's class as PALA returns it: single (or complex single)
    gives single, an integer class gives that class (values rounded half away
    from zero and saturated, as MATLAB converts), anything else double.
    NaN pixels are ranked as PALA ranks them (``pala_compat=True`` of
    :func:`pyulm.localize`); Inf is refused.

    Examples
    --------
    >>> import numpy as np
    >>> zz, xx = np.mgrid[0:30, 0:40]
    >>> f = np.exp(-((zz - 9.3) ** 2 + (xx - 11.6) ** 2) / 2)
    >>> ULM = {"numberOfParticles": 5, "fwhm": [3, 3], "LocMethod": "radial"}
    >>> ULM_localization2D(f[:, :, None], ULM).round(4).tolist()
    [[0.8825, 10.3312, 12.5572, 1.0]]
    """
    method, kwargs = localization_arguments(ULM)
    arr = np.asarray(MatIn)
    try:
        locs = localize(arr, method, pala_compat=True, **kwargs)  # validates the frames (once)
    except ValueError as exc:
        raise V.renamed(exc, argument_names(kwargs)) from None
    out = np.column_stack([locs.intensity, locs.z + 1.0, locs.x + 1.0, locs.frame + 1.0]) if len(locs) else np.zeros((0, 4))
    if get_method(method).kind == "frames":
        out = out[np.lexsort((out[:, 1], out[:, 2], out[:, 3]))]
    return _matlab_class(out, arr)
