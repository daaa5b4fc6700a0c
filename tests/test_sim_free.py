"""pyulm.sim.free_motion: the MB-only training domain."""
import numpy as np
import pytest

from pyulm.sim import free_motion, gaussian_psf


def test_same_seed_same_output_and_different_seed_differs():
    a = free_motion((40, 56), n_frames=12, n_bubbles=(3, 9), snr_db=10, clutter_db=10, intensity_jitter=0.2, seed=7)
    b = free_motion((40, 56), n_frames=12, n_bubbles=(3, 9), snr_db=10, clutter_db=10, intensity_jitter=0.2, seed=7)
    c = free_motion((40, 56), n_frames=12, n_bubbles=(3, 9), snr_db=10, clutter_db=10, intensity_jitter=0.2, seed=8)
    assert np.array_equal(a.iq, b.iq)
    for k in a.gt.columns:
        assert np.array_equal(a.gt[k], b.gt[k])
    assert not np.array_equal(a.iq, c.iq)


def test_shapes_dtypes_and_any_patch_size():
    sim = free_motion((17, 33), n_frames=5, n_bubbles=4, seed=0)
    assert sim.iq.shape == (17, 33, 5) and sim.iq.dtype == np.complex64
    env = free_motion((17, 33), n_frames=5, n_bubbles=4, seed=0, complex_iq=False)
    assert env.iq.dtype == np.float32 and np.allclose(env.iq, np.abs(sim.iq))
    assert {"bubble_id", "vz", "vx"} <= set(sim.gt.columns)


def test_reflect_keeps_count_and_positions_inside():
    sim = free_motion((32, 32), n_frames=50, n_bubbles=6, speed=3.0, acceleration=0.5, seed=2)
    gt = sim.gt
    assert len(gt) == 6 * 50
    assert np.all(np.bincount(gt.frame) == 6)
    assert gt.z.min() >= -0.5 and gt.z.max() <= 31.5 and gt.x.min() >= -0.5 and gt.x.max() <= 31.5


def test_kinematics_match_velocity_and_speed_range():
    sim = free_motion((256, 256), n_frames=6, n_bubbles=200, speed=(0.5, 1.5), acceleration=0.0,
                      boundary="leave", snr_db=None, seed=4)
    tr = sim.tracks()
    speeds = []
    for t in tr:
        z, x, f, vz, vx = t.T
        if len(t) > 1 and np.all(np.diff(f) == 1):
            # with no acceleration the step between frames is the constant velocity
            assert np.allclose(np.diff(z), vz[:-1]) and np.allclose(np.diff(x), vx[:-1])
            speeds.append(np.hypot(vz[0], vx[0]))
    speeds = np.array(speeds)
    assert speeds.min() >= 0.5 and speeds.max() <= 1.5
    assert abs(speeds.mean() - 1.0) < 0.08


def test_bubble_count_and_intensity_ranges():
    counts = [len(np.unique(free_motion((24, 24), 2, n_bubbles=(2, 5), seed=s, snr_db=None).gt["bubble_id"]))
              for s in range(40)]
    assert min(counts) >= 2 and max(counts) <= 5 and len(set(counts)) == 4
    sim = free_motion((64, 64), 3, n_bubbles=100, intensity=(2.0, 3.0), seed=1)
    assert sim.gt.intensity.min() >= 2.0 and sim.gt.intensity.max() <= 3.0


def test_noise_level_follows_snr():
    sim = free_motion((64, 64), 40, n_bubbles=0, intensity=1.0, snr_db=20, seed=0)
    # no bubbles: the IQ is the noise, std = 1 / 10**(20/20)
    assert abs(np.std(sim.iq) - 0.1) < 0.003
    quiet = free_motion((64, 64), 4, n_bubbles=0, snr_db=None, seed=0)
    assert not np.any(quiet.iq)


def test_single_bubble_peak_and_shrink():
    sim = free_motion((31, 31), 1, n_bubbles=1, intensity=2.0, speed=0, snr_db=None, seed=5)
    z, x = sim.gt.z[0], sim.gt.x[0]
    iz, ix = np.unravel_index(np.argmax(np.abs(sim.iq[:, :, 0])), (31, 31))
    assert abs(iz - z) <= 0.5 and abs(ix - x) <= 0.5
    small = free_motion((31, 31), 1, n_bubbles=1, psf_fwhm=4, shrink=0.5, seed=5)
    assert small.psf.fwhm == (2.0, 2.0)


@pytest.mark.parametrize("kw, name", [
    ({"shape": (0, 10)}, "shape"),
    ({"shape": (10,)}, "shape"),
    ({"n_frames": 0}, "n_frames"),
    ({"n_bubbles": -1}, "n_bubbles"),
    ({"n_bubbles": (5, 2)}, "n_bubbles"),
    ({"intensity": 0}, "intensity"),
    ({"speed": -1.0}, "speed"),
    ({"psf_fwhm": 0}, "psf_fwhm"),
    ({"psf_fwhm": 20, "shape": (16, 16)}, "shape"),
    ({"boundary": "wrap"}, "boundary"),
    ({"snr_db": float("nan")}, "snr_db"),
    ({"seed": -3}, "seed"),
])
def test_bad_input_raises_one_clear_error(kw, name):
    with pytest.raises(ValueError, match=name):
        free_motion(**{"n_frames": 2, **kw})


def test_accepts_a_psf_object():
    psf = gaussian_psf((2.0, 4.0), wavelength=np.inf)
    sim = free_motion((32, 32), 2, n_bubbles=2, psf=psf, snr_db=None, seed=0)
    assert np.allclose(sim.iq.imag, 0)
