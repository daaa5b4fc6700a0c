"""pyulm.io readers and writers on real files in every layout, written here as
MATLAB, Verasonics and lab scripts write them (scipy for v5, hdf5storage and
raw h5py for v7.3, raw binary with a sidecar). Helpers are reused by the
pipeline, CLI and Dask tests."""
from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

import pyulm.io as pio
from pyulm.io import FormatError, RawChannelDataError

EXAMPLE = Path(__file__).resolve().parents[1] / "pyulm" / "data" / "example_block.mat"


def example_parts():
    d = scipy.io.loadmat(EXAMPLE)
    return d["IQ"], d["UF"], d["PData"]


def write_blocks(folder, n=3, frames=70, step=60, fmt="v5"):
    """``n`` PALA blocks cut from the example block (frames overlap a little)."""
    iq, uf, pdata = example_parts()
    paths = []
    for i in range(n):
        p = Path(folder) / f"blk{i:02d}.mat"
        sub = iq[:, :, (i * step) % 130:(i * step) % 130 + frames]
        if fmt == "v5":
            scipy.io.savemat(p, {"IQ": sub, "UF": uf, "PData": pdata})
        else:
            write_v73_pala(p, sub)
        paths.append(p)
    return paths


def write_v73_pala(path, iq, pdelta=(1.0, 0.0, 1.0), origin=(-40.0, 0.0, 0.0)):
    import hdf5storage

    hdf5storage.savemat(str(path), {
        "IQ": iq, "UF": {"FrameRateUF": 1000.0, "TwFreq": 15.625},
        "PData": {"PDelta": np.array([pdelta]), "Size": np.array([[iq.shape[0], iq.shape[1], 1.0]]),
                  "Origin": np.array([origin])},
        "note": "written as MATLAB -v7.3",
    }, format="7.3", matlab_compatible=True, store_python_metadata=False)


def _mat_str(s):
    return np.frombuffer(s.encode("utf-16-le"), np.uint16).reshape(-1, 1)


def _field_names(names):
    out = np.empty(len(names), dtype=object)
    for i, k in enumerate(names):
        out[i] = np.array(list(k), dtype="S1")
    return out


