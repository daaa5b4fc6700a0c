"""A corpus of hostile and malformed data files, every one of which pyulm must refuse.

Each case is a small file (at most a few MB, whatever it declares) that lies
in its headers, hides a compression bomb, holds corrupt chunks, non-finite or
degenerate metadata, bad raw-binary sidecars, or sits under an odd name.
``pyulm.io.inspect`` (and ``pyulm info``) must refuse each with one line that
names the file, without writing anything; cases marked ``verify`` are corrupt
only inside the stored frames, which ``inspect(verify=True)`` /
``pyulm info --verify`` decode.

    python tests/hostile_corpus.py OUTDIR     # writes the files, prints one line per case
"""
from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from pyulm.io import _mat5

HEAD = b"MATLAB 5.0 MAT-file, hostile corpus".ljust(116, b" ") + bytes(8) + b"\x00\x01IM"
RNG = np.random.default_rng(13)
IQ = (RNG.standard_normal((16, 12, 20)) + 1j * RNG.standard_normal((16, 12, 20))).astype(np.complex64)
UF = {"TwFreq": 15.625, "FrameRateUF": 1000.0}
PDATA = {"PDelta": np.array([[1.0, 0.0, 1.0]]), "Origin": np.array([[-6.0, 0.0, 0.0]]),
         "Size": np.array([[16.0, 12.0, 1.0]])}
# Byte layout of a v5 file written by _mat5.write with IQ first (see pyulm/io/_mat5write.py):
IQ_NBYTES_AT, IQ_DIMS_AT, IQ_PLANE_TAG_AT = 132, 160, 192


@dataclass
class Case:
    name: str
    path: Path
    verify: bool = False  # corrupt only inside the frames' stored bytes


def _pala(path, *, iq=IQ, uf=UF, pdata=PDATA, extra=None, compress=False):
    values = {"IQ": iq, "UF": uf, "PData": pdata, **(extra or {})}
    if compress:
        scipy.io.savemat(path, values, do_compression=True)
    else:
        _mat5.write(path, values)
    return path


def _patch(path, offset, data: bytes):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _element(mtype, payload: bytes) -> bytes:
    return struct.pack("<II", mtype, len(payload)) + payload + bytes(-len(payload) % 8)


def _array_head(cls, dims, name: bytes, flags=0) -> bytes:
    return (_element(6, struct.pack("<II", cls | flags, 0)) + _element(5, struct.pack(f"<{len(dims)}i", *dims))
            + _element(1, name))


