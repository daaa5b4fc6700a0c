"""pyulm.sim.channel: channel data of bubbles in vessels and moving tissue, through a workspace to IQ."""
import sys

import numpy as np
import pytest

from pyulm.beamform import open_rcvdata
from pyulm.sim.channel import plane_wave_acquisition, simulate_channels

PDATA = ((30, 40), (1.0, 1.0), (8.0, -19.5))


def test_missing_pymust_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymust", None)
    acq = plane_wave_acquisition(n_elements=16, angles=(0,), depth=(5, 20))
    with pytest.raises(ImportError, match="pymust"):
        simulate_channels(acq, ((10, 10), (1.0, 1.0), (6.0, -4.5)), 2, seed=0)


@pytest.fixture(scope="module")
def sim():
    pytest.importorskip("pymust")
    acq = plane_wave_acquisition(n_elements=48, angles=(-5, 0, 5), depth=(4, 40), sample_mode="BS100BW")
    return simulate_channels(acq, PDATA, 8, concentration=3.0, max_velocity=10.0, tissue_scatterers=40,
                             tissue_amplitude=0.5, breathing=(0.5, 40.0), frame_rate=500.0, seed=3)


@pytest.mark.parametrize("version", ["5", "7.3"])
def test_bubbles_and_tissue_through_a_workspace(sim, tmp_path, version):
    assert sim.rcvdata.dtype == np.int16 and sim.rcvdata.shape[2] == 8 and len(sim.gt) > 10
    p = tmp_path / "sim.mat"
    assert sim.save(p, version=version) == version
    src = open_rcvdata(p)
    assert src.shape == (30, 40, 8) and src.layout.frame_rate == 500.0 and src.layout.sample_mode == "BS100BW"
    env = np.abs(src.read())
    np.testing.assert_allclose(np.abs(sim.beamform()), env, rtol=1e-4, atol=1e-5 * env.max())
    gt = sim.gt
    inside = (gt.z > 1) & (gt.z < 28) & (gt.x > 1) & (gt.x < 38)
    at_bubbles = env[np.round(gt.z[inside]).astype(int), np.round(gt.x[inside]).astype(int),
                     gt.frame[inside].astype(int)]
    # bubbles (reflectivity 0.5-1.5) stand out of speckle of reflectivity std 0.5 spread over the field
    assert np.median(at_bubbles) > 2 * np.median(env)


def test_tissue_moves_with_breathing(sim):
    from pyulm.sim.channel import channel_rf

    acq = sim.acq
    lam = acq.wavelength
    rng = np.random.default_rng(0)
    x, z = rng.uniform(-15, 15, 40) * lam, rng.uniform(10, 30, 40) * lam
    still = channel_rf(acq, [(x, z, np.ones(40))] * 2)
    moved = channel_rf(acq, [(x, z, np.ones(40)), (x, z + 0.25 * lam, np.ones(40))])
    np.testing.assert_allclose(still[:, :, 1], still[:, :, 0])
    assert np.abs(moved[:, :, 1] - moved[:, :, 0]).max() > 0.5 * np.abs(moved).max()
