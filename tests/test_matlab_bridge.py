"""Contract tests of pyulm.matlab_bridge: exactly what MATLAB's py.* and the file transport pass.

MATLAB (R2018b+) passes N-D numeric arrays as column-major memoryviews, 1xN real
vectors as array.array, structs as dicts, 1x1 values as Python scalars, char as
str. The MATLAB wrapper tags arrays with their MATLAB size and class
({'pyulm_kind': 'array', 'data', 'shape', 'dtype'}) and splits complex arrays.
The file transport carries MAT v5 (-v6) files; here they are written by scipy
the way MATLAB/Octave write them (complex split, structs, cells).
"""
from __future__ import annotations

import array
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import pyulm
from pyulm import matlab_bridge as mb
from pyulm.matlab.functions import transport_probe
from pyulm.matlab.server import file_outputs
from pyulm import pala
from pyulm.tables import Localizations, Tracks

ROOT = Path(__file__).resolve().parents[1]


def fmem(a):
    """What MATLAB passes for a matrix: a memoryview of its column-major buffer."""
    return memoryview(np.asfortranarray(a))


def tagged(a):
    a = np.asarray(a)
    if np.iscomplexobj(a):
        return {"pyulm_kind": "complex", "re": fmem(a.real), "im": fmem(a.imag), "shape": array.array("d", a.shape)}
    return {"pyulm_kind": "array", "data": fmem(a) if a.ndim > 1 else array.array("d", a.ravel()),
            "shape": array.array("d", a.shape if a.ndim > 1 else (1, a.size)), "dtype": str(a.dtype)}


def test_f_ordered_memoryview_is_zero_copy_and_same_index_order():
    a = np.asfortranarray(np.arange(24.0).reshape(2, 3, 4))
    mv = memoryview(a)
    out = mb.from_matlab(mv)
    assert out.shape == (2, 3, 4) and out[1, 2, 3] == a[1, 2, 3]
    assert np.shares_memory(out, a)
    t = mb.from_matlab({"pyulm_kind": "array", "data": mv, "shape": array.array("d", [2, 3, 4]), "dtype": "float64"})
    assert np.shares_memory(t, a) and t.flags.f_contiguous


def test_array_array_row_vector_gets_its_matlab_shape_back():
    v = array.array("d", [5.0, 800.0])
    assert mb.from_matlab(v).shape == (2,)
    t = mb.from_matlab({"pyulm_kind": "array", "data": v, "shape": array.array("d", [1, 2]), "dtype": "float64"})
    assert t.shape == (1, 2) and t.tolist() == [[5.0, 800.0]]


@pytest.mark.parametrize("value,expected", [(3.0, 3.0), (True, True), ("radial", "radial"), (2 + 1j, 2 + 1j)])
def test_scalars_and_char(value, expected):
    assert mb.from_matlab(value) == expected


def test_one_by_one_arrays_become_scalars_of_the_class():
    assert mb.from_matlab(np.array([[7]], dtype=np.int16)) == 7
    assert isinstance(mb.from_matlab(np.array([[7]], dtype=np.int16)), int)
    assert mb.from_matlab(np.array([[True]])) is True
    assert isinstance(mb.from_matlab(tagged(np.array([[2.5]]))), float)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                                   "float32", "bool"])
def test_integer_logical_single_classes_keep_dtype(dtype):
    a = (np.arange(12).reshape(3, 4) % 2).astype(dtype)
    out = mb.from_matlab(tagged(a))
    assert out.dtype == np.dtype(dtype) and np.array_equal(out, a)


def test_complex_parts_recombined_in_class():
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((4, 5, 6)) + 1j * rng.standard_normal((4, 5, 6))).astype(np.complex64)
    out = mb.from_matlab(tagged(a))
    assert out.dtype == np.complex64 and np.array_equal(out, a)


def test_struct_dict_fields_and_row_vectors_become_1d():
    ulm = mb.from_matlab({"fwhm": tagged(np.array([[3.0, 3.0]])), "numberOfParticles": 70.0, "LocMethod": "wa",
                          "parameters": {"NLocalMax": 3.0}})
    assert ulm["fwhm"].shape == (2,) and ulm["parameters"]["NLocalMax"] == 3.0 and ulm["LocMethod"] == "wa"


