"""benchmarks/bench_heldout.py: the held-out PSF families render bubbles where the ground truth says."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_heldout", ROOT / "benchmarks" / "bench_heldout.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _modulated(dz, dx, kappa=2.3, sz=1.3, sx=2.0):
    """An IQ-like PSF: a smooth Gaussian envelope carrying a fast axial phase (kappa rad/px)."""
    return np.exp(-0.5 * ((dz / sz) ** 2 + (dx / sx) ** 2)) * np.exp(1j * kappa * dz)


def test_sampled_kernel_with_an_axial_carrier_is_interpolated_without_losing_the_bubble(bench):
    zz, xx = np.meshgrid(np.arange(-8, 9.0), np.arange(-10, 11.0), indexing="ij")
    env = bench.kernel_envelope(_modulated(zz, xx), 2.7, (3.1, 4.7), "test")
    assert env.half == (8, 10)
    assert bench.axial_phase_slope(_modulated(zz, xx)) == pytest.approx(2.3, abs=1e-9)
    for f in (0.0, 0.25, 0.5, 0.75):  # a bubble f px below a pixel centre, seen on the pixel grid
        got = env.fn(zz - f, xx + 0 * f)
        want = _modulated(zz - f, xx)
        assert np.max(np.abs(got - want)) < 0.02, f
        # its envelope peaks where the bubble is (the direct interpolation of the real and imaginary
        # parts put it up to 0.4 px on the wrong side, at 30 % of the amplitude)
        a = np.abs(got[:, 10])
        i = int(a.argmax())
        peak = zz[i, 0] + 0.5 * (a[i - 1] - a[i + 1]) / (a[i - 1] - 2 * a[i] + a[i + 1])
        assert abs(peak - f) < 0.1, (f, peak)
