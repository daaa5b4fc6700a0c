"""Learned vs conventional localization on PSF families and vessel scenes EXCLUDED from training.

The learned models are trained (``pyulm/nn/weights/*/train.toml``) on free-motion patches
and on the vessel scenes of :mod:`pyulm.nn.scenes_vessel` with the ``gaussian``,
``transducer`` and ``distorted`` PSF families. This benchmark tests them on what they
never saw:

* **PSF families**: ``pymust`` -- point scatterers simulated and beamformed with PyMUST
  (``pyulm.sim.physical.pymust_psf``: 7.6 MHz, 64 elements, F-number 1.5, three plane
  waves; and 15.6 MHz, F-number 1.0), sampled kernels with their own side lobes and
  asymmetries; ``irregular`` -- a hand-written family no training code draws from: a
  crescent-shaped main lobe (``dz - k dx²``), a comet tail below the bubble and a
  one-sided lateral lobe;
* **vessel geometries** from another seed space (``SeedSequence([SEED0, ...])``, never a
  training/validation/test namespace) and *more tortuous* than in training (heading
  oscillation amplitude 0.6-1.0 rad against 0-0.5 rad), with wider lumens (2-6 px);
* **in-vessel densities** low / medium / high = 1 / 3 / 6 bubbles per 100 px² of lumen.

Every method gets ``number_of_particles`` = the largest true bubble count of a frame, the
conventional ones the PSF's measured FWHM; all are scored by the one matcher
(:func:`pyulm.metrics.pooled_scores`: Hungarian per frame, <= 1 px). 128 x 128 frames,
SNR 10-25 dB, correlated noise, residual clutter after an SVD filter in half the scenes.
Each row also reports every method's mean signed error per family and axis (``signed_error``):
a bias all methods share would point at the ground truth. The irregular family's shared
+0.2-0.4 px in z is its design (its peak is at the bubble, its comet tail and crescent put the
half-maximum centroid 0.3-0.4 px below); the PyMUST family shows none (<= 0.06 px).

    python benchmarks/bench_heldout.py [--quick] [--methods mblnet,radial] [--weights mblnet=DIR,3dml=DIR] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

import pyulm
from pyulm.metrics import match, pooled_scores
from pyulm.nn.data import DataConfig
from pyulm.nn.scenes import Envelope
from pyulm.nn.scenes_vessel import vessel_scene

SEED0 = 915_151  # a seed space of its own: not the training seed, not a pyulm.nn.data namespace
DENSITIES = {"low": 1.0, "medium": 3.0, "high": 6.0}  # bubbles per 100 px² of lumen
CONVENTIONAL = ("radial", "wa", "ncc", "decon")
# the held-out scene ranges: more tortuous, wider vessels than training (curvature 0-0.5, radius 1.5-5)
SCENE = DataConfig(patch=128, snr_db=(10.0, 25.0), curvature=(0.6, 1.0), vessel_radius=(2.0, 6.0),
                   n_vessels=(3, 5), background_density=(0.0, 0.1), intensity_spread=(0.2, 0.6),
                   clutter_probability=0.5, tissue_db=(0.0, 25.0), noise_corr=(0.3, 1.0))


def pymust_envelopes():
    """Two PyMUST-simulated PSFs as envelopes (sampled kernels, interpolated at sub-pixel offsets).

    A beamformed IQ kernel carries the axial carrier (its phase turns by 4 pi / wavelength per
    pixel of depth, ~130-145 degrees here), so interpolating its real and imaginary parts directly
    cancels the samples against each other: a bubble half a pixel off the grid came out at 30-39 %
    of its amplitude with its envelope peak up to 0.4 px on the wrong side. The kernel is
    therefore demodulated by its own axial phase slope, the smooth baseband is interpolated
    (cubic), and the carrier is put back at the exact sub-pixel offset.
    """
    from pyulm.sim.physical import pymust_psf

    out = []
    for kw in ({"pixel_size_mm": 0.065}, {"center_frequency_mhz": 15.625, "fractional_bandwidth": 0.6,
                                           "pitch_mm": 0.1, "depth_mm": 6.0, "f_number": 1.0,
                                           "angles": (-6.0, 0.0, 6.0), "pixel_size_mm": 0.033}):
        psf = pymust_psf(half_size=(10, 14), **kw)
        out.append(kernel_envelope(psf.kernel, float(psf.wavelength), tuple(float(f) for f in psf.fwhm), "pymust"))
    return out


def kernel_envelope(kernel, wavelength: float, fwhm, family: str) -> Envelope:
    """An :class:`Envelope` from a sampled complex kernel (odd sizes, scatterer at the centre):
    demodulated by its axial phase slope, cubic-interpolated, carrier restored (see
    :func:`pymust_envelopes`)."""
    from scipy.ndimage import map_coordinates, spline_filter

    k = np.asarray(kernel, complex)
    hz, hx = k.shape[0] // 2, k.shape[1] // 2
    kappa = axial_phase_slope(k)
    base = k * np.exp(-1j * kappa * (np.arange(k.shape[0]) - hz))[:, None]
    cre, cim = spline_filter(base.real, 3), spline_filter(base.imag, 3)

    def fn(dz, dx):
        dz, dx = np.broadcast_arrays(dz, dx)
        c = np.stack([dz + hz, dx + hx]).reshape(2, -1)
        re = map_coordinates(cre, c, order=3, cval=0.0, prefilter=False).reshape(dz.shape)
        im = map_coordinates(cim, c, order=3, cval=0.0, prefilter=False).reshape(dz.shape)
        return (re + 1j * im) * np.exp(1j * kappa * dz)

    return Envelope(fn, (hz, hx), wavelength, tuple(fwhm), family)


def axial_phase_slope(kernel) -> float:
    """The axial phase slope of a complex kernel (radians per pixel of z): the phase of the
    |k|²-weighted sum of neighbour products ``k[z+1] conj(k[z])`` (wrap-free)."""
    prod = kernel[1:] * np.conj(kernel[:-1])
    return float(np.angle(prod.sum()))


def irregular_envelope(rng) -> Envelope:
    """The hand-written held-out family: crescent main lobe, comet tail, one-sided side lobe."""
    fz, fx = rng.uniform(2.5, 4.0), rng.uniform(3.0, 5.0)
    sz, sx = fz / 2.355, fx / 2.355
    bend, tail, side = rng.uniform(0.08, 0.2), rng.uniform(0.2, 0.4), rng.uniform(0.15, 0.3)
    sign = 1 if rng.uniform() < 0.5 else -1

    def fn(dz, dx):
        zc = dz - bend * dx ** 2
        main = np.exp(-0.5 * ((zc / sz) ** 2 + (dx / sx) ** 2))
        comet = tail * np.exp(-np.clip(zc, 0, None) / (1.5 * fz)) * (zc > 0) * np.exp(-0.5 * (dx / (0.7 * sx)) ** 2)
        lobe = side * np.exp(-0.5 * ((dz / sz) ** 2 + ((dx - sign * 1.6 * fx) / (0.6 * sx)) ** 2))
        return main + comet - lobe

    half = (int(math.ceil(3 * fz)) + 2, int(math.ceil(2.4 * fx)) + 2)
    return Envelope(fn, half, float(rng.uniform(2.0, 4.0)), (float(fz), float(fx)), "irregular")


def scenes(family, density, n_scenes, n_frames, pymust):
    """Yields (iq, gt, fwhm, n_max) of the held-out scenes of one family and density."""
    for i in range(n_scenes):
        rng = np.random.default_rng(np.random.SeedSequence([SEED0, list(DENSITIES.values()).index(density),
                                                            ("pymust", "irregular").index(family), i]))
        env = pymust[i % len(pymust)] if family == "pymust" else irregular_envelope(rng)
        iq, gt, info = vessel_scene(SCENE, n_frames, rng, in_vessel_density=density, env=env)
        n_max = int(np.bincount(gt.frame, minlength=n_frames).max()) if len(gt) else 1
        yield iq, gt, env.fwhm, max(n_max, 1)


def methods(only, old):
    rows = {"mblnet": ("mblnet", {}), "3dml": ("3dml", {})}
    for name, d in (old or {}).items():  # --weights: other model directories of these methods
        rows[f"{name} ({d.rstrip('/').split('/')[-1]})"] = (name, {"weights": d})
    rows.update({m: (m, {}) for m in CONVENTIONAL if m in pyulm.available_methods()})
    return {k: v for k, v in rows.items() if not only or v[0] in only or k in only}


def run(n_scenes, n_frames, only=None, old=None, families=("pymust", "irregular"), log=print):
    pymust = pymust_envelopes() if "pymust" in families else []
    rows = []
    for level, dens in DENSITIES.items():
        data = [(fam, s) for fam in families for s in scenes(fam, dens, n_scenes, n_frames, pymust)]
        frame_density = np.mean([len(gt) / n_frames / (iq.shape[0] * iq.shape[1]) * 100 for _, (iq, gt, _, _) in data])
        for label, (name, opts) in methods(only, old).items():
            t0 = time.perf_counter()
            sets = {fam: [] for fam in families}
            for fam, (iq, gt, fwhm, n) in data:
                locs = pyulm.localize(iq, name, fwhm=fwhm, number_of_particles=n, **opts)
                sets[fam].append((gt, locs))
            sc = pooled_scores([s for fam in families for s in sets[fam]], 1.0)
            rows.append({"density": level, "in_vessel": dens, "frame_density": round(float(frame_density), 3),
                         "method": label, **{k: sc[k] for k in ("precision", "recall", "f1", "mean_error")},
                         "n_gt": sc["n_gt"], "seconds": round(time.perf_counter() - t0, 1),
                         "signed_error": {fam: signed_error(sets[fam]) for fam in families}})
            r = rows[-1]
            bias = " ".join(f"{fam} dz {b['dz']:+.2f} dx {b['dx']:+.2f}" for fam, b in r["signed_error"].items())
            log(f"{level:6s} ({dens:g}/100 px² lumen, {frame_density:.2f} per frame) {label:14s} P {r['precision']:.3f} "
                f"R {r['recall']:.3f} F1 {r['f1']:.3f} err {r['mean_error']:.3f} px | mean signed error, px: {bias} "
                f"({r['seconds']} s)")
    return rows


def signed_error(sets) -> dict:
    """Mean signed error (localization - truth, px) per axis over the matched pairs of ``sets``: a bias
    that every method shares points at the ground truth, not at the methods."""
    pairs = [match(gt, locs, 1.0) for gt, locs in sets]
    dz, dx = (np.concatenate([getattr(m, k) for m in pairs]) for k in ("dz", "dx"))
    return {"dz": round(float(dz.mean()), 4) if dz.size else math.nan,
            "dx": round(float(dx.mean()), 4) if dx.size else math.nan}


def table(rows) -> str:
    lines = ["| density (bubbles/100 px² of lumen) | method | precision | recall | F1 | mean error (px) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['density']} ({r['in_vessel']:g}) | {r['method']} | {r['precision']:.3f} | {r['recall']:.3f} "
                     f"| {r['f1']:.3f} | {r['mean_error']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 scene per family and density, 4 frames")
    ap.add_argument("--scenes", type=int, default=3, help="scenes per family and density")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--methods", help="comma-separated methods/rows to run")
    ap.add_argument("--weights", help="mblnet=DIR,3dml=DIR: also run these model directories, rows '<name> (<dir name>)'")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    old = dict(kv.split("=", 1) for kv in a.weights.split(",")) if a.weights else None
    rows = run(1 if a.quick else a.scenes, 4 if a.quick else a.frames,
               only=a.methods.split(",") if a.methods else None, old=old)
    print(table(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