def test_cells_keep_2d_tracks():
    cell = {"pyulm_kind": "cell", "items": [tagged(np.array([[1.0, 2.0, 3.0]])), tagged(np.ones((2, 3)))],
            "shape": array.array("d", [2, 1])}
    out = mb.from_matlab(cell)
    assert [t.shape for t in out] == [(1, 3), (2, 3)]


def test_call_py_transport_matches_pala_and_returns_tagged_values():
    rng = np.random.default_rng(1)
    iq = rng.standard_normal((8, 9, 20)) + 1j * rng.standard_normal((8, 9, 20))
    r = mb.call("SVDfilter", [tagged(iq), tagged(np.array([[5.0, 20.0]]))], {}, 1, pyulm.__version__)
    assert r["ok"], r
    out = r["out"][0]
    assert out["pyulm_kind"] == "complex" and out["shape"] == [8.0, 9.0, 20.0]
    np.testing.assert_allclose(out["re"] + 1j * out["im"], pala.SVDfilter(iq, [5, 20]))


def test_call_errors_come_back_as_data():
    r = mb.call("SVDfilter", [tagged(np.ones((3, 3, 4))), 0.0], {}, 1, pyulm.__version__)
    assert not r["ok"] and r["err_type"] == "ValueError" and "cutoff" in r["err_msg"]
    r = mb.call("os.system", ["echo no"], {}, 1, pyulm.__version__)
    assert r["err_type"] == "BridgeError" and "unknown function" in r["err_msg"]
    r = mb.call("info", [], {}, 1, "0.0.0-other")
    assert r["err_type"] == "VersionMismatch" and "pip install pyulm==0.0.0-other" in r["err_msg"]
    r = mb.call("metrics.__class__", [], {}, 1, None)
    assert r["err_type"] == "BridgeError"


def test_nargout_and_tuples():
    outs = mb.call_python("butter_coefficients", [array.array("d", [50, 249]), 1000.0, 2.0], {}, 2)
    assert len(outs) == 2
    with pytest.raises(ValueError, match="too many output"):
        mb.call_python("SVDfilter", [np.ones((3, 3, 8)), 5.0], {}, 2)
    T = [np.array([[1.2, 1.6, 1.0, 0.0], [1.4, 1.4, 1.0, 0.0]])]
    one = mb.call_python("ULM_Track2MatOut", [T, np.array([[3.0, 3.0]]), "2D_velmean"], {}, 1)
    two = mb.call_python("ULM_Track2MatOut", [T, np.array([[3.0, 3.0]]), "2D_velmean"], {}, 2)
    assert np.array_equal(one[0], two[1]) and two[0].sum() == 2


def test_tables_round_trip_one_based():
    locs = Localizations(z=[0.5, 2.0], x=[1.0, 3.5], frame=[0, 1], intensity=[1.0, 2.0])
    m = mb.to_matlab(locs)
    assert m["pyulm_type"] == "Localizations" and m["z"].ravel().tolist() == [1.5, 3.0]
    assert m["frame"].ravel().tolist() == [1.0, 2.0]
    back = mb.from_matlab(m)
    assert isinstance(back, Localizations) and back.frame.tolist() == [0, 1] and back.x.tolist() == [1.0, 3.5]
    tr = Tracks.from_list([np.array([[0.0, 1.0, 0.0, 5.0]])], columns=("z", "x", "frame", "vz"))
    m = mb.to_matlab(tr)
    assert m["tracks"][0, 0].tolist() == [[1.0, 2.0, 1.0, 5.0]]
    back = mb.from_matlab({"pyulm_type": "Tracks", "tracks": [m["tracks"][0, 0]], "columns": list(tr.columns),
                           "meta": m["meta"]})
    assert np.array_equal(back.points, tr.points)


def test_to_matlab_shapes_lists_and_none():
    assert mb.to_matlab(np.arange(3)).shape == (3, 1)
    c = mb.to_matlab([np.ones((2, 2)), "a"])
    assert c.shape == (2, 1) and c.dtype == object
    assert mb.to_matlab(None).shape == (0, 0)
    t = mb.to_matlab([1.0, None], tagged=True)
    assert t["pyulm_kind"] == "cell" and t["items"][1] == {"pyulm_kind": "empty"}
    with pytest.raises(TypeError):
        mb.to_matlab(object())