def _v5_cases(d: Path):
    out = []

    def case(name, path=None, **kw):
        out.append(Case(name, path or d / f"{name}.mat", **kw))
        return out[-1].path

    p = _pala(case("v5_truncated_half"))
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    p = _pala(case("v5_element_size_past_eof"))
    _patch(p, IQ_NBYTES_AT, struct.pack("<I", 2**31))
    p = _pala(case("v5_dims_lie_bigger"))
    _patch(p, IQ_DIMS_AT, struct.pack("<3i", 4096, 4096, 20))
    p = _pala(case("v5_negative_dimension"))
    _patch(p, IQ_DIMS_AT, struct.pack("<i", -80))
    p = _pala(case("v5_plane_type_unknown"))
    _patch(p, IQ_PLANE_TAG_AT, struct.pack("<I", 99))
    p = _pala(case("v5_plane_bytes_lie"))
    _patch(p, IQ_PLANE_TAG_AT + 4, struct.pack("<I", 8))
    p = _pala(case("v5_version_unknown"))
    _patch(p, 124, b"\x00\x03")
    p = _pala(case("v5_bad_endian_marker"))
    _patch(p, 126, b"XX")
    case("v5_header_only").write_bytes(HEAD)
    case("v5_top_level_type_bogus").write_bytes(HEAD + _element(9, bytes(64)))
    body = struct.pack("<II", 6, 7) + bytes(8) + _element(5, struct.pack("<3i", 16, 12, 20))
    case("v5_flags_element_broken").write_bytes(HEAD + _element(14, body))
    body = _array_head(7, (16, 12, 20), b"IQ", 0x800) + _element(7, IQ.real.tobytes(order="F"))
    case("v5_complex_without_imaginary_part").write_bytes(HEAD + _element(14, body))
    body = _array_head(6, tuple([2] * 100), b"IQ") + _element(9, bytes(8 * 2**10))
    case("v5_hundred_dimensions").write_bytes(HEAD + _element(14, body))
    _mat5.write(case("v5_iq_is_text"), {"IQ": "not frames", "UF": UF})
    _mat5.write(case("v5_iq_two_axes"), {"IQ": IQ[:, :, 0], "UF": UF})
    _mat5.write(case("v5_iq_no_frames"), {"IQ": IQ[:, :, :0], "UF": UF})
    _mat5.write(case("v5_iq_is_a_struct"), {"IQ": {"re": IQ.real}, "UF": UF})
    _mat5.write(case("v5_no_iq_like_variable"), {"x": np.ones((3, 3)), "UF": UF})
    # compressed (-v7) variables
    body = _array_head(7, (4096, 4096, 4096), b"IQ", 0x800)  # 512 GiB of complex single declared
    stream = zlib.compress(struct.pack("<II", 14, 2**32 - 8) + body + bytes(2**20))  # ~1 kB
    case("v5z_bomb_declares_512_gib").write_bytes(HEAD + struct.pack("<II", 15, len(stream)) + stream)
    body = (_array_head(2, (1, 1), b"Trans") + _element(5, struct.pack("<i", 16))
            + _element(1, b"frequency".ljust(16, b"\0")) + struct.pack("<II", 14, 2**32 - 256)
            + _array_head(6, (2**29 - 32, 1), b"") + struct.pack("<II", 9, (2**29 - 32) * 8))
    stream = zlib.compress(struct.pack("<II", 14, 2**32 - 128) + body + bytes(2**20))  # 4 GiB declared
    p = _pala(case("v5z_metadata_declares_4_gib"))
    with open(p, "ab") as f:
        f.write(struct.pack("<II", 15, len(stream)) + stream)
    p = case("v5z_corrupt_stream")
    _pala(p, compress=True)
    data = bytearray(p.read_bytes())
    data[136:160] = b"\xff" * 24  # inside the first variable's deflate stream, near its start
    p.write_bytes(bytes(data))
    p = case("v5z_stream_cut_short")
    _pala(p, compress=True)
    size = p.stat().st_size
    with open(p, "r+b") as f:  # the last element keeps its declared size but loses its end
        f.truncate(size - 40)
    p = case("v5z_frames_corrupt_inside", verify=True)
    _pala(p, compress=True, iq=np.ascontiguousarray(np.tile(IQ, (1, 1, 8))))
    data = bytearray(p.read_bytes())
    mid = 128 + 8 + (int.from_bytes(data[132:136], "little") * 2) // 3
    data[mid:mid + 32] = bytes(32)
    p.write_bytes(bytes(data))
    return out


def _meta_cases(d: Path):
    """Valid files whose metadata are non-finite, negative or implausible."""
    specs = {
        "meta_twfreq_inf": dict(uf={**UF, "TwFreq": np.inf}),
        "meta_twfreq_nan": dict(uf={**UF, "TwFreq": np.nan}),
        "meta_twfreq_negative": dict(uf={**UF, "TwFreq": -15.625}),
        "meta_twfreq_tiny": dict(uf={**UF, "TwFreq": 1e-9}),
        "meta_twfreq_huge": dict(uf={**UF, "TwFreq": 1e9}),
        "meta_framerate_inf": dict(uf={**UF, "FrameRateUF": np.inf}),
        "meta_framerate_nan": dict(uf={**UF, "FrameRateUF": np.nan}),
        "meta_framerate_negative": dict(uf={**UF, "FrameRateUF": -1000.0}),
        "meta_framerate_huge": dict(uf={**UF, "FrameRateUF": 1e12}),
        "meta_pdelta_tiny": dict(pdata={**PDATA, "PDelta": np.array([[1e-12, 0, 1e-12]])}),
        "meta_pdelta_zero": dict(pdata={**PDATA, "PDelta": np.array([[0.0, 0, 1.0]])}),
        "meta_pdelta_nan": dict(pdata={**PDATA, "PDelta": np.array([[np.nan, 0, 1.0]])}),
        "meta_pdelta_huge": dict(pdata={**PDATA, "PDelta": np.array([[1e9, 0, 1.0]])}),
        "meta_origin_inf": dict(pdata={**PDATA, "Origin": np.array([[-np.inf, 0, 0]])}),
        "meta_pdata_size_negative": dict(pdata={**PDATA, "Size": np.array([[-80.0, 12, 1]])}),
        "meta_speed_of_sound_nan": dict(extra={"Resource": {"Parameters": {"speedOfSound": np.nan}}}),
        "meta_speed_of_sound_zero": dict(extra={"Resource": {"Parameters": {"speedOfSound": 0.0}}}),
        "meta_trans_frequency_inf": dict(uf={"FrameRateUF": 1000.0}, extra={"Trans": {"frequency": np.inf}}),
    }
    out = []
    for name, kw in specs.items():
        out.append(Case(name, _pala(d / f"{name}.mat", **kw)))
    return out


