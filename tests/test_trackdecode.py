"""Explicit tracks from CycleULM-E2E: the velocity-prior track decoder."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pyulm import track  # noqa: E402
from pyulm.nn.cycleulm import decode_tracks, motion_prior  # noqa: E402
from pyulm.nn.cycleulm.mbtnet_train import load_config, train  # noqa: E402
from pyulm.tables import Localizations, Metadata, Tracks  # noqa: E402
from test_mbtnet import TINY  # noqa: E402  (the tiny training config)



@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("td")
    (d / "c.toml").write_text(TINY)
    return train(load_config(d / "c.toml"), d / "run", log=lambda m: None)


def crossing(n=10, speed=1.5):
    """Two bubbles on one line passing each other: A from x=3 to the right, B from x=16 to the left."""
    t = np.arange(n)
    x = np.column_stack([3 + speed * t, 16 - speed * t]).ravel()
    z = np.full(2 * n, 10.0)
    ident = np.tile([0, 1], n)
    prior = np.column_stack([np.zeros(2 * n), np.tile([speed, -speed], n)])
    locs = Localizations(z=z, x=x, frame=np.repeat(t, 2), meta=Metadata(frame_rate=100.0))
    return locs, prior, ident


def _identities(tr, locs, ident):
    """Ground-truth identity of every point of every track."""
    key = {(float(z), float(x), int(f)): i for z, x, f, i in zip(locs.z, locs.x, locs.frame, ident)}
    return [[key[(float(p[0]), float(p[1]), int(p[2]))] for p in t] for t in tr]


def test_prior_fixes_the_swap_plain_hungarian_makes(tiny):
    locs, prior, ident = crossing()
    plain = track(locs, max_linking_distance=2, min_length=0, mode="nointerp")
    assert any(len(set(ids)) > 1 for ids in _identities(plain, locs, ident))  # Hungarian swaps at the crossing
    tr = decode_tracks(locs, np.zeros((24, 24, 10)), weights=tiny, max_linking_distance=2, min_length=0, prior=prior)
    assert isinstance(tr, Tracks) and tr.columns == ("z", "x", "frame")
    ids = _identities(tr, locs, ident)
    assert sorted(map(tuple, ids)) == [(0,) * 10, (1,) * 10]
    assert tr.meta.params["decode_tracks"]["max_linking_distance"] == 2.0


def test_min_length_mode_and_gap_closing(tiny):
    locs, prior, _ = crossing()
    frames = np.zeros((24, 24, 10))
    assert len(decode_tracks(locs, frames, weights=tiny, min_length=10, prior=prior)) == 0  # strictly more points
    assert len(decode_tracks(locs, frames, weights=tiny, min_length=9, prior=prior)) == 2
    vel = decode_tracks(locs, frames, weights=tiny, min_length=0, prior=prior, mode="velocityinterp")
    assert vel.columns == ("z", "x", "vz", "vx", "t")
    vx = sorted(float(np.median(t[:, 3])) for t in vel)
    assert np.allclose(vx, [-150.0, 150.0])  # pixels/s at 100 Hz
    drop = np.ones(len(locs), bool)
    drop[8] = False  # bubble A missing in frame 4
    gap = locs.select(drop)
    g0 = decode_tracks(gap, frames, weights=tiny, min_length=0, prior=prior[drop], max_gap_closing=0)
    g2 = decode_tracks(gap, frames, weights=tiny, min_length=0, prior=prior[drop], max_gap_closing=2)
    assert sorted(g0.lengths.tolist()) == [4, 5, 10] and sorted(g2.lengths.tolist()) == [9, 10]


def test_shipped_network_prior_fixes_a_rendered_crossing():
    """The shipped MBT-Net, on rendered MB-only frames of two bubbles passing 1 px apart,
    gives the velocities that undo the swap plain Hungarian linking makes."""
    from pyulm.nn.cycleulm.mbtnet_data import normalise_frames, render_frames

    n = 12
    t = np.arange(n)
    pos = np.stack([np.column_stack([np.full(n, 12.0), 6 + 1.5 * t]),
                    np.column_stack([np.full(n, 13.0), 22.5 - 1.5 * t])])  # (2, n, 2)
    frames = np.moveaxis(normalise_frames(render_frames(pos, np.array([1.0, 0.8]), (1.5, 1.5), (24, 32))), 0, 2)
    locs = Localizations(z=pos[:, :, 0].T.ravel(), x=pos[:, :, 1].T.ravel(), frame=np.repeat(t, 2))
    ident = np.tile([0, 1], n)
    plain = track(locs, max_linking_distance=2, min_length=0, mode="nointerp")
    assert any(len(set(ids)) > 1 for ids in _identities(plain, locs, ident))
    v = motion_prior(locs, frames, device="cpu")
    assert np.all(np.sign(v[:-2, 1]) == np.tile([1, -1], n - 1))  # each bubble's own direction
    tr = decode_tracks(locs, frames, max_linking_distance=2, min_length=0, device="cpu")
    assert sorted(map(tuple, _identities(tr, locs, ident))) == [(0,) * n, (1,) * n]


def test_network_prior_runs_and_is_deterministic(tiny):
    locs, _, _ = crossing()
    frames = np.random.default_rng(0).random((24, 24, 10))
    keep = frames.copy()
    v1 = motion_prior(locs, frames, weights=tiny, device="cpu")
    v2 = motion_prior(locs, frames, weights=tiny, device="cpu", min_probability=0.0)
    assert v1.shape == (20, 2) and np.all(np.isfinite(v2))
    assert np.array_equal(frames, keep)
    a = decode_tracks(locs, frames, weights=tiny, min_length=0, device="cpu")
    b = decode_tracks(locs, frames, weights=tiny, min_length=0, device="cpu")
    assert np.array_equal(a.points, b.points) and np.array_equal(a.offsets, b.offsets)
    assert a.points.shape[0] == 20  # every detection in exactly one track


def test_bad_input(tiny):
    locs, prior, _ = crossing()
    frames = np.zeros((24, 24, 10))
    cases = [
        (dict(locs=np.zeros((3, 3))), "Localizations"),
        (dict(mbonly=np.zeros((24, 24, 7))), "at least 8"),
        (dict(mbonly=np.zeros((24, 24))), "shape"),
        (dict(mbonly=np.full((24, 24, 10), np.inf)), "NaN or Inf"),
        (dict(locs=Localizations(z=[1.0], x=[1.0], frame=[12])), "locs.frame"),
        (dict(locs=Localizations(z=[np.nan], x=[1.0], frame=[0])), "finite"),
        (dict(mode="interp"), "mode"),
        (dict(max_linking_distance=-1), "max_linking_distance"),
        (dict(max_gap_closing=1.5), "max_gap_closing"),
        (dict(min_probability=2), "min_probability"),
        (dict(min_probability=-0.1), "min_probability"),
        (dict(prior_radius=0), "prior_radius: expected a value > 0"),
        (dict(prior_radius="wide"), "prior_radius: expected a number"),
        (dict(prior=np.zeros((3, 2))), "prior"),
        (dict(mode="velocityinterp", locs=Localizations(z=[1.0], x=[1.0], frame=[0])), "frame_rate"),
    ]
    for kw, match in cases:
        args = {"locs": locs, "mbonly": frames, "weights": tiny, "prior": prior} | kw
        if "locs" in kw and "prior" not in kw:
            args["prior"] = None
        with pytest.raises(ValueError, match=match):
            decode_tracks(args.pop("locs"), args.pop("mbonly"), **args)
    with pytest.raises(FileNotFoundError):
        decode_tracks(locs, frames, weights=tiny.parent / "nothing")
