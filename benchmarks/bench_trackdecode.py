"""Track decoder benchmark: linking with MBT-Net's velocity prior vs plain Hungarian / nearest neighbour.

Detections are the ground-truth positions of every bubble in view, jittered by ``--jitter``
pixels (a localiser's error) and dropped with probability ``--miss``, so every detection
keeps its bubble's identity. Linkers, all with the same ``max_linking_distance`` and no
gap closing:

* ``hungarian``: pyulm's simpletracker (Munkres on squared distances, PALA's tracking);
* ``nearest``: simpletracker's greedy nearest-neighbour linker;
* ``mbtnet-prior``: :func:`pyulm.nn.cycleulm.trackdecode.decode_tracks`' linking — Hungarian
  on the distance to the detection moved by MBT-Net's predicted displacement;
* ``oracle-prior``: the same with the true velocity (the ceiling of any motion prior).

Scores against the identities, per 100 ground-truth links (pairs of detections of one
bubble in consecutive frames): ``correct`` = fraction of the linker's links that join one
bubble; ``broken`` = ground-truth links not made (a track broken there); ``swapped`` =
links joining two different bubbles (identity switches).

Cases: the MB-only domain (the paper's motion model, Gaussian PSF of FWHM 1.5 px, 64 x 64,
40 frames) at low / medium / high density, and the physics-PSF CEUS simulation
(:func:`pyulm.nn.cycleulm.ceus_sim.ceus_acquisition`: transducer PSF with side lobes, IQ
phase, clutter residue, band-limited noise, bubbles flowing in a vessel tree; 300 Hz) at
its three named densities, with MBT-Net reading ``ceus-abs``: |IQ| of the SVD-filtered
frames (outside its domain, no translator); ``ceus-ideal``: what a perfect MB-DT would give
(the true bubbles as Gaussians of half the physics PSF's FWHM; vessel flow, not the
training motion model); ``ceus-translator`` (with ``--translator DIR``): MB-DT's output.

    python benchmarks/bench_trackdecode.py [--weights DIR] [--translator DIR] [--seeds 3] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pyulm.nn.cycleulm.mbtnet_data import MotionConfig, normalise_frames, render_frames, simulate_motion
from pyulm.nn.cycleulm.trackdecode import link_with_prior, motion_prior
from pyulm.tables import Localizations
from pyulm.tracking import simpletracker

MB_DENSITY = {"low": 0.004, "medium": 0.01, "high": 0.02}  # bubbles per pixel² in view
LINKERS = ("hungarian", "nearest", "mbtnet-prior", "oracle-prior")


def mbonly_case(density: str, seed: int, size=64, frames=40):
    """(frames (Z, X, T), detections (z, x, frame, id, vz, vx) columns) in the MB-only domain."""
    rng = np.random.default_rng(np.random.SeedSequence([7, seed, list(MB_DENSITY).index(density)]))
    cfg = MotionConfig()
    reach = cfg.speed[1] * frames
    n = rng.poisson(MB_DENSITY[density] * (size + 2 * reach) ** 2)
    pos = simulate_motion(rng, n, frames, speed=cfg.speed, sigma_speed=cfg.sigma_speed, sigma_angle=cfg.sigma_angle,
                          start_low=(-reach, -reach), start_high=(size + reach, size + reach))
    img = render_frames(pos, rng.uniform(*cfg.intensity, n), (1.5, 1.5), (size, size))
    img = normalise_frames(img + rng.normal(0, 0.01, img.shape))
    vel = np.concatenate([np.diff(pos, axis=1), np.zeros((n, 1, 2))], axis=1)
    ids, ts = np.meshgrid(np.arange(n), np.arange(frames), indexing="ij")
    rows = np.column_stack([pos.reshape(-1, 2), ts.ravel(), ids.ravel(), vel.reshape(-1, 2)])
    inside = (rows[:, 0] >= 0) & (rows[:, 0] <= size - 1) & (rows[:, 1] >= 0) & (rows[:, 1] <= size - 1)
    return np.moveaxis(img, 0, 2), rows[inside], rng


def ceus_case(density: str, seed: int, source: str, translator=None, frames=40):
    """The physics-PSF CEUS block: (MBT-Net input frames, detections, rng).

    ``source``: "abs" = |IQ| of the SVD-filtered frames (outside MBT-Net's domain), "ideal" =
    what a perfect MB-DT would output (the true bubbles as Gaussians of half the physics
    PSF's FWHM: the vessel-flow motion is still not the training motion model), or
    "translator" = MB-DT's translation with the model ``translator``.
    """
    from pyulm.nn.cycleulm.ceus_sim import ceus_acquisition

    acq = ceus_acquisition(density, shape=(64, 64), n_frames=frames, seed=seed, frame_rate=300.0)
    gt = acq.gt
    f = gt.frame
    if source == "translator":
        from pyulm.nn.cycleulm import translate

        mb = translate(acq.iq, translator)
    elif source == "ideal":
        fwhm = tuple(0.5 * w for w in acq.psf_fwhm)
        img = np.stack([render_frames(np.column_stack([gt.z[f == t], gt.x[f == t]])[:, None, :],
                                      gt.intensity[f == t], fwhm, (64, 64))[0] for t in range(frames)])
        mb = np.moveaxis(normalise_frames(img), 0, 2)
    else:
        mb = np.abs(acq.iq)
    # the true displacement per frame of each bubble (its next row), from the identities
    rows = np.column_stack([gt.z, gt.x, f, gt["bubble_id"], np.zeros(len(gt)), np.zeros(len(gt))])
    order = np.lexsort((f, gt["bubble_id"]))
    r = rows[order]
    same = (r[1:, 3] == r[:-1, 3]) & (r[1:, 2] == r[:-1, 2] + 1)
    r[:-1, 4:6][same] = r[1:, :2][same] - r[:-1, :2][same]
    inside = (r[:, 0] >= 0) & (r[:, 0] <= 63) & (r[:, 1] >= 0) & (r[:, 1] <= 63)
    return mb, r[inside], np.random.default_rng(seed + 500)


def detections(rows, rng, jitter: float, miss: float):
    keep = rng.random(len(rows)) >= miss
    d = rows[keep].copy()
    d[:, :2] += rng.normal(0, jitter, (len(d), 2))
    return d[np.argsort(d[:, 2], kind="stable")]


def successors(det, linker, mb, mld, weights):
    """Successor (row index, -1: none) of every detection (rows sorted by frame)."""
    f = det[:, 2].astype(np.int64)
    n_frames = mb.shape[2]
    if linker in ("hungarian", "nearest"):
        per = [det[f == t, :2] for t in range(n_frames)]
        _, adj, _ = simpletracker(per, mld, 0, "hungarian" if linker == "hungarian" else "nearestneighbor")
        nxt = np.full(len(det), -1, dtype=np.int64)
        for a in adj:
            nxt[a[:-1]] = a[1:]
        return nxt
    if linker == "oracle-prior":
        v = det[:, 4:6]
    else:
        v = motion_prior(Localizations(z=det[:, 0], x=det[:, 1], frame=f), mb, weights=weights, device="cpu")
    return link_with_prior(det[:, :2], f, v, mld, 0, n_frames)


def score(det, nxt) -> dict:
    ids, f = det[:, 3], det[:, 2]
    key = {(int(i), int(t)): k for k, (i, t) in enumerate(zip(ids, f))}
    gt_next = np.array([key.get((int(i), int(t) + 1), -1) for i, t in zip(ids, f)])
    n_gt = int((gt_next >= 0).sum())
    made = nxt >= 0
    correct = made & (nxt == gt_next)
    swapped = made & (ids[np.maximum(nxt, 0)] != ids)
    broken = (gt_next >= 0) & (nxt != gt_next)
    return {"gt_links": n_gt, "links": int(made.sum()), "correct": int(correct.sum()),
            "swapped": int(swapped.sum()), "broken": int(broken.sum())}


def run(args) -> list:
    rows = []
    sources = ["abs", "ideal"] + (["translator"] if args.translator else [])
    cases = [("mb-only", d) for d in MB_DENSITY] + ([] if args.no_ceus else [
        (f"ceus-{src}", d) for src in sources for d in MB_DENSITY])
    for domain, density in cases:
        totals = {k: {"gt_links": 0, "links": 0, "correct": 0, "swapped": 0, "broken": 0, "s": 0.0} for k in LINKERS}
        for seed in range(args.seeds):
            if domain == "mb-only":
                mb, truth, rng = mbonly_case(density, seed)
                mld = 3.0
            else:
                mb, truth, rng = ceus_case(density, seed, domain[5:], args.translator)
                mld = 3.0
            det = detections(truth, rng, args.jitter, args.miss)
            for linker in LINKERS:
                t0 = time.perf_counter()
                nxt = successors(det, linker, mb, mld, args.weights)
                totals[linker]["s"] += time.perf_counter() - t0
                for k, v in score(det, nxt).items():
                    totals[linker][k] += v
        for linker, t in totals.items():
            g = max(t["gt_links"], 1)
            rows.append({"domain": domain, "density": density, "linker": linker, "gt_links": t["gt_links"],
                         "correct_fraction": t["correct"] / max(t["links"], 1),
                         "broken_per_100": 100 * t["broken"] / g, "swapped_per_100": 100 * t["swapped"] / g,
                         "seconds": round(t["s"], 2)})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", help="MBT-Net model directory (default: shipped)")
    p.add_argument("--translator", help="MB-DT model directory: MBT-Net reads translated CEUS frames")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jitter", type=float, default=0.1, help="localisation error, pixels (std)")
    p.add_argument("--miss", type=float, default=0.05, help="probability that a bubble is not detected")
    p.add_argument("--no-ceus", action="store_true", help="MB-only cases only")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args(argv)
    rows = run(args)
    print(f"{'domain':16s} {'density':7s} {'linker':13s} {'GT links':>8s} {'correct':>8s} {'broken/100':>10s} "
          f"{'swapped/100':>11s} {'s':>6s}")
    for r in rows:
        print(f"{r['domain']:16s} {r['density']:7s} {r['linker']:13s} {r['gt_links']:8d} {r['correct_fraction']:8.3f} "
              f"{r['broken_per_100']:10.2f} {r['swapped_per_100']:11.2f} {r['seconds']:6.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
