"""pyulm.io._mat5, the numpy-only MAT v5 codec (envelopes, side files, users' v5 files).

Checked against scipy.io (both directions) and against GNU Octave's own
``save -v6`` / ``save -v7`` and ``load``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.io

from pyulm.io import _mat5
from pyulm.io._mat5 import MatFileError

OCTAVE = shutil.which("octave-cli")
rng = np.random.default_rng(7)


def obj(*items, shape=None):
    a = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        a[i] = v
    return a.reshape(shape or (len(items), 1), order="F")


NUMERIC = {
    "d": rng.random((3, 4)),
    "s": rng.random((2, 5)).astype(np.float32),
    "cd": rng.random((3, 2)) + 1j * rng.random((3, 2)),
    "cs": (rng.random((4, 3, 2)) + 1j * rng.random((4, 3, 2))).astype(np.complex64),
    "nd": rng.random((2, 3, 4, 2)),
    "i8": np.array([[-128, 0, 127]], np.int8),
    "u8": np.array([[0, 255]], np.uint8),
    "i16": np.array([[-32768, 5]], np.int16),
    "u16": np.array([[65535]], np.uint16),
    "i32": np.array([[-2**31, 2**31 - 1]], np.int32),
    "u32": np.array([[2**32 - 1]], np.uint32),
    "i64": np.array([[-2**63, 2**63 - 1]], np.int64),
    "u64": np.array([[2**64 - 1]], np.uint64),
    "b": np.array([[True, False, True]]),
    "empty": np.zeros((0, 0)),
    "empty3": np.zeros((0, 3, 2), np.float32),
    "inf": np.array([[np.inf, -np.inf, np.nan]]),
}


def assert_same(a, b, path="value"):
    if isinstance(a, (float, int, bool)) and not isinstance(a, np.ndarray):
        a = np.array([[a]])
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert isinstance(b, np.ndarray) and b.dtype == object and a.shape == b.shape, path
        for i, (x, y) in enumerate(zip(a.ravel(order="F"), b.ravel(order="F"))):
            assert_same(x, y, f"{path}{{{i + 1}}}")
    elif isinstance(a, str):
        assert a == b, path
    else:
        assert isinstance(b, np.ndarray), (path, type(b))
        assert a.dtype == b.dtype and a.shape == b.shape, (path, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=path)


def scipy_to_plain(v):
    """scipy.io.loadmat(squeeze_me=False, struct_as_record=False, mat_dtype=True) -> _mat5's conventions."""
    if isinstance(v, scipy.io.matlab.mat_struct):
        return {k: scipy_to_plain(getattr(v, k)) for k in v._fieldnames}
    if isinstance(v, np.ndarray) and v.dtype == object:
        items = [scipy_to_plain(x) for x in v.ravel(order="F")]
        if items and all(isinstance(x, dict) for x in items) and isinstance(v.ravel()[0], scipy.io.matlab.mat_struct):
            if len(items) == 1:
                return items[0]
        return obj(*items, shape=v.shape)
    if isinstance(v, np.ndarray) and v.dtype.kind == "U":
        return "".join(v.ravel().tolist()) if v.size <= 1 else v
    return v


def test_numeric_classes_round_trip_and_match_scipy(tmp_path):
    p = tmp_path / "n.mat"
    _mat5.write(p, NUMERIC)
    mine = _mat5.read(p)
    theirs = scipy.io.loadmat(p, squeeze_me=False)  # mat_dtype=True would drop imaginary parts (scipy#17641)
    for k, v in NUMERIC.items():
        assert_same(v, mine[k], k)
        np.testing.assert_array_equal(theirs[k], v, err_msg=k)
        assert theirs[k].shape == v.shape, k
        assert theirs[k].dtype == (np.uint8 if v.dtype == bool else v.dtype), k  # scipy: logical as uint8
    assert mine["d"].flags.writeable and mine["d"].flags.f_contiguous