def write_matlab_h5(path, iq_cell, *, with_object=True, pages=1):
    """A v7.3 Verasonics workspace written with h5py the way MATLAB lays it out:
    512-byte header, reversed dims, complex compounds, struct groups with
    MATLAB_fields, cells and struct arrays as references into #refs#, and a
    MATLAB ``string`` object in #subsystem#-style opaque form."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")

        def put_array(parent, name, arr, cls=None):
            arr = np.asarray(arr)
            if np.iscomplexobj(arr):
                dt = np.dtype([("real", arr.real.dtype), ("imag", arr.real.dtype)])
                data = np.empty(arr.shape[::-1], dt)
                data["real"], data["imag"] = arr.real.T, arr.imag.T
            else:
                data = arr.T
            ds = parent.create_dataset(name, data=data)
            ds.attrs["MATLAB_class"] = np.bytes_(cls or {"float64": "double", "float32": "single", "int16": "int16"}[arr.real.dtype.name])
            return ds

        def put_char(parent, name, s):
            ds = parent.create_dataset(name, data=_mat_str(s))  # MATLAB 1xN char -> HDF5 (N, 1)
            ds.attrs["MATLAB_class"] = np.bytes_("char")
            ds.attrs["MATLAB_int_decode"] = np.int32(2)
            return ds

        def put_struct(parent, name, fields):
            g = parent.create_group(name)
            g.attrs["MATLAB_class"] = np.bytes_("struct")
            g.attrs.create("MATLAB_fields", _field_names(fields), dtype=h5py.vlen_dtype(np.dtype("S1")))
            for k, v in fields.items():
                if isinstance(v, dict):
                    put_struct(g, k, v)
                elif isinstance(v, str):
                    put_char(g, k, v)
                else:
                    put_array(g, k, np.atleast_2d(np.asarray(v, float)))
            return g

        counter = iter(range(10_000))

        def ref_to(arr):
            name = f"r{next(counter)}"
            if isinstance(arr, str):
                return put_char(refs, name, arr).ref
            return put_array(refs, name, arr).ref

        cell = f.create_dataset("IQData", (len(iq_cell), 1), dtype=h5py.ref_dtype)
        for i, a in enumerate(iq_cell):
            cell[i, 0] = ref_to(a)
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
        put_struct(f, "PData", {"PDelta": [[0.5, 0, 0.5]], "Size": [[iq_cell[0].shape[0], iq_cell[0].shape[1], 1]],
                                "Origin": [[-10.0, 0, 2.0]]})
        put_struct(f, "Trans", {"name": "L22-14v", "frequency": 15.625, "units": "wavelengths"})
        put_struct(f, "Resource", {"Parameters": {"speedOfSound": 1480.0, "numRcvChannels": 128}})
        # Receive(1:3): a struct array, each field a column of references.
        g = f.create_group("Receive")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        for fld, vals in (("startDepth", [2.0, 2.0, 2.0]), ("mode", [0.0, 1.0, 1.0])):
            ds = g.create_dataset(fld, (3, 1), dtype=h5py.ref_dtype)
            for i, v in enumerate(vals):
                ds[i, 0] = ref_to(np.array([[v]]))
        g.attrs.create("MATLAB_fields", _field_names(("startDepth", "mode")), dtype=h5py.vlen_dtype(np.dtype("S1")))
        if with_object:  # a MATLAB string object: opaque, must be skipped with a note
            ds = f.create_dataset("comment", data=np.array([[3707764736, 2, 1, 1, 1, 1]], np.uint32))
            ds.attrs["MATLAB_class"] = np.bytes_("string")
            ds.attrs["MATLAB_object_decode"] = np.int32(3)
    with open(path, "r+b") as fh:
        head = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
        fh.write(head.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


# --------------------------------------------------------------------------- PALA blocks


def test_pala_v5_block_metadata_and_frames(tmp_path):
    iq, _, _ = example_parts()
    info = pio.inspect(EXAMPLE)
    assert (info.format, info.layout, info.variable) == ("mat5", "pala", "IQ")
    assert info.shape == (64, 80, 200)
    assert info.pixel_size == (1.0, 1.0) and info.origin == (0.0, -40.0)
    assert info.frame_rate == 1000.0
    assert info.wavelength_mm == pytest.approx(1540 / (15.625 * 1e3))
    part = pio.read_frames(info, 20, 35)
    assert part.dtype == np.complex64 and part.shape == (64, 80, 15)
    np.testing.assert_array_equal(part, iq[:, :, 20:35])


def test_pala_v73_block_reads_only_the_frames_asked(tmp_path):
    iq, _, _ = example_parts()
    p = tmp_path / "blk.mat"
    write_v73_pala(p, iq[:, :, :40], pdelta=(0.5, 0, 0.25), origin=(-20.0, 0, 3.0))
    assert pio.mat_version(p) == "mat73"
    info = pio.inspect(p)
    assert (info.layout, info.shape, info.dtype) == ("pala", (64, 80, 40), "complex64")
    assert info.pixel_size == (0.25, 0.5) and info.origin == (3.0, -20.0)
    np.testing.assert_array_equal(pio.read_frames(info, 5, 9), iq[:, :, 5:9])
    d = pio.read_mat(p)
    assert d["note"] == "written as MATLAB -v7.3" and d["UF"]["TwFreq"].item() == 15.625
    assert d["IQ"].shape == (64, 80, 40) and d["IQ"].dtype == np.complex64


def test_v73_cells_structs_struct_arrays_and_objects(tmp_path):
    rng = np.random.default_rng(0)
    buf1 = (rng.standard_normal((12, 10, 1, 6)) + 1j * rng.standard_normal((12, 10, 1, 6)))
    buf2 = (rng.standard_normal((12, 10, 1, 4)) + 1j).astype(np.complex64)
    p = tmp_path / "ws.mat"
    write_matlab_h5(p, [buf1, buf2])
    notes = []
    d = pio.read_mat(p, notes=notes)
    assert "comment" not in d and any("comment" in n and "string" in n for n in notes)
    assert d["Trans"]["name"] == "L22-14v" and d["Trans"]["units"] == "wavelengths"
    assert d["Resource"]["Parameters"]["speedOfSound"].item() == 1480.0
    assert isinstance(d["Receive"], list) and [r["mode"].item() for r in d["Receive"]] == [0.0, 1.0, 1.0]
    assert d["IQData"].shape == (1, 2) and d["IQData"][0, 0].shape == (12, 10, 1, 6)  # a 1x2 cell, as MATLAB's
    np.testing.assert_array_equal(d["IQData"][0, 1], buf2)

    info = pio.inspect(p)
    assert (info.layout, info.variable, info.buffer, info.shape) == ("verasonics", "IQData", 1, (12, 10, 6))
    assert any("2 non-empty buffers" in n for n in info.notes)
    assert info.pixel_size == (0.5, 0.5) and info.origin == (2.0, -10.0)
    assert info.wavelength_mm == pytest.approx(1480 / 15.625e3)
    assert info.frame_rate is None and "frame rate unknown" in info.describe()
    np.testing.assert_allclose(pio.read_frames(info, 2, 5), buf1[:, :, 0, 2:5])
    info2 = pio.inspect(p, "IQData{2}")
    assert info2.shape == (12, 10, 4)
    np.testing.assert_array_equal(pio.read_frames(info2), buf2[:, :, 0, :])
    with pytest.raises(FormatError, match=r"IQData\{3\} does not exist"):
        pio.inspect(p, "IQData{3}")


def test_verasonics_v5_workspace_pages_and_intensity(tmp_path):
    rng = np.random.default_rng(1)
    iq = rng.standard_normal((8, 9, 3, 2)) + 1j * rng.standard_normal((8, 9, 3, 2))
    img = np.abs(iq[:, :, :1, :])
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0] = np.zeros((0, 0))
    cell[0, 1] = iq
    p = tmp_path / "vsx.mat"
    img_cell = np.empty((1, 1), dtype=object)
    img_cell[0, 0] = img
    scipy.io.savemat(p, {"IQData": cell, "ImgData": img_cell,
                         "PData": {"PDelta": [1.0, 0, 1.0], "Origin": [-4.0, 0, 0]}, "Trans": {"frequency": 7.8125},
                         "P": {"FrameRate": 500.0}})
    info = pio.inspect(p)
    assert (info.variable, info.buffer, info.shape) == ("IQData", 2, (8, 9, 6))  # first non-empty buffer
    assert any("pages" in n for n in info.notes)
    assert info.frame_rate == 500.0 and info.wavelength_mm == pytest.approx(1540 / 7.8125e3)
    np.testing.assert_array_equal(pio.read_frames(info, 1, 5), iq.reshape(8, 9, 6, order="F")[:, :, 1:5])
    info_img = pio.inspect(p, "ImgData")
    assert info_img.shape == (8, 9, 2) and any("intensity" in n for n in info_img.notes)


def test_rcvdata_is_reported_as_channel_data(tmp_path):
    p = tmp_path / "rcv.mat"
    rcv = np.empty((1, 1), dtype=object)
    rcv[0, 0] = np.zeros((256, 128, 2), np.int16)
    scipy.io.savemat(p, {"RcvData": rcv, "Trans": {"frequency": 15.625}})
    with pytest.raises(RawChannelDataError, match="raw channel data.*beamform"):
        pio.inspect(p)


# --------------------------------------------------------------------------- raw binary

@pytest.mark.parametrize("order,layout", [("F", "interleaved"), ("C", "interleaved"), ("F", "split")])
def test_raw_binary_with_sidecar(tmp_path, order, layout):
    rng = np.random.default_rng(2)
    iq = (rng.standard_normal((6, 7, 9)) + 1j * rng.standard_normal((6, 7, 9)))
    p = tmp_path / "blk.bin"
    if layout == "split":
        np.concatenate([iq.real.ravel(order=order), iq.imag.ravel(order=order)]).astype("<f8").tofile(p)
        dtype = "float64"
    else:
        iq.astype(np.complex64).ravel(order=order).tofile(p)
        dtype = "complex64"
    (tmp_path / "blk.bin.json").write_text(json.dumps({"shape": [6, 7, 9], "dtype": dtype, "order": order,
                                                       "complex_layout": layout, "frame_rate": 800,
                                                       "pixel_size": [0.5, 1.0], "center_frequency_mhz": 5}))
    info = pio.inspect(p)
    assert (info.format, info.shape, info.frame_rate, info.pixel_size) == ("raw", (6, 7, 9), 800.0, (0.5, 1.0))
    want = iq if layout == "split" else iq.astype(np.complex64)
    np.testing.assert_array_equal(pio.read_frames(info, 3, 7), want[:, :, 3:7])


def test_raw_binary_bad_sidecars(tmp_path):
    p = tmp_path / "blk.bin"
    np.zeros(6 * 7 * 9, np.complex64).tofile(p)
    side = tmp_path / "blk.bin.json"
    side.write_text(json.dumps({"shape": [6, 7, 10], "dtype": "complex64"}))
    with pytest.raises(FormatError, match="truncated file or wrong sidecar"):
        pio.inspect(p)
    side.write_text(json.dumps({"shape": [42, 9], "dtype": "complex64"}))
    with pytest.raises(FormatError, match="2 axes"):
        pio.inspect(p)
    side.write_text(json.dumps({"shape": [6, 7, 9], "dtype": "complex64", "oder": "F"}))
    with pytest.raises(FormatError, match="unknown key.*oder"):
        pio.inspect(p)


# --------------------------------------------------------------------------- bad input

def test_bad_files_give_one_clear_error(tmp_path):
    good = EXAMPLE.read_bytes()
    cases = {
        "truncated.mat": good[: len(good) // 3],
        "header_only.mat": good[:100],
        "noise.mat": np.random.default_rng(3).bytes(4096),
        "empty.mat": b"",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(FormatError) as exc:
            info = pio.inspect(p)
            pio.read_frames(info)
        msg = str(exc.value)
        assert msg.startswith(str(p)) and "\n" not in msg, msg
    iq, _, _ = example_parts()
    p = tmp_path / "v73.mat"
    write_v73_pala(p, iq[:, :, :20])
    data = p.read_bytes()
    (tmp_path / "v73_cut.mat").write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="v73_cut.mat"):
        pio.read_frames(pio.inspect(tmp_path / "v73_cut.mat"))


def test_no_iq_variable_and_wrong_axes(tmp_path):
    p = tmp_path / "meta.mat"
    scipy.io.savemat(p, {"UF": {"FrameRateUF": 1000.0}, "GT": np.zeros((5, 4))})
    with pytest.raises(FormatError, match="no IQ-like variable"):
        pio.inspect(p)
    p2 = tmp_path / "flat.mat"
    scipy.io.savemat(p2, {"IQ": np.zeros((4, 5), complex)})
    with pytest.raises(FormatError, match="2 axes"):
        pio.inspect(p2)
    p3 = tmp_path / "other.mat"
    scipy.io.savemat(p3, {"bubbles": np.ones((4, 5, 6), np.float32), "small": np.ones((2, 2, 2))})
    info = pio.inspect(p3)
    assert info.variable == "bubbles" and any("largest" in n for n in info.notes)
    with pytest.raises(FormatError, match="no variable 'IQ'"):
        pio.inspect(p3, "IQ")
    with pytest.raises(FormatError, match="no such file"):
        pio.inspect(tmp_path / "missing.mat")


# --------------------------------------------------------------------------- writers

def _pala_results():
    tracks = [np.arange(20, dtype=np.float32).reshape(4, 5), np.ones((3, 5), np.float32)]
    return {"MatOut": np.arange(12.0).reshape(3, 4), "Track_tot": tracks, "MatTracking": np.ones((6, 4)),
            "ULM": {"res": 10, "fwhm": [3, 3], "LocMethod": "radial", "parameters": {"NLocalMax": 3}},
            "lambda": 0.09856, "llx": np.arange(4.0).reshape(1, -1), "llz": np.arange(3.0).reshape(1, -1)}


def test_save_mat_v5_readable_by_matlab_style_readers(tmp_path):
    p = tmp_path / "res.mat"
    assert pio.save_mat(p, _pala_results()) == "5"
    d = scipy.io.loadmat(p, squeeze_me=False, struct_as_record=False)
    assert d["MatOut"].shape == (3, 4) and d["MatTracking"].shape == (6, 4)
    assert d["Track_tot"].shape == (2, 1) and d["Track_tot"][0, 0].shape == (4, 5)
    assert d["Track_tot"][0, 0].dtype == np.float32
    assert d["ULM"][0, 0].LocMethod[0] == "radial" and d["ULM"][0, 0].parameters[0, 0].NLocalMax[0, 0] == 3
    assert d["lambda"].shape == (1, 1) and d["llx"].shape == (1, 4)
    assert os.listdir(tmp_path) == ["res.mat"]


def test_save_mat_switches_to_v73_above_threshold(tmp_path):
    p = tmp_path / "res.mat"
    assert pio.save_mat(p, _pala_results(), v73_threshold=64) == "7.3"
    assert pio.mat_version(p) == "mat73"
    assert p.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(p) as f:  # what MATLAB's HDF5 reader sees
        assert f["MatOut"].shape == (4, 3) and f["MatOut"].attrs["MATLAB_class"] == b"double"
        assert f["Track_tot"].attrs["MATLAB_class"] == b"cell"
        assert f["ULM"].attrs["MATLAB_class"] == b"struct"
    d = pio.read_mat(p)
    np.testing.assert_array_equal(d["MatOut"], np.arange(12.0).reshape(3, 4))
    assert d["Track_tot"].shape == (2, 1)
    np.testing.assert_array_equal(d["Track_tot"][0, 0], np.arange(20, dtype=np.float32).reshape(4, 5))
    assert d["ULM"]["LocMethod"] == "radial"
    assert sorted(os.listdir(tmp_path)) == ["res.mat"]


def test_save_mat_unwritable_dir_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        pio.save_mat(tmp_path / "nope" / "r.mat", {"a": np.ones(3)})
    assert os.listdir(tmp_path) == []
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # (root ignores permissions: nothing to check then)
            with pytest.raises(PermissionError, match="not writable"):
                pio.save_mat(ro / "r.mat", {"a": np.ones(3)})
            assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)
