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
