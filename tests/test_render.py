"""Rendering: pyulm.render (Pythonic) and pyulm.pala.ULM_Track2MatOut (PALA) against PALA's maps."""
import numpy as np
import pytest

from conftest import METHODS
from pyulm import Localizations, Tracks
from pyulm.pala import ULM_Track2MatOut
from pyulm.render import SuperResolutionGrid, accumulate, render, smooth_tracks, track_sign


def _readonly(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


# ---------------------------------------------------------------------------------------------- oracles
# Straightforward per-track loops written from the spec, independent of the vectorised engine.

def _brute_smooth(y, span=10):
    n = len(y)
    s = min(span, n)
    h = (s - 1 + s % 2 - 1) // 2
    return np.array([np.mean(y[i - min(h, i, n - 1 - i):i + min(h, i, n - 1 - i) + 1]) for i in range(n)])


def _brute_maps(tracks, size, value_of, pala_compat):
    """tracks: list of (n, >=2) SR arrays; value_of(track) -> per-point values."""
    dens = np.zeros(size)
    vel = np.zeros(size)
    for t in tracks:
        v = value_of(t)
        pix = []
        vin = []
        for p, val in zip(t, v):
            iz, ix = (int(np.sign(c) * np.floor(abs(c) + 0.5)) for c in p[:2])
            if 1 <= iz <= size[0] and 1 <= ix <= size[1]:
                pix.append((ix - 1) * size[0] + iz - 1)
                vin.append(val)
        upix = sorted(set(pix))
        for j, L in enumerate(upix):
            iz, ix = L % size[0], L // size[0]
            dens[iz, ix] += 1
            if pala_compat:
                vel[iz, ix] += vin[j]
            else:
                vel[iz, ix] += np.mean([vv for pp, vv in zip(pix, vin) if pp == L])
    vel[dens > 0] /= dens[dens > 0]
    return dens, vel


def _random_sr_tracks(rng, n_tracks=12, size=(30, 40)):
    tracks = []
    for _ in range(n_tracks):
        n = int(rng.integers(1, 25))
        start = rng.uniform([-2, -2], [size[0] + 2, size[1] + 2])
        steps = rng.normal(scale=0.7, size=(n, 2))
        pos = start + np.cumsum(steps, axis=0)
        vel = rng.normal(scale=50, size=(n, 2)) + rng.normal(scale=100, size=2)
        tracks.append(np.column_stack([pos, vel]))
    return tracks


# ---------------------------------------------------------------------------------------------- spec §1.10

SPEC_TRACKS = [np.array([[1.2, 1.6], [1.4, 1.4], [2.5, 2.5], [2.6, 2.4], [9, 9]]), np.array([[1.0, 2.0], [0.4, 1.0]])]


def test_spec_vector_2d_tracks(capsys):
    out = ULM_Track2MatOut([_readonly(t) for t in SPEC_TRACKS], [3, 3])
    np.testing.assert_array_equal(out, [[1, 2, 0], [0, 0, 0], [0, 1, 1]])
    assert out.dtype == np.float64
    assert capsys.readouterr().out == "Building 2D ULM image (size : 3  3).\n"


def test_spec_vector_2d_allin_is_default_for_a_matrix(capsys):
    m = _readonly(SPEC_TRACKS[0][:3])
    np.testing.assert_array_equal(ULM_Track2MatOut(m, [3, 3]), [[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(ULM_Track2MatOut(m, [3, 3], "2D_allin"), [[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    assert "size : 3  3" in capsys.readouterr().out


def test_allin_counts_duplicates_and_accepts_a_list():
    m = np.array([[1.2, 1.1], [0.9, 1.4], [2.0, 3.0]])
    np.testing.assert_array_equal(ULM_Track2MatOut(m, [2, 3]), [[2, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(ULM_Track2MatOut([m[:1], m[1:]], [2, 3], "2D_allin"), [[2, 0, 0], [0, 0, 1]])


def test_rounding_is_half_away_from_zero_and_out_of_grid_points_are_dropped():
    # 2.5 -> 3 (numpy would give 2); 0.5 -> 1; 0.49 -> 0 and 4.5 -> 5 are outside a 4x4 grid; NaN dropped
    m = np.array([[2.5, 1.0], [0.5, 1.0], [0.49, 2.0], [4.5, 2.0], [1.0, 4.5], [np.nan, 1.0], [-0.4, 1.0]])
    out = ULM_Track2MatOut(m, [4, 4], "2D_allin")
    expected = np.zeros((4, 4))
    expected[2, 0] = expected[0, 0] = 1
    np.testing.assert_array_equal(out, expected)


def test_velocity_modes_return_matout_vel_with_one_output_and_both_with_two():
    tr = [np.array([[1.0, 1.0, 3.0, 4.0], [1.1, 1.2, 3.0, 4.0], [2.0, 2.0, 3.0, 4.0]])]
    one = ULM_Track2MatOut(tr, [2, 2], "2D_velnorm")
    dens, vel = ULM_Track2MatOut(tr, [2, 2], "2D_velnorm", nargout=2)
    np.testing.assert_array_equal(dens, ULM_Track2MatOut(tr, [2, 2], "2D_tracks"))
    np.testing.assert_array_equal(one, vel)
    np.testing.assert_allclose(vel, [[5, 0], [0, 5]])
    np.testing.assert_allclose(ULM_Track2MatOut(tr, [2, 2], "2D_vel_z"), [[5, 0], [0, 5]])
    up = [np.column_stack([t[:, :2], -t[:, 2:]]) for t in tr]
    np.testing.assert_allclose(ULM_Track2MatOut(up, [2, 2], "2D_vel_z"), [[-5, 0], [0, -5]])
    np.testing.assert_allclose(ULM_Track2MatOut([t[:, :3] for t in tr], [2, 2], "2D_velmean"), [[3, 0], [0, 3]])


def test_pala_misalignment_quirk_pairs_sorted_pixels_with_velocities_in_track_order():
    # The track visits SR pixel (2,2) first (linear index 3) then (1,1) (index 0):
    # unique(L) = [0, 3], so pixel (1,1) receives the FIRST in-grid velocity.
    tr = [np.array([[2.0, 2.0, 0.0, 0.0], [9.0, 9.0, 7.0, 0.0], [1.0, 1.0, 5.0, 0.0]])]
    _, vel = ULM_Track2MatOut([tr[0][:, :3]], [2, 2], "2D_velmean", nargout=2)
    np.testing.assert_array_equal(vel, [[0, 0], [0, 5]])
    np.testing.assert_array_equal(accumulate(tr[0][:, 0], tr[0][:, 1], [0, 3], (2, 2), "velocity", tr[0][:, 2])[1],
                                  [[5, 0], [0, 0]])


@pytest.mark.parametrize("pala_compat", [True, False])
@pytest.mark.parametrize("mode", ["2D_velmean", "2D_velnorm", "2D_vel_z"])
def test_engine_matches_per_track_loop(mode, pala_compat):
    rng = np.random.default_rng(7)
    tracks = _random_sr_tracks(rng)
    size = (30, 40)

    def value_of(t):
        if mode == "2D_velmean":
            return t[:, 2]
        v = _brute_smooth(np.hypot(t[:, 2], t[:, 3]))
        return v * np.sign(np.mean(t[:, 2])) if mode == "2D_vel_z" else v

    dens_ref, vel_ref = _brute_maps(tracks, size, value_of, pala_compat)
    pts = np.concatenate(tracks)
    offs = np.concatenate([[0], np.cumsum([len(t) for t in tracks])])
    if mode == "2D_velmean":
        values, sign = pts[:, 2], None
    else:
        values = smooth_tracks(np.hypot(pts[:, 2], pts[:, 3]), offs)
        sign = track_sign(pts[:, 2], offs, pala_compat=pala_compat) if mode == "2D_vel_z" else None
    dens, vel = accumulate(pts[:, 0], pts[:, 1], offs, size, "velocity", values, sign, pala_compat=pala_compat)
    np.testing.assert_array_equal(dens, dens_ref)
    np.testing.assert_allclose(vel, vel_ref, rtol=1e-12, atol=1e-9)
    if pala_compat:
        np.testing.assert_allclose(ULM_Track2MatOut(tracks, size, mode), vel_ref, rtol=1e-12, atol=1e-9)
    assert dens.sum() > 20 and np.count_nonzero(vel) > 20  # the random tracks do cover the grid


def test_empty_tracks_and_sentinel():
    out = ULM_Track2MatOut([np.zeros((0, 2)), np.array([[0.0, 0.0]])], [3, 3])  # PALA's "no track" sentinel at 0
    assert out.sum() == 0
    out = ULM_Track2MatOut([np.array([[10.0, 10.0, 0.0, 0.0]])], [11, 11], "2D_vel_z")
    assert out[9, 9] == 0  # sign(mean(0)) = 0


def test_render_velocity_maps_of_no_tracks():
    """A block where nothing was linked still gives float maps of zeros (no int64 divide)."""
    import pyulm
    from pyulm.tables import Tracks

    empty = Tracks(np.zeros((0, 5)), np.zeros(1, dtype=np.int64), ("z", "x", "vz", "vx", "frame"))
    maps = pyulm.render(empty, res=4, shape=(16, 16), kinds=("density", "velocity_mean", "direction"))
    for name, m in maps.items():
        assert m.shape == (65, 65) and m.dtype == np.float64 and not m.any(), name


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode="2d_tracks"), "mode"),
    (dict(mode="tracks"), "mode"),
    (dict(sizeOut=[3]), "sizeOut"),
    (dict(sizeOut=[3, 0]), "sizeOut"),
    (dict(sizeOut=[3, 2.5]), "sizeOut"),
    (dict(mode="2D_tracks", nargout=2), "nargout"),
    (dict(mode="2D_velnorm", nargout=3), "nargout"),
    (dict(mode="2D_velnorm"), "Tracks"),
])
def test_ulm_track2matout_bad_input(kwargs, match):
    args = dict(Tracks=[np.ones((3, 2))], sizeOut=[3, 3])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ULM_Track2MatOut(args.pop("Tracks"), args.pop("sizeOut"), args.pop("mode", None), **args)


def test_ulm_track2matout_accepts_a_loadmat_cell_array():
    cell = np.empty((2, 1), dtype=object)
    cell[0, 0], cell[1, 0] = SPEC_TRACKS
    np.testing.assert_array_equal(ULM_Track2MatOut(cell, [3, 3]), [[1, 2, 0], [0, 0, 0], [0, 1, 1]])
    # a matrix given to a track mode is one track
    np.testing.assert_array_equal(ULM_Track2MatOut(SPEC_TRACKS[0], [3, 3], "2D_tracks"), [[1, 1, 0], [0, 0, 0], [0, 1, 1]])


def test_ulm_track2matout_bad_tracks():
    with pytest.raises(ValueError, match="Tracks"):
        ULM_Track2MatOut(3.0, [3, 3])
    with pytest.raises(ValueError, match="Tracks"):
        ULM_Track2MatOut([np.array(["a", "b"], dtype=object).reshape(1, 2)], [3, 3])


# ---------------------------------------------------------------------------------------------- smoothing, sign

def test_smooth_tracks_matches_matlab_example_and_per_track_loop():
    np.testing.assert_allclose(smooth_tracks([1, 2, 4, 8, 16, 32, 64], [0, 7], span=20),
                               [1, 7 / 3, 31 / 5, 127 / 7, 124 / 5, 112 / 3, 64])
    rng = np.random.default_rng(3)
    lengths = [1, 2, 3, 9, 10, 11, 30]
    y = rng.normal(size=sum(lengths))
    offs = np.concatenate([[0], np.cumsum(lengths)])
    got = smooth_tracks(_readonly(y), offs)
    want = np.concatenate([_brute_smooth(y[a:b]) for a, b in zip(offs[:-1], offs[1:])])
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_track_sign_rounding():
    # exact mean 1/3 > 0; sequential single-precision sum (Octave's mean) gives 0
    vz = np.array([1e8, 1.0, -1e8], dtype=np.float32)
    assert track_sign(vz, [0, 3], pala_compat=True).tolist() == [0.0]
    assert track_sign(vz, [0, 3]).tolist() == [1.0]
    # a mean of 0 within rounding is 0 on the Pythonic path
    assert track_sign([0.1, 0.2, -0.3], [0, 3]).tolist() == [0.0]
    assert track_sign([0.1, 0.2, -0.3], [0, 3], pala_compat=True).tolist() == [1.0]
    assert track_sign([-1.0, -2.0, 4.0, 4.0], [0, 2, 4], pala_compat=True).tolist() == [-1.0, 1.0]


def test_track_sign_pala_is_sequential_single_sum():
    # many tracks of mixed lengths, means near 0: the sign must be that of the left-to-right
    # float32 sum, track by track (what Octave's mean does), for every track
    rng = np.random.default_rng(7)
    lengths = rng.integers(0, 300, 400)
    lengths[:5] = [0, 1, 2, 1023, 1025]
    offs = np.concatenate([[0], np.cumsum(lengths)])
    # large values that cancel: the order of the additions decides the sign (a pairwise sum
    # gives another sign on several of these tracks)
    vz = rng.choice(np.float32([3e7, -3e7, 1, -1, 0.5, -2]), size=offs[-1])
    want = []
    for a, b in zip(offs[:-1], offs[1:]):
        acc = np.float32(0)
        for v in vz[a:b]:
            acc = np.float32(acc + v)
        want.append(float(np.sign(acc)))
    got = track_sign(_readonly(vz), offs, pala_compat=True)
    assert got.tolist() == want


# ---------------------------------------------------------------------------------------------- grid

def test_super_resolution_grid():
    g = SuperResolutionGrid((64, 80), 10)
    assert g.sr_shape == (641, 801)
    assert SuperResolutionGrid([56, 72], 8).sr_shape == (449, 577)
    z, x = g.to_sr(np.array([0.0, 1.25], np.float32), np.array([2.0, 3.0], np.float32))
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, [10, 22.5])
    # 0-based pixel p -> SR index (p + 1) * res: the map spans -1 + [0.5, N + 0.5] / res pixels
    left, right, bottom, top = g.extent_px()
    assert left == pytest.approx(-0.95) and right == pytest.approx(79.15) and top == pytest.approx(-0.95)
    for bad in [(0, 3), (3,), (2.5, 3)]:
        with pytest.raises(ValueError, match="shape"):
            SuperResolutionGrid(bad, 10)
    with pytest.raises(ValueError, match="res"):
        SuperResolutionGrid((3, 3), 0)


# ---------------------------------------------------------------------------------------------- parity with PALA

def _sr_inputs(ref, method):
    res = float(ref.params["res"][0])
    nz, nx = (int(v) for v in ref.params["shape"][:2])
    grid = SuperResolutionGrid((nz, nx), res)  # the one SR conversion (PALA's rounding)
    size = grid.sr_shape
    # reference README step 6: the shift and scaling run in single precision
    vel = grid.tracks_to_sr(ref.tracks(method, "Tracks_vel"), 4)
    interp = grid.tracks_to_sr([np.asarray(t, np.float64) for t in ref.tracks(method, "Tracks_interp")], 3)
    raw = grid.tracks_to_sr([np.concatenate(ref.tracks(method, "Tracks_raw"))], 2)[0]
    return res, (nz, nx), size, vel, interp, raw


@pytest.mark.parametrize("method", METHODS)
def test_ulm_track2matout_parity(ref, method, capsys):
    res, _, size, vel, interp, raw = _sr_inputs(ref, method)
    assert vel[0].dtype == np.float32
    np.testing.assert_array_equal(ULM_Track2MatOut(vel, size), ref.map(method, "MatOut"))
    np.testing.assert_array_equal(ULM_Track2MatOut(raw, size, "2D_allin"), ref.map(method, "MatOut_allin"))
    for mode, name in (("2D_vel_z", "MatOut_zdir"), ("2D_velnorm", "MatOut_vel")):
        want = ref.map(method, name)
        got = ULM_Track2MatOut(vel, size, mode)
        np.testing.assert_array_equal(got != 0, want != 0)
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6 * np.abs(want).max())
    np.testing.assert_allclose(ULM_Track2MatOut(interp, size, "2D_velmean"), ref.map(method, "MatOut_velmean"), rtol=1e-12)
    assert capsys.readouterr().out.count("Building 2D ULM image") == 5


@pytest.mark.parametrize("method", ["radial", "nolocalization"])
def test_render_pala_compat_parity(ref, method):
    """The Pythonic render on PALA's tracks (wavelength = 0-based pixel here) gives PALA's maps."""
    res, shape, _, _, _, _ = _sr_inputs(ref, method)
    tv = ref.tracks(method, "Tracks_vel")
    tracks = Tracks.from_list(tv, columns=("z", "x", "vz", "vx", "t"))
    assert tracks.points.dtype == np.float32
    maps = render(tracks, res=res, shape=shape, kinds=("density", "direction", "velocity_norm"), pala_compat=True)
    np.testing.assert_array_equal(maps["density"], ref.map(method, "MatOut"))
    for kind, name in (("direction", "MatOut_zdir"), ("velocity_norm", "MatOut_vel")):
        want = ref.map(method, name)
        np.testing.assert_allclose(maps[kind], want, rtol=2e-6, atol=1e-6 * np.abs(want).max())
    ti = Tracks.from_list(ref.tracks(method, "Tracks_interp"), columns=("z", "x", "vmean"))
    vm = render(ti, res=res, shape=shape, kinds="velocity_mean")["velocity_mean"]  # constant per track: no quirk
    np.testing.assert_allclose(vm, ref.map(method, "MatOut_velmean"), rtol=1e-12)
    raw = np.concatenate(ref.tracks(method, "Tracks_raw"))
    locs = Localizations(z=raw[:, 0], x=raw[:, 1], frame=raw[:, 2].astype(int) - 1)
    np.testing.assert_array_equal(render(locs, res=res, shape=shape, kinds="density_all")["density_all"],
                                  ref.map(method, "MatOut_allin"))


def test_float32_conversion_matters(ref_a):
    """Doing the SR conversion in double moves points (README step 6): the float32 path is needed."""
    res, shape, size, _, _, _ = _sr_inputs(ref_a, "interp")
    tv = ref_a.tracks("interp", "Tracks_vel")
    dbl = Tracks.from_list(tv, columns=("z", "x", "vz", "vx", "t"), dtype=np.float64)
    sgl = Tracks.from_list(tv, columns=("z", "x", "vz", "vx", "t"))
    want = ref_a.map("interp", "MatOut")
    assert np.array_equal(render(sgl, res=res, shape=shape)["density"], want)
    assert not np.array_equal(render(dbl, res=res, shape=shape)["density"], want)


# ---------------------------------------------------------------------------------------------- Pythonic render

def _pixel_tracks(tracks_sr, res):
    """SR-coordinate test tracks -> a Tracks table in 0-based pixels (z, x, vz, vx)."""
    pts = [np.column_stack([t[:, :2] / res - 1, t[:, 2:4]]) for t in tracks_sr]
    return Tracks.from_list(pts, columns=("z", "x", "vz", "vx"))


def test_render_pythonic_pairs_each_velocity_with_its_own_pixel():
    res = 10
    # SR pixel (2,2) at speed 5, then (1,1) at speed 50; PALA gives the first speed
    # to the first pixel in sorted (column-major) order, (1,1)
    sr = [np.array([[2.0, 2.0, 3.0, 4.0], [1.0, 1.0, 30.0, 40.0]])]
    tr = _pixel_tracks(sr, res)
    py = render(tr, res=res, shape=(1, 1), kinds=("velocity_mean", "density"))
    pala = render(tr, res=res, shape=(1, 1), kinds=("velocity_mean",), pala_compat=True)
    assert py["velocity_mean"][1, 1] == pytest.approx(5) and py["velocity_mean"][0, 0] == pytest.approx(50)
    assert pala["velocity_mean"][0, 0] == pytest.approx(5) and pala["velocity_mean"][1, 1] == pytest.approx(50)
    np.testing.assert_array_equal(py["density"], [[1] + [0] * 10, [0, 1] + [0] * 9] + [[0] * 11] * 9)


def test_render_modes_agree_when_velocity_is_constant_per_track():
    rng = np.random.default_rng(11)
    tracks = _random_sr_tracks(rng, size=(20, 30))
    const = [np.column_stack([t[:, :2], np.repeat(t[:1, 2:], len(t), axis=0)]) for t in tracks]
    tr = _pixel_tracks(const, 10)
    kinds = ("density", "density_all", "velocity_mean", "velocity_norm", "direction")
    a = render(tr, res=10, shape=(2, 3), kinds=kinds)
    b = render(tr, res=10, shape=(2, 3), kinds=kinds, pala_compat=True)
    assert list(a) == list(kinds)
    for k in kinds:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-12)
    assert a["density_all"].sum() >= a["density"].sum() > 0
    np.testing.assert_allclose(np.abs(a["direction"]), a["velocity_norm"] * (a["direction"] != 0), rtol=1e-12)
    # with varying velocity the two pairings differ
    tr = _pixel_tracks(tracks, 10)
    a = render(tr, res=10, shape=(2, 3), kinds="velocity_norm")["velocity_norm"]
    b = render(tr, res=10, shape=(2, 3), kinds="velocity_norm", pala_compat=True)["velocity_norm"]
    assert not np.allclose(a, b)


def test_render_does_not_modify_input():
    rng = np.random.default_rng(5)
    tr = _pixel_tracks(_random_sr_tracks(rng, size=(20, 30)), 10)
    tr.points.setflags(write=False)
    before = tr.points.copy()
    render(tr, res=10, shape=(2, 3), kinds=("density", "direction", "velocity_mean"), pala_compat=True)
    np.testing.assert_array_equal(tr.points, before)


@pytest.mark.parametrize("kwargs, match", [
    (dict(kinds=("density", "speed")), "kinds"),
    (dict(kinds=()), "kinds"),
    (dict(shape=(3,)), "shape"),
    (dict(res=-1), "res"),
    (dict(pala_compat="yes"), "pala_compat"),
    (dict(kinds="velocity_norm"), "vz"),
])
def test_render_bad_input(kwargs, match):
    tr = Tracks.from_list([np.zeros((2, 3))], columns=("z", "x", "frame"))
    args = dict(res=10, shape=(3, 3))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        render(tr, **args)


def test_render_bad_table():
    with pytest.raises(ValueError, match="tracks"):
        render(np.zeros((3, 2)), shape=(3, 3))
    with pytest.raises(ValueError, match="density_all"):
        render(Localizations(z=[1.0], x=[1.0], frame=[0]), shape=(3, 3), kinds="density")


def test_render_module_is_exported():
    import pyulm
    import pyulm.render as module

    assert pyulm.render is module and pyulm.render.render is render


def test_pyulm_render_is_the_fourth_verb():
    """``pyulm.render(tracks, ...)`` renders; ``pyulm.render.render`` is the same function."""
    import pyulm

    tr = Tracks.from_list([np.array([[0.0, 0.0, 100.0, 0.0, 0.0], [0.04, 0.0, 100.0, 0.0, 1e-3]]),
                           np.array([[1.0, 1.0, -50.0, 0.0, 0.0], [1.0, 1.1, -50.0, 0.0, 1e-3]])],
                          columns=("z", "x", "vz", "vx", "t"))
    kinds = ("density", "direction", "velocity_norm")
    got = pyulm.render(tr, res=10, shape=(2, 2), kinds=kinds)
    want = pyulm.render.render(tr, res=10, shape=(2, 2), kinds=kinds)
    for k in kinds:
        np.testing.assert_array_equal(got[k], want[k])
    assert got["direction"].max() == pytest.approx(100.0) and got["direction"].min() == pytest.approx(-50.0)
    with pytest.raises(TypeError):
        pyulm.render(tr, 10)  # options are keywords, as for render.render


def test_drop_in_and_render_share_one_velocity_recipe():
    """ULM_Track2MatOut and render(pala_compat=True) give the same velocity maps on SR-unit tracks."""
    rng = np.random.default_rng(3)
    pts = [np.column_stack([np.cumsum(rng.normal(0, 0.3, (n, 2)), 0) + 5, rng.normal(0, 20, (n, 2))])
           for n in (3, 12, 25, 40)]
    tracks = Tracks.from_list([np.column_stack([p[:, :2] / 10 - 1, p[:, 2:]]) for p in pts],
                              columns=("z", "x", "vz", "vx"), dtype=np.float64)
    maps = render(tracks, res=10, shape=(2, 2), kinds=("direction", "velocity_norm"), pala_compat=True)
    sr = SuperResolutionGrid((2, 2), 10).tracks_to_sr(tracks.to_list())
    for kind, mode in (("direction", "2D_vel_z"), ("velocity_norm", "2D_velnorm")):
        np.testing.assert_allclose(ULM_Track2MatOut(sr, [21, 21], mode), maps[kind], rtol=1e-12, atol=1e-12)


def test_smooth_tracks_matches_matlab_smooth_per_track():
    """The one-pass smoothing over all tracks equals MATLAB's smooth applied track by track (bitwise)."""
    from pyulm.tracking.matlab import matlab_smooth

    rng = np.random.default_rng(7)
    for span in (1, 3, 9, 10, 20):
        lengths = rng.integers(0, 45, 60)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        y = rng.normal(0, 30, offsets[-1])
        want = np.concatenate([matlab_smooth(y[a:b], span) for a, b in zip(offsets[:-1], offsets[1:]) if b > a])
        np.testing.assert_array_equal(smooth_tracks(y, offsets, span), want)
