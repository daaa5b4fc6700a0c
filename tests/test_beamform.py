"""pyulm.beamform: delay-and-sum against PyMUST, point focusing, options and bad input."""
import numpy as np
import pytest

from pyulm.beamform import Beamformer, Grid, PlaneWaveAcquisition, make_grid
from pyulm.sim.channel import channel_rf, plane_wave_acquisition

pymust = pytest.importorskip("pymust")  # LGPL, optional: only a test dependency

POINTS = [(25.3, -3.35), (40.15, 6.62)]  # (z, x), wavelengths


@pytest.fixture(scope="module", params=["NS200BW", "BS100BW"])
def points(request):
    acq = plane_wave_acquisition(n_elements=96, angles=(-5, 0, 5), depth=(10, 50), sample_mode=request.param)
    lam = acq.wavelength
    z, x = (np.array(v) * lam for v in zip(*POINTS))
    return acq, channel_rf(acq, [(x, z, np.ones(len(POINTS)))])


def _peak(img, step):
    """Sub-pixel (z, x) of the envelope maximum by a parabola through 3 samples per axis, in steps."""
    iz, ix = np.unravel_index(np.argmax(img), img.shape)

    def vertex(a, b, c):
        d = a - 2 * b + c
        return 0.0 if d == 0 else 0.5 * (a - c) / d

    return (iz + vertex(*img[iz - 1:iz + 2, ix])) * step, (ix + vertex(*img[iz, ix - 1:ix + 2])) * step


@pytest.mark.parametrize("f_number", [1.0, 2.0])
def test_points_focus_where_they_are_with_fwhm_lambda_f(points, f_number):
    acq, rf = points
    for zt, xt in POINTS:
        g = make_grid((41, 121), (0.05, 0.05), (zt - 1.0, xt - 3.0), acq.wavelength)
        img = np.abs(Beamformer(acq, g, f_number=f_number)(rf)[:, :, 0])
        dz, dx = _peak(img, 0.05)
        assert abs(zt - 1.0 + dz - zt) <= 0.1 and abs(xt - 3.0 + dx - xt) <= 0.1  # within lambda/10
        prof = img[np.argmax(img.max(axis=1))]
        above = np.flatnonzero(prof >= prof.max() / 2)
        fwhm = (above[-1] - above[0]) * 0.05
        # uniform receive aperture z/F, three compounded angles: 1.15-1.3 lambda*F measured for F = 1..2
        assert 0.9 <= fwhm / f_number <= 1.4, fwhm


def _pymust_param(acq):
    p = pymust.utils.Param()
    p.fc, p.c, p.fs, p.pitch, p.Nelements = acq.center_frequency, acq.speed_of_sound, 4 * acq.center_frequency, \
        acq.pitch, acq.n_elements
    p.width, p.kerf, p.bandwidth, p.radius, p.height = 0.9 * acq.pitch, 0.1 * acq.pitch, 70.0, np.inf, 5e-3
    p.fnumber = 1.5
    return p


def test_rf_path_matches_pymust_rf2iq_dasmtx():
    acq = plane_wave_acquisition(n_elements=64, angles=(-6, 0, 4), depth=(0, 45), sample_mode="NS200BW")
    lam = acq.wavelength
    x, z = np.array([-4.0, 3.5, 0.2]) * lam, np.array([15.0, 22.0, 35.0]) * lam
    rf = channel_rf(acq, [(x, z, np.array([1.0, 0.7, 1.2]))], fractional_bandwidth=0.7)[:, :, 0]
    g = make_grid((60, 36), (0.5, 0.5), (12.0, -9.0), lam)
    Zg, Xg = np.meshgrid(g.z, g.x, indexing="ij")
    ref = np.zeros(Zg.shape, complex)
    param = _pymust_param(acq)
    for a in range(acq.n_tx):
        r0, r1 = acq.rows[a]
        iq = pymust.rf2iq(rf[r0:r1].copy(), param)
        param.TXdelay = acq.tx_delays[a][None, :]
        M = pymust.dasmtx(1j * np.array(iq.shape), Xg, Zg, acq.tx_delays[a][None, :], param)
        ref += (M @ iq.flatten(order="F")).reshape(Zg.shape, order="F")
    img = Beamformer(acq, g, f_number=1.5, apodization="boxcar", lowpass="butter", bandwidth=0.7)(rf)[:, :, 0]
    # PyMUST's transmit model (nearest element of the array for the earliest arrival) equals the plane
    # wave only where the wave has passed under the array: compare there
    ok = np.ones(Zg.shape, bool)
    for th in acq.angles:
        xc = Xg - Zg * np.tan(th)
        ok &= (xc >= acq.element_x[0]) & (xc <= acq.element_x[-1])
    assert ok.mean() > 0.9
    err = np.sqrt(np.mean(np.abs(img - ref)[ok] ** 2) / np.mean(np.abs(ref[ok]) ** 2))
    assert err <= 1e-3, err


