"""The strict 3x3 maxima masks once built with scipy's maximum_filter, against detect.strict_maxima.

``estimate_psf`` now calls ``strict_maxima``; ``find_peaks`` keeps its own filter because the two
differ on maps holding NaN (pinned below). The scipy mask is kept here as the reference.
"""
import numpy as np
import pytest
from scipy import ndimage

from pyulm.localization.detect import strict_maxima
from pyulm.localization.ncc import find_peaks, ncc_maps
from pyulm.psf import estimate_psf, gaussian_template


def scipy_strict_maxima(arr):
    """The replaced copies: above the largest of the 8 neighbours of each (z, x) slice, -inf outside."""
    nb = np.ones((3, 3, 1), bool)
    nb[1, 1, 0] = False
    return arr > ndimage.maximum_filter(arr, footprint=nb, mode="constant", cval=-np.inf)


def _arrays(rng, *, nonnegative):
    """Random, quantised (many ties), flat, border-peak and thin arrays, float64 (z, x, t)."""
    out = [rng.standard_normal((17, 13, 4)),
           ndimage.gaussian_filter(rng.standard_normal((32, 24, 3)), (1.5, 1.5, 0)),
           rng.integers(0, 3, (16, 16, 5)).astype(np.float64),
           np.round(rng.standard_normal((20, 9, 4)), 1),
           np.zeros((8, 8, 2)), np.full((6, 7, 1), 5.0),
           rng.standard_normal((1, 9, 3)), rng.standard_normal((9, 1, 3)), rng.standard_normal((1, 1, 2)),
           rng.integers(0, 2, (2, 2, 8)).astype(np.float64)]
    border = np.zeros((7, 9, 6))
    for t, (z, x) in enumerate([(0, 0), (0, 8), (6, 0), (6, 8), (0, 4), (3, 8)]):
        border[z, x, t] = 1.0
    border[1, 1, 0] = 1.0  # tie with the corner peak next to it: neither is strict
    out.append(border)
    inf = rng.standard_normal((10, 10, 2))
    inf[4, 4, 0] = inf[0, 0, 1] = np.inf
    inf[5, 5, 0] = np.inf  # two adjacent +inf: a tie
    out.append(inf)
    if nonnegative:
        return [np.abs(a) for a in out]
    neg = rng.standard_normal((10, 10, 2))
    neg[2:5, 2:5, 0] = -np.inf
    return out + [neg, -np.abs(rng.standard_normal((9, 9, 2)))]


def test_estimate_psf_mask_is_strict_maxima_on_every_input_it_accepts():
    rng = np.random.default_rng(3)
    for arr in _arrays(rng, nonnegative=True):  # estimate_psf works on |frames| as float64
        np.testing.assert_array_equal(strict_maxima(arr), scipy_strict_maxima(arr))
    # NaN never reaches the mask: estimate_psf refuses it (and Inf) before.
    frames = np.zeros((30, 30, 2))
    frames[5:16, 5:16, 0] = gaussian_template(3, (11, 11))
    for bad in (np.nan, np.inf):
        f = frames.copy()
        f[25, 25, 1] = bad
        with pytest.raises(ValueError, match="frames"):
            estimate_psf(f, fwhm=3)


def test_find_peaks_mask_is_strict_maxima_without_nan():
    rng = np.random.default_rng(4)
    for M in _arrays(rng, nonnegative=False):
        np.testing.assert_array_equal(strict_maxima(M), scipy_strict_maxima(M))
        z, x, t = find_peaks(M, threshold=-np.inf, number_of_particles=M.size, border=0)
        expect = strict_maxima(M) & (M > -np.inf)
        tt, xx, zz = np.nonzero(expect.transpose(2, 1, 0))  # column-major order, as find_peaks returns
        for got, want in zip((z, x, t), (zz, xx, tt)):
            np.testing.assert_array_equal(got, want)


def test_find_peaks_keeps_its_filter_because_nan_neighbours_differ():
    # scipy's filter keeps the first neighbour it visits, (z-1, x-1), when that is NaN and
    # ignores a NaN anywhere else; np.maximum (strict_maxima) always propagates it.
    for dz, dx in [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]:
        M = np.zeros((5, 5, 1))
        M[2, 2, 0] = 1.0
        M[2 + dz, 2 + dx, 0] = np.nan
        z, _, _ = find_peaks(M, threshold=0.5, number_of_particles=5)
        assert z.size == (0 if (dz, dx) == (-1, -1) else 1)
        assert not strict_maxima(M)[2, 2, 0]
        assert scipy_strict_maxima(M)[2, 2, 0] == (z.size == 1)


def test_ncc_maps_hold_no_nan_so_localize_ncc_never_meets_the_difference():
    rng = np.random.default_rng(5)
    psf = gaussian_template(3, (7, 7))
    iq = rng.standard_normal((24, 20, 3)) + 1j * rng.standard_normal((24, 20, 3))
    # frames are finite (as_frames); the window with no signal gives 0, never 0/0
    for frames in (np.abs(iq), iq, np.zeros((24, 20, 2)), np.abs(iq) * 1e150, np.abs(iq) * 1e-150):
        for mode in ("amplitude", "complex") if np.iscomplexobj(frames) else ("amplitude",):
            with np.errstate(under="ignore"):
                assert np.all(np.isfinite(ncc_maps(frames, psf, mode=mode)))
