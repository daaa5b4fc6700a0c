"""BLAS products (and LAPACK's Cholesky) that release the GIL, on the caller's thread: the
SVD filter's Gram matrix, projection and eigenvector certificate spread over pyulm's own
threads.

scipy's Python BLAS wrappers (``scipy.linalg.blas``) hold the GIL while they compute, so
two Python threads calling them take turns; their only parallelism is BLAS's own thread
pool, whose workers then busy-wait for the next job for ~0.1 s after each product
(OpenBLAS: 2^28 cycles), a core lost to everything that runs next (the filter's
single-threaded eigensolver, the projection's threads; measured on 2 cores: the 78 x 118
x 800 block's eigenvectors took 0.13 s of CPU for 0.065 s of work). Here the same
routines are called through the function pointers scipy publishes for Cython
(``scipy.linalg.cython_blas``, the BLAS scipy itself links, whatever it is) with
:mod:`ctypes`, which releases the GIL for the call: each thread runs its own
single-threaded product (the caller holds BLAS's pool at one thread) and no pool wakes.

Arrays are handed over as BLAS sees them: 2-D, column-major with unit stride down a column
(a C-ordered array is passed as its transpose, see :func:`fortran_view`).
"""
from __future__ import annotations

import ctypes
import functools

import numpy as np

_P = ctypes.c_void_p


@functools.lru_cache(maxsize=None)
def _routine(name: str, n_args: int, library: str = "blas"):
    """The ``scipy.linalg.cython_blas`` (or ``cython_lapack``) routine ``name`` as a ctypes
    function (GIL released)."""
    from scipy.linalg import cython_blas, cython_lapack

    capsule = (cython_blas if library == "blas" else cython_lapack).__pyx_capi__[name]
    # private prototypes: ctypes.pythonapi's shared function objects are left as they are
    get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
    get_pointer = ctypes.PYFUNCTYPE(_P, ctypes.py_object, ctypes.c_char_p)(("PyCapsule_GetPointer", ctypes.pythonapi))
    return ctypes.CFUNCTYPE(None, *([_P] * n_args))(get_pointer(capsule, get_name(capsule)))


