"""pyulm.io readers and writers on real files in every layout, written here as
MATLAB, Verasonics and lab scripts write them (scipy for v5, hdf5storage and
raw h5py for v7.3, raw binary with a sidecar). Helpers are reused by the
pipeline, CLI and Dask tests."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

import pyulm.io as pio
from pyulm.io import FormatError, RawChannelDataError
from pyulm.io import _h5chunkread as R
from pyulm.io import _h5chunks as C
from pyulm.io import _h5filters as F

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


def write_matlab_h5(path, iq_cell, *, with_object=True, pages=1, iq_options=None):
    """A v7.3 Verasonics workspace written with h5py the way MATLAB lays it out:
    512-byte header, reversed dims, complex compounds, struct groups with
    MATLAB_fields, cells and struct arrays as references into #refs#, and a
    MATLAB ``string`` object in #subsystem#-style opaque form. ``iq_options``:
    h5py dataset options for the IQ buffers (e.g. chunks and gzip, as MATLAB's
    save -v7.3 stores large arrays)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")

        def put_array(parent, name, arr, cls=None, options=None):
            arr = np.asarray(arr)
            if np.iscomplexobj(arr):
                dt = np.dtype([("real", arr.real.dtype), ("imag", arr.real.dtype)])
                data = np.empty(arr.shape[::-1], dt)
                data["real"], data["imag"] = arr.real.T, arr.imag.T
            else:
                data = arr.T
            ds = parent.create_dataset(name, data=data, **(options or {}))
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

        def ref_to(arr, options=None):
            name = f"r{next(counter)}"
            if isinstance(arr, str):
                return put_char(refs, name, arr).ref
            return put_array(refs, name, arr, options=options).ref

        cell = f.create_dataset("IQData", (len(iq_cell), 1), dtype=h5py.ref_dtype)
        for i, a in enumerate(iq_cell):
            cell[i, 0] = ref_to(a, iq_options)
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


def _scipy_plain(v):
    """scipy.io.loadmat(squeeze_me=False, struct_as_record=False) values in pyulm.io's convention."""
    from scipy.io.matlab import mat_struct

    if isinstance(v, mat_struct):
        return {k: _scipy_plain(getattr(v, k)) for k in v._fieldnames}
    if isinstance(v, np.ndarray) and v.dtype.kind == "U":
        return "".join(v.ravel().tolist()) if v.size <= 1 or v.shape[0] == 1 else [str(x) for x in v.ravel()]
    if isinstance(v, np.ndarray) and v.dtype == object:
        if v.size and all(isinstance(e, mat_struct) for e in v.ravel()):
            items = [_scipy_plain(e) for e in v.ravel(order="F")]
            return items[0] if len(items) == 1 else items
        out = np.empty(v.shape, dtype=object)
        for idx in np.ndindex(v.shape):
            out[idx] = _scipy_plain(v[idx])
        return out
    return v


