"""One rule for options: every method refuses an unknown option, and errors name the caller's argument."""
import numpy as np
import pytest

import pyulm
from pyulm.localization import UnknownOptionError
from pyulm.pala import ULM_localization2D, ULM_tracking2D


def _frame():
    zz, xx = np.mgrid[0:24, 0:24]
    return np.exp(-((zz - 11.3) ** 2 + (xx - 12.6) ** 2) / 2)[:, :, None]


@pytest.mark.parametrize("method", pyulm.available_methods())
def test_every_method_refuses_an_unknown_option(method):
    # The registry checks before the method runs: no torch, weights or work needed.
    with pytest.raises(UnknownOptionError) as info:
        pyulm.localize(_frame(), method, number_of_particles=2, bogus_option=1)
    msg = str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    assert msg.startswith("bogus_option: ") and f"method {method!r}" in msg and "it accepts: " in msg
    for name in pyulm.localization.get_method(method).options:
        assert name in msg


@pytest.mark.parametrize("method, wrong, right", [
    ("interp", "interp_mthod", "interp_method"),
    ("curvefitting", "max_iteration", "max_iterations"),
    ("ncc", "tresholds", "threshold"),
    ("decon", "nIter", "n_iter"),
    ("mblnet", "treshold", "threshold"),
    ("3dml", "minProbability", "min_probability"),
])
def test_misspelt_option_gets_a_suggestion(method, wrong, right):
    with pytest.raises(UnknownOptionError, match=rf"^{wrong}: .*did you mean {right}\?"):
        pyulm.localize(_frame(), method, number_of_particles=2, **{wrong: 1})


def test_misspelt_interp_method_never_runs_the_spline():
    with pytest.raises(ValueError, match="interp_mthod"):
        pyulm.localize(_frame(), "interp", number_of_particles=2, interp_mthod="cubic")


def test_pala_names_given_to_python_get_the_python_name():
    with pytest.raises(UnknownOptionError, match="did you mean number_of_particles"):
        pyulm.localize(_frame(), "radial", numberOfParticles=2)
    with pytest.raises(UnknownOptionError, match="NLocalMax.*did you mean n_local_max"):
        pyulm.localize(_frame(), "radial", number_of_particles=2, NLocalMax=3)
    with pytest.raises(UnknownOptionError, match="InterpMethod.*did you mean interp_method"):
        pyulm.localize(_frame(), "interp", number_of_particles=2, InterpMethod="cubic")
    with pytest.raises(ValueError, match="^number_of_particles: missing"):
        pyulm.localize(_frame(), "radial")


@pytest.mark.parametrize("kwargs, msg", [
    (dict(number_of_particles=0), r"^number_of_particles: expected a value > 0"),
    (dict(number_of_particles=2.5), r"^number_of_particles: expected a whole number"),
    (dict(number_of_particles=1000), r"^number_of_particles: 1000 is too large"),
    (dict(number_of_particles=2, n_local_max=0), r"^n_local_max: "),
    (dict(number_of_particles=2, fwhm=(3, -1)), r"^fwhm: "),
    (dict(number_of_particles=2, interp_method="nearest"), r"^interp_method: "),
])
def test_python_errors_name_python_arguments(kwargs, msg):
    method = "interp" if "interp_method" in kwargs else "radial"
    with pytest.raises(ValueError, match=msg):
        pyulm.localize(_frame(), method, **kwargs)


def _ulm(**fields):
    return {"numberOfParticles": 2, "fwhm": [3, 3], "LocMethod": "radial", **fields}


@pytest.mark.parametrize("ulm, msg", [
    (_ulm(numberOfParticles=0), r"^ULM\.numberOfParticles: expected a value > 0"),
    (_ulm(numberOfParticles=1000), r"^ULM\.numberOfParticles: 1000 is too large"),
    (_ulm(fwhm="three"), r"^ULM\.fwhm: expected a number"),
    (_ulm(fwhm="3"), r"^ULM\.fwhm: expected a number"),
    (_ulm(fwhm=[3, -1]), r"^ULM\.fwhm: "),
    (_ulm(parameters={"NLocalMax": 0}), r"^ULM\.parameters\.NLocalMax: "),
    (_ulm(parameters={"bogus": 1}), r"^ULM\.parameters\.bogus: ULM\.parameters with LocMethod 'radial' has no option"),
    (_ulm(LocMethod="interp", parameters={"InterpMetod": "cubic"}),
     r"^ULM\.parameters\.InterpMetod: .*did you mean InterpMethod\?.*accepts: InterpMethod, NLocalMax$"),
    (_ulm(LocMethod="interp", parameters={"InterpMethod": "nearest"}), r"^ULM\.parameters\.InterpMethod: expected one of"),
    (_ulm(LocMethod="ncc", parameters={"treshold": 0.3}), r"^ULM\.parameters\.treshold: .*did you mean threshold\?"),
])
def test_pala_errors_name_ulm_fields(ulm, msg):
    with pytest.raises(ValueError, match=msg):
        ULM_localization2D(_frame(), ulm)


def test_pala_passes_method_options_from_ulm_parameters():
    ulm = _ulm(LocMethod="curvefitting", parameters={"max_iterations": 0})
    out = ULM_localization2D(_frame(), ulm)  # no iteration: the fit stays at the detection pixel
    np.testing.assert_array_equal(out[:, 1:3], [[12.0, 14.0]])


def test_pala_names_frames_matin():
    with pytest.raises(ValueError, match=r"^MatIn: .*Inf"):
        ULM_localization2D(np.full((10, 10, 1), np.inf), _ulm())
    with pytest.raises(ValueError, match=r"^MatIn: expected a \(z, x, t\)"):
        ULM_localization2D(np.zeros((2, 3, 4, 5)), _ulm())


def test_tracking_errors_name_ulm_fields():
    mt = np.array([[1.0, 10, 10, 1], [1.0, 10.5, 10, 2]])
    ulm = dict(max_linking_distance="2", max_gap_closing=0, min_length=1, res=10, size=[64, 64, 2], scale=[1, 1, 1e-3])
    with pytest.raises(ValueError, match=r"^ULM\.max_linking_distance: expected a number"):
        ULM_tracking2D(mt, ulm)
    ulm["max_linking_distance"] = 0
    with pytest.raises(ValueError, match=r"^ULM\.max_linking_distance: expected a value > 0"):
        ULM_tracking2D(mt, ulm)
    ulm.update(max_linking_distance=2, max_gap_closing=1.5)
    with pytest.raises(ValueError, match=r"^ULM\.max_gap_closing: expected a whole number"):
        ULM_tracking2D(mt, ulm)
    ulm.update(max_gap_closing=0, scale=[1, 1, -1e-3])
    with pytest.raises(ValueError, match=r"^ULM\.scale\(3\): the frame period \(s\) must be"):
        ULM_tracking2D(mt, ulm)
    with pytest.raises(ValueError, match=r"^max_linking_distance: expected a value > 0"):
        pyulm.track(pyulm.tables.Localizations(z=[1.0], x=[1.0], frame=[0]), max_linking_distance=0)
    with pytest.raises(TypeError, match="max_linking_distans"):
        pyulm.track(pyulm.tables.Localizations(z=[1.0], x=[1.0], frame=[0]), max_linking_distans=2)
