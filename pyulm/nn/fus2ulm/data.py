"""fUS / ULM pairs for training and evaluation (numpy; no torch).

Sources: a pair file written by ``pyulm simulate --pairs N OUT.npz``
(:func:`pyulm.sim.doppler.save_pairs`), or the user's registered pairs — a power
Doppler / fUS image (``.mat``, ``.tif``, ``.npy``, ``.png``) and the ULM density
``MatOut`` of the same section (``.mat``; or any of the image formats) —
preprocessed like the simulated ones (:func:`load_registered_pair`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...sim.doppler import fus_display, resize, ulm_log

IMAGE_SUFFIXES = (".mat", ".tif", ".tiff", ".npy", ".png")


def read_image(path, variable: str | None = None, *, what: str = "image") -> np.ndarray:
    """One 2-D image from ``.mat`` (``variable``, or the only 2-D numeric array), TIFF, ``.npy`` or PNG.

    A colour image is averaged to grayscale (the poster's preprocessing). The
    result is a new float64 array (files and inputs are never modified).
    """
    p = Path(path)
    suf = p.suffix.lower()
    if suf not in IMAGE_SUFFIXES:
        raise ValueError(f"{what} {p}: unsupported file type {suf!r}; expected one of {', '.join(IMAGE_SUFFIXES)}")
    if not p.is_file():
        raise FileNotFoundError(f"{what} {p} does not exist")
    if suf == ".mat":
        from ...io import read_mat

        data = read_mat(p)
        if variable is not None:
            if variable not in data:
                raise ValueError(f"{what} {p}: no variable {variable!r}; it holds {sorted(data)}")
            arr = data[variable]
        else:
            cands = {k: v for k, v in data.items() if isinstance(v, np.ndarray) and v.dtype.kind in "fiuc"
                     and np.squeeze(v).ndim in (2, 3)}
            if len(cands) != 1:
                raise ValueError(f"{what} {p}: cannot tell which variable is the image (candidates {sorted(cands)}); "
                                 "name it (--variable / variable=)")
            arr = next(iter(cands.values()))
    elif suf in (".tif", ".tiff"):
        import tifffile

        arr = tifffile.imread(p)
    elif suf == ".npy":
        arr = np.load(p, allow_pickle=False)
    else:
        from PIL import Image

        with Image.open(p) as im:
            arr = np.asarray(im)
    arr = np.squeeze(np.asarray(arr))
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].mean(-1)
    return check_image(arr, f"{what} {p}")


def check_image(image, what: str = "image", *, min_size: int = 16) -> np.ndarray:
    """A finite 2-D float64 copy of ``image``, or one clear ValueError."""
    a = np.asarray(image)
    if a.dtype.kind not in "fiu" or a.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D real image, got shape {a.shape} dtype {a.dtype}")
    if min(a.shape) < min_size:
        raise ValueError(f"{what}: expected at least {min_size} x {min_size} pixels, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what}: contains NaN or Inf ({int(np.size(a) - np.isfinite(a).sum())} pixels); "
                         "expected finite values")
    return np.array(a, dtype=np.float64)


def check_registered(fus_shape, ulm_shape, where: str = "pair") -> None:
    """Registered = the ULM grid is the fUS grid refined by one factor on both axes (±2 %; PALA's
    ``res · N + 1`` maps count), otherwise the pair is refused."""
    rz = ulm_shape[0] / fus_shape[0]
    rx = ulm_shape[1] / fus_shape[1]
    if abs(rz - rx) > 0.02 * max(rz, rx):
        raise ValueError(f"{where}: fUS {tuple(fus_shape)} and ULM {tuple(ulm_shape)} are not registered (the ULM "
                         f"grid must refine the fUS grid by the same factor on both axes, got {rz:.3g} and {rx:.3g}); "
                         "register the ULM map onto the fUS image first")


def load_registered_pair(fus, ulm, *, size: int = 128, fus_variable: str | None = None,
                         ulm_variable: str | None = "MatOut", power_doppler: bool = True,
                         dynamic_range_db: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    """A user's registered pair, preprocessed as the simulated pairs: ``(fus, ulm)`` (size, size) float32 in [0, 1].

    Parameters
    ----------
    fus, ulm : path or ndarray
        The fUS image (power Doppler) and the ULM density (PALA's ``MatOut``: counts per SR pixel).
    size : int
        Output size (the poster: 512).
    power_doppler : bool
        ``fus`` is raw power Doppler (converted to dB over ``dynamic_range_db``); False: already
        a grayscale display image (rescaled to [0, 1] by its min and max).
    """
    f = read_image(fus, fus_variable, what="fUS image") if isinstance(fus, (str, Path)) else check_image(fus, "fus")
    u = read_image(ulm, ulm_variable, what="ULM map") if isinstance(ulm, (str, Path)) else check_image(ulm, "ulm")
    check_registered(f.shape, u.shape, f"pair ({fus if isinstance(fus, (str, Path)) else 'fus'}, "
                                       f"{ulm if isinstance(ulm, (str, Path)) else 'ulm'})")
    if power_doppler:
        if f.min() < 0:
            raise ValueError("fUS image: power Doppler must be >= 0 (pass power_doppler=False for a display image)")
        fi = fus_display(f, dynamic_range_db)
    else:
        span = f.max() - f.min()
        fi = (f - f.min()) / span if span > 0 else np.zeros_like(f)
    if u.min() < 0:
        raise ValueError("ULM map: expected non-negative densities (counts per SR pixel)")
    return resize(fi, size).astype(np.float32), ulm_log(np.maximum(resize(u, size), 0)).astype(np.float32)


def split(n: int, counts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, validation, test): the first ``counts[0]`` pairs, the next ``counts[1]``, the next ``counts[2]``
    (the poster: 29 / 1 / 5 of 35). Order-based so that adding pairs never moves the earlier ones."""
    c = [int(v) for v in counts]
    if len(c) != 3 or c[0] < 1 or c[1] < 1 or c[2] < 0:
        raise ValueError(f"split: expected [train >= 1, validation >= 1, test >= 0], got {list(counts)}")
    if sum(c) > n:
        raise ValueError(f"split: {c} needs {sum(c)} pairs, only {n} given")
    idx = np.arange(n)
    return idx[: c[0]], idx[c[0]: c[0] + c[1]], idx[c[0] + c[1]: sum(c)]