def test_containers_and_text_match_scipy(tmp_path):
    value = {
        "text": "héllo ∑ 🙂",
        "empty_text": "",
        "cell": obj(1.0, "two", obj(np.arange(3.0).reshape(1, 3)), {"a": 1.0}),
        "cell_2x2": obj("a", "b", "c", "d", shape=(2, 2)),
        "nested": {"inner": {"deep": np.ones((2, 2), np.int32), "flag": True}, "name": "x"},
        "no_fields": {},
        "lst": [1.0, "two", [3.0]],
        "none": None,
        "scalar": 2.5,
        "cplx": 1 - 2j,
        "big": 2**60,
        "nan": float("nan"),
        "vec": np.arange(4.0),  # 1-D becomes a column
    }
    p = tmp_path / "c.mat"
    _mat5.write(p, {"v": value})
    mine = _mat5.read(p)["v"]
    assert mine["text"] == "héllo ∑ 🙂" and mine["empty_text"] == ""
    assert_same(value["cell"], mine["cell"])
    assert_same(value["cell_2x2"], mine["cell_2x2"])
    assert mine["nested"]["inner"]["flag"].dtype == bool
    assert mine["no_fields"] == {}
    assert_same(obj(np.array([[1.0]]), "two", obj(np.array([[3.0]]))), mine["lst"])
    assert mine["none"].shape == (0, 0)
    assert mine["cplx"].dtype == np.complex128 and mine["cplx"][0, 0] == 1 - 2j
    assert mine["big"].dtype == np.int64 and mine["big"][0, 0] == 2**60
    assert mine["vec"].shape == (4, 1)
    # scipy decodes uint16 char data with a byte codec (its uint16_codec), MATLAB (and Octave, and
    # this reader) as UTF-16 units: compare with scipy on ASCII text (non-ASCII: above and test_octave_*)
    value["text"] = "hello"
    _mat5.write(p, {"v": value})
    mine = _mat5.read(p)["v"]
    theirs = scipy_to_plain(scipy.io.loadmat(p, squeeze_me=False, struct_as_record=False)["v"])
    for k in value:
        if k != "nested":  # scipy gives logical as uint8
            assert_same(theirs[k], mine[k], k)
    assert theirs["nested"]["inner"]["deep"].dtype == np.int32


def test_reads_what_scipy_writes_including_compressed_and_struct_arrays(tmp_path):
    sarr = np.zeros((1, 2), dtype=[("a", object), ("b", object)])
    sarr[0, 0] = (np.array([[1.0]]), "x")
    sarr[0, 1] = (np.array([[2.0, 3.0]]), "yz")
    data = dict(NUMERIC, sarr=sarr, chars=np.array(["ab", "cd"]), text="plain", cellv=obj(1.0, "a"))
    for compress in (False, True):
        p = tmp_path / f"s{compress}.mat"
        scipy.io.savemat(p, data, do_compression=compress)
        mine = _mat5.read(p)
        for k in NUMERIC:
            assert_same(NUMERIC[k], mine[k], k)
        assert mine["text"] == "plain"
        assert list(mine["chars"]) == ["ab", "cd"]
        s = mine["sarr"]
        assert s.shape == (1, 2) and s[0, 1]["b"] == "yz" and s[0, 1]["a"].tolist() == [[2.0, 3.0]]
        assert mine["cellv"].shape == (2, 1) and mine["cellv"][1, 0] == "a"


def test_integer_valued_doubles_stored_small_keep_their_class(tmp_path):
    # MATLAB stores a double [5 800] as miUINT16 data: the class is what counts
    p = tmp_path / "small.mat"
    with open(p, "wb") as f:
        f.write(b"MATLAB 5.0 MAT-file".ljust(116, b" ") + bytes(8) + b"\x00\x01IM")
        body = (np.array([6, 8, 6, 0, 5, 8, 1, 2], "<u4").tobytes()  # flags: double; dims 1x2
                + np.array([1 | (1 << 16)], "<u4").tobytes() + b"x\0\0\0"  # small element: name 'x'
                + np.array([4, 4], "<u4").tobytes() + np.array([5, 800], "<u2").tobytes())
        f.write(np.array([14, len(body)], "<u4").tobytes() + body)
    x = _mat5.read(p)["x"]
    assert x.dtype == np.float64 and x.tolist() == [[5.0, 800.0]]


