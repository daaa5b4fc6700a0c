"""Bubbles flowing in vessels: injection, Poiseuille transport, IQ rendering."""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..tables import Localizations
from . import _checks as C
from .noise import add_thermal_noise, add_tissue_clutter
from .psf import PSF, gaussian_psf
from .render import render_points
from .result import SimResult, make_meta
from .vessels import VesselNetwork, random_network

_MIN_SPEED_FACTOR = 0.05  # bubbles within ~2 % of the wall would stall: floor at 5 % of the centreline speed
_MAX_WARMUP = 20000  # frames simulated before frame 0 so the field starts in steady state


class _Paths:
    """Every root-to-leaf path flattened to centreline vertices with a travel
    clock ``tau`` (frames at unit speed factor) at each vertex."""

    def __init__(self, net: VesselNetwork, shape, vmax_scale: float):
        paths, self.prob = net.paths()
        vmax = 2.0 * net.mean_velocity * vmax_scale  # centreline (Poiseuille peak) speed, px/frame
        verts, taus, radius, speed, self.tau_end, self.tau_in, starts = [], [], [], [], [], [], []
        nz, nx = shape
        off = 0
        for p in paths:
            pts = [net.polylines[p[0]]] + [net.polylines[k][1:] for k in p[1:]]
            seg_r = np.concatenate([np.full(len(net.polylines[k]) - 1, net.radius[k]) for k in p])
            seg_v = np.concatenate([np.full(len(net.polylines[k]) - 1, vmax[k]) for k in p])
            v = np.concatenate(pts)
            seg_len = np.hypot(*np.diff(v, axis=0).T)
            dt = seg_len / seg_v
            tau = np.r_[0.0, np.cumsum(dt)]
            mid = (v[1:] + v[:-1]) / 2
            inside = (mid[:, 0] >= -0.5) & (mid[:, 0] < nz - 0.5) & (mid[:, 1] >= -0.5) & (mid[:, 1] < nx - 0.5)
            verts.append(v)
            taus.append(tau)
            radius.append(np.r_[seg_r, seg_r[-1]])
            speed.append(np.r_[seg_v, seg_v[-1]])
            self.tau_end.append(tau[-1])
            self.tau_in.append(dt[inside].sum())
            starts.append(off)
            off += len(v)
        self.tau_end, self.tau_in = np.array(self.tau_end), np.array(self.tau_in)
        self.start = np.array(starts + [off])
        self.verts, self.radius, self.speed = np.concatenate(verts), np.concatenate(radius), np.concatenate(speed)
        # one sorted clock for all paths: path p lives in [p * span, p * span + tau_end[p]]
        self.span = float(self.tau_end.max()) + 1.0
        self.clock = np.concatenate([t + i * self.span for i, t in enumerate(taus)])

    def locate(self, path, tau):
        """Positions (z, x), unit direction, radius and centreline speed at clock ``tau`` of ``path``."""
        g = np.searchsorted(self.clock, tau + path * self.span, side="right") - 1
        g = np.clip(g, self.start[path], self.start[path + 1] - 2)
        t0, t1 = self.clock[g] - path * self.span, self.clock[g + 1] - path * self.span
        frac = np.clip((tau - t0) / np.maximum(t1 - t0, 1e-12), 0, 1)
        d = self.verts[g + 1] - self.verts[g]
        pos = self.verts[g] + frac[:, None] * d
        unit = d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-12)[:, None]
        return pos, unit, self.radius[g], self.speed[g]


def _poiseuille_offsets(rng, n):
    """Radial positions (u, w) in the unit disc of the lumen cross-section, drawn
    in proportion to the local flux (velocity ~ 1 - u^2 - w^2): bubbles enter
    with the blood flow, so fast streamlines carry more of them."""
    out = np.empty((0, 2))
    while len(out) < n:
        m = 2 * (n - len(out)) + 16
        uw = rng.uniform(-1, 1, (m, 2))
        s = 1 - (uw ** 2).sum(1)
        keep = rng.uniform(0, 1, m) < s  # s < 0 (outside the disc) is never kept
        out = np.concatenate([out, uw[keep]])
    return out[:n]


