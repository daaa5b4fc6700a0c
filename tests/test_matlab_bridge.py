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
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import pyulm
from pyulm import matlab_bridge as mb
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
    assert not r["ok"] and r["err_type"] == "ValueError" and "SVD_cutoff" in r["err_msg"]
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
    assert r["ok"] == 0 and r["err_type"] == "ValueError" and "SVD_cutoff" in r["err_msg"]
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
    code = "import sys, pyulm.matlab_bridge; print('scipy.io' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_wrapper_version_matches_package():
    text = (ROOT / "matlab_interop" / "+pyulm" / "+internal" / "wrapper_version.m").read_text()
    assert f"v = '{pyulm.__version__}';" in text


def test_every_bridge_function_has_a_resolvable_target():
    import importlib.util

    for name, (module, attr) in mb.FUNCTIONS.items():
        if importlib.util.find_spec(module) is None:
            continue
        assert callable(mb.resolve(name)), name


@pytest.mark.skipif(shutil.which("mh_lint") is None or shutil.which("mh_style") is None,
                    reason="MISS_HIT is not installed (pip install miss_hit)")
@pytest.mark.parametrize("tool", ["mh_lint", "mh_style"])
def test_miss_hit_clean(tool):
    proc = subprocess.run([tool, "."], cwd=ROOT / "matlab_interop", capture_output=True, text=True)
    assert proc.returncode == 0 and "everything seems fine" in proc.stdout, proc.stdout + proc.stderr