def _assert_same_value(a, b, path="value"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for k in a:
            _assert_same_value(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_value(x, y, f"{path}({i + 1})")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert isinstance(b, np.ndarray) and b.dtype == object and a.shape == b.shape, path
        for i, (x, y) in enumerate(zip(a.ravel(), b.ravel())):
            _assert_same_value(x, y, f"{path}{{{i + 1}}}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.shape == b.shape, path
        if a.dtype == np.uint8 and b.dtype == bool:  # scipy gives logical as uint8, pyulm as bool
            a = a.astype(bool)
        assert a.dtype == b.dtype and _same_bytes(a, b), (path, a.dtype, b.dtype)
    else:
        assert a == b, path


@pytest.mark.parametrize("compress", [False, True])
def test_v5_files_read_by_the_codec_match_scipy(tmp_path, compress):
    """The MAT v5 files the tests write (PALA blocks, Verasonics workspaces, lab files) decode as
    scipy.io decodes them, in pyulm.io's convention; frames are byte-identical."""
    iq, uf, pdata = example_parts()
    rng = np.random.default_rng(3)
    receive = np.zeros((1, 3), dtype=[("mode", object), ("startDepth", object)])
    for i in range(3):
        receive[0, i] = (np.array([[float(i > 0)]]), np.array([[2.0 * i]]))
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = np.zeros((0, 0)), (rng.standard_normal((6, 5, 2, 3)) + 1j).astype(np.complex64)
    data = {"IQ": iq[:, :, :30], "UF": uf, "PData": pdata, "Receive": receive, "IQData": cell,
            "names": np.array(["ab", "cd"]), "title": "block 1", "flags": np.array([[True, False]]),
            "counts": np.arange(6, dtype=np.int16).reshape(2, 3), "empty": np.zeros((0, 3))}
    p = tmp_path / "f.mat"
    scipy.io.savemat(p, data, do_compression=compress)
    mine = pio.read_mat(p)
    theirs = scipy.io.loadmat(p, squeeze_me=False, struct_as_record=False)
    assert sorted(mine) == sorted(k for k in theirs if not k.startswith("__"))
    for k in mine:
        _assert_same_value(_scipy_plain(theirs[k]), mine[k], k)
    info = pio.inspect(p)
    for a, b in ((0, 30), (3, 4), (29, 30)):
        assert _same_bytes(pio.read_frames(info, a, b), theirs["IQ"][:, :, a:b])
    vinfo = pio.inspect(p, "IQData")
    assert vinfo.buffer == 2 and vinfo.dtype == "complex64"
    assert _same_bytes(pio.read_frames(vinfo, 1, 5), cell[0, 1].reshape(6, 5, 6, order="F")[:, :, 1:5])
    listed = {v.name: v for v in pio.list_variables(p)}
    assert listed["IQ"].complex and listed["IQ"].mclass == "single" and not listed["counts"].complex
    assert listed["flags"].mclass == "logical" and listed["Receive"].shape == (1, 3)


def test_save_mat_writes_through_the_codec_as_scipy_did(tmp_path):
    """Values as scipy.io.savemat(oned_as='row') wrote them: 1-D arrays rows, ints doubles, cells."""
    vals = dict(_pala_results(), vec=np.arange(3.0), cell=np.array([np.ones(2), "s"], dtype=object),
                files=["a.mat", "b.mat"], n=3, flag=True, c=1 + 2j, b=np.array([True, False]))
    for compress in (False, True):
        p = tmp_path / f"r{compress}.mat"
        assert pio.save_mat(p, vals, compress=compress) == "5"
        d = scipy.io.loadmat(p, squeeze_me=False, struct_as_record=False)
        assert d["vec"].shape == (1, 3) and d["cell"].shape == (1, 2) and d["files"].shape == (2, 1)
        assert d["n"].dtype == np.float64 and d["n"][0, 0] == 3 and d["flag"].dtype == np.uint8
        assert d["c"][0, 0] == 1 + 2j and d["b"].shape == (1, 2)
        assert d["ULM"][0, 0].fwhm.tolist() == [[3.0, 3.0]]
        assert (os.stat(p).st_mode & 0o777) == 0o666 & ~_umask()
    assert os.path.getsize(tmp_path / "rTrue.mat") < os.path.getsize(tmp_path / "rFalse.mat")
    assert pio.to_matlab([1, 2.5]).tolist() == [[1.0, 2.5]]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_read_limit_from_argument_and_environment(tmp_path, monkeypatch):
    """max_bytes= / PYULM_MAX_BYTES: a frame above it is refused by inspect, a range above it by
    read_frames (before anything is allocated); bad settings are one clear error."""
    info = pio.inspect(EXAMPLE, max_bytes="1M")
    assert info.max_bytes == 2**20 and info.frame_nbytes == 64 * 80 * 8
    assert pio.read_frames(info, 0, 20).shape == (64, 80, 20)
    with pytest.raises(ValueError, match=r"example_block\.mat: frames 0:200 of IQ take 7\.81 MiB, more than the "
                                         r"read limit 1 MiB"):
        pio.read_frames(info)
    with pytest.raises(FormatError, match=r"example_block\.mat: one frame of IQ takes 40 KiB, more than the read "
                                          r"limit 10 KiB"):
        pio.inspect(EXAMPLE, max_bytes=10 * 2**10)
    monkeypatch.setenv("PYULM_MAX_BYTES", "2GiB")
    assert pio.inspect(EXAMPLE).max_bytes == 2**31
    for bad in ("lots", "-5", "0"):
        monkeypatch.setenv("PYULM_MAX_BYTES", bad)
        with pytest.raises(ValueError, match="PYULM_MAX_BYTES: expected"):
            pio.inspect(EXAMPLE)
    monkeypatch.delenv("PYULM_MAX_BYTES")
    with pytest.raises(ValueError, match="max_bytes: expected"):
        pio.inspect(EXAMPLE, max_bytes=True)
    assert pio.inspect(EXAMPLE).max_bytes >= 64 * 2**20  # default: the memory available
    assert pio.available_memory() > 0


@pytest.mark.parametrize("fmt", ["v5", "v5z", "v73"])
def test_metadata_variables_are_capped_from_their_headers(tmp_path, monkeypatch, fmt):
    """A metadata variable declaring more than the cap is refused before it is read."""
    iq, uf, pdata = example_parts()
    trans = {"frequency": np.zeros((2**17, 1))}  # 1 MiB
    p = tmp_path / "blk.mat"
    if fmt == "v73":
        write_v73_pala(p, iq[:, :, :5])
        with h5py.File(p, "r+") as f:
            g = f.create_group("Trans")
            g.attrs["MATLAB_class"] = np.bytes_("struct")
            g.create_dataset("frequency", data=trans["frequency"].T).attrs["MATLAB_class"] = np.bytes_("double")
    else:
        scipy.io.savemat(p, {"IQ": iq[:, :, :5], "UF": uf, "PData": pdata, "Trans": trans},
                         do_compression=fmt == "v5z")
    assert pio.inspect(p).frame_rate == 1000.0
    monkeypatch.setenv("PYULM_MAX_METADATA_BYTES", "512K")
    with pytest.raises(FormatError, match=r"blk\.mat: variable 'Trans' declares .*(more than|the limit)"):
        pio.inspect(p)


def test_mat4_files_are_listed_and_read_through_scipy(tmp_path):
    p = tmp_path / "old.mat"
    scipy.io.savemat(p, {"x": np.arange(6.0).reshape(2, 3), "t": np.array([[1.5]])}, format="4")
    assert pio.mat_version(p) == "mat4"
    assert [(v.name, v.shape) for v in pio.list_variables(p)] == [("x", (2, 3)), ("t", (1, 1))]
    d = pio.read_mat(p)
    assert d["x"].tolist() == [[0, 1, 2], [3, 4, 5]] and d["t"][0, 0] == 1.5
    with pytest.raises(FormatError, match=r"old\.mat: no IQ-like variable"):
        pio.inspect(p)


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


# --------------------------------------------------------------------------- v7.3 chunk reader
#
# pyulm decodes deflate/shuffle/fletcher32 chunks itself (pyulm.io.h5_read, pyulm/io/_h5chunks.py); every
# array must come out byte for byte as h5py's own read gives it, for every storage layout.

_MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def _mat73_header(path):
    with open(path, "r+b") as fh:
        fh.write(_MAT73_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def _to_h5(arr):
    """A MATLAB array as MATLAB stores it in HDF5: reversed axes, complex as a real/imag compound."""
    arr = np.asarray(arr)
    if np.iscomplexobj(arr):
        rdt = arr.real.dtype
        data = np.empty(arr.shape[::-1], np.dtype([("real", rdt), ("imag", rdt)]))
        data["real"], data["imag"] = arr.real.T, arr.imag.T
        return data
    return np.ascontiguousarray(arr.T)


def write_mat73_iq(path, iq, userblock=True, **dataset_options):
    """A MAT v7.3 file holding ``IQ`` (and ``UF``) stored with the given h5py dataset options,
    e.g. ``chunks=(5, 7, 4), compression="gzip", compression_opts=3`` as MATLAB's save -v7.3."""
    cls = {"complex64": "single", "complex128": "double", "float32": "single", "float64": "double",
           "int16": "int16", "uint8": "uint8"}[np.dtype(iq.dtype).newbyteorder("=").name]
    with h5py.File(path, "w", userblock_size=512 if userblock else 0) as f:
        ds = f.create_dataset("IQ", data=_to_h5(iq), **dataset_options)
        ds.attrs["MATLAB_class"] = np.bytes_(cls)
        g = f.create_group("UF")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        fr = g.create_dataset("FrameRateUF", data=np.array([[1000.0]]))
        fr.attrs["MATLAB_class"] = np.bytes_("double")
    if userblock:
        _mat73_header(path)
    return path


def _iq(shape, dtype, seed=0):
    """Test data with the values a byte-exact comparison must get right: NaN, +-inf, -0, extremes."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
        a.flat[:2] = info.min, info.max
        return a
    real_dt = np.empty(0, dt).real.dtype
    a = rng.standard_normal(shape).astype(real_dt)
    a.flat[:5] = np.nan, np.inf, -np.inf, -0.0, np.finfo(real_dt).tiny
    a.flat[7:400] = 0.0  # a compressible run
    if dt.kind == "c":
        b = rng.standard_normal(shape).astype(real_dt)
        b.flat[1:3] = np.nan, -0.0
        return _complex(a, b, dt)
    return a.astype(dt)


def _complex(re, im, dt):
    out = np.empty(re.shape, dt)
    out.real, out.imag = re, im  # (re + 1j*im would turn inf*1j into nan)
    return out


def _same_bytes(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


def _check_reads(path, iq, expect_path):
    """h5_read, read_mat and read_frames against h5py's plain read and the array written."""
    with h5py.File(path, "r") as f:
        ds = f["IQ"]
        assert pio.h5_read_path(ds).startswith(expect_path), pio.h5_read_path(ds)
        plain = ds[()]
        assert _same_bytes(pio.h5_read(ds), plain)
        nt = ds.shape[0]
        for a, b in ((0, nt), (0, 1), (nt - 1, nt), (1, nt - 1), (nt // 3, nt // 3 + 2)):
            sel = (slice(a, b), slice(None), slice(None))
            assert _same_bytes(pio.h5_read(ds, sel), ds[sel]), (a, b)
        sub = (slice(1, nt - 1), slice(2, None), slice(1, 4))  # every axis cut, inside chunks
        assert _same_bytes(pio.h5_read(ds, sub), ds[sub])
    d = pio.read_mat(path, ["IQ"])
    assert _same_bytes(d["IQ"], iq)
    info = pio.inspect(path)
    nt = iq.shape[2]
    for a, b in ((0, nt), (3, 4), (nt - 5, nt), (2, nt - 3)):
        got = pio.read_frames(info, a, b)
        assert _same_bytes(got, iq[:, :, a:b]), (a, b)


_LAYOUTS = {
    # deflate only, as MATLAB's save -v7.3 stores arrays (at level 3)
    "gzip3": dict(chunks=(5, 7, 4), compression="gzip", compression_opts=3),
    "gzip1": dict(chunks=(4, 16, 9), compression="gzip", compression_opts=1),
    "gzip9": dict(chunks=(23, 1, 13), compression="gzip", compression_opts=9),
    "gzip_one_chunk": dict(chunks=(23, 17, 13), compression="gzip", compression_opts=6),
    "gzip_frame_chunks": dict(chunks=(1, 17, 13), compression="gzip", compression_opts=3),
    "gzip_big_chunks": dict(chunks=(40, 40, 40), maxshape=(None, None, None), compression="gzip",
                            compression_opts=3),  # chunks larger than the data; extensible-array index
    # hdf5storage (pyulm's save_mat): shuffle + deflate + fletcher32
    "shuffle_gzip_fletcher": dict(chunks=(6, 5, 4), compression="gzip", compression_opts=7, shuffle=True,
                                  fletcher32=True),
    "shuffle_gzip": dict(chunks=(6, 5, 4), compression="gzip", shuffle=True),
    "gzip_fletcher": dict(chunks=(7, 3, 13), compression="gzip", fletcher32=True),
    "shuffle_only": dict(chunks=(6, 5, 4), shuffle=True),
    "fletcher_only": dict(chunks=(6, 5, 4), fletcher32=True),
    "chunked_uncompressed": dict(chunks=(6, 5, 4)),
}
_H5PY_LAYOUTS = {
    "contiguous": dict(),
    "compact": dict(),  # below
    "lzf": dict(chunks=(6, 5, 4), compression="lzf"),
    "scaleoffset_shuffle_gzip": dict(chunks=(6, 5, 4), scaleoffset=0, compression="gzip", shuffle=True),
}


@pytest.mark.parametrize("layout", sorted(_LAYOUTS))
@pytest.mark.parametrize("dtype", ["complex64", "complex128", "float32", "float64", "int16", "uint8"])
def test_v73_chunk_reader_matches_h5py(tmp_path, layout, dtype):
    iq = _iq((13, 17, 23), dtype)  # no axis a multiple of any chunk size: edge chunks everywhere
    p = write_mat73_iq(tmp_path / "blk.mat", iq, **_LAYOUTS[layout])
    _check_reads(p, iq, "chunks:")


@pytest.mark.parametrize("layout", sorted(_H5PY_LAYOUTS))
def test_v73_other_layouts_are_read_by_h5py(tmp_path, layout):
    iq = _iq((13, 17, 23), "complex64" if layout != "scaleoffset_shuffle_gzip" else "int16")
    p = tmp_path / "blk.mat"
    if layout == "compact":
        iq = iq[:4, :3, :12]
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        _write_iq_with_dcpl(p, _to_h5(iq), dcpl)
    else:
        write_mat73_iq(p, iq, **_H5PY_LAYOUTS[layout])
    _check_reads(p, iq, "h5py:")


def test_v73_szip_and_unwritten_chunks_are_read_by_h5py(tmp_path):
    iq = _iq((13, 17, 23), "float32")
    p = tmp_path / "szip.mat"
    try:
        write_mat73_iq(p, iq, chunks=(6, 5, 4), compression="szip")
    except (ValueError, OSError):
        pytest.skip("this h5py has no szip encoder")
    _check_reads(p, iq, "h5py: filter")
    # chunks never written read as the fill value: h5py fills them
    p2 = tmp_path / "holes.mat"
    with h5py.File(p2, "w", userblock_size=512) as f:
        ds = f.create_dataset("IQ", (23, 17, 13), "f4", chunks=(6, 5, 4), compression="gzip", fillvalue=2.5)
        ds[:6, :, :] = _to_h5(iq)[:6]
        ds.attrs["MATLAB_class"] = np.bytes_("single")
        assert pio.h5_read_path(ds).startswith("h5py: unwritten chunks")
        assert pio.h5_read_path(ds, (slice(0, 6), slice(None), slice(None))).startswith("chunks:")
        assert _same_bytes(pio.h5_read(ds), ds[()]) and ds[()][10, 0, 0] == 2.5
        assert _same_bytes(pio.h5_read(ds, (slice(0, 6), slice(None), slice(None))), ds[:6])


def test_v73_chunk_reader_big_endian_and_plain_hdf5(tmp_path):
    iq = _iq((13, 17, 23), "float64").astype(">f8")
    p = write_mat73_iq(tmp_path / "be.mat", iq, chunks=(5, 7, 4), compression="gzip", shuffle=True, fletcher32=True)
    with h5py.File(p) as f:
        assert f["IQ"].dtype == np.dtype(">f8")
    _check_reads(p, iq, "chunks:")
    # an HDF5 file without MATLAB's 512-byte user block: chunk addresses need no correction
    iq2 = _iq((13, 17, 23), "complex64", seed=4)
    p2 = write_mat73_iq(tmp_path / "plain.h5", iq2, userblock=False, chunks=(5, 7, 4), compression="gzip")
    assert pio.mat_version(p2) == "hdf5"
    _check_reads(p2, iq2, "chunks:")


@pytest.mark.parametrize("inflate", ["zlib", "isal", "libdeflate"])
@pytest.mark.parametrize("threads", [1, 3])
def test_v73_chunk_reader_inflate_and_threads(tmp_path, monkeypatch, inflate, threads):
    if inflate not in F.INFLATERS:
        pytest.skip(f"{inflate} is not installed")
    monkeypatch.setattr(F, "INFLATERS", {inflate: F.INFLATERS[inflate]})  # the only one, hence the default
    monkeypatch.setattr(R, "INFLATERS", F.INFLATERS)
    monkeypatch.setattr(R, "n_threads", lambda: threads)
    iq = _iq((30, 20, 64), "complex64", seed=5)
    p = write_mat73_iq(tmp_path / "blk.mat", iq, chunks=(8, 6, 7), compression="gzip", compression_opts=3)
    _check_reads(p, iq, f"chunks: deflate, {inflate} inflate")


def _copy_chunks(src_ds, dst_ds, origins, mask):
    for o in origins:
        _fm, raw = src_ds.id.read_direct_chunk(o)
        dst_ds.id.write_direct_chunk(o, raw, filter_mask=mask)


def test_v73_chunk_reader_honours_filter_masks(tmp_path):
    """Chunks stored with some filters skipped (their filter_mask bit set) are decoded as such."""
    iq = _iq((13, 17, 23), "complex64", seed=6)
    data = _to_h5(iq)
    p = tmp_path / "mask.mat"
    chunks = (6, 5, 4)
    with h5py.File(p, "w", userblock_size=512) as f:
        ds = f.create_dataset("IQ", data=data, chunks=chunks, compression="gzip", shuffle=True, fletcher32=True)
        ds.attrs["MATLAB_class"] = np.bytes_("single")
        # The same chunks with fewer filters, to copy in with the matching mask
        # (pipeline: 0 shuffle, 1 deflate, 2 fletcher32; a set bit = that filter skipped).
        tmp = {
            0b111: f.create_dataset("t_raw", data=data, chunks=chunks),
            0b110: f.create_dataset("t_shuffled", data=data, chunks=chunks, shuffle=True),
            0b010: f.create_dataset("t_shuffled_checksum", data=data, chunks=chunks, shuffle=True, fletcher32=True),
            0b011: f.create_dataset("t_checksum", data=data, chunks=chunks, fletcher32=True),
            0b001: f.create_dataset("t_gzip_checksum", data=data, chunks=chunks, compression="gzip", fletcher32=True),
        }
        _copy_chunks(tmp[0b111], ds, [(0, 0, 0), (18, 15, 12)], 0b111)  # (18, 15, 12): the corner edge chunk
        _copy_chunks(tmp[0b110], ds, [(6, 0, 0), (18, 0, 0)], 0b110)
        _copy_chunks(tmp[0b010], ds, [(6, 5, 0), (0, 15, 4)], 0b010)
        _copy_chunks(tmp[0b011], ds, [(12, 5, 4)], 0b011)
        _copy_chunks(tmp[0b001], ds, [(12, 10, 8), (6, 15, 12)], 0b001)
        masks = {}
        ds.id.chunk_iter(lambda si: masks.__setitem__(si.chunk_offset, si.filter_mask))
        assert masks[(0, 0, 0)] == 0b111 and masks[(6, 5, 0)] == 0b010 and masks[(12, 10, 8)] == 0b001
        assert np.array_equal(ds[()].view(np.uint8), data.view(np.uint8))  # h5py decodes them all
        assert pio.h5_read_path(ds).startswith("chunks:")
        assert _same_bytes(pio.h5_read(ds), ds[()])
        for sel in ((slice(5, 13), slice(None), slice(None)), (slice(17, 23), slice(14, 17), slice(0, 13))):
            assert _same_bytes(pio.h5_read(ds, sel), ds[sel])
    np.testing.assert_array_equal(pio.read_frames(pio.inspect(p, "IQ"), 4, 20), iq[:, :, 4:20])


def test_v73_unfiltered_partial_edge_chunks(tmp_path):
    """HDF5's 'do not filter partial edge chunks' option stores edge chunks raw with mask 0."""
    import ctypes
    import glob

    libdir = Path(h5py.__file__).parent.parent / "h5py.libs"
    libs = sorted(glob.glob(str(libdir / "libhdf5-*.so*")))
    if not libs:
        pytest.skip("no bundled HDF5 library to set H5Pset_chunk_opts with")
    lib = ctypes.CDLL(libs[0])
    iq = _iq((13, 17, 23), "float64", seed=7)
    data = _to_h5(iq)
    p = tmp_path / "edges.mat"
    with h5py.File(p, "w", userblock_size=512) as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((6, 5, 4))
        dcpl.set_shuffle()
        dcpl.set_deflate(4)
        assert lib.H5Pset_chunk_opts(ctypes.c_int64(dcpl.id), ctypes.c_uint(0x0002)) >= 0
        dsid = h5py.h5d.create(f.id, b"IQ", h5py.h5t.IEEE_F64LE, h5py.h5s.create_simple(data.shape), dcpl=dcpl)
        ds = h5py.Dataset(dsid)
        ds[...] = data
        ds.attrs["MATLAB_class"] = np.bytes_("double")
        info = ds.id.get_chunk_info_by_coord((18, 15, 12))
        assert info.size == 6 * 5 * 4 * 8 and info.filter_mask == 0  # stored raw, mask says filtered
    _mat73_header(p)
    _check_reads(p, iq, "chunks:")


def _chunk_location(path, origin):
    with h5py.File(path) as f:
        info = f["IQ"].id.get_chunk_info_by_coord(origin)
        return info.byte_offset, info.size, int(f.userblock_size)


def _patch(path, offset, data):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


@pytest.mark.parametrize("what", ["deflate", "checksum", "checksum_bytes"])
def test_v73_corrupt_chunks_raise_format_error(tmp_path, what):
    iq = _iq((13, 17, 23), "complex64", seed=8)
    opts = dict(chunks=(6, 5, 4), compression="gzip")
    if what != "deflate":
        opts.update(shuffle=True, fletcher32=True)
    p = write_mat73_iq(tmp_path / "bad.mat", iq, **opts)
    addr, size, ub = _chunk_location(p, (6, 5, 4))
    # HDF5 >= 1.14.4 reports file offsets; older versions leave out the user block
    with open(p, "rb") as fh:
        fh.seek(addr)
        first = fh.read(2)
    if first[:1] != b"\x78":  # not a zlib header there: the address is relative to the user block
        addr += ub
    if what == "checksum_bytes":
        _patch(p, addr + size - 2, b"\xde\xad")  # the stored checksum itself
    else:
        _patch(p, addr + size // 2, b"\x00\x01\x02\x03\x04\x05\x06\x07")
    with h5py.File(p) as f:
        with pytest.raises(OSError):  # h5py refuses the chunk too
            f["IQ"][()]
    info = pio.inspect(p)
    with pytest.raises(FormatError, match=r"bad\.mat: cannot read IQ \(corrupt") as exc:
        pio.read_frames(info, 0, 23)
    msg = str(exc.value)
    assert "\n" not in msg
    if what == "deflate":  # a broken stream, or one whose Adler-32 check fails
        assert "cannot inflate" in msg or "bytes, expected" in msg, msg
    else:  # the checksum is checked before inflating
        assert "Fletcher-32 checksum mismatch" in msg, msg
    # frames whose chunks are intact still read
    np.testing.assert_array_equal(pio.read_frames(info, 0, 4), iq[:, :, :4])
    with pytest.raises(FormatError, match="bad.mat"):
        pio.read_mat(p, ["IQ"])


def test_v73_truncated_chunk_data(tmp_path):
    iq = _iq((13, 17, 40), "complex64", seed=9)
    p = write_mat73_iq(tmp_path / "cut.mat", iq, chunks=(40, 17, 13), compression="gzip")  # one chunk, at the end
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 200])
    with pytest.raises(FormatError, match="cut.mat"):
        pio.read_frames(pio.inspect(p), 0, 40)


def test_hdf5storage_block_uses_the_chunk_reader(tmp_path):
    """pyulm's own v7.3 writer (hdf5storage: shuffle + deflate + fletcher32) and the PALA layout."""
    iq = _iq((20, 30, 50), "complex64", seed=10)
    p = tmp_path / "blk.mat"
    write_v73_pala(p, iq)
    with h5py.File(p) as f:
        assert pio.h5_read_path(f["IQ"]).startswith("chunks: shuffle+deflate+fletcher32")
    _check_reads(p, iq, "chunks:")
    p2 = tmp_path / "res.mat"
    pio.save_mat(p2, {"MatOut": _iq((40, 70), "float64"), "IQ": iq}, v73_threshold=1)
    d = pio.read_mat(p2)
    assert _same_bytes(d["MatOut"], _iq((40, 70), "float64")) and _same_bytes(d["IQ"], iq)


def test_fletcher32_matches_hdf5(tmp_path):
    """The vectorised Fletcher-32 gives HDF5's stored checksums (odd lengths, zeros, 0xff runs)."""
    rng = np.random.default_rng(11)
    p = tmp_path / "f.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("odd", data=rng.integers(0, 255, (301, 37), dtype=np.uint8), chunks=(7, 5), fletcher32=True)
        f.create_dataset("zeros", data=np.zeros((30, 30)), chunks=(10, 7), fletcher32=True)
        f.create_dataset("ones", data=np.full((600, 600), 255, np.uint8), chunks=(600, 600), fletcher32=True)
        f.create_dataset("gz", data=rng.standard_normal((300, 300)), chunks=(100, 77), fletcher32=True,
                         compression="gzip")
    n = 0
    with h5py.File(p) as f:
        for name in f:
            ds = f[name]
            for i in range(ds.id.get_num_chunks()):
                _fm, raw = ds.id.read_direct_chunk(ds.id.get_chunk_info(i).chunk_offset)
                assert F.fletcher32(raw[:-4]) == int.from_bytes(raw[-4:], "little"), (name, i)
                assert not F.fletcher32_ok(raw[:-5] + bytes([raw[-5] ^ 1]), raw[-4:])
                n += 1
    assert n > 100


def _write_iq_with_dcpl(path, data, dcpl):
    """A MAT v7.3 file whose single ``IQ`` dataset is created with a low-level property list
    (layouts and filter orders h5py's high level does not offer)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        dsid = h5py.h5d.create(f.id, b"IQ", h5py.h5t.py_create(data.dtype), h5py.h5s.create_simple(data.shape),
                               dcpl=dcpl)
        ds = h5py.Dataset(dsid)
        ds[...] = data
        ds.attrs["MATLAB_class"] = np.bytes_("single")
    _mat73_header(path)


def _custom_pipeline(path, data, chunks, steps):
    """A MAT v7.3 ``IQ`` whose filter pipeline is built in the given order (h5py's high level
    always puts shuffle first)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk(chunks)
    for step in steps:
        {"deflate": lambda: dcpl.set_deflate(5), "shuffle": dcpl.set_shuffle,
         "fletcher32": dcpl.set_fletcher32}[step]()
    _write_iq_with_dcpl(path, data, dcpl)


@pytest.mark.parametrize("steps", [("deflate", "shuffle"), ("fletcher32", "shuffle", "deflate"),
                                   ("shuffle", "fletcher32"), ("deflate", "fletcher32", "shuffle")])
def test_v73_chunk_reader_any_filter_order(tmp_path, steps):
    iq = _iq((13, 17, 23), "complex64", seed=12)
    p = tmp_path / "order.mat"
    _custom_pipeline(p, _to_h5(iq), (6, 5, 4), steps)
    with h5py.File(p) as f:
        assert pio.h5_read_path(f["IQ"]).startswith("chunks: " + "+".join(steps))
    _check_reads(p, iq, "chunks:")


def test_unshuffle_matches_hdf5_definition():
    rng = np.random.default_rng(13)
    for size, nbytes in ((8, 800), (4, 803), (3, 10), (8, 8), (1, 17), (16, 4)):
        plain = rng.integers(0, 256, nbytes, dtype=np.uint8)
        n = nbytes // size
        shuffled = plain.copy()  # byte k of element i goes to k * n + i; a partial last element stays
        if size > 1 and n > 1:
            shuffled[:n * size] = plain[:n * size].reshape(n, size).T.ravel()
        assert np.array_equal(np.frombuffer(bytes(F.unshuffle(shuffled.tobytes(), size)), np.uint8), plain)


@pytest.mark.parametrize("addresses", ["without_userblock", "wrong", "no_pread"])
def test_v73_chunk_reader_chunk_addresses(tmp_path, monkeypatch, addresses):
    """HDF5 < 1.14.4 reports chunk addresses without the user block; addresses that match no
    read of the file (or no os.pread) make the reader fetch the stored bytes through h5py."""
    iq = _iq((13, 17, 23), "complex64", seed=14)
    p = write_mat73_iq(tmp_path / "blk.mat", iq, chunks=(6, 5, 4), compression="gzip", shuffle=True,
                       fletcher32=True)
    real_table = C.chunk_table
    shift = {"without_userblock": -512, "wrong": 3, "no_pread": 0}[addresses]
    monkeypatch.setattr(C, "chunk_table",
                        lambda dsid: {o: (m, a + shift, s) for o, (m, a, s) in real_table(dsid).items()})
    if addresses == "no_pread":
        import os

        monkeypatch.delattr(os, "pread")
    fetched = []
    real_address_base = R.ChunkRead.address_base
    monkeypatch.setattr(R.ChunkRead, "address_base", lambda self, fd: fetched.append(real_address_base(self, fd))
                        or fetched[-1])
    _check_reads(p, iq, "chunks:")
    assert set(fetched) == ({512} if addresses == "without_userblock" else {None})


def test_fletcher32_of_a_chunk_over_32_mb(tmp_path):
    """Large chunks take the 64-bit accumulators; all-0xff words are the worst case for overflow."""
    p = tmp_path / "big.h5"
    data = np.full((4200, 4200), 0xFFFF, np.uint16)
    data[::7, ::3] = np.random.default_rng(15).integers(0, 65535, data[::7, ::3].shape, dtype=np.uint16)
    with h5py.File(p, "w") as f:
        f.create_dataset("x", data=data, chunks=data.shape, fletcher32=True)
    with h5py.File(p) as f:
        _fm, raw = f["x"].id.read_direct_chunk((0, 0))
    assert len(raw) - 4 > 32 * 2**20
    assert F.fletcher32(memoryview(raw)[:-4]) == int.from_bytes(raw[-4:], "little")


@pytest.mark.parametrize("pages", [1, 3])
def test_v73_verasonics_buffers_through_the_chunk_reader(tmp_path, pages):
    """IQData{n} cells (4-D, referenced from #refs#) stored chunked + gzip, pages or frames."""
    buf = _iq((12, 10, pages, 9), "complex64", seed=16)
    p = tmp_path / "ws.mat"
    write_matlab_h5(p, [np.zeros_like(buf), buf],
                    iq_options=dict(chunks=(4, 1, 5, 7), compression="gzip", compression_opts=3))
    with h5py.File(p) as f:
        ds = f[f["IQData"][1, 0]]
        assert ds.shape == (9, pages, 10, 12) and pio.h5_read_path(ds).startswith("chunks: deflate")
    info = pio.inspect(p, "IQData{2}")
    frames = buf.reshape(12, 10, -1, order="F")
    assert info.shape == frames.shape
    for a, b in ((0, frames.shape[2]), (1, 2), (2, frames.shape[2] - 1)):
        assert _same_bytes(pio.read_frames(info, a, b), frames[:, :, a:b]), (a, b)


def test_v73_chunk_reader_stops_all_threads_on_corrupt_data(tmp_path, monkeypatch):
    """After one thread meets a corrupt chunk the others decode no more than a chunk or two each."""
    iq = _iq((10, 10, 400), "complex64", seed=17)
    p = write_mat73_iq(tmp_path / "bad.mat", iq, chunks=(2, 10, 10), compression="gzip")  # 200 chunks
    addr, size, ub = _chunk_location(p, (0, 0, 0))
    with open(p, "rb") as fh:
        fh.seek(addr)
        if fh.read(1) != b"\x78":  # HDF5 < 1.14.4: the address leaves out the user block
            addr += ub
    _patch(p, addr + 2, b"\xff" * 16)  # break the first chunk's deflate stream
    monkeypatch.setattr(R, "n_threads", lambda: 3)
    decoded = []
    real_decode = R.ChunkRead.decode

    def slow_decode(self, raw, mask, origin, *args):  # 2 ms a chunk: 200 chunks take >= 130 ms
        decoded.append(origin)
        if origin != (0, 0, 0):
            time.sleep(0.002)
        return real_decode(self, raw, mask, origin, *args)

    monkeypatch.setattr(R.ChunkRead, "decode", slow_decode)
    with pytest.raises(FormatError, match="cannot inflate the chunk at \\(0, 0, 0\\)"):
        pio.read_frames(pio.inspect(p), 0, 400)
    assert (0, 0, 0) in decoded and len(decoded) < 100, len(decoded)