def simulate(
    shape=(128, 128),
    n_frames: int = 1000,
    *,
    network: VesselNetwork | None = None,
    concentration: float | None = None,
    injection_rate: float | None = None,
    max_velocity: float = 20.0,
    psf: PSF | None = None,
    psf_fwhm=(3.0, 3.0),
    intensity=(0.5, 1.5),
    intensity_jitter: float = 0.1,
    snr_db: float | None = 30.0,
    clutter_db: float | None = None,
    breathing_hz: float = 1.5,
    frame_rate: float = 1000.0,
    complex_iq: bool = True,
    seed=None,
) -> SimResult:
    """A ULM acquisition: bubbles flowing in vessels, imaged as IQ, with ground truth.

    Bubbles enter at the roots of the vessel network as a Poisson process,
    pick a radial position in the lumen cross-section (flux-weighted), and
    travel along a root-to-leaf path (branch chosen in proportion to flow)
    at the Poiseuille speed ``v_max(r) * (1 - rho^2)`` of each segment, where
    ``v_max = 2 Q / (pi r^2)``. They leave at the leaves, so tracks have the
    lengths that the vessels and speeds give. The process starts before frame
    0, so the first frame is already in steady state.

    Parameters
    ----------
    shape : (int, int)
        Field size (nz, nx), pixels.
    n_frames : int
        Number of frames.
    network : VesselNetwork, optional
        Default: ``random_network(shape)`` from the same seed.
    concentration : float, optional
        Mean number of bubbles present in the field per mm^2 (pixel size from
        the PSF). Default 0.3 when ``injection_rate`` is not given.
    injection_rate : float, optional
        Bubbles entering the network per frame (instead of ``concentration``).
    max_velocity : float
        Peak (centreline) velocity in the fastest vessel, mm/s.
    psf : PSF, optional
        Default ``gaussian_psf(psf_fwhm)`` (one-wavelength pixels).
    psf_fwhm : float or (float, float)
        FWHM of the default PSF, pixels.
    intensity : float or (float, float)
        Range of bubble peak amplitudes.
    intensity_jitter : float
        Relative (log-normal) frame-to-frame intensity fluctuation.
    snr_db : float or None
        ``20 log10(mean bubble intensity / noise std)``; None: no noise.
    clutter_db : float or None
        Tissue RMS over mean bubble intensity, dB (e.g. 20); None: no tissue.
    breathing_hz : float
        Breathing frequency of the tissue motion, Hz.
    frame_rate : float
        Hz.
    complex_iq : bool
        Complex IQ, or its float32 envelope.
    seed : int, Generator or None

    Returns
    -------
    SimResult
        With ``network`` set (for ``vessel_map``).

    Examples
    --------
    >>> from pyulm.sim import simulate
    >>> sim = simulate((64, 64), 50, concentration=1.0, seed=0)
    >>> sim.iq.shape, bool(len(sim.gt) > 0)
    ((64, 64, 50), True)
    """
    nz, nx = C.shape2(shape)
    nt = V.positive(n_frames, "n_frames", integer=True)
    if concentration is not None and injection_rate is not None:
        raise ValueError("concentration, injection_rate: give one of them, not both")
    if injection_rate is not None:
        rate = V.positive(injection_rate, "injection_rate")
    else:
        conc = V.positive(0.3 if concentration is None else concentration, "concentration")
    vmax_mm = V.positive(max_velocity, "max_velocity")
    i_lo, i_hi = C.value_range(intensity, "intensity", allow_zero=False)
    jit = V.positive(intensity_jitter, "intensity_jitter", allow_zero=True)
    fr = V.positive(frame_rate, "frame_rate")
    bh = V.positive(breathing_hz, "breathing_hz", allow_zero=True)
    snr = C.db(snr_db, "snr_db")
    clut = C.db(clutter_db, "clutter_db")
    if psf is None:
        psf = gaussian_psf(psf_fwhm)
    elif not isinstance(psf, PSF):
        raise ValueError(f"psf: expected a pyulm.sim.PSF, got {type(psf).__name__}")
    psf.check_fits((nz, nx))
    rng = C.rng_of(seed)
    net_rng, rate_rng, rng = rng.spawn(3)
    if network is None:
        network = random_network((nz, nx), seed=net_rng)
    elif not isinstance(network, VesselNetwork):
        raise ValueError(f"network: expected a pyulm.sim.VesselNetwork, got {type(network).__name__}")

    dz, dx = psf.require_pixel_size_mm()
    v_px = vmax_mm / fr / np.sqrt(dz * dx)  # mm/s -> pixels/frame
    scale = v_px / (2.0 * network.mean_velocity.max())
    P = _Paths(network, (nz, nx), scale)

    if injection_rate is None:
        # mean residence in the field, estimated from the same path and radial laws
        m = 4096
        pth = rate_rng.choice(len(P.prob), m, p=P.prob)
        uw = _poiseuille_offsets(rate_rng, m)
        f = np.maximum(1 - (uw ** 2).sum(1), _MIN_SPEED_FACTOR)
        residence = float(np.mean(P.tau_in[pth] / f))
        if residence <= 0:
            raise ValueError("network: no vessel crosses the field; expected vessels inside shape")
        rate = conc * (nz * dz) * (nx * dx) / residence
    warm = float(min(P.tau_end.max() / _MIN_SPEED_FACTOR, _MAX_WARMUP))
    n_b = int(rng.poisson(rate * (nt + warm)))
    t_in = np.sort(rng.uniform(-warm, nt, n_b))
    path = rng.choice(len(P.prob), n_b, p=P.prob)
    uw = _poiseuille_offsets(rng, n_b)
    f = np.maximum(1 - (uw ** 2).sum(1), _MIN_SPEED_FACTOR)
    amp = rng.uniform(i_lo, i_hi, n_b)
    t_out = t_in + P.tau_end[path] / f
    first = np.maximum(np.ceil(t_in), 0).astype(np.int64)
    last = np.minimum(np.floor(t_out), nt - 1).astype(np.int64)
    alive = last >= first
    bid = np.flatnonzero(alive)
    counts = (last - first + 1)[alive]
    # one row per (bubble, frame) of its life: repeat bubbles, count frames within each
    rows_b = np.repeat(bid, counts)
    frame = np.repeat(first[alive], counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    tau = (frame - t_in[rows_b]) * f[rows_b]
    pos, unit, r, vc = P.locate(path[rows_b], tau)
    normal = np.c_[-unit[:, 1], unit[:, 0]]
    pos = pos + (uw[rows_b, 0] * r)[:, None] * normal
    vel = unit * (vc * f[rows_b])[:, None]
    inten = amp[rows_b]
    if jit > 0:
        inten = inten * np.exp(jit * rng.standard_normal(inten.size) - jit ** 2 / 2)

    buf = np.zeros((nt, nx, nz), np.complex64)
    render_points(pos[:, 0], pos[:, 1], frame, inten, (nz, nx), nt, psf, out=buf)
    mean_i = (i_lo + i_hi) / 2
    if clut is not None and np.isfinite(clut):
        add_tissue_clutter(buf, mean_i * 10 ** (clut / 20), psf, rng, frame_rate=fr, breathing_hz=bh)
    if snr is not None and np.isfinite(snr):
        add_thermal_noise(buf, mean_i / 10 ** (snr / 20), rng)

    inside = (pos[:, 0] >= -0.5) & (pos[:, 0] < nz - 0.5) & (pos[:, 1] >= -0.5) & (pos[:, 1] < nx - 0.5)
    order = np.lexsort((rows_b, frame))[inside[np.lexsort((rows_b, frame))]]
    # bubble ids renumbered 0.. in order of entry among the bubbles ever seen
    seen, new_id = np.unique(rows_b[order], return_inverse=True)
    params = {
        "simulator": "vessels", "shape": [nz, nx], "n_frames": nt, "injection_rate": float(rate),
        "concentration": None if injection_rate is not None else conc, "max_velocity": vmax_mm,
        "psf": psf.params, "psf_fwhm": list(psf.fwhm), "intensity": [i_lo, i_hi], "intensity_jitter": jit,
        "snr_db": snr, "clutter_db": clut, "breathing_hz": bh, "frame_rate": fr,
        "n_segments": int(len(network.edges)),
        "seed": seed if not isinstance(seed, np.random.Generator) else "generator",
    }
    gt = Localizations(
        pos[order, 0], pos[order, 1], frame[order], inten[order],
        extra={"bubble_id": new_id.astype(np.int64), "vz": vel[order, 0], "vx": vel[order, 1]},
        meta=make_meta(psf, fr, (nz, nx), params),
    )
    iq = buf.transpose(2, 1, 0) if complex_iq else np.abs(buf).transpose(2, 1, 0)
    return SimResult(iq=iq, gt=gt, psf=psf, frame_rate=fr, network=network, params=params)
