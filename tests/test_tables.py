import numpy as np
import pytest

from pyulm import Localizations, Metadata, Tracks


def _locs():
    meta = Metadata(pixel_size=(0.1, 0.2), origin=(1.0, -3.0), frame_rate=1000.0, unit="mm", params={"fwhm": [3, 3]})
    return Localizations(z=[1.5, 2.0, 3.0], x=[0.5, 1.0, 4.0], frame=[0, 0, 2], intensity=[3.0, 2.0, 1.0],
                         extra={"probability": [0.9, 0.8, 0.7]}, meta=meta)


def test_localizations_roundtrip_hdf5(tmp_path):
    locs = _locs()
    path = locs.save(tmp_path / "locs.h5")
    back = Localizations.load(path)
    assert back.columns == locs.columns
    for c in locs.columns:
        np.testing.assert_array_equal(back[c], locs[c])
    assert back.meta.pixel_size == (0.1, 0.2) and back.meta.origin == (1.0, -3.0)
    assert back.meta.frame_rate == 1000.0 and back.meta.unit == "mm" and back.meta.params == {"fwhm": [3, 3]}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_localizations_physical_select_concat():
    locs = _locs()
    z, x = locs.physical()
    np.testing.assert_allclose(z, [1.15, 1.2, 1.3])
    np.testing.assert_allclose(x, [-2.9, -2.8, -2.2])
    sub = locs.select(locs.frame == 0)
    assert len(sub) == 2 and sub["probability"].tolist() == [0.9, 0.8]
    both = Localizations.concat([locs, sub], frame_offsets=[0, 10])
    assert both.frame.tolist() == [0, 0, 2, 10, 10]
    assert locs.to_array().shape == (3, 4)


def test_localizations_bad_columns(tmp_path):
    with pytest.raises(ValueError, match="column 'x' has 1 rows, expected 2"):
        Localizations(z=[1, 2], x=[1], frame=[0, 0])
    (tmp_path / "t.h5").write_bytes(b"not hdf5")
    with pytest.raises(OSError):
        Localizations.load(tmp_path / "t.h5")


def test_tracks_roundtrip_and_list_conversion(tmp_path):
    arrays = [np.arange(9.0).reshape(3, 3), np.ones((2, 3)), np.zeros((0, 3))]
    tr = Tracks.from_list(arrays, columns=("z", "x", "frame"), meta=Metadata(frame_rate=500.0))
    assert len(tr) == 3 and tr.lengths.tolist() == [3, 2, 0]
    assert tr.track_id.tolist() == [0, 0, 0, 1, 1]
    for a, b in zip(tr.to_list(), arrays):
        np.testing.assert_array_equal(a, b)
    back = Tracks.load(tr.save(tmp_path / "tracks.h5"))
    np.testing.assert_array_equal(back.points, tr.points)
    np.testing.assert_array_equal(back.offsets, tr.offsets)
    assert back.columns == tr.columns and back.meta.frame_rate == 500.0
    np.testing.assert_array_equal(tr.column("x"), [1, 4, 7, 1, 1])
    with pytest.raises(KeyError, match="vz"):
        tr.column("vz")
    assert len(tr.select(tr.lengths > 2)) == 1


def test_tracks_validation():
    with pytest.raises(ValueError, match="offsets"):
        Tracks(np.zeros((3, 3)), [0, 2])
    with pytest.raises(ValueError, match="points must be"):
        Tracks(np.zeros((3, 2)), [0, 3])
    with pytest.raises(ValueError, match="track 1 has 2 columns"):
        Tracks.from_list([np.zeros((1, 3)), np.zeros((1, 2))])
    empty = Tracks()
    assert len(empty) == 0 and empty.points.shape == (0, 3)


def test_atomic_save_leaves_nothing_on_failure(tmp_path, monkeypatch):
    import h5py

    locs = _locs()
    target = tmp_path / "locs.h5"

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(OSError, match="disk full"):
        locs.save(target)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="does not exist"):
        locs.save(tmp_path / "missing" / "x.h5")