def _h5(path, iq_kwargs=None, *, iq=None, uf=UF, pdelta=(1.0, 0.0, 1.0), extra=None):
    """A MATLAB-style v7.3 PALA block (512-byte header, reversed axes, real/imag compound)."""
    iq = IQ if iq is None else iq
    with h5py.File(path, "w", userblock_size=512) as f:
        if iq is not False:
            comp = np.empty(iq.shape[::-1], dtype=[("real", "<f4"), ("imag", "<f4")])
            comp["real"], comp["imag"] = iq.real.T, iq.imag.T
            ds = f.create_dataset("IQ", data=comp, **(iq_kwargs or {}))
            ds.attrs["MATLAB_class"] = np.bytes_("single")
        g = f.create_group("UF")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        for k, v in uf.items():
            g.create_dataset(k, data=np.array([[v]])).attrs["MATLAB_class"] = np.bytes_("double")
        g = f.create_group("PData")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        g.create_dataset("PDelta", data=np.array([pdelta]).T).attrs["MATLAB_class"] = np.bytes_("double")
        if extra:
            extra(f)
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, hostile corpus".ljust(116, b" ") + bytes(8) + b"\x00\x02IM")
    return path


def _h5_cases(d: Path):
    out = []

    def case(name, **kw):
        out.append(Case(name, d / f"{name}.mat", **kw))
        return out[-1].path

    p = _h5(case("h5_truncated"), dict(chunks=(5, 12, 16), compression="gzip"))
    p.write_bytes(p.read_bytes()[: p.stat().st_size * 2 // 3])

    def unwritten(f):
        big = f.create_dataset("IQ", shape=(4096, 512, 512), dtype=[("real", "<f4"), ("imag", "<f4")],
                               chunks=(16, 64, 64), compression="gzip")
        big.attrs["MATLAB_class"] = np.bytes_("single")
        big[:16, :64, :64] = np.zeros((16, 64, 64), big.dtype)  # one chunk of ~32768 written

    _h5(case("h5_declares_8_gib_stores_one_chunk"), iq=False, extra=unwritten)

    def contiguous_unallocated(f):
        ds = f.create_dataset("IQ", shape=(4096, 1024, 1024), dtype="<f4")
        ds.attrs["MATLAB_class"] = np.bytes_("single")

    _h5(case("h5_contiguous_never_written"), iq=False, extra=contiguous_unallocated)

    def text_iq(f):
        ds = f.create_dataset("IQ", data=np.array([b"abc"] * 20).reshape(20, 1, 1))
        ds.attrs["MATLAB_class"] = np.bytes_("single")

    _h5(case("h5_iq_holds_strings"), iq=False, extra=text_iq)

    def compound_iq(f):
        ds = f.create_dataset("IQ", data=np.zeros((20, 12, 16), dtype=[("a", "<f4"), ("b", "<i2")]))
        ds.attrs["MATLAB_class"] = np.bytes_("single")

    _h5(case("h5_iq_odd_compound"), iq=False, extra=compound_iq)

    def huge_metadata(f):
        g = f.create_group("Trans")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        ds = g.create_dataset("frequency", shape=(2**19, 1024), dtype="<f8", chunks=(1024, 1024),
                              compression="gzip")  # 4 GiB declared, nothing written
        ds.attrs["MATLAB_class"] = np.bytes_("double")

    _h5(case("h5_metadata_declares_4_gib"), dict(chunks=(5, 12, 16)), extra=huge_metadata)
    _h5(case("h5_twfreq_inf"), uf={**UF, "TwFreq": np.inf})
    _h5(case("h5_framerate_nan"), uf={**UF, "FrameRateUF": np.nan})
    _h5(case("h5_pdelta_tiny"), pdelta=(1e-12, 0, 1e-12))
    _h5(case("h5_iq_two_axes"), iq=IQ[:, :, :1].reshape(16, 12))
    _h5(case("h5_iq_no_frames"), dict(maxshape=(None, 12, 16)), iq=IQ[:, :, :0])
    p = _h5(case("h5_chunks_past_end_of_file"), dict(chunks=(2, 12, 16)))
    with h5py.File(p, "r") as f:
        last = max(f["IQ"].id.get_chunk_info(i).byte_offset for i in range(f["IQ"].id.get_num_chunks()))
    with open(p, "r+b") as fh:
        fh.truncate(last + 16)
    p = _h5(case("h5_corrupt_deflate_chunk", verify=True), dict(chunks=(5, 12, 16), compression="gzip"))
    _corrupt_chunk(p, (5, 0, 0), 40)
    p = _h5(case("h5_fletcher32_mismatch", verify=True), dict(chunks=(5, 12, 16), fletcher32=True))
    _corrupt_chunk(p, (10, 0, 0), 100)
    return out


def _corrupt_chunk(path, origin, at):
    with h5py.File(path, "r") as f:
        dsid = f["IQ"].id
        info = next(dsid.get_chunk_info(i) for i in range(dsid.get_num_chunks())
                    if tuple(dsid.get_chunk_info(i).chunk_offset) == origin)
        stored = bytes(dsid.read_direct_chunk(origin)[1])
        ub = f.userblock_size
    with open(path, "r+b") as fh:
        base = info.byte_offset
        fh.seek(base)
        if fh.read(len(stored)) != stored:  # HDF5 < 1.14.4 leaves the user block out of the address
            base += ub
        fh.seek(base + at)
        fh.write(b"\xa5" * 24)


def _raw_cases(d: Path):
    out = []
    good = {"shape": [16, 12, 20], "dtype": "complex64", "order": "F", "frame_rate": 1000}
    specs = {
        "raw_offset_negative": {"offset": -8},
        "raw_offset_past_end": {"offset": 10**9},
        "raw_offset_text": {"offset": "8"},
        "raw_offset_fraction": {"offset": 1.5},
        "raw_shape_negative": {"shape": [16, -80, 20]},
        "raw_shape_two_axes": {"shape": [16, 240]},
        "raw_dtype_object": {"dtype": "object"},
        "raw_dtype_text": {"dtype": "U8"},
        "raw_frame_rate_nan": {"frame_rate": float("nan")},
        "raw_frame_rate_negative": {"frame_rate": -5},
        "raw_pixel_size_tiny": {"pixel_size": [1e-12, 1]},
        "raw_frequency_inf": {"center_frequency_mhz": float("inf")},
        "raw_byteorder_bogus": {"byteorder": "middle"},
        "raw_size_mismatch": {"shape": [16, 12, 21]},
        "raw_unknown_key": {"frames": 20},
    }
    for name, change in specs.items():
        p = d / f"{name}.bin"
        IQ.ravel(order="F").tofile(p)
        Path(str(p) + ".json").write_text(json.dumps({**good, **change}))
        out.append(Case(name, p))
    p = d / "raw_sidecar_not_json.bin"
    IQ.ravel(order="F").tofile(p)
    Path(str(p) + ".json").write_text("{shape: [16, 12, 20]")
    out.append(Case("raw_sidecar_not_json", p))
    return out


def _odd_name_cases(d: Path):
    """Hostile files under names that are hard to print: Latin-1 bytes, spaces and symbols, 200 characters."""
    out = []
    for label, raw in (("latin1", b"caf\xe9 bloc\xff.mat"), ("spaces", "bloc 1 (copie) – µ∑.mat".encode()),
                       ("long", b"x" * 200 + b".mat")):
        p = Path(os.fsdecode(os.fsencode(d) + b"/" + raw))
        _pala(p, uf={**UF, "TwFreq": np.inf})
        out.append(Case(f"odd_name_{label}", p))
    p = Path(os.fsdecode(os.fsencode(d) + b"/trunc\xe9.mat"))
    _pala(p)
    p.write_bytes(p.read_bytes()[:300])
    out.append(Case("odd_name_latin1_truncated", p))
    return out


def build(folder) -> list[Case]:
    """Write every case into ``folder`` (created) and return them."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    return _v5_cases(d) + _meta_cases(d) + _h5_cases(d) + _raw_cases(d) + _odd_name_cases(d)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/hostile_corpus.py OUTDIR")
    for c in build(sys.argv[1]):
        print(f"{c.name:40s} {'verify ' if c.verify else ''}{os.fsencode(c.path).decode('ascii', 'backslashreplace')}")