def _request(path, func, args, **extra):
    """A request file as the MATLAB side writes it (complex split into re/im)."""
    cell = np.empty((1, len(args)), dtype=object)
    for i, a in enumerate(args):
        cell[0, i] = a
    req = {"protocol": 1.0, "wrapper_version": pyulm.__version__, "func": func, "nargout": 1.0, "args": cell,
           "kwargs": {}, "npy_threshold": float(2**31 - 1024)}
    req.update(extra)
    scipy.io.savemat(path, req, format="5", do_compression=False)


def test_file_transport_complex_and_class(tmp_path):
    rng = np.random.default_rng(2)
    iq = rng.standard_normal((6, 7, 12)) + 1j * rng.standard_normal((6, 7, 12))
    req, res = tmp_path / "req uest's.mat", tmp_path / "res ponse.mat"
    # a MATLAB double [5 12] may be stored as uint8 in the file: mat_dtype restores double
    _request(req, "SVDfilter", [{"pyulm_kind": "complex", "re": iq.real, "im": iq.imag, "shape": [6.0, 7.0, 12.0]},
                                np.array([[5, 12]], dtype=np.uint8)])
    assert mb.main([str(req), str(res)]) == 0
    r = scipy.io.loadmat(res)
    assert r["ok"].item() == 1
    np.testing.assert_allclose(r["out"][0, 0], pala.SVDfilter(iq, [5, 12]))


def test_file_transport_reports_errors_and_version(tmp_path):
    req, res = tmp_path / "req.mat", tmp_path / "res.mat"
    _request(req, "SVDfilter", [np.ones((3, 3, 4)), np.array([[0.0]])])
    mb.serve_file(req, res)
    r = scipy.io.loadmat(res, squeeze_me=True)
    assert r["ok"] == 0 and r["err_type"] == "ValueError" and "cutoff" in r["err_msg"]
    _request(req, "info", [], wrapper_version="9.9.9")
    mb.serve_file(req, res)
    r = scipy.io.loadmat(res, squeeze_me=True)
    assert r["err_type"] == "VersionMismatch"


def test_file_transport_npy_both_ways(tmp_path):
    a = np.asfortranarray(np.arange(60, dtype=np.int16).reshape(3, 4, 5))
    npy = tmp_path / "arg_1.npy"
    np.save(npy, a)
    req, res = tmp_path / "req.mat", tmp_path / "res.mat"
    _request(req, "echo", [{"pyulm_kind": "npy", "path": str(npy)}], npy_threshold=10.0)
    mb.serve_file(req, res)
    r = scipy.io.loadmat(res, struct_as_record=False, squeeze_me=True)
    assert r["ok"] == 1 and r["out"].pyulm_kind == "npy"
    back = np.load(r["out"].path)
    assert back.dtype == np.int16 and np.array_equal(back, a) and back.flags.f_contiguous


