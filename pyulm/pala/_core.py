"""PALA's SVDfilter and ULM_localization2D over the pyulm core."""
from __future__ import annotations

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
    """
    return svd_filter(IQ, cutoff)


def localization_arguments(ULM) -> tuple[str, dict]:
    """Map PALA's ULM struct to ``(method, keyword arguments)`` of :func:`pyulm.localize`.

    ``ULM.fwhm(1)`` is fwhm_x and ``ULM.fwhm(2)`` fwhm_z (PALA's own use, whatever its
    comments say). Extra fields of ``ULM.parameters`` are passed to the method as options.
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
    params = field(ULM, "parameters", {})
    nlm = field(params, "NLocalMax", None, parent="ULM.parameters")
    nlm = default_n_local_max((fz, fx)) if nlm is None else scalar(params, "NLocalMax", parent="ULM.parameters")
    options = {}
    names = params.keys() if isinstance(params, dict) else [k for k in vars(params)] if hasattr(params, "__dict__") else []
    for k in names:
        if k not in ("NLocalMax", "InterpMethod"):
            options[k] = field(params, k, parent="ULM.parameters")
    method = loc_method.lower()
    get_method(method)  # unknown names fail here, before any work
    if method == "interp":
        if loc_method == "interp":
            interp = text(params, "InterpMethod", "spline", parent="ULM.parameters")
        else:  # PALA sets the spline default only for the exact lowercase name
            interp = text(params, "InterpMethod", parent="ULM.parameters")
        options["interp_method"] = interp
    kwargs = dict(fwhm=(fz, fx), number_of_particles=V.positive(n, "ULM.numberOfParticles", integer=True),
                  n_local_max=V.positive(nlm, "ULM.parameters.NLocalMax", integer=True), **options)
    return method, kwargs


def ULM_localization2D(MatIn, ULM) -> np.ndarray:
    """PALA ``MatTracking = ULM_localization2D(MatIn, ULM)``.

    Returns an (N, 4) array ``[intensity, z, x, frame]`` in **1-based** pixel
    coordinates, in PALA's row order (frame, then x, then z of the detection
    pixel), of the input's floating class (single stays single).

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
        locs = localize(arr, method, **kwargs)  # validates the frames (once)
    except ValueError as exc:
        raise ValueError(str(exc).replace("frames:", "MatIn:", 1)) from None
    out = np.column_stack([locs.intensity, locs.z + 1.0, locs.x + 1.0, locs.frame + 1.0]) if len(locs) else np.zeros((0, 4))
    if get_method(method).kind == "frames":
        out = out[np.lexsort((out[:, 1], out[:, 2], out[:, 3]))]
    dtype = np.float32 if arr.dtype in (np.float32, np.complex64) else np.float64
    return out.astype(dtype, copy=False)