def test_bad_input_is_one_clear_error(tmp_path):
    import scipy.sparse

    p = tmp_path / "sparse.mat"
    scipy.io.savemat(p, {"S": scipy.sparse.eye(3).tocsc()})
    with pytest.raises(MatFileError, match=r"variable 'S' is a sparse matrix.*full\(X\)"):
        _mat5.read(p)
    good = tmp_path / "good.mat"
    _mat5.write(good, {"x": np.ones((10, 10))})
    raw = good.read_bytes()
    bad = tmp_path / "truncated.mat"
    bad.write_bytes(raw[:-100])
    with pytest.raises(MatFileError, match="truncated.mat"):
        _mat5.read(bad)
    (tmp_path / "h5.mat").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(600))
    with pytest.raises(MatFileError, match="not a MAT v5 file"):
        _mat5.read(tmp_path / "h5.mat")
    for value, msg in (({"_x": 1.0}, "struct field ._x.: MATLAB names start with a letter"), ({"a b": 1.0}, "struct field"),
                       (np.ones(3, np.float16), "no class for numpy dtype float16"), (object(), "cannot write"),
                       (2**70, "does not fit")):
        out = tmp_path / "w.mat"
        with pytest.raises(MatFileError, match=msg):
            _mat5.write(out, {"v": value})
        assert not out.exists()  # nothing written when the value is refused


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    p = tmp_path / "r.mat"
    _mat5.write(p, {"old": 1.0})
    before = p.read_bytes()
    real = _mat5.write_fortran

    def disk_full(f, arr):
        real(f, arr[: arr.size // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_mat5, "write_fortran", disk_full)
    with pytest.raises(OSError, match="No space") as err:
        _mat5.write(p, {"x": np.ones((100, 100))})
    assert err.value.filename == str(p)  # a full disk names the file
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["r.mat"]
    monkeypatch.undo()
    from pyulm.matlab.server import write_response

    write_response(p, {"ok": True, "out": obj(np.ones((3, 3)))})  # the bridge writes through it
    assert _mat5.read(p)["ok"][0, 0] and os.listdir(tmp_path) == ["r.mat"]


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        _mat5.write(tmp_path / "a.mat", {"x": 1.0})
        os.umask(0o077)
        _mat5.write(tmp_path / "b.mat", {"x": 1.0})
    finally:
        os.umask(mask)
    assert (tmp_path / "a.mat").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.mat").stat().st_mode & 0o777 == 0o600


def test_read_selected_variables_with_a_size_cap_and_notes(tmp_path):
    import scipy.sparse

    p = tmp_path / "m.mat"
    for compress in (False, True):
        scipy.io.savemat(p, {"big": np.zeros((1000, 1000)), "small": {"f": 2.0}, "S": scipy.sparse.eye(2).tocsc()},
                         do_compression=compress)
        with pytest.raises(MatFileError, match=r"m\.mat: variable 'big' declares \d+ bytes, more than the 4096"):
            _mat5.read(p, max_bytes=4096)
        assert _mat5.read(p, ["small"], max_bytes=4096)["small"]["f"][0, 0] == 2.0
        notes = []
        v = _mat5.read(p, ["S", "small"], notes=notes)
        assert list(v) == ["small"] and "S" in notes[0] and "sparse" in notes[0]


def test_compressed_write_and_bounded_reads(tmp_path):
    p = tmp_path / "c.mat"
    value = {"IQ": (rng.random((7, 6, 5)) + 1j).astype(np.complex64), "s": {"a": "text", "b": [1.0, 2.0]}}
    _mat5.write(p, value, compress=True)
    back = scipy.io.loadmat(p, squeeze_me=False)
    np.testing.assert_array_equal(back["IQ"], value["IQ"])
    assert_same(value["IQ"], _mat5.read(p)["IQ"])
    iq = value["IQ"].ravel(order="F")
    for a, b in ((0, iq.size), (42, 43), (5, 100)):
        assert_same(iq[a:b], _mat5.read_elements(p, "IQ", a, b))
    e = {x.name: x for x in _mat5.scan(p)}["IQ"]
    assert e.compressed and e.complex and e.dims == (7, 6, 5)


def test_reviewer_cases(tmp_path):
    """Cases from review: string arrays, 4 GiB containers, v7.3 headers, corrupt sizes, cut-off files, names."""
    p = tmp_path / "v.mat"
    _mat5.write(p, {"v": np.array(["ab", "cde"]), "one": np.array(["xy"]), "m": np.array([["a", "b"], ["c", "d"]])})
    v = _mat5.read(p)
    assert v["v"].shape == (2, 1) and list(v["v"].ravel()) == ["ab", "cde"] and v["one"] == "xy"
    assert v["m"].shape == (2, 2) and v["m"][1, 0] == "c"
    big = np.broadcast_to(np.float64(0), (2**28,))  # 2 GiB without memory
    for value in ([big, big], {"a": big, "b": big}):
        with pytest.raises(MatFileError, match="too large"):
            _mat5.write(tmp_path / "big.mat", {"v": value})
        assert not (tmp_path / "big.mat").exists()
    h5 = tmp_path / "v73.mat"
    h5.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + bytes(8) + b"\x00\x02IM" + bytes(400))
    with pytest.raises(MatFileError, match="v7.3"):
        _mat5.read(h5)
    # a cell claiming 1e5 x 1e5 elements, a double claiming 65536^4
    head = b"MATLAB 5.0 MAT-file".ljust(116, b" ") + bytes(8) + b"\x00\x01IM"
    for cls, dims in ((1, [100000, 100000]), (6, [65536] * 4), (4, [65536] * 4), (2, [100000, 100000])):
        body = np.array([6, 8, cls, 0, 5, 4 * len(dims)], "<u4").tobytes() + np.array(dims, "<i4").tobytes()
        body += bytes(-len(body) % 8) + np.array([1 | (1 << 16)], "<u4").tobytes() + b"x\0\0\0"
        if cls == 2:
            body += np.array([5 | (4 << 16), 32], "<u4").tobytes() + np.array([1, 32], "<u4").tobytes() + b"a".ljust(32, b"\0")
        else:
            body += np.array([9, 16], "<u4").tobytes() + bytes(16)
        (tmp_path / "bad.mat").write_bytes(head + np.array([14, len(body)], "<u4").tobytes() + body)
        with pytest.raises(MatFileError):
            _mat5.read(tmp_path / "bad.mat")
    _mat5.write(p, {"a": 1.0, "b": 2.0})
    raw = p.read_bytes()
    cut = 128 + 8 + int(np.frombuffer(raw[132:136], "<u4")[0]) + 4  # inside b's tag
    p.write_bytes(raw[:cut])
    with pytest.raises(MatFileError, match="truncated"):
        _mat5.read(p)
    with pytest.raises(MatFileError, match=r"variable 's'\.a\{1\}: struct field '_x'"):
        _mat5.write(p, {"s": {"a": [{"_x": 1}]}})
    with pytest.raises(MatFileError, match="variable name '1a'"):
        _mat5.write(p, {"1a": 1})
    loop = []
    loop.append(loop)
    with pytest.raises(MatFileError, match="contains itself"):
        _mat5.write(p, {"loop": loop})


def test_import_needs_numpy_only():
    code = "import sys, pyulm.io._mat5; print(sorted(m for m in ('scipy', 'h5py') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("key", ["d", "s", "cd", "cs", "nd", "i8", "u64", "b", "empty", "empty3", "inf"])
def test_map_variable_matches_read_and_is_zero_copy_for_real_data(tmp_path, key):
    p = tmp_path / "m.mat"
    value = NUMERIC[key]
    _mat5.write(p, {"first": np.ones(2), key: value})
    a = _mat5.map_variable(p, key)
    assert_same(value, a, key)
    if value.dtype.kind != "c" and value.size:  # a read-only view of the mapping, not a copy
        assert not a.flags.writeable and not a.flags.owndata
    assert _mat5.map_variable(p).shape == (2, 1)  # default: the first variable
    e, planes = _mat5.map_planes(p, key)
    assert e.name == key and e.dims == value.shape and e.complex == (value.dtype.kind == "c")
    assert len(planes) == (2 if e.complex else 1) and all(not q.flags.writeable for q in planes)


def test_map_variable_converts_small_stored_types_and_big_endian(tmp_path):
    p = tmp_path / "small.mat"
    head = b"MATLAB 5.0 MAT-file".ljust(116, b" ") + bytes(8)
    body = (np.array([6, 8, 6, 0, 5, 8, 1, 2], "<u4").tobytes() + np.array([1 | (1 << 16)], "<u4").tobytes()
            + b"x\0\0\0" + np.array([4, 4], "<u4").tobytes() + np.array([5, 800], "<u2").tobytes())
    p.write_bytes(head + b"\x00\x01IM" + np.array([14, len(body)], "<u4").tobytes() + body)
    x = _mat5.map_variable(p)
    assert x.dtype == np.float64 and x.tolist() == [[5.0, 800.0]]
    # the same array, big-endian (MI), complex single
    body = (np.array([6, 8, 7 | 0x800, 0, 5, 8, 1, 2], ">u4").tobytes() + np.array([1 | (1 << 16)], ">u4").tobytes()
            + b"z\0\0\0" + np.array([7, 8], ">u4").tobytes() + np.array([1, 2], ">f4").tobytes()
            + np.array([7, 8], ">u4").tobytes() + np.array([3, 4], ">f4").tobytes())
    p.write_bytes(head + b"\x01\x00MI" + np.array([14, len(body)], ">u4").tobytes() + body)
    z = _mat5.map_variable(p)
    assert z.dtype == np.complex64 and z.tolist() == [[1 + 3j, 2 + 4j]]
    assert _mat5.read(p)["z"].tolist() == z.tolist()


def test_scan_reads_headers_only_and_map_refuses_what_it_cannot_map(tmp_path):
    p = tmp_path / "c.mat"
    scipy.io.savemat(p, {"IQ": np.zeros((40, 50, 60), np.complex64), "UF": {"FrameRateUF": 1000.0},
                         "t": "text"}, do_compression=True)
    entries = {e.name: e for e in _mat5.scan(p)}
    iq = entries["IQ"]
    assert iq.compressed and iq.dims == (40, 50, 60) and iq.complex and iq.class_name == "single"
    assert iq.dtype == np.complex64 and iq.data_nbytes == 40 * 50 * 60 * 8 and iq.planes == ()
    assert entries["UF"].class_name == "struct" and entries["t"].class_name == "char"
    with pytest.raises(MatFileError, match=r"c\.mat.*'IQ' is compressed"):
        _mat5.map_variable(p, "IQ")
    with pytest.raises(MatFileError, match=r"c\.mat.*no variable 'nope'"):
        _mat5.map_variable(p, "nope")
    scipy.io.savemat(p, {"UF": {"FrameRateUF": 1000.0}})
    with pytest.raises(MatFileError, match="'UF' is a struct, not a numeric"):
        _mat5.map_variable(p)
    # a header that declares more data than the file holds
    _mat5.write(p, {"x": np.ones((100, 10))})
    raw = bytearray(p.read_bytes())
    p.write_bytes(raw[:-80])
    with pytest.raises(MatFileError, match="past the end of the file"):
        _mat5.scan(p)
    with pytest.raises(MatFileError, match="past the end of the file"):
        _mat5.map_variable(p)


@pytest.mark.octave
@pytest.mark.skipif(OCTAVE is None, reason="octave-cli not installed")
def test_octave_files_both_ways(tmp_path):
    """What Octave's save -v6 / -v7 writes is read here; what is written here Octave loads unchanged."""
    script = tmp_path / "mk.m"
    script.write_text(r"""
s.d = [1 2; 3 4]; s.cs = single([1+2i, 3-4i]); s.i = int16([-3 7]); s.u = uint64(18446744073709551615);
s.b = [true false]; s.t = 'h\xc3\xa9'; s.e = ''; s.c = {1, 'two', {3}}; s.n = struct('a', {1, 2});
s.z = zeros(0, 3); s.nd = reshape(1:24, 2, 3, 4); s.es = struct([]); s.ec = {}; s.nf = struct();
s.cs2 = {struct('q', 1)};
save('-v6', 'oct6.mat', '-struct', 's'); save('-v7', 'oct7.mat', '-struct', 's');
""".replace("\\xc3\\xa9", "é"))
    subprocess.run([OCTAVE, "--no-gui", "--norc", "-q", str(script)], cwd=tmp_path, check=True, capture_output=True)
    for name in ("oct6.mat", "oct7.mat"):
        v = _mat5.read(tmp_path / name)
        assert v["d"].tolist() == [[1, 2], [3, 4]] and v["d"].dtype == np.float64
        assert v["cs"].dtype == np.complex64 and v["cs"].tolist() == [[1 + 2j, 3 - 4j]]
        assert v["i"].dtype == np.int16 and v["u"][0, 0] == 2**64 - 1
        assert v["b"].dtype == bool and v["t"] == "hé" and v["e"] == ""
        assert v["c"].shape == (1, 3) and v["c"][0, 1] == "two" and v["c"][0, 2][0, 0][0, 0] == 3
        assert v["n"].shape == (1, 2) and v["n"][0, 1]["a"][0, 0] == 2
        assert v["z"].shape == (0, 3) and v["nd"].shape == (2, 3, 4) and v["nd"][1, 2, 3] == 24
        assert v["es"].shape == (0, 0) and v["ec"].shape == (0, 0) and v["nf"] == {}
        assert v["cs2"].shape == (1, 1) and v["cs2"][0, 0] == {"q": np.array([[1.0]])}
    back = {"d": np.arange(6.0).reshape(2, 3), "cs": np.array([[1 + 2j]], np.complex64), "t": "hé∑🙂",
            "c": obj(1.0, "two"), "s": {"a": np.int32(3), "b": [True]}, "e": "", "big": np.uint64(2**64 - 1)}
    _mat5.write(tmp_path / "py.mat", back)
    check = tmp_path / "check.m"
    check.write_text(r"""
v = load('py.mat');
assert(isequal(v.d, [0 1 2; 3 4 5]) && isa(v.d, 'double'));
assert(isa(v.cs, 'single') && v.cs == 1+2i);
assert(strcmp(v.t, 'hé∑🙂') && iscell(v.c) && isequal(size(v.c), [2 1]) && strcmp(v.c{2}, 'two'));
assert(isa(v.s.a, 'int32') && v.s.a == 3 && iscell(v.s.b) && islogical(v.s.b{1}) && v.s.b{1});
assert(ischar(v.e) && isempty(v.e) && isa(v.big, 'uint64') && v.big == intmax('uint64'));
disp('OK')
""")
    out = subprocess.run([OCTAVE, "--no-gui", "--norc", "-q", str(check)], cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr


def _cells():
    """Cell elements as the pipeline makes them (tracks of 4 or 5 float32 columns, empty ones,
    MatTracking), in parts of uneven size."""
    r = np.random.default_rng(3)
    parts = [[r.random((n, c)).astype(np.float32) for n, c in ((5, 5), (0, 4), (1, 4), (2300, 5))], [],
             [r.random((7, 5)).astype(np.float32)], [np.zeros((0, 5), np.float32), r.random((3, 5)).astype(np.float32)]]
    return parts, [r.random((900, 4)), np.zeros((0, 4)), r.random((1, 4))]


def _streamed(parts):
    from pyulm.io._write import StreamedCell

    flat = [a for p in parts for a in p]
    size, nbytes = StreamedCell.sizes([a.shape[0] for a in flat], [a.shape[1] for a in flat], flat[0].dtype)
    calls = []

    def gen():
        calls.append(1)
        return iter(parts)
    return StreamedCell(len(flat), size, nbytes, gen), flat, calls


def _whole(flat):
    cell = np.empty((len(flat), 1), dtype=object)
    for k, a in enumerate(flat):
        cell[k, 0] = a
    return cell


@pytest.mark.parametrize("compress", [False, True])
def test_streamed_cell_bytes_equal_the_whole_cell(tmp_path, compress):
    """A cell written part by part from declared sizes is the file the whole cell gives, byte for byte."""
    from pyulm.io import save_mat

    tracks, mats = _cells()
    st, flat, calls = _streamed(tracks)
    sm, _, _ = _streamed([[m] for m in mats])
    assert st.nbytes == sum(a.nbytes for a in flat)
    extra = {"ULM": {"res": 10.0}, "names": ["a.mat", "b.mat"]}
    save_mat(tmp_path / "s.mat", {"Track_tot": st, "MatTracking": sm, **extra}, compress=compress)
    save_mat(tmp_path / "w.mat", {"Track_tot": _whole(flat), "MatTracking": _whole(mats), **extra}, compress=compress)
    assert (tmp_path / "s.mat").read_bytes() == (tmp_path / "w.mat").read_bytes()
    assert calls == [1]  # the parts are made once
    d = scipy.io.loadmat(tmp_path / "s.mat")
    assert d["Track_tot"].shape == (len(flat), 1) and np.array_equal(d["Track_tot"][3, 0], flat[3])


def test_streamed_cell_that_breaks_its_declaration_writes_nothing(tmp_path):
    from pyulm.io import save_mat
    from pyulm.io._write import StreamedCell

    tracks, _ = _cells()
    st, flat, _ = _streamed(tracks)
    n = len(flat)
    for bad, msg in ((StreamedCell(n - 1, st.size, st.nbytes, st.parts), f"declared {n - 1} elements.*gave {n} of"),
                     (StreamedCell(n + 1, st.size + 56, st.nbytes, st.parts), f"declared {n + 1} elements.*parts gave {n} of"),
                     (StreamedCell(n, st.size - 8, st.nbytes, st.parts), f"declared {n} elements"),
                     (StreamedCell(1, 64, 8, lambda: [[np.zeros(2)]]), "real 2-D arrays")):
        with pytest.raises(MatFileError, match=msg):
            save_mat(tmp_path / "s.mat", {"Track_tot": bad})
        with pytest.raises(MatFileError, match=msg):
            save_mat(tmp_path / "s.mat", {"Track_tot": bad}, v73_threshold=0)
    assert list(tmp_path.iterdir()) == []


def test_streamed_cell_v73_is_the_layout_hdf5storage_writes(tmp_path):
    """Above the v7.3 threshold the cell goes to the HDF5 file element by element: the same
    values, classes, attributes and filters as hdf5storage's whole cell (MATLAB's layout)."""
    import h5py

    from pyulm.io import read_mat, save_mat

    tracks, _ = _cells()
    st, flat, _ = _streamed(tracks)
    save_mat(tmp_path / "s.mat", {"Track_tot": st, "names": ["a.mat", "b.mat"]}, v73_threshold=1000)
    save_mat(tmp_path / "w.mat", {"Track_tot": _whole(flat), "names": ["a.mat", "b.mat"]}, v73_threshold=1000)
    assert sorted(os.listdir(tmp_path)) == ["s.mat", "w.mat"]
    s, w = read_mat(tmp_path / "s.mat"), read_mat(tmp_path / "w.mat")
    assert s["names"].tolist() == w["names"].tolist() and s["Track_tot"].shape == w["Track_tot"].shape == (len(flat), 1)
    for a, b, c in zip(s["Track_tot"].ravel(), w["Track_tot"].ravel(), flat):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, c) and np.array_equal(b, c) and a.shape == c.shape

    def layout(path):
        with h5py.File(path) as f:
            assert f.userblock_size == 512 and open(path, "rb").read(19) == b"MATLAB 7.3 MAT-file"
            cell = f["Track_tot"]
            rows = [(cell.shape, cell.dtype.kind, dict(cell.attrs))]
            for ref in cell[()].ravel():
                e = f[ref]
                rows.append((e.shape, e.dtype, e.compression, e.compression_opts, e.shuffle, e.fletcher32,
                             {k: bytes(v) if isinstance(v, bytes) else v for k, v in e.attrs.items()}, e[()].tobytes()))
            return rows
    assert layout(tmp_path / "s.mat") == layout(tmp_path / "w.mat")
    with h5py.File(tmp_path / "s.mat") as f:  # the big element is deflated as hdf5storage does
        assert f[f["Track_tot"][0, 3]].compression == "gzip"
    # an empty cell, as hdf5storage writes one
    from pyulm.io._write import StreamedCell

    empty = StreamedCell(0, 0, 0, lambda: [])
    save_mat(tmp_path / "e.mat", {"c": empty, "big": np.zeros(300)}, v73_threshold=1000)
    save_mat(tmp_path / "f.mat", {"c": np.empty((0, 1), object), "big": np.zeros(300)}, v73_threshold=1000)
    with h5py.File(tmp_path / "e.mat") as f, h5py.File(tmp_path / "f.mat") as g:
        assert f["c"][()].tolist() == g["c"][()].tolist() == [0, 1] and dict(f["c"].attrs) == dict(g["c"].attrs)