def test_memory_order_threads_and_input_unchanged(points, monkeypatch):
    acq, rf = points
    g = make_grid((20, 16), (1.0, 1.0), (20.0, -8.0), acq.wavelength)
    frames = np.round(np.repeat(rf, 3, axis=2) * 100).astype(np.int16)
    frames[:, :, 1] //= 2
    keep = frames.copy()
    monkeypatch.setenv("PYULM_NUM_THREADS", "1")
    one = Beamformer(acq, g, batch=2)(frames)
    monkeypatch.setenv("PYULM_NUM_THREADS", "2")
    two = Beamformer(acq, g, batch=2)(np.asfortranarray(frames))
    np.testing.assert_array_equal(frames, keep)
    assert one.shape == (20, 16, 3) and one.dtype == np.complex64
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-3 * np.abs(one).max())
    np.testing.assert_allclose(one[:, :, 1], one[:, :, 0] / 2, rtol=0, atol=2e-3 * np.abs(one).max())


def test_torch_backend_matches_scipy(points):
    pytest.importorskip("torch")
    acq, rf = points
    g = make_grid((20, 16), (1.0, 1.0), (20.0, -8.0), acq.wavelength)
    a = Beamformer(acq, g)(rf)
    b = Beamformer(acq, g, backend="torch")(rf)
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * np.abs(a).max())


def test_bad_options_and_frames():
    acq = plane_wave_acquisition(n_elements=16, angles=(0,), depth=(5, 20), sample_mode="BS100BW")
    g = make_grid((4, 4), (1.0, 1.0), (10.0, -2.0), acq.wavelength)
    with pytest.raises(ValueError, match="backend"):
        Beamformer(acq, g, backend="cupy")
    with pytest.raises(ValueError, match="apodization"):
        Beamformer(acq, g, apodization="tukey")
    with pytest.raises(ValueError, match="only for RF"):
        Beamformer(acq, g, lowpass="butter")
    with pytest.raises(ValueError, match="f_number"):
        Beamformer(acq, g, f_number=-1)
    with pytest.raises(ValueError, match="grid"):
        Beamformer(acq, (4, 4))
    bf = Beamformer(acq, g)
    with pytest.raises(ValueError, match="rows_per_frame"):
        bf(np.zeros((acq.rows_per_frame + 1, 16, 2), np.int16))
    with pytest.raises(ValueError, match="real samples"):
        bf(np.zeros((acq.rows_per_frame, 16, 2), complex))


def test_acquisition_checks():
    base = dict(element_x=np.arange(4) * 1e-4, angles=[0.0], tx_delays=np.zeros((1, 4)), sampling_frequency=4e6,
                sample_kind="rf", demod_frequency=1e6, speed_of_sound=1540, t_start=0, rows=[[0, 10]],
                channels=np.arange(4), rows_per_frame=10, n_channels=4)
    PlaneWaveAcquisition(**base)
    for key, val, msg in (("element_x", np.zeros(4), "increasing"), ("sample_kind", "iq", "sample_kind"),
                          ("rows", [[0, 11]], "rows"), ("channels", np.arange(4) + 1, "channels"),
                          ("tx_delays", np.zeros((2, 4)), "tx_delays")):
        with pytest.raises(ValueError, match=msg):
            PlaneWaveAcquisition(**{**base, key: val})
    acq = PlaneWaveAcquisition(**{**base, "tx_delays": np.array([[0.0, 1e-6, 0.0, 1e-6]])})
    with pytest.raises(ValueError, match=r"TX\(1\)\.Delay"):
        acq.check_plane_waves()
    assert isinstance(make_grid((2, 2), 1.0, (0.0, 0.0), 1e-4), Grid)
