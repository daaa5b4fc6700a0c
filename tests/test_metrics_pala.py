import numpy as np
import pytest

from pyulm.metrics import (classification_scores, global_score, gridding_index, pala_mean_error, pala_pairing,
                           psf_mean_error, saturation, stat_multi)

PD = {"Origin": [-1, 0, -1], "Size": [10, 10], "PDelta": [1, 1, 1]}


def _spec_example():
    ref = np.array([[0, 0, 0, 1], [0, 0, 5, 1]], float)[:, :, None]  # [x y z refl]
    loc = np.array([[0.01, 0, 1], [0.05, 0, 1], [5.3, 0, 1]])          # [z x frame]
    return ref, loc


def test_pairing_spec_example_exactly():
    ref, loc = _spec_example()
    r = pala_pairing(ref, loc, PD, th_pair=0.5, th_tp=0.25)
    assert r.stat.tolist() == [[2, 3, 1, 1, 2]]
    # Greedy quirk: L2 (0.05) consumes R2 at ~4.95, so L3 (0.3 from R2) is never paired.
    np.testing.assert_allclose(r.final_pairs[0], [[1, 1, 0.01]])
    np.testing.assert_allclose(r.err_list, [[0.01, -0.01, 0.0]])  # [norm, z_ref - z_loc, x_ref - x_loc]
    assert r.missing[0].tolist() == [2] and r.wrong[0].tolist() == [2, 3]
    # With a generous Th_pair the far pair is "good" (in ErrList) but still not a TP.
    r2 = pala_pairing(ref, loc, PD, th_pair=6.0, th_tp=0.25)
    assert r2.err_list.shape == (2, 3) and r2.err_list[1, 0] == pytest.approx(4.95)
    assert r2.stat.tolist() == [[2, 3, 1, 1, 2]]


def test_pairing_out_of_image_bounds_are_inclusive_with_plus_one():
    # x range [Origin_x, Origin_x + (Nx+1)*dx] = [-1, 10]; z range [-1, 10].
    ref = np.array([[10.0, 0, 10.0, 1], [10.01, 0, 5, 1], [3, 0, -1.0, 1], [3, 0, -1.01, 1],
                    [np.nan, 0, 0, 1]])[:, :, None]
    r = pala_pairing(ref, np.zeros((0, 3)), PD, th_pair=0.5)
    assert r.stat[0, 0] == 2 and r.stat[0, 3] == 2


def test_pairing_frames_and_errors():
    ref, loc = _spec_example()
    with pytest.raises(ValueError, match="th_tp"):
        pala_pairing(ref, loc, PD, th_pair=0.25, th_tp=0.5)
    with pytest.raises(ValueError, match="empty"):
        pala_pairing(np.full((2, 4, 3), np.nan), loc, PD, th_pair=0.5)
    with pytest.raises(ValueError, match="PData"):
        pala_pairing(ref, loc, {"Origin": [0, 0, 0]}, th_pair=0.5)
    # Localizations of other frames are not used; frames without locs give FN only.
    ref2 = np.concatenate([ref, ref], axis=2)
    r = pala_pairing(ref2, loc, PD, th_pair=0.5, th_tp=0.25)
    assert r.stat.tolist() == [[2, 3, 1, 1, 2], [2, 0, 0, 2, 0]]


def test_stat_multi_and_scores():
    ref, loc = _spec_example()
    S, E = stat_multi([ref, ref], [[[loc[:2], loc[2:]]], [[loc[:1]]]], PD, 0.5, 0.25)
    assert S.shape == (6, 1, 2)
    assert S[:, 0, 0].tolist() == [2, 3, 1, 1, 2, 0.25]
    assert S[:, 0, 1].tolist() == [2, 1, 1, 1, 0, 0.5]  # per-bloc Jaccard as a fraction
    assert E[0].shape == (2, 3)
    sc = classification_scores(S[2, 0], S[3, 0], S[4, 0])
    np.testing.assert_allclose(sc["jaccard"], [0.25, 0.5])
    np.testing.assert_allclose(sc["precision"], [1 / 3, 1.0])
    assert pala_mean_error(E[0]) == pytest.approx(0.01)
    assert np.isnan(pala_mean_error(np.zeros((0, 3))))


def test_psf_mean_error_is_bias_corrected_mean_norm_not_rms():
    e = np.array([[0.3, 0.4], [0.3, 0.4], [0.3, -0.4]])
    assert psf_mean_error(e, static_error=[0, 0]) == pytest.approx(0.5)
    assert psf_mean_error(e) == pytest.approx(np.mean(np.abs(e[:, 1] - e[:, 1].mean())))


def test_gridding_index_spec_vector():
    M = np.zeros((201, 301))
    M[9:200:10, 9:300:10] = 1  # MATLAB rows 10:10:200, columns 10:10:300
    gi, f0 = gridding_index([M, M], harmonics=[1, 2])
    assert f0 == (20, 30)
    np.testing.assert_allclose(gi, 60.86219115686625, rtol=1e-10)
    rng = np.random.default_rng(0)
    smooth = gridding_index(rng.random((201, 301)))[0][0]
    assert smooth < 10  # no grid pattern, far lower index
    with pytest.raises(ValueError, match="harmonic"):
        gridding_index(M, harmonics=[20])


def test_saturation_and_global_score():
    assert saturation(np.array([[0, 3], [0, 0.0]])) == 0.25
    g = global_score(rmse=[0.1, 0.2], jaccard=[50, 60], precision=[80, 90], gap=[0.3, 0.5], time=[10, 100],
                     gridding=[3, 15], saturation_fraction=[0.2, 0.3])
    np.testing.assert_allclose(g["scores"]["time"], [1, 0.5])
    np.testing.assert_allclose(g["scores"]["gap"], [0.7, 0.5])
    np.testing.assert_allclose(g["global"], [72.0, 10 * (0.6 * 2 + 0.6 * 2 + 0.9 + 0.5 + 0.5 * 2 + 0.5 + 0.3)])
    assert g["table"].shape == (13, 2) and g["table"][12, 0] == pytest.approx(7.2)
    with pytest.raises(ValueError, match="gap"):
        global_score([0.1], [50], [80], [0.3, 0.2], [10], [3], [0.2])