def test_command_line_usage():
    proc = subprocess.run([sys.executable, "-m", "pyulm.matlab_bridge"], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_bridge_import_is_light():
    # the file transport starts Python on every call: transport work imports numpy only
    code = ("import sys, pyulm.matlab_bridge as b; b.call_python('echo', [1.0]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'torch', 'h5py', 'dask') or m in "
            "('pyulm.filtering', 'pyulm.localization', 'pyulm.tables', 'dataclasses')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_command_line_serves_a_request_and_exits_cleanly(tmp_path):
    import pyulm.io as pio

    req, res = tmp_path / "request.mat", tmp_path / "response.mat"
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = np.arange(6.0).reshape(2, 3), "text"
    pio.save_mat(req, {"protocol": 1.0, "wrapper_version": pyulm.__version__, "func": "echo", "nargout": 2.0,
                      "args": cell, "kwargs": {}})
    proc = subprocess.run([sys.executable, "-m", "pyulm.matlab_bridge", str(req), str(res)], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    r = pio.read_mat(res)
    assert r["ok"][0, 0] and r["out"][0, 0].tolist() == [[0, 1, 2], [3, 4, 5]] and r["out"][0, 1] == "text"
    assert sorted(os.listdir(tmp_path)) == ["request.mat", "response.mat"]  # no .part file left


def test_transport_probe_reports_bytes_and_making_time():
    assert transport_probe(np.ones((4, 5), np.float32), np.ones(3)) == 4 * 5 * 4 + 3 * 8
    x = transport_probe(make=np.array([[3.0, 4.0, 2.0]]))
    assert x.shape == (3, 4, 2) and x.dtype == np.complex64 and x.flags.f_contiguous and np.all(x == 1 + 2j)
    y, made = mb.call_python("transport_probe", [], {"make": np.array([[2.0, 2.0]]), "dtype": "float64"}, 2)
    assert y.shape == (2, 2) and y.dtype == np.float64 and 0 <= made < 5


def test_wrapper_version_matches_package():
    text = (ROOT / "matlab_interop" / "+pyulm" / "+internal" / "wrapper_version.m").read_text()
    assert f"v = '{pyulm.__version__}';" in text


def test_every_bridge_function_has_a_resolvable_target():
    import importlib.util

    for name, (module, attr) in mb.FUNCTIONS.items():
        if importlib.util.find_spec(module) is None:
            continue
        assert callable(mb.resolve(name)), name


def _beside_python(tool: str) -> str | None:
    """A console script of this Python's environment (its bin/ is not on PATH under `make test`), else PATH's."""
    here = Path(sys.executable).parent / tool
    return str(here) if here.is_file() and os.access(here, os.X_OK) else shutil.which(tool)


@pytest.mark.parametrize("tool", ["mh_lint", "mh_style"])
def test_miss_hit_clean(tool):
    exe = _beside_python(tool)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is neither beside {sys.executable} nor on PATH, but CI must run it")
        pytest.skip("MISS_HIT is not installed (pip install miss_hit)")
    proc = subprocess.run([exe, "."], cwd=ROOT / "matlab_interop", capture_output=True, text=True)
    assert proc.returncode == 0 and "everything seems fine" in proc.stdout, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------
# Side files (file transport, arrays of side_threshold bytes or more)
# ---------------------------------------------------------------------------
def _odd_arrays():
    """Classes, shapes and memory layouts a side file must carry bit for bit."""
    rng = np.random.default_rng(7)
    iq = (rng.standard_normal((6, 5, 7)) + 1j * rng.standard_normal((6, 5, 7))).astype(np.complex64)
    special = np.array([[np.nan, -0.0, np.inf, -np.inf, 5e-324, 1.0]])
    special[0, 0] = np.frombuffer(np.uint64(0x7FF8000000000123).tobytes(), np.float64)[0]  # a NaN payload
    return {
        "complex64 F": np.asfortranarray(iq),
        "complex64 C": np.ascontiguousarray(iq),
        "complex128 sliced": (rng.standard_normal((9, 8)) + 1j * rng.standard_normal((9, 8)))[::-2, 1::3],
        "float64 F": np.asfortranarray(rng.standard_normal((4, 3, 2, 5))),
        "float64 transposed": rng.standard_normal((3, 7)).T,
        "float32 real part": iq.real,
        "float64 special": special,
        "float64 column": rng.standard_normal((11, 1)),
        "float64 1-D": rng.standard_normal(5),
        "bool": rng.random((5, 3)) > 0.5,
        "int8": np.arange(-6, 6, dtype=np.int8).reshape(3, 4),
        "uint16 C": np.arange(24, dtype=np.uint16).reshape(2, 3, 4),
        "int32": np.array([[-(2**31), 2**31 - 1]], dtype=np.int32),
        "uint64": np.array([[0, 2**64 - 1, 2**63 + 5]], dtype=np.uint64),
        "int64": np.array([[-(2**63), 2**62]], dtype=np.int64),
        "empty 0x3": np.zeros((0, 3)),
        "empty complex 3x0x2": np.zeros((3, 0, 2), np.complex64),
        "1x1": np.array([[2.5]]),
    }


def _same_bits(a, b):
    a2 = a.reshape(a.shape + (1,) * (2 - a.ndim))
    return (b.dtype == a.dtype and b.shape == a2.shape
            and np.asfortranarray(a2).tobytes(order="F") == np.asfortranarray(b).tobytes(order="F"))


@pytest.mark.parametrize("fmt", ["mat", "octave"])
@pytest.mark.parametrize("name", list(_odd_arrays()))
def test_side_file_round_trip_bit_identical(tmp_path, fmt, name):
    a = _odd_arrays()[name]
    path = tmp_path / "x.side"
    used = mb.write_side(path, a, fmt)
    assert used == ("octave" if fmt == "octave" and a.dtype.kind in "fc" else "mat")
    b = mb.read_side(path)
    assert _same_bits(a, b), (name, b.dtype, b.shape)
    if b.size and (used == "octave" or a.dtype.kind != "c"):
        assert not b.flags.writeable  # mapped, read-only: the file's data are not copied
    if used == "octave" and b.size:
        assert b.ctypes.data % 32 == 0


@pytest.mark.parametrize("name", ["complex64 F", "complex128 sliced", "float64 special", "bool", "uint16 C",
                                  "int64", "empty 0x3"])
def test_side_mat_files_are_standard_mat_files(tmp_path, name):
    """What the bridge writes for MATLAB is read back by an independent MAT reader (scipy)."""
    a = _odd_arrays()[name]
    path = tmp_path / "x.mat"
    mb.write_side(path, a, "mat")
    b = scipy.io.loadmat(path)["x"]
    if a.dtype == bool:
        b = b.astype(bool)  # scipy reads MATLAB logical arrays as uint8
    assert _same_bits(a, b)


@pytest.mark.parametrize("layout", ["transposed", "strided", "reversed"])
def test_side_writer_writes_large_arrays_of_any_layout(tmp_path, layout):
    """Blocks of several write chunks in non-contiguous layouts: still column-major, complete, bit-identical."""
    rng = np.random.default_rng(7)
    base = (rng.standard_normal((700, 520, 6)) + 1j * rng.standard_normal((700, 520, 6))).astype(np.complex64)
    a = {"transposed": base.transpose(1, 0, 2), "strided": base[::2, 1::2], "reversed": base[::-1, :, ::-1]}[layout]
    assert not a.flags.f_contiguous and a.nbytes > 2**22
    for fmt in ("mat", "octave"):
        mb.write_side(tmp_path / "x.side", a, fmt)
        assert _same_bits(a, mb.read_side(tmp_path / "x.side"))
    mb.write_npy(tmp_path / "x.npy", a)
    b = np.load(tmp_path / "x.npy")
    assert _same_bits(a, b) and b.flags.f_contiguous


def _mat_element(mtype, payload, small=False):
    order = "<"
    if small:
        return np.array([mtype | (len(payload) << 16)], order + "u4").tobytes() + payload.ljust(4, b"\0")
    return np.array([mtype, len(payload)], order + "u4").tobytes() + payload + bytes(-len(payload) % 8)


def _mat_file(cls, dims, data_type, data, flags_extra=0, small_data=False):
    flags = _mat_element(6, np.array([cls | flags_extra, 0], "<u4").tobytes())
    body = (flags + _mat_element(5, np.array(dims, "<i4").tobytes()) + _mat_element(1, b"IQ", small=True)
            + _mat_element(data_type, data, small=small_data))
    head = b"MATLAB 5.0 MAT-file".ljust(116, b" ") + bytes(8) + b"\x00\x01IM"
    return head + np.array([14, len(body)], "<u4").tobytes() + body


def test_side_reader_restores_the_class_of_matlab_compressed_doubles(tmp_path):
    """MATLAB stores integer-valued doubles as small integers and tiny data in 'small elements'."""
    p = tmp_path / "x.mat"
    p.write_bytes(_mat_file(6, [2, 3], 2, bytes([1, 2, 3, 250, 0, 7])))  # double class, uint8 data
    b = mb.read_side(p)
    assert b.dtype == np.float64 and b.tolist() == [[1.0, 3.0, 0.0], [2.0, 250.0, 7.0]]
    p.write_bytes(_mat_file(7, [1, 1], 7, np.float32(1.5).tobytes(), small_data=True))  # single, small element
    b = mb.read_side(p)
    assert b.dtype == np.float32 and b.tolist() == [[1.5]]
    assert scipy.io.loadmat(p)["IQ"].tolist() == [[1.5]]  # the crafted files are valid MAT files


@pytest.mark.parametrize("content,match", [
    (b"", "not a MAT v5 file"),
    (b"\x1f\x8b" + bytes(200), "not a MAT v5 file"),
    (b"MATLAB 5.0".ljust(124, b" ") + b"\x00\x01IM" + np.array([15, 8], "<u4").tobytes() + bytes(8), "compressed"),
    (b"Octave-1-L\x00" + np.array([1], "<i4").tobytes() + b"x" + bytes(4) + b"\x00\xff"
     + np.array([5], "<i4").tobytes() + b"range", "unsupported Octave type"),
])
def test_side_reader_rejects_other_files(tmp_path, content, match):
    p = tmp_path / "x.side"
    p.write_bytes(content)
    with pytest.raises(mb.BridgeError, match=match):
        mb.read_side(p)


def test_side_reader_rejects_truncated_data(tmp_path):
    p = tmp_path / "x.side"
    mb.write_side(p, np.ones((100, 10)), "mat")
    full = p.read_bytes()
    p.write_bytes(full[:-800])
    with pytest.raises(mb.BridgeError, match="truncated|past the end"):
        mb.read_side(p)
    mb.write_side(p, np.ones((100, 10)), "octave")
    p.write_bytes(p.read_bytes()[:-8])
    with pytest.raises(mb.BridgeError, match="truncated"):
        mb.read_side(p)


def _octave_var(name: bytes, data: np.ndarray, save_type: int, stored: str) -> bytes:
    i4 = lambda *v: np.asarray(v, "<i4").tobytes()  # noqa: E731
    return (i4(len(name)) + name + i4(0) + b"\x00\xff" + i4(12) + b"float matrix" + i4(-data.ndim)
            + i4(*data.shape) + bytes([save_type]) + data.astype(stored).tobytes(order="F"))


@pytest.mark.parametrize("order", ["im first", "re first"])
def test_side_reader_combines_octave_complex_single_planes(tmp_path, order):
    """Octave sends complex single data as two float matrices re..., im... (any order, any stored type)."""
    rng = np.random.default_rng(5)
    z = (rng.standard_normal((5, 4, 3)) + 1j * rng.integers(-3, 4, (5, 4, 3))).astype(np.complex64)
    re = _octave_var(b"re___", z.real, 6, "<f4")
    im = _octave_var(b"im_", z.imag, 3, "i1")  # integer-valued: Octave may store them as int8
    body = im + re if order == "im first" else re + im
    p = tmp_path / "x.side"
    p.write_bytes(b"Octave-1-L\x00" + body)
    back = mb.read_side(p)
    assert back.dtype == np.complex64 and back.flags.f_contiguous and _same_bits(z, back)
    p.write_bytes(b"Octave-1-L\x00" + re + _octave_var(b"xx", z.imag, 6, "<f4"))
    with pytest.raises(mb.BridgeError, match=r"found \['re___', 'xx'\]"):
        mb.read_side(p)


@pytest.mark.skipif(shutil.which("octave-cli") is None, reason="octave-cli not installed")
def test_octave_writes_complex_single_side_files_python_reads_them_bit_exact(tmp_path):
    script = tmp_path / "w.m"
    script.write_text(f"""
addpath('{ROOT / "matlab_interop"}');
rand('seed', 3);
x = complex(single(rand(70, 90, 3)), single(round(10 * rand(70, 90, 3))));
x(1, 1, 1) = complex(single(NaN), single(-Inf));
fmt = pyulm.internal.write_side('{tmp_path / "x.side"}', x, 'octave');
assert(strcmp(fmt, 'octave'));
y = pyulm.internal.read_side('{tmp_path / "x.side"}', fmt);
assert(isequaln(y, x) && isa(y, 'single') && ~isreal(y));
save('-v6', '{tmp_path / "ref.mat"}', 'x');
""")
    proc = subprocess.run(["octave-cli", "--no-gui", "--norc", "-q", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ref = scipy.io.loadmat(tmp_path / "ref.mat")["x"]
    back = mb.read_side(tmp_path / "x.side")
    assert back.dtype == np.complex64 and _same_bits(ref, back)
    raw = (tmp_path / "x.side").read_bytes()
    first = 11 + 4 + int(np.frombuffer(raw[11:15], "<i4")[0]) + 4 + 2 + 4 + 12 + 4 + 3 * 4 + 1
    second = first + 4 * 70 * 90 * 3
    second += 4 + int(np.frombuffer(raw[second:second + 4], "<i4")[0]) + 4 + 2 + 4 + 12 + 4 + 3 * 4 + 1
    assert first % 32 == 0 and second % 32 == 0  # both planes' data start on a 32-byte boundary


@pytest.mark.parametrize("side_format", ["mat", "octave"])
def test_file_transport_side_files_both_ways(tmp_path, side_format):
    """Arguments in side files (as MATLAB/Octave write them) and results in side files, bit-identical."""
    rng = np.random.default_rng(3)
    iq = np.asfortranarray((rng.standard_normal((20, 30, 40)) + 1j * rng.standard_normal((20, 30, 40)))
                           .astype(np.complex64))
    real = np.asfortranarray(rng.standard_normal((20, 30, 40)))
    mask = rng.random((50, 60)) > 0.3
    small = np.ones((2, 2))
    args = []
    for k, a in enumerate((iq, real, mask)):
        path = tmp_path / f"arg_{k}.side"
        fmt = mb.write_side(path, a, side_format)
        args.append({"pyulm_kind": "side", "path": str(path), "format": fmt})
    args.append(small)
    req, res = tmp_path / "request.mat", tmp_path / "response.mat"
    _request(req, "echo", args, nargout=4.0, side_threshold=1000.0, side_format=side_format)
    assert mb.main([str(req), str(res)]) == 0
    r = scipy.io.loadmat(res, struct_as_record=False, squeeze_me=True)
    assert r["ok"] == 1, r.get("err_msg")
    out = r["out"]
    for marker, a in zip(out[:3], (iq, real, mask)):
        assert marker.pyulm_kind == "side"
        expected = "octave" if side_format == "octave" and a.dtype.kind in "fc" else "mat"
        assert marker.format == expected and Path(marker.path).parent == tmp_path
        assert _same_bits(a, mb.read_side(marker.path))
    assert np.array_equal(out[3], small)  # below the threshold: in the envelope


def test_file_transport_without_side_threshold_keeps_arrays_in_the_envelope(tmp_path):
    """A request that does not ask for side files (older wrapper) gets none."""
    a = np.arange(40000.0).reshape(200, 200)
    req, res = tmp_path / "request.mat", tmp_path / "response.mat"
    _request(req, "echo", [a])
    mb.serve_file(req, res)
    r = scipy.io.loadmat(res)
    assert np.array_equal(r["out"][0, 0], a) and sorted(p.name for p in tmp_path.iterdir()) == [
        "request.mat", "response.mat"]


def test_file_outputs_npy_complex_planes_from_any_layout(tmp_path):
    rng = np.random.default_rng(4)
    a = (rng.standard_normal((30, 20)) + 1j * rng.standard_normal((30, 20))).astype(np.complex64)[::2].T
    marker = file_outputs(a, str(tmp_path), [0], threshold=100)
    assert marker["pyulm_kind"] == "complex"
    re, im = np.load(marker["re"]["path"]), np.load(marker["im"]["path"])
    assert re.flags.f_contiguous and _same_bits(np.ascontiguousarray(a.real), re) and np.array_equal(im, a.imag)


def test_process_returns_one_based_mattracking_and_palas_tracks():
    """pyulm.process from MATLAB: MatTracking as ULM_localization2D returns it; frame rate from ULM.scale(3)."""
    import scipy.io as sio

    src = sio.loadmat(ROOT / "pyulm" / "data" / "example_block.mat", simplify_cells=True)
    iq = src["IQ"][:, :, :60].astype(np.complex128)
    fr = float(src["UF"]["FrameRateUF"])
    ulm = {"numberOfParticles": 40.0, "fwhm": np.array([3.0, 3.0]), "size": np.array(iq.shape, float),
           "scale": np.array([1.0, 1.0, 1.0 / fr]), "res": 10.0, "max_linking_distance": 2.0, "max_gap_closing": 0.0,
           "min_length": 10.0, "SVD_cutoff": np.array([5.0, 60.0]), "LocMethod": "radial",
           "parameters": {"NLocalMax": 3.0}, "ButterCuttofFreq": np.array([50.0, 249.0])}
    (r,) = mb.call_python("process", [iq, ulm])
    from pyulm.filtering import filter_block

    expected = pala.ULM_localization2D(np.abs(filter_block(iq, [5, 60], [50, 249], fr)), ulm)
    assert np.allclose(r["MatTracking"], expected, atol=1e-9)
    assert len(r["tracks"]) > 0 and r["tracks"][0].shape[1] == 5


def test_pala_console_lines_travel_in_the_response_and_can_be_switched_off(tmp_path):
    tracks = np.empty((1, 1), dtype=object)
    tracks[0, 0] = np.array([[1.2, 1.6], [1.4, 1.4], [2.5, 2.5]])
    for on in (True, False):
        req, res = tmp_path / f"req{on}.mat", tmp_path / f"res{on}.mat"
        _request(req, "ULM_Track2MatOut", [tracks, np.array([[3.0, 3.0]])], pala_messages=on)
        mb.serve_file(req, res)
        r = scipy.io.loadmat(res, squeeze_me=True)
        assert r["ok"] == 1, r.get("err_msg")
        assert ("Building 2D ULM image" in str(r["stdout"])) == on
