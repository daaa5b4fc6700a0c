"""Verasonics RcvData workspaces: reading (v5, v7.3, units, ring buffer, superframes) and bad input."""
import numpy as np
import pytest

from pyulm.beamform import make_grid
from pyulm.beamform.rcvdata import open_rcvdata
from pyulm.beamform.workspace import WorkspaceError
from pyulm.beamform.write import save_workspace, workspace_variables
from pyulm.sim.channel import plane_wave_acquisition

PDATA = ((12, 10), (1.0, 1.0), (8.0, -4.5))


def _acq(mode="BS100BW", n_el=16, angles=(-4, 0, 4)):
    return plane_wave_acquisition(n_elements=n_el, angles=angles, depth=(4, 24), sample_mode=mode)


def _random(acq, frames=3, groups=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(-3000, 3000, (groups * acq.rows_per_frame, acq.n_channels, frames), dtype=np.int16)


def _save(tmp_path, variables, version="5", name="ws.mat"):
    p = tmp_path / name
    save_workspace(p, variables, version=version)
    return p


@pytest.mark.parametrize("mode", ["NS200BW", "BS100BW", "BS67BW", "BS50BW"])
def test_v5_v73_and_units_read_the_same(tmp_path, mode):
    acq = _acq(mode)
    rcv = _random(acq)
    keep = rcv.copy()
    a = open_rcvdata(_save(tmp_path, workspace_variables(acq, rcv, pdata=PDATA, units="mm", frame_rate=800), "5"))
    b = open_rcvdata(_save(tmp_path, workspace_variables(acq, rcv, pdata=PDATA, units="wavelengths"), "7.3", "b.mat"))
    np.testing.assert_array_equal(rcv, keep)
    assert a.format == "mat5" and b.format == "mat73"
    assert a.shape == b.shape == (12, 10, 3) and a.layout.sample_mode == mode
    assert a.layout.frame_rate == 800.0 and b.layout.frame_rate is None
    np.testing.assert_array_equal(a.channel_frames(1, 3), rcv[:, :, 1:3])
    np.testing.assert_array_equal(b.channel_frames(0, 2), rcv[:, :, 0:2])
    np.testing.assert_allclose(a.layout.acq.element_x, acq.element_x, rtol=1e-9)
    np.testing.assert_allclose(b.layout.acq.element_x, acq.element_x, rtol=1e-9)
    ia, ib = a.read(), b.read(1, 3)
    assert ia.dtype == np.complex64
    np.testing.assert_allclose(ib, ia[:, :, 1:3], rtol=1e-5, atol=1e-5 * np.abs(ia).max())
    assert a.pixel_size == (1.0, 1.0) and a.origin == (8.0, -4.5)
    assert f"{mode}" in a.describe() and "3 plane waves" in a.describe()


def test_ring_buffer_and_superframes(tmp_path):
    acq = _acq()
    rcv = _random(acq, frames=3, groups=2)
    v = workspace_variables(acq, rcv, pdata=PDATA)
    v["Resource"]["RcvBuffer"]["lastFrame"] = 1.0  # frame 1 is the newest: oldest first is 2, 3, 1
    src = open_rcvdata(_save(tmp_path, v, "7.3"))
    assert src.layout.groups == 2 and src.n_frames == 6
    R = acq.rows_per_frame
    expect = [rcv[g * R:(g + 1) * R, :, b] for b in (1, 2, 0) for g in (0, 1)]
    np.testing.assert_array_equal(src.channel_frames(), np.stack(expect, axis=2))
    np.testing.assert_array_equal(src.channel_frames(3, 5), np.stack(expect[3:5], axis=2))
    assert any("ring buffer" in n for n in src.notes)


def test_user_grid_and_options(tmp_path):
    acq = _acq()
    p = _save(tmp_path, workspace_variables(acq, _random(acq), pdata=PDATA))
    src = open_rcvdata(p, grid=((5, 4), (0.5, 0.5), (10.0, -1.0)), f_number=1.5, apodization="hann")
    assert src.shape == (5, 4, 3) and src.read(0, 1).shape == (5, 4, 1)
    assert src.grid.z[0] == pytest.approx(10.0 * acq.wavelength)
    with pytest.raises(ValueError, match="unknown beamforming option"):
        open_rcvdata(p, fnumber=2)
    with pytest.raises(ValueError, match="grid"):
        open_rcvdata(p, grid=(5, 4))


def _set(records, key, value, index=None):
    for i in range(records.shape[1]) if index is None else [index]:
        records[0, i][key] = value


BAD = {
    "no Receive": (lambda v: v.pop("Receive"), r"no Receive"),
    "no Trans": (lambda v: v.pop("Trans"), r"no Trans"),
    "no PData": (lambda v: v.pop("PData"), r"PData"),
    "endSample beyond rows": (lambda v: _set(v["Receive"], "endSample", 10 ** 6, 1),
                              r"Receive\(2\).startSample/endSample"),
    "frames disagree": (lambda v: _set(v["Receive"], "startSample", 3.0, 4), r"inconsistent sample indices"),
    "sample mode": (lambda v: _set(v["Receive"], "sampleMode", "HILBERT"), r"Receive.sampleMode = 'HILBERT'"),
    "mixed sample modes": (lambda v: _set(v["Receive"], "sampleMode", "NS200BW", 0), r"Receive.sampleMode"),
    "curved type": (lambda v: v["Trans"].update(type=1.0), r"Trans.type = 1 \(curved"),
    "curved positions": (lambda v: v["Trans"]["ElementPos"].__setitem__((slice(None), 2),
                                                                         np.linspace(0, 1, 16) ** 2), r"curved"),
    "matrix": (lambda v: v["Trans"]["ElementPos"].__setitem__((slice(None), 1), np.arange(16.0)), r"matrix"),
    "units": (lambda v: v["Trans"].update(units="inches"), r"Trans.units = 'inches'"),
    "no units": (lambda v: [v["Trans"].pop(k) for k in ("units", "spacing", "spacingMm")], r"Trans.units is missing"),
    "accumulate": (lambda v: _set(v["Receive"], "mode", 1.0), r"Receive.mode = 1"),
    "focused": (lambda v: _set(v["TX"], "focus", 40.0, 0), r"TX\(1\).focus"),
    "not a plane wave": (lambda v: v["TX"][0, 1].__setitem__("Delay", np.atleast_2d(np.r_[np.zeros(8), np.ones(8)])),
                         r"TX\(2\).Delay"),
    "connector": (lambda v: v["Trans"].update(Connector=np.arange(1, 17.0) + 5), r"Trans.Connector"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_workspaces_name_the_field(tmp_path, case):
    acq = _acq()
    v = workspace_variables(acq, _random(acq, frames=2), pdata=PDATA)
    edit, msg = BAD[case]
    edit(v)
    p = _save(tmp_path, v)
    with pytest.raises(WorkspaceError, match=msg):
        open_rcvdata(p)


def test_missing_units_inferred_from_spacing(tmp_path):
    acq = _acq()
    v = workspace_variables(acq, _random(acq, frames=1), pdata=PDATA, units="wavelengths")
    v["Trans"].pop("units")
    src = open_rcvdata(_save(tmp_path, v))
    np.testing.assert_allclose(src.layout.acq.element_x, acq.element_x, rtol=1e-9)
    assert any("Trans.units missing" in n for n in src.notes)


def test_point_scatterers_round_trip_through_a_workspace(tmp_path):
    pytest.importorskip("pymust")
    from pyulm.sim.channel import channel_rf, to_int16

    acq = plane_wave_acquisition(n_elements=64, angles=(-5, 0, 5), depth=(5, 45), sample_mode="NS200BW",
                                 lens_correction=0.75)
    lam = acq.wavelength
    pts = np.array([[18.4, -6.3], [31.1, 4.7]])
    rf = channel_rf(acq, [(pts[:, 1] * lam, pts[:, 0] * lam, np.ones(2))] * 2)
    p = _save(tmp_path, workspace_variables(acq, to_int16(rf), pdata=((40, 40), (1.0, 1.0), (10.0, -20.0)),
                                            lens_correction=0.75), "7.3")
    src = open_rcvdata(p)
    assert src.layout.acq.time_offset == pytest.approx(1.5 / acq.center_frequency)
    iq = np.abs(src.read()[:, :, 1])
    for zt, xt in pts:
        g = make_grid((21, 21), (0.05, 0.05), (zt - 0.5, xt - 0.5), lam)
        fine = np.abs(src.beamformer.__class__(src.layout.acq, g)(src.channel_frames(0, 1))[:, :, 0])
        iz, ix = np.unravel_index(np.argmax(fine), fine.shape)
        assert abs(iz * 0.05 - 0.5) <= 0.1 and abs(ix * 0.05 - 0.5) <= 0.1
        iz0, ix0 = int(round(zt - 10)), int(round(xt + 20))  # on PData's one-wavelength grid
        win = iq[iz0 - 2:iz0 + 3, ix0 - 2:ix0 + 3]
        jz, jx = np.unravel_index(np.argmax(win), win.shape)
        assert abs(jz - 2) <= 1 and abs(jx - 2) <= 1 and win.max() > 0.3 * iq.max()


def test_source_pickles_without_its_matrices(tmp_path):
    import pickle

    acq = _acq()
    src = open_rcvdata(_save(tmp_path, workspace_variables(acq, _random(acq), pdata=PDATA), "7.3"))
    first = src.read(0, 2)
    blob = pickle.dumps(src)
    assert len(blob) < 200_000  # pipeline workers get the acquisition, not the sparse matrices
    np.testing.assert_array_equal(pickle.loads(blob).read(0, 2), first)


def test_custom_sample_mode_reads_as_rf(tmp_path):
    acq = _acq("NS200BW")
    rcv = _random(acq, frames=2)
    v = workspace_variables(acq, rcv, pdata=PDATA)
    a = open_rcvdata(_save(tmp_path, v, name="ns.mat")).read()
    _set(v["Receive"], "sampleMode", "custom")
    src = open_rcvdata(_save(tmp_path, v, name="custom.mat"))
    assert src.layout.sample_mode == "custom" and src.layout.acq.sample_kind == "rf"
    np.testing.assert_array_equal(src.read(), a)
    _set(v["Receive"], "decimSampleRate", 5 * acq.center_frequency / 1e6)  # a custom rate: 5 samples per period
    src = open_rcvdata(_save(tmp_path, v, name="custom5.mat"))
    assert src.layout.acq.sampling_frequency == pytest.approx(5 * acq.center_frequency)
    assert src.read().shape == a.shape


def test_v73_struct_arrays_fast_path_equals_read_mat(tmp_path):
    from pyulm.beamform._h5structs import EVENT_FIELDS, RECEIVE_FIELDS, read_struct_arrays
    from pyulm.io import read_mat

    acq = _acq()
    p = _save(tmp_path, workspace_variables(acq, _random(acq, frames=4), pdata=PDATA), "7.3")
    fast = read_struct_arrays(p, {"Receive": RECEIVE_FIELDS, "Event": EVENT_FIELDS, "Trans": ("units",)})
    ref = read_mat(p, ["Receive", "Event"])
    assert set(fast) == {"Receive", "Event"}  # Trans is a 1x1 struct: left to read_mat
    for name, fields in (("Receive", RECEIVE_FIELDS), ("Event", EVENT_FIELDS)):
        assert len(fast[name]) == len(ref[name]) == (12 if name == "Receive" else 16)
        for a, b in zip(fast[name], ref[name]):
            for k in fields:
                if isinstance(b[k], str):
                    assert a[k] == b[k]
                else:
                    np.testing.assert_array_equal(a[k], np.asarray(b[k], float))
    one = plane_wave_acquisition(n_elements=16, angles=(0,), depth=(4, 24), sample_mode="BS100BW")
    src = open_rcvdata(_save(tmp_path, workspace_variables(one, _random(one, frames=1), pdata=PDATA), "7.3", "1.mat"))
    assert src.shape == (12, 10, 1)  # a 1x1 Receive is a plain struct: read by pyulm.io
