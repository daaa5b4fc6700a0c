"""PALA's ``ULM`` struct to the pipeline's :class:`~pyulm.pipeline.BlockParams` (the adapter
the MATLAB bridge uses for ``pyulm.process(IQ, ULM)``); the pipeline itself never reads a ULM struct."""
from __future__ import annotations

from .. import _validate as V
from .._svd import check_precision, normalize_svd_cutoff
from ..pipeline.params import BlockParams
from ._core import localization_arguments
from ._ulm import field, scalar, vector


def block_params(ULM, shape, pixel_size=(1.0, 1.0)) -> BlockParams:
    """:class:`BlockParams` from PALA's ``ULM`` struct (a dict or attribute object, as MATLAB
    hands it over) for a block of ``shape`` ``(Nz, Nx, Nt)``; errors name ``ULM.<field>``.

    Reads ``numberOfParticles``, ``fwhm``, ``LocMethod``, ``parameters``, ``max_linking_distance``,
    ``max_gap_closing``, ``min_length``, ``res``, ``SVD_cutoff``, ``ButterCuttofFreq`` (``[]``: none),
    ``frame_rate`` (Hz; else ``1 / scale(3)``), ``lambda`` (mm, optional) and ``pyulm_svd``.
    """
    method, kw = localization_arguments(ULM)
    nz, nx, nt = (int(s) for s in shape)
    fr = field(ULM, "frame_rate", None)
    frame_rate = scalar(ULM, "frame_rate") if fr is not None else 1.0 / vector(ULM, "scale", 3)[2]
    V.positive(frame_rate, "ULM.frame_rate")
    cutoff = vector(ULM, "SVD_cutoff")
    normalize_svd_cutoff(cutoff, nt, "ULM.SVD_cutoff")  # bad values fail here, before any work
    band = vector(ULM, "ButterCuttofFreq", default=[])
    lam = field(ULM, "lambda", None)
    options = tuple((k, v) for k, v in kw.items() if k not in ("fwhm", "number_of_particles", "n_local_max"))
    try:
        precision = check_precision(field(ULM, "pyulm_svd", "double"))
    except ValueError as exc:
        raise ValueError(str(exc).replace("precision:", "ULM.pyulm_svd:", 1)) from None
    return BlockParams(
        shape=(nz, nx), n_frames=nt, pixel_size=tuple(float(s) for s in pixel_size), frame_rate=float(frame_rate),
        wavelength_mm=None if lam is None else scalar(ULM, "lambda"),
        svd_cutoff=tuple(int(c) for c in cutoff), band=tuple(float(b) for b in band),
        svd_precision=precision, method=method, fwhm=tuple(kw["fwhm"]),
        number_of_particles=int(kw["number_of_particles"]), n_local_max=int(kw["n_local_max"]),
        method_options=options, max_linking_distance=scalar(ULM, "max_linking_distance"),
        max_gap_closing=int(scalar(ULM, "max_gap_closing")), min_length=int(scalar(ULM, "min_length")),
        res=scalar(ULM, "res"))