def _lead(a: np.ndarray) -> int:
    """BLAS's leading dimension of a column-major 2-D array (unit stride down each column)."""
    if a.ndim != 2 or a.strides[0] != a.itemsize or a.strides[1] % a.itemsize or not a.flags.aligned:
        raise ValueError(f"expected a column-major 2-D array, got strides {a.strides} for shape {a.shape}")
    return max(1, a.strides[1] // a.itemsize, a.shape[0])


def _int(v: int):
    return ctypes.byref(ctypes.c_int(int(v)))


def _scalar(v, dtype):
    return np.array(v, dtype=dtype)  # kept alive by the caller's frame while BLAS reads it


def fortran_view(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(F, transposed)``: ``a`` itself if column-major, else its transpose (C-ordered ``a``)."""
    if a.ndim == 2 and a.strides[0] == a.itemsize:
        return a, False
    if a.ndim == 2 and a.strides[1] == a.itemsize:
        return a.T, True
    raise ValueError(f"expected a 2-D array with unit stride along one axis, got strides {a.strides}")


_PREFIX = {np.dtype(np.float32): "s", np.dtype(np.float64): "d", np.dtype(np.complex64): "c",
           np.dtype(np.complex128): "z"}


def _prefix(*arrays) -> str:
    dt = arrays[0].dtype
    if dt not in _PREFIX or any(a.dtype != dt for a in arrays):
        raise ValueError(f"expected floating arrays of one class, got {[str(a.dtype) for a in arrays]}")
    return _PREFIX[dt]


def rank_k(a: np.ndarray, c: np.ndarray, *, trans: bool, beta: float = 1.0) -> None:
    """``c = a a^H + beta c`` (``trans=False``) or ``c = a^H a + beta c`` (``trans=True``) in place,
    upper triangle only (BLAS ``herk``/``syrk``); ``c`` square, column-major, ``a``'s class."""
    p = _prefix(a, c)
    cplx = p in "cz"
    n, k = (a.shape[1], a.shape[0]) if trans else a.shape
    if c.shape != (n, n):
        raise ValueError(f"c: expected shape {(n, n)}, got {c.shape}")
    real = np.float32 if p in "sc" else np.float64
    alpha, b = _scalar(1.0, real), _scalar(beta, real)
    op = (b"C" if cplx else b"T") if trans else b"N"
    fn = _routine(p + ("herk" if cplx else "syrk"), 10)
    fn(ctypes.c_char_p(b"U"), ctypes.c_char_p(op), _int(n), _int(k), alpha.ctypes.data, a.ctypes.data,
       _int(_lead(a)), b.ctypes.data, c.ctypes.data, _int(_lead(c)))


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray, *, alpha=1.0, beta=0.0, trans_a: bool = False,
         trans_b: bool = False) -> None:
    """``c = alpha op(a) op(b) + beta c`` in place (BLAS ``gemm``); ``op`` is the conjugate
    transpose where asked; column-major arrays of one class."""
    p = _prefix(a, b, c)
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if kb != k or c.shape != (m, n):
        raise ValueError(f"shapes do not match: op(a) {(m, k)}, op(b) {(kb, n)}, c {c.shape}")
    t = b"C" if p in "cz" else b"T"
    al, be = _scalar(alpha, c.dtype), _scalar(beta, c.dtype)
    fn = _routine(p + "gemm", 13)
    fn(ctypes.c_char_p(t if trans_a else b"N"), ctypes.c_char_p(t if trans_b else b"N"), _int(m), _int(n), _int(k),
       al.ctypes.data, a.ctypes.data, _int(_lead(a)), b.ctypes.data, _int(_lead(b)), be.ctypes.data,
       c.ctypes.data, _int(_lead(c)))


def hemm(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """``c = a b`` for a Hermitian (real symmetric) ``a`` given by its upper triangle (BLAS
    ``hemm``/``symm``, ``a`` on the left); column-major arrays of one class."""
    p = _prefix(a, b, c)
    m, n = c.shape
    if a.shape != (m, m) or b.shape != (m, n):
        raise ValueError(f"shapes do not match: a {a.shape}, b {b.shape}, c {c.shape}")
    al, be = _scalar(1.0, c.dtype), _scalar(0.0, c.dtype)
    fn = _routine(p + ("hemm" if p in "cz" else "symm"), 12)
    fn(ctypes.c_char_p(b"L"), ctypes.c_char_p(b"U"), _int(m), _int(n), al.ctypes.data, a.ctypes.data, _int(_lead(a)),
       b.ctypes.data, _int(_lead(b)), be.ctypes.data, c.ctypes.data, _int(_lead(c)))


def rank_2k(a: np.ndarray, b: np.ndarray, c: np.ndarray, *, beta: float) -> None:
    """``c = a b^H + b a^H + beta c`` in place, upper triangle only (BLAS ``her2k``/``syr2k``)."""
    p = _prefix(a, b, c)
    n, k = a.shape
    if b.shape != (n, k) or c.shape != (n, n):
        raise ValueError(f"shapes do not match: a {a.shape}, b {b.shape}, c {c.shape}")
    real = np.float32 if p in "sc" else np.float64
    al, be = _scalar(1.0, c.dtype), _scalar(beta, real if p in "cz" else c.dtype)
    fn = _routine(p + ("her2k" if p in "cz" else "syr2k"), 12)
    fn(ctypes.c_char_p(b"U"), ctypes.c_char_p(b"N"), _int(n), _int(k), al.ctypes.data, a.ctypes.data, _int(_lead(a)),
       b.ctypes.data, _int(_lead(b)), be.ctypes.data, c.ctypes.data, _int(_lead(c)))


def cholesky_upper(a: np.ndarray) -> int:
    """LAPACK ``potrf`` on the upper triangle of the square column-major ``a``, in place
    (``a = G^H G``, ``G`` upper; the strict lower triangle is not touched). Returns LAPACK's
    ``info``: 0, or the order of the first leading minor that is not positive definite."""
    p = _prefix(a)
    n = a.shape[0]
    if a.shape != (n, n):
        raise ValueError(f"a: expected a square matrix, got {a.shape}")
    info = ctypes.c_int(0)
    fn = _routine(p + "potrf", 5, "lapack")
    fn(ctypes.c_char_p(b"U"), _int(n), a.ctypes.data, _int(_lead(a)), ctypes.byref(info))
    return int(info.value)
