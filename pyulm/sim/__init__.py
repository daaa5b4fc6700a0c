"""Synthetic ULM acquisitions with ground truth.

A separate room (as DECODE's ``simulation/``) that shares pyulm's emitter
table: every simulator returns a :class:`SimResult` whose ``gt`` is a
:class:`pyulm.Localizations` table (z, x in pixels, 0-based; frame 0-based;
``intensity``; ``bubble_id``, ``vz``, ``vx`` in pixels/frame) and whose ``iq``
is a (z, x, t) complex64 array. Same seed, same output.

Free motion (training patches for learned localizers)
-----------------------------------------------------
``free_motion(shape=(64, 64), n_frames=16, n_bubbles=(5, 30), intensity=(0.2, 1.0),
speed=(0.0, 2.0), *, acceleration=0.1, psf_fwhm=(3, 3), psf=None, shrink=None,
wavelength=1.0, snr_db=20.0, clutter_db=None, intensity_jitter=0.0,
boundary="reflect", frame_rate=1000.0, complex_iq=True, seed=None) -> SimResult``

Bubble count, positions and intensities are drawn from uniform ranges, each
bubble gets an initial speed (pixels/frame) and direction, and positions follow
the kinematics frame by frame with a Gaussian velocity perturbation
(``acceleration``, pixels/frame^2). ``snr_db`` is ``20 log10(mean intensity /
noise std)``; ``clutter_db`` adds moving tissue speckle.

>>> from pyulm.sim import free_motion
>>> sim = free_motion((64, 64), n_frames=16, n_bubbles=(5, 10), seed=1)
>>> sim.iq.shape, sorted(sim.gt.columns)[:2]
((64, 64, 16), ['bubble_id', 'frame'])

Vessel flow (whole acquisitions)
--------------------------------
``random_network``, ``network_from_mask`` and ``VesselNetwork`` (user graphs)
describe vessels with a radius and a flow per segment (Murray's law);
``simulate`` injects bubbles at a concentration, moves them with Poiseuille
velocities along the vessels and renders IQ with a PSF (pyulm's one
:class:`pyulm.psf.PSF` model, re-exported here) from ``psf_from_transducer``
(MHz, mm), ``gaussian_psf`` or ``psf_from_array``, tissue clutter and thermal
noise. ``SimResult.save_mat`` writes PALA-style blocks.

A torch data source lives in :mod:`pyulm.sim.torch_data` (imports torch).
"""
from .flow import simulate
from .free import free_motion
from .psf import PSF, gaussian_psf, psf_from_array, psf_from_transducer
from .render import psf_image, render_points
from .result import SimResult, density_map
from .vessels import VesselNetwork, network_from_mask, random_network

__all__ = [
    "free_motion", "PSF", "gaussian_psf", "psf_from_array", "psf_from_transducer",
    "render_points", "psf_image", "SimResult", "density_map", "simulate",
    "VesselNetwork", "random_network", "network_from_mask",
]
