"""PALA-style pictures: colormaps, RGB renderings, figures and files."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from pyulm import figures as F  # noqa: E402

LAMBDA_MM = 1540 / 15.625e3  # wavelength at 15.625 MHz (reference blocks), mm


def _readonly(a):
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def _maps(shape=(321, 401), seed=0):
    """A synthetic density/direction/velocity triple: two vessels, one going down, one up."""
    rng = np.random.default_rng(seed)
    dens = np.zeros(shape)
    direc = np.zeros(shape)
    vel = np.zeros(shape)
    a, b = shape[1] // 4, 3 * shape[1] // 4  # 100 and 300 for the default shape
    dens[:, a:a + 4] = rng.integers(1, 20, size=(shape[0], 4))
    dens[:, b:b + 3] = rng.integers(1, 20, size=(shape[0], 3))
    direc[:, a:a + 4] = 30.0
    direc[:, b:b + 3] = -60.0
    vel[dens > 0] = np.abs(direc[dens > 0]) + rng.uniform(0, 5, size=int((dens > 0).sum()))
    return dens, direc, vel


# ----------------------------------------------------------------------------- colormaps

def test_colormaps_match_matlab_definitions():
    np.testing.assert_allclose(F.gray(128)[[0, 1, -1], 0], [0, 1 / 127, 1])
    h = F.hot(128)
    assert h.shape == (128, 3)
    np.testing.assert_allclose(h[0], [1 / 48, 0, 0])
    np.testing.assert_allclose(h[47], [1, 0, 0])
    np.testing.assert_allclose(h[95], [1, 1, 0])
    np.testing.assert_allclose(h[-1], [1, 1, 1])
    j = F.jet(256)
    np.testing.assert_allclose(j[0], [0, 0, 0.515625])
    np.testing.assert_allclose(j[-1], [0.5, 0, 0])
    np.testing.assert_allclose(F.jet(4), [[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]])
    for cm in (F.gray(7), F.hot(7), F.jet(7), F.two_sided_hot()):
        assert cm.min() >= 0 and cm.max() <= 1


def test_two_sided_colormap():
    cm = F.two_sided_hot()
    assert cm.shape == (247, 3)
    h = F.hot(128)
    np.testing.assert_array_equal(cm[:124], h[::-1, ::-1][4:])  # blue side: hot reversed in rows and channels
    np.testing.assert_array_equal(cm[124:], h[:123])
    assert cm[0, 2] == 1 and cm[0, 0] < 1 and cm[-1, 0] == 1 and cm[-1, 2] < 1  # no pure white at either end


def test_apply_colormap_writetif_quantisation():
    cm = F.gray(4)
    img = _readonly([[0.0, 0.1, 0.2, 0.5, 0.625, 1.0, 2.0, -1.0]])
    rgb = F.apply_colormap(img, cm, (0, 1))
    # indices round(v * 4) clamped to 1..4: 0, 0.1 and 0.2 share colour 1; 0.5 -> 2;
    # 0.625 -> round(2.5) = 3 (half away from zero; numpy's round gives 2); >= 1 -> 4
    np.testing.assert_allclose(rgb[0, :, 0], [0, 0, 0, 1 / 3, 2 / 3, 1, 1, 0])
    assert rgb.shape == (1, 8, 3)
    np.testing.assert_array_equal(F.apply_colormap(np.zeros((2, 2)), cm), np.zeros((2, 2, 3)))  # empty map
    np.testing.assert_array_equal(img, [[0.0, 0.1, 0.2, 0.5, 0.625, 1.0, 2.0, -1.0]])
    with pytest.raises(ValueError, match="cmap"):
        F.apply_colormap(img, np.ones((4, 2)))
    with pytest.raises(ValueError, match="clim"):
        F.apply_colormap(img, cm, (0, np.nan))


def test_scale_bar_width():
    assert F.scale_bar_width(10, 1540 / 15e3) == 97  # PALA's in vivo example
    assert F.scale_bar_width(10, LAMBDA_MM) == 101
    assert F.scale_bar_width(8, 0.1, length_mm=0.5) == 40
    with pytest.raises(ValueError, match="pixel_size_mm"):
        F.scale_bar_width(10, 0)


# ----------------------------------------------------------------------------- RGB renderings

def test_density_rgb_gamma_saturation_and_scale_bar():
    dens, _, _ = _maps()
    d = _readonly(dens)
    rgb = F.density_rgb(d, res=10, pixel_size_mm=LAMBDA_MM)
    assert rgb.shape == dens.shape + (3,) and rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_array_equal(d, dens)
    assert np.all(rgb[..., 0] == rgb[..., 1])  # grey
    # saturation: pixels above 0.8 * max of density^(1/3) are white
    assert np.all(rgb[dens ** (1 / 3) >= 0.8 * dens.max() ** (1 / 3)] == 1)
    assert np.all(rgb[150, 200] == 0)
    # scale bar: rows H-51..H-48 (0-based), columns 59..59+101
    h = dens.shape[0]
    assert np.all(rgb[h - 51:h - 47, 59:161] == 1)
    assert not np.all(rgb[h - 52, 59:161] == 1) and not np.all(rgb[h - 51:h - 47, 161] == 1)
    no_bar = F.density_rgb(d)
    assert not np.all(no_bar[h - 51:h - 47, 59:161] == 1)


def test_direction_rgb_sides():
    dens, direc, _ = _maps()
    rgb = F.direction_rgb(_readonly(dens), _readonly(direc))
    assert rgb.shape == dens.shape + (3,) and 0 <= rgb.min() and rgb.max() <= 1
    down, up = rgb[:, 101].mean(axis=0), rgb[:, 301].mean(axis=0)
    assert down[0] > down[2] and up[2] > up[0]  # red for deeper, blue for up
    cm = F.two_sided_hot()
    np.testing.assert_array_equal(rgb[150, 200], cm[123])  # background: the middle (black) colour
    with pytest.raises(ValueError, match="direction"):
        F.direction_rgb(dens, direc[:-1])


def test_velocity_rgb_ramp_shading_and_default_vmax():
    dens, _, vel = _maps()
    v, d = _readonly(vel), _readonly(dens)
    rgb = F.velocity_rgb(v, d)
    assert rgb.shape == vel.shape + (3,) and 0 <= rgb.min() and rgb.max() <= 1
    np.testing.assert_array_equal(v, vel)
    # default vmax: 98 % Hazen quantile of nonzero speeds rounded up to tens
    vmax = np.ceil(np.quantile(vel[vel > 0], 0.98, method="hazen") / 10) * 10
    assert F.default_vmax(v) == vmax == 70
    np.testing.assert_array_equal(rgb, F.velocity_rgb(v, d, vmax=vmax))
    assert not np.array_equal(rgb, F.velocity_rgb(v, d, vmax=vmax * 2))
    # the colour ramp: dark red (top, vmax) to dark blue (bottom, 0) over 180 x 50
    assert rgb[2, 20, 0] > rgb[2, 20, 2] and rgb[178, 20, 2] > rgb[178, 20, 0]
    assert np.all(rgb[150, 200] == 0)  # no flow: black
    no_ramp = F.velocity_rgb(v, d, colorbar=False)
    assert np.all(no_ramp[2, 20] == 0)
    # dim vessels are darker: the shading follows density
    dim = F.velocity_rgb(v, np.where(dens > 0, 1.0, 0.0) + (dens > 0) * 100 * (np.arange(vel.shape[1]) > 200), vmax=80)
    assert dim[:, 101].sum() < dim[:, 301].sum()


@pytest.mark.parametrize("func, args, match", [
    (F.density_rgb, (np.zeros((3, 3, 3)),), "density"),
    (F.density_rgb, (np.full((3, 3), np.nan),), "NaN"),
    (F.density_rgb, (-np.ones((3, 3)),), "density"),
    (F.density_rgb, (np.ones((3, 3)) * 1j,), "density"),
    (F.velocity_rgb, (np.ones((3, 3)), np.ones((3, 4))), "density"),
    (F.velocity_rgb, (np.ones((3, 3)), -np.ones((3, 3))), "density"),
])
def test_rgb_bad_input(func, args, match):
    with pytest.raises(ValueError, match=match):
        func(*args)


def test_rgb_bad_options():
    with pytest.raises(ValueError, match="quantile"):
        F.velocity_rgb(np.ones((3, 3)), np.ones((3, 3)), quantile=1.5)
    with pytest.raises(ValueError, match="vmax"):
        F.velocity_rgb(np.ones((3, 3)), np.ones((3, 3)), vmax=-1)
    with pytest.raises(ValueError, match="gamma"):
        F.density_rgb(np.ones((3, 3)), gamma=0)


# ----------------------------------------------------------------------------- figures and files

def test_show_axes_in_mm():
    dens, direc, vel = _maps((81, 121))
    fig = F.density_figure(dens, res=10, pixel_size_mm=0.1)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x (mm)" and ax.get_ylabel() == "z (mm)"
    left, right, bottom, top = ax.images[0].get_extent()
    assert left == pytest.approx(-0.095) and right == pytest.approx(1.115) and top < bottom
    plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    F.direction_figure(dens, direc, res=10, ax=axes[0])
    F.velocity_figure(vel, dens, res=10, ax=axes[1], velocity_unit="mm/s")
    assert axes[0].get_xlabel() == "x (pixel)" and len(axes[1].images) == 1
    assert axes[1].get_title() == "Velocity"
    plt.close(fig)
    with pytest.raises(ValueError, match="rgb"):
        F.show(np.zeros((4, 4)))


def test_save_figure_png_and_tiff_from_arrays(tmp_path):
    dens, _, _ = _maps((81, 121))
    rgb = F.density_rgb(dens)
    for name in ("d.png", "d.tif", "d.TIFF"):
        out = F.save_figure(rgb, tmp_path / name, pixel_size_mm=0.1, res=10)
        with Image.open(out) as im:
            assert im.size == (121, 81) and im.mode == "RGB"
            back = np.asarray(im)
            if name != "d.png":
                assert im.info.get("compression") == "tiff_lzw"
                # 0.01 mm pixels: 1000 pixels per centimetre (unit 3)
                assert (im.tag_v2[282], im.tag_v2[283], im.tag_v2[296]) == (1000.0, 1000.0, 3)
            else:
                assert im.info["dpi"] == pytest.approx((2540.0, 2540.0), rel=1e-3)
        np.testing.assert_array_equal(back, np.floor(rgb * 255 + 0.5).astype(np.uint8))
    u8 = (rgb * 255).astype(np.uint8)
    F.save_figure(u8, tmp_path / "u8.png")
    with Image.open(tmp_path / "u8.png") as im:
        np.testing.assert_array_equal(np.asarray(im), u8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.TIFF", "d.png", "d.tif", "u8.png"]  # no temp files


def test_save_figure_from_matplotlib(tmp_path):
    fig = F.density_figure(_maps((41, 61))[0], res=10, pixel_size_mm=0.1)
    for name in ("f.png", "f.tif"):
        F.save_figure(fig, tmp_path / name, dpi=50)
        with Image.open(tmp_path / name) as im:
            assert im.size[0] > 50 and im.size[1] > 50
    plt.close(fig)


def test_save_figure_errors(tmp_path):
    rgb = np.zeros((5, 5, 3))
    with pytest.raises(ValueError, match="path"):
        F.save_figure(rgb, tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="fig_or_image"):
        F.save_figure(rgb + 2, tmp_path / "x.png")
    with pytest.raises(ValueError, match="fig_or_image"):
        F.save_figure(np.zeros((5, 5, 2)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="directory"):
        F.save_figure(rgb, tmp_path / "missing" / "x.png")
    F.save_figure(rgb, tmp_path / "x.png")
    with pytest.raises(FileExistsError):
        F.save_figure(rgb, tmp_path / "x.png", overwrite=False)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


# ----------------------------------------------------------------------------- readable figures (issue 21)

def _bar(ax):
    bar = [ln for ln in ax.lines if ln.get_gid() == "scale_bar"]
    label = [t for t in ax.texts if t.get_gid() == "scale_bar_label"]
    assert len(bar) == 1 and len(label) == 1
    x = bar[0].get_xdata()
    return float(x[1] - x[0]), label[0].get_text()


@pytest.mark.parametrize("pixel_size_mm", [0.05, 0.3, (0.025, 0.05)])
def test_scale_bar_is_right_for_a_non_unit_pixel(pixel_size_mm):
    """The labelled bar is its length in mm on axes in mm, whatever the pixel; the burned-in bar too."""
    dens = _maps((161, 201))[0]
    fig = F.density_figure(dens, res=10, pixel_size_mm=pixel_size_mm, scale_bar_mm=1.0)
    ax = fig.axes[0]
    dz, dx = F.pixel_size_zx(pixel_size_mm)
    left, right, bottom, top = ax.images[0].get_extent()
    assert right - left == pytest.approx(201 / 10 * dx) and bottom - top == pytest.approx(161 / 10 * dz)
    length, label = _bar(ax)
    assert length == pytest.approx(1.0) and label == "1 mm"
    plt.close(fig)
    # PALA's burned-in bar: 1 mm along x is 1 / (dx / res) SR pixels
    rgb = F.density_rgb(dens, res=10, pixel_size_mm=pixel_size_mm)
    h = dens.shape[0]
    width = int(round(1 / (dx / 10)))
    one = np.zeros_like(dens)
    one[0, 0] = 8.0
    bar = F.density_rgb(one, res=10, pixel_size_mm=pixel_size_mm)[h - 50, :, 0]
    plain = F.density_rgb(one, res=10)[h - 50, :, 0]
    assert np.flatnonzero(bar != plain).tolist() == list(range(59, min(59 + width + 1, dens.shape[1])))
    assert rgb.shape == dens.shape + (3,)


def test_colour_bars_carry_units_on_a_dark_background():
    dens, direc, vel = _maps((81, 121))
    figs = {"density": F.density_figure(dens, res=10, pixel_size_mm=0.1),
            "direction": F.direction_figure(dens, direc, res=10, pixel_size_mm=0.1),
            "velocity": F.velocity_figure(vel, dens, res=10, pixel_size_mm=0.1, velocity_unit="mm/s")}
    labels = {k: f.axes[1].get_ylabel() for k, f in figs.items()}
    assert labels == {"density": "tracks per pixel (count)", "direction": "tracks per pixel (count): blue up, red deeper",
                      "velocity": "velocity (mm/s)"}
    for f in figs.values():
        assert f.get_facecolor()[:3] == (0.0, 0.0, 0.0)  # PALA's dark background
        assert f.axes[0].xaxis.label.get_color() == "white"
        plt.close(f)
    # the velocity colour bar spans 0 to the default top of the scale, in the map's unit
    f = F.velocity_figure(vel, dens, res=10, pixel_size_mm=0.1, velocity_unit="pixel/s")
    assert f.axes[1].get_ylabel() == "velocity (pixel/s)" and f.axes[1].get_ylim()[1] == pytest.approx(F.default_vmax(vel))
    plt.close(f)
    with pytest.raises(ValueError, match="velocity_unit"):
        F.velocity_figure(vel, dens, velocity_unit="")


def test_write_figures_png_and_pdf(tmp_path):
    dens, direc, vel = _maps((81, 121))
    out = F.write_figures(tmp_path, density=dens, direction=direc, velocity=vel, res=10, pixel_size_mm=0.1,
                          formats=("png", "pdf"))
    assert sorted(out) == ["density_pdf", "density_png", "direction_pdf", "direction_png", "velocity_pdf",
                           "velocity_png"]
    assert out["velocity_pdf"].read_bytes()[:5] == b"%PDF-"
    assert out["density_png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temp files
    with pytest.raises(FileExistsError):
        F.write_figures(tmp_path, density=dens, res=10, pixel_size_mm=0.1, overwrite=False)
    with pytest.raises(ValueError, match="formats"):
        F.write_figures(tmp_path, density=dens, res=10, pixel_size_mm=0.1, formats=("gif",))
    with pytest.raises(ValueError, match="pixel_size_mm"):
        F.write_figures(tmp_path, density=dens, res=10, pixel_size_mm=-1)
    with pytest.raises(ValueError, match="out_dir"):
        F.write_figures(tmp_path / "missing", density=dens, res=10, pixel_size_mm=0.1)
    assert F.save_figure(F.density_rgb(dens), tmp_path / "raw.pdf").read_bytes()[:5] == b"%PDF-"