def test_atomic_files_get_umask_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = _locs().save(tmp_path / "perm.h5")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def _h5_arrays(path):
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, (o[()] if hasattr(o, "shape") else None,
                                                      {k: str(v) for k, v in o.attrs.items()})))
        out["/"] = (None, {k: str(v) for k, v in f.attrs.items()})
    return out


def _same_h5(a, b):
    A, B = _h5_arrays(a), _h5_arrays(b)
    assert set(A) == set(B)
    for k in A:
        assert A[k][1] == B[k][1], k
        if A[k][0] is not None:
            assert A[k][0].dtype == B[k][0].dtype and np.array_equal(A[k][0], B[k][0]), k


@pytest.mark.parametrize("totals", [True, False])
def test_table_writers_write_what_save_writes(tmp_path, totals):
    """Written part by part (totals known: contiguous; unknown: growing), the files hold the
    datasets and metadata ``save`` writes, and ``load`` reads them unchanged."""
    locs = _locs()
    locs.save(tmp_path / "whole.h5")
    cols = {k: locs[k].dtype for k in locs.columns}
    with Localizations.writer(tmp_path / "parts.h5", cols, locs.meta, rows=len(locs) if totals else None) as w:
        for sl in (slice(0, 2), slice(2, 2), slice(2, 3)):
            w.append(**{k: locs[k][sl] for k in locs.columns})
    _same_h5(tmp_path / "whole.h5", tmp_path / "parts.h5")
    back = Localizations.load(tmp_path / "parts.h5")
    assert back.columns == locs.columns and back.meta == locs.meta

    trk = Tracks.from_list([np.ones((3, 2), np.float32), np.zeros((0, 2), np.float32), np.full((2, 2), 2, np.float32)],
                           ("z", "x"), locs.meta)
    trk.save(tmp_path / "twhole.h5")
    kw = {"points": 5, "tracks": 3} if totals else {}
    with Tracks.writer(tmp_path / "tparts.h5", ("z", "x"), locs.meta, np.float32, **kw) as w:
        w.append(points=trk.points[:3], offsets=[0, 3, 3])
        w.append(points=trk.points[:0], offsets=[0])
        w.append(points=trk.points[3:], offsets=[0, 2])
    _same_h5(tmp_path / "twhole.h5", tmp_path / "tparts.h5")
    assert Tracks.load(tmp_path / "tparts.h5").lengths.tolist() == [3, 0, 2]


def test_table_writer_bad_parts_leave_no_file(tmp_path):
    p = tmp_path / "t.h5"
    cols = {"z": float, "x": float, "frame": np.int64, "intensity": float}
    with pytest.raises(ValueError, match="columns must start with"):
        Localizations.writer(p, {"x": float, "z": float, "frame": int, "intensity": float})
    with pytest.raises(ValueError, match="fewer rows than declared"):
        with Localizations.writer(p, cols, rows=3) as w:
            w.append(z=[1.0], x=[2.0], frame=[0], intensity=[1.0])
    with pytest.raises(ValueError, match="more rows in 'z' than the 1 declared"):
        with Localizations.writer(p, cols, rows=1) as w:
            w.append(z=[1.0, 2], x=[2.0, 3], frame=[0, 1], intensity=[1.0, 1])
    with pytest.raises(ValueError, match="append takes the columns"):
        with Localizations.writer(p, cols) as w:
            w.append(z=[1.0], x=[2.0], frame=[0])
    with pytest.raises(ValueError, match="differ in length"):
        with Localizations.writer(p, cols) as w:
            w.append(z=[1.0], x=[2.0, 3.0], frame=[0], intensity=[1.0])
    with pytest.raises(ValueError, match="offsets must start at 0"):
        with Tracks.writer(p, ("z", "x")) as w:
            w.append(points=np.zeros((2, 2)), offsets=[0, 1])
    with pytest.raises(ValueError, match=r"points must be \(N, 2\)"):
        with Tracks.writer(p, ("z", "x")) as w:
            w.append(points=np.zeros((2, 3)), offsets=[0, 2])
    with pytest.raises(RuntimeError, match="interrupted"):
        with Tracks.writer(p, ("z", "x")) as w:
            w.append(points=np.zeros((2, 2)), offsets=[0, 2])
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary
