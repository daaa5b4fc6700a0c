"""The greedy solver of ``decon``: its fast paths give the values of the plain formulas."""
import numpy as np

from pyulm.denoise import noise_level
from pyulm.localization.decon import default_lambda, fine_psf
from pyulm.localization.decon_ops import make_operator


def test_default_lambda_is_the_universal_threshold_of_each_frame_noise_level():
    """λ = 2 σ ‖h‖ √(2 ln p) with σ = pyulm.denoise.noise_level, exactly, for even and odd pixel counts."""
    rng = np.random.default_rng(2)
    h = fine_psf((3, 3), 3)
    for shape in ((20, 20, 3), (21, 19, 2), (9, 9, 1)):
        y = rng.normal(size=shape)
        y[0, 0, 0] = y[1, 1, 0]  # ties at any rank
        op = make_operator(shape[:2], h, 3)
        ref = 1.0 * 2.0 * noise_level(y) * op.column_norm * np.sqrt(2.0 * np.log(op.Fz * op.Fx))
        ref = np.maximum(ref, 1e-6 * np.abs(y).max(axis=(0, 1)) + np.finfo(float).tiny)
        np.testing.assert_array_equal(default_lambda(y, h, 3), ref)


def test_local_maxima_are_the_3x3_maxima_of_each_frame():
    """Candidates' peaks: pixels not below any of their 8 neighbours, outside the frame counting as −∞."""
    from scipy import ndimage

    from pyulm.localization.decon_greedy import _local_max

    rng = np.random.default_rng(4)
    c = rng.integers(0, 4, size=(3, 9, 11)).astype(np.float32)  # many ties
    ref = c >= ndimage.maximum_filter(c, size=(1, 3, 3), mode="constant", cval=-np.inf)
    np.testing.assert_array_equal(_local_max(c), ref)


def test_peaks_of_a_sparse_mask_are_its_local_maxima(monkeypatch):
    """The sparse path (neighbours of the masked pixels only) finds the dense path's pixels, borders included."""
    from pyulm.localization import decon_greedy as g

    rng = np.random.default_rng(5)
    c = rng.integers(0, 4, size=(3, 9, 11)).astype(np.float32)  # many ties
    for density in (0.05, 0.3, 1.0):
        mask = rng.random(c.shape) < density
        mask[:, 0, 0] = mask[:, -1, -1] = True  # corners: neighbours outside the frame
        ref = g._nonzero(g._local_max(c) & mask)
        assert ref[0].size > 0
        for sparse in (0, 1e9):  # always the sparse path, then never
            monkeypatch.setattr(g, "SPARSE", sparse)
            for u, v in zip(g._peaks(c, mask), ref):
                np.testing.assert_array_equal(u, v)


def test_coupled_pairs_are_those_of_a_kd_tree():
    """Bubbles of one frame closer than the coupling (FWHM units): the pairs a k-d tree finds, ties included."""
    from scipy.spatial import cKDTree

    from pyulm.localization.decon_psf import PatchPSF
    from pyulm.localization.decon_refine import Block

    rng = np.random.default_rng(5)
    block = Block(np.zeros((6, 40, 48)), PatchPSF((3.0, 2.5)), 2.0)
    for lattice in (False, True):
        n = 400
        t, z, x = rng.integers(0, 6, n), rng.uniform(-0.5, 39.5, n), rng.uniform(-0.5, 47.5, n)
        if lattice:  # distances exactly at the coupling radius
            z, x = np.round(z) * 1.5, np.round(x) * 1.25
        pts = np.column_stack([t * 1e3, z / 3.0, x / 2.5])
        ref = cKDTree(pts).query_pairs(2.0, output_type="ndarray")
        got = block.pairs(t, z, x)
        assert got.shape == ref.shape and np.all(got[:, 0] < got[:, 1])
        key = lambda p: set(map(tuple, p.tolist()))
        assert key(got) == key(ref)


def test_bubbles_do_not_depend_on_chunks_or_threads(monkeypatch):
    """The greedy solver runs chunks of frames on threads: any chunking and thread count gives the same bubbles."""
    from pyulm._parallel import limit_threads
    from pyulm.localization import decon
    from pyulm.sim import free_motion

    sim = free_motion((32, 32), n_frames=40, n_bubbles=(8, 8), psf_fwhm=(3.0, 3.0), snr_db=20.0, seed=9)
    with limit_threads(1):
        ref = decon.greedy_localize(sim.iq)
    for chunk, threads in ((8, 2), (13, 2), (64, 1)):
        monkeypatch.setattr(decon, "CHUNK", chunk)
        with limit_threads(threads):
            got = decon.greedy_localize(sim.iq)
        for u, v in zip(ref, got):
            np.testing.assert_array_equal(u, v)


_FORK_CHECK = """
import numpy as np
from pyulm._parallel import limit_threads
from pyulm.localization import decon, decon_fork
from pyulm.sim import free_motion

assert decon_fork._fork_ok(), "a fresh interpreter on Linux must be allowed to fork"
sim = free_motion((32, 32), n_frames=40, n_bubbles=(8, 8), psf_fwhm=(3.0, 3.0), snr_db=20.0, seed=9)
with limit_threads(1):
    ref = decon.greedy_localize(sim.iq)

def no_threads(*args):
    raise AssertionError("the chunks ran on threads, not on forked processes")

decon_fork.MIN_PIXELS = 0
decon_fork.available_cpus = lambda: 2
decon_fork.map_chunks = no_threads
decon.CHUNK = 7
with limit_threads(2):
    got = decon.greedy_localize(sim.iq)
assert len(ref) == len(got)
for u, v in zip(ref, got):
    np.testing.assert_array_equal(u, v)
print("forked ok")
"""


def test_bubbles_from_forked_processes_are_those_of_one_thread():
    """Chunks on forked processes (large jobs, Linux) give the bubbles of one thread, bit for bit.

    Run in a fresh interpreter: inside the test session other tests leave threads running,
    where decon (rightly) does not fork."""
    import subprocess
    import sys

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("decon forks on Linux only")
    run = subprocess.run([sys.executable, "-c", _FORK_CHECK], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "forked ok" in run.stdout, run.stderr[-3000:]


def test_chunks_fall_back_to_threads_when_no_process_starts(monkeypatch):
    """A pool that cannot start (process limits) leaves the chunks to threads, with the same results."""
    import multiprocessing
    import types

    from pyulm.localization import decon_fork

    def no_pool(n):
        raise OSError("no more processes")

    calls = []
    fake = types.SimpleNamespace(get_context=lambda method: types.SimpleNamespace(Pool=no_pool),
                                 get_all_start_methods=lambda: ["fork"], current_process=multiprocessing.current_process)
    monkeypatch.setattr(decon_fork, "mp", fake)
    monkeypatch.setattr(decon_fork, "available_cpus", lambda: 2)
    monkeypatch.setattr(decon_fork, "_fork_ok", lambda: True)
    monkeypatch.setattr(decon_fork, "map_chunks", lambda fn, b, w: calls.append(w) or [fn(*x) for x in b])
    out = decon_fork.map_chunks_forked(lambda lo, hi: hi - lo, [(0, 3), (3, 8)], 2, decon_fork.MIN_PIXELS)
    assert out == [3, 5] and calls == [2] and decon_fork._task is None


def test_amplitude_blocks_are_the_first_entry_of_the_jacobian_blocks():
    """Pruning's value-only Gram blocks equal the amplitude entry of the full 3 x 3 blocks, rank 1 and 2."""
    from pyulm.localization.decon_refine import gram, gram_values

    rng = np.random.default_rng(6)
    for R in (1, 2):
        Zi, Xi, Zj, Xj = (rng.normal(size=(7, 2, 9, R)) for _ in range(4))
        np.testing.assert_allclose(gram_values(Zi[:, :1], Xi[:, :1], Zj[:, :1], Xj[:, :1]),
                                   gram(Zi, Xi, Zj, Xj)[:, :1, :1], rtol=1e-13)


def test_no_fork_inside_a_program_embedding_python(monkeypatch):
    """MATLAB's InProcess py.* (or Octave's pythonic) embeds Python: its process is never forked."""
    from pyulm.localization import decon_fork

    monkeypatch.setattr(decon_fork.os, "readlink", lambda path: "/usr/local/MATLAB/R2024b/bin/glnxa64/MATLAB")
    assert not decon_fork._python_is_the_program() and not decon_fork._fork_ok()
    monkeypatch.setattr(decon_fork.os, "readlink", lambda path: "/usr/bin/python3.11")
    assert decon_fork._python_is_the_program()
