"""RcvData workspaces through pyulm.io and `pyulm process`: beamform -> filter -> localize -> track -> render."""
import numpy as np
import pytest

from pyulm.config import Config
from pyulm.io import inspect, load_table, read_frames

pytest.importorskip("pymust")

CFG = {"ulm": {"numberOfParticles": 5, "fwhm": 3, "max_linking_distance": 1.5, "min_length": 4, "res": 4,
               "SVD_cutoff": [2]},
       "output": {"images": [], "figures": []}}
# half-wavelength pixels: the compounded axial PSF (~0.6 wavelength) spans about 3 of them
PDATA = ((60, 80), (0.5, 0.5), (12.0, -19.75))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from pyulm.sim.channel import plane_wave_acquisition, simulate_channels

    acq = plane_wave_acquisition(n_elements=64, angles=(-5, 0, 5), depth=(4, 52), sample_mode="BS100BW")
    sim = simulate_channels(acq, PDATA, 48, concentration=0.5, max_velocity=15.0, frame_rate=1000.0, seed=7)
    p = tmp_path_factory.mktemp("rcv") / "rcv.mat"
    sim.save(p, version="7.3")
    return p, sim


def test_inspect_describes_and_reads_rcvdata_as_iq(workspace):
    p, sim = workspace
    info = inspect(p)
    assert info.layout == "rcvdata" and info.shape == (60, 80, 48) and info.frame_rate == 1000.0
    assert info.pixel_size == (0.5, 0.5) and info.origin == (12.0, -19.75)
    assert info.center_frequency_mhz == pytest.approx(15.625)
    text = info.describe()
    assert "BS100BW" in text and "3 plane waves" in text and "RcvData{1}" in text
    iq = read_frames(info, 5, 17)
    assert iq.shape == (60, 80, 12) and iq.dtype == np.complex64
    np.testing.assert_allclose(iq, read_frames(info)[:, :, 5:17], rtol=1e-5, atol=1e-6 * np.abs(iq).max())


def test_process_finds_the_bubbles(workspace, tmp_path):
    from pyulm.pipeline import run

    p, sim = workspace
    s = run([p], Config.from_dict(CFG), tmp_path / "out", progress=False)
    assert s.frames == 48 and s.localizations > 40 and s.tracks > 0
    locs = load_table(tmp_path / "out" / "localizations.h5")
    gt = sim.gt
    err, found = [], 0
    for f in range(48):
        g = np.c_[gt.z[gt.frame == f], gt.x[gt.frame == f]]
        q = np.c_[locs.z[locs.frame == f], locs.x[locs.frame == f]]
        if len(g) and len(q):
            d = np.sqrt(((q[:, None] - g[None]) ** 2).sum(-1))
            err.append(d.min(axis=1))
            found += int(np.sum(d.min(axis=0) <= 1))
    err = np.concatenate(err)
    hit = err <= 1  # within one pixel (half a wavelength)
    # the bubbles simulated in the channel data are found where they were, after beamforming, filtering
    # and localization: measured precision 0.79, recall 0.92, RMS error 0.37 pixel (0.19 wavelength)
    assert hit.mean() > 0.7 and found / len(gt) > 0.8, (hit.mean(), found / len(gt))
    assert np.sqrt(np.mean(err[hit] ** 2)) < 0.5
