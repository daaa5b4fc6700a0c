"""Whole-acquisition processing, as PALA's in vivo example (``PALA_InVivoULM_example.m``).

Per block (:func:`process_frames`):

1. ``IQ_svd = SVDfilter(IQ, SVD_cutoff)``; power Doppler ``sqrt(sum_t |IQ_svd|^2)``;
2. causal Butterworth band-pass along time, non-finite values set to 0;
3. ``MatTracking = ULM_localization2D(abs(IQ_filt), ULM)`` (any registered ``LocMethod``);
4. positions to wavelengths: ``(pos - 1) * pixel_size`` (no origin, as PALA);
5. ``ULM_tracking2D(MatTracking, ULM, 'velocityinterp')``: float32 ``[z x vz vx t]``.

Over all blocks (:func:`accumulate_maps`): the tracks of every block, in block
order, go through ``ULM_Track2MatOut`` for the density ``MatOut``, the signed
axial map ``MatOut_zdir`` and the speed ``MatOut_vel`` in mm/s, exactly as
PALA builds them; the power Doppler image is the mean over blocks.

:func:`run` does all of it over files, serially or on a Dask cluster, with
per-block results written atomically so an interrupted run resumes.
"""
from __future__ import annotations

import contextlib
import hashlib
import io as _stdio
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _validate as V
from ._fileutil import atomic_path
from ._version import __version__
from .config import Config, ConfigError, resolve_ulm
from .filtering import _svd_blocks, butter_bandpass, butter_coefficients
from .io import FormatError, SourceInfo, inspect, read_frames, save_mat

log = logging.getLogger("pyulm.pipeline")

STAGES = ("read", "filter", "localize", "track", "write")
_BLOCK_FORMAT = 1  # bump when the per-block file layout changes


@dataclass
class BlockResult:
    """What one block contributes.

    MatTracking : (N, 4) ``[intensity z x frame]``, z and x in wavelengths
        (``(pos - 1) * pixel_size``), frames 1-based within the block (PALA step 4).
    tracks : list of float32 (M, 5) ``[z x vz vx t]`` (wavelengths, wavelengths/s, s).
    powdop : (Nz, Nx) power Doppler of the SVD-filtered block.
    n_frames : frames in the block.
    timings : seconds per stage.
    """

    MatTracking: np.ndarray
    tracks: list
    powdop: np.ndarray
    n_frames: int
    timings: dict = field(default_factory=dict)


def _quiet(func, *args, **kwargs):
    """Call a PALA-named function, routing its MATLAB-style prints to the log."""
    buf = _stdio.StringIO()
    with contextlib.redirect_stdout(buf):
        out = func(*args, **kwargs)
    for line in buf.getvalue().splitlines():
        if line.strip():
            log.debug(line.strip())
    return out


def process_frames(frames, ULM: dict, pixel_size=(1.0, 1.0), *, progress=None) -> BlockResult:
    """Filter, localize and track one block, reproducing PALA's in vivo example.

    Parameters
    ----------
    frames : array_like, (z, x, t)
        Beamformed IQ (complex) of one block; never modified.
    ULM : dict
        PALA's ULM struct, e.g. from :func:`pyulm.config.resolve_ulm`; also reads
        ``SVD_cutoff``, ``ButterCuttofFreq`` and ``frame_rate`` (Hz).
    pixel_size : (dz, dx)
        Pixel size in wavelengths (PALA: 1).
    progress : callable, optional
        Called with each stage name as it starts.

    Returns
    -------
    BlockResult

    Notes
    -----
    Besides ``frames``, a block costs one double-precision amplitude array of its
    size (a complex64 block's size in bytes) and a few MB of row-block temporaries.

    Examples
    --------
    >>> from importlib.resources import files
    >>> from pyulm.io import inspect, read_frames
    >>> from pyulm.config import Config, resolve_ulm
    >>> info = inspect(files("pyulm") / "data" / "example_block.mat")
    >>> ULM = resolve_ulm(Config.from_dict({"ulm": {"numberOfParticles": 40}}), info)
    >>> res = process_frames(read_frames(info), ULM)
    >>> res.MatTracking.shape[1], res.tracks[0].dtype
    (4, dtype('float32'))
    """
    step = progress or (lambda stage: None)
    step("filter")
    return _process([V.as_frames(frames)], ULM, pixel_size, step, consume=False)


def _process(holder: list, ULM: dict, pixel_size, step, *, consume: bool) -> BlockResult:
    """:func:`process_frames` on the validated block ``holder[0]``, taken out of ``holder``
    so that no reference to it outlives the filter. With ``consume``, the caller owns
    the block and gives it up: the amplitude is then written over it when it has room
    (complex64 and float64 blocks: same bytes per sample), so the whole block costs
    its own memory plus temporaries."""
    from .pala import ULM_localization2D, ULM_tracking2D

    t = {}
    t0 = time.perf_counter()
    arr = holder.pop()
    n_frames = int(arr.shape[2])
    amplitude = _amplitude_buffer(arr, consume)
    powdop = _filter_amplitude(arr, ULM, amplitude)
    del arr  # when it is not the amplitude's own memory, the input is freed here
    t["filter"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("localize")
    mat_px = ULM_localization2D(amplitude, ULM)
    del amplitude
    mat = np.array(mat_px, dtype=np.float64)
    mat[:, 1] = (mat[:, 1] - 1) * pixel_size[0]
    mat[:, 2] = (mat[:, 2] - 1) * pixel_size[1]
    t["localize"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("track")
    if mat.shape[0]:
        tracks = _quiet(ULM_tracking2D, mat, ULM, "velocityinterp")
    else:
        log.info("no localization in this block: no tracks")
        tracks = []
    tracks = [np.asarray(tr) for tr in tracks]
    t["track"] = time.perf_counter() - t0
    return BlockResult(mat, tracks, powdop, n_frames, t)


def _fortran_block(arr: np.ndarray) -> bool:
    """Whether the SVD reads ``arr`` as a Fortran-ordered block (as :func:`pyulm.filtering._svd_filter`)."""
    return arr.flags.f_contiguous and not arr.flags.c_contiguous


def _amplitude_buffer(arr: np.ndarray, consume: bool) -> np.ndarray:
    """Where |IQ| goes: over ``arr`` itself when it is given up and has the room (one
    float64 per sample, in the same place as that sample, so a row block of pixels
    overwrites only samples the filter has already read), else a new float64 array
    in ``arr``'s memory order."""
    fortran = _fortran_block(arr)
    if consume and arr.flags.writeable and arr.dtype.isnative and (fortran or arr.flags.c_contiguous):
        if arr.dtype in (np.complex64, np.float64):
            return arr.view(np.float64)
        if arr.dtype == np.complex128:
            return arr.real
    return np.empty(arr.shape, np.float64, order="F" if fortran else "C")


def _filter_amplitude(arr: np.ndarray, ULM: dict, amplitude: np.ndarray) -> np.ndarray:
    """PALA's filter chain into ``amplitude``; returns the power Doppler image.

    ``IQ_svd = SVDfilter(IQ)``, ``PowDop = sqrt(sum_t |IQ_svd|^2)``, the causal
    band-pass along time, then ``|IQ_filt|`` with non-finite values set to 0. Past
    the SVD's Gram matrix every step acts on each pixel's time series alone, so the
    projection's row blocks of pixels (~4 MB in double) go through all of them in
    turn: the double-precision filtered block never exists as a whole. The
    arithmetic, and so the result, is that of :func:`pyulm.filtering._svd_filter`
    followed by :func:`pyulm.filtering.butter_bandpass` on the whole block.
    """
    nz, nx, n = arr.shape
    band = ULM.get("ButterCuttofFreq")
    band = np.zeros(0) if band is None else np.asarray(band, dtype=float).ravel()
    frame_rate = ULM["frame_rate"] if band.size else None
    if band.size:
        butter_coefficients(band, frame_rate)  # a bad band fails before any work
    powdop = np.empty((nz, nx))

    def finish(chunk: np.ndarray):
        """Power Doppler, band-pass (in place) and |IQ| of a C-ordered (z, x, n) double block."""
        pd = _power_doppler(chunk)
        if band.size:
            butter_bandpass(chunk, band, frame_rate, axis=2, out=chunk)
        a = np.abs(chunk)
        a[~np.isfinite(a)] = 0  # as PALA does
        return pd, a

    if not _fortran_block(arr):  # rows of C-ordered (z, x) pixels, as _svd_blocks hands them
        pd_rows, amp_rows = powdop.reshape(-1), amplitude.reshape(-1, n)
        if not np.shares_memory(amp_rows, amplitude):  # pragma: no cover - C-ordered by construction
            raise AssertionError("amplitude rows must be a view")

    def write(key, R):
        if R.ndim == 3:  # whole z columns of a Fortran-ordered block
            powdop[key], amplitude[key] = finish(np.ascontiguousarray(R))
        else:  # rows of the C-ordered (z * x, n) block
            pd, a = finish(np.ascontiguousarray(R).reshape(1, -1, n))
            pd_rows[key], amp_rows[key] = pd[0], a[0]

    # reads each row block before handing it to write, so amplitude may be arr's memory
    _svd_blocks(arr, ULM["SVD_cutoff"], write)
    return powdop


def _power_doppler(iq) -> np.ndarray:
    """``sqrt(sum_t |IQ|^2)`` per pixel in one pass over the block (no |IQ|^2 temporary)."""
    c = np.ascontiguousarray(iq)
    v = c.view(c.real.dtype).reshape(c.shape[0], c.shape[1], -1) if np.iscomplexobj(c) else c
    return np.sqrt(np.einsum("ijk,ijk->ij", v, v))


def sr_size(shape_zx, res) -> tuple[int, int]:
    """PALA's ``SRsize = round(size(1:2) / SRscale)`` with ``SRscale = 1/res``."""
    sr = V.round_half_away(np.asarray(shape_zx, dtype=float) / (1.0 / float(res)))
    return int(sr[0]), int(sr[1])


def tracks_to_sr(tracks, res, pixel_size=(1.0, 1.0)) -> list:
    """PALA's ``Track_matout = (tr(:,1:4) + [1 1 0 0]) ./ [SRscale SRscale 1 1]``.

    Runs in the tracks' precision (float32 from ``velocityinterp``), as MATLAB
    does with single tracks; positions in wavelengths are first divided by the
    pixel size (a no-op for PALA's 1-wavelength pixels).
    """
    out = []
    for tr in tracks:
        tr = np.asarray(tr)
        dt = tr.dtype if np.issubdtype(tr.dtype, np.floating) else np.float64
        a = tr[:, :4].astype(dt, copy=True)
        if pixel_size[0] != 1:
            a[:, 0] = a[:, 0] / dt.type(pixel_size[0])
        if pixel_size[1] != 1:
            a[:, 1] = a[:, 1] / dt.type(pixel_size[1])
        sr = dt.type(1.0 / float(res))
        a[:, :2] = (a[:, :2] + dt.type(1)) / sr
        out.append(a)
    return out


def accumulate_maps(tracks, shape_zx, ULM: dict, pixel_size=(1.0, 1.0)) -> dict:
    """PALA's maps from all tracks of an acquisition (in block order).

    Returns
    -------
    dict
        ``MatOut`` (tracks per SR pixel), ``MatOut_zdir`` (speed signed by the
        mean axial direction, wavelengths/s), ``MatOut_vel`` (speed, mm/s when
        the wavelength is known, else wavelengths/s), ``llz``, ``llx`` (SR grid
        axes, wavelengths) and ``sizeOut``.
    """
    from .pala import ULM_Track2MatOut

    res = float(ULM["res"])
    srs = sr_size(shape_zx, res)
    size_out = [srs[0] + 1, srs[1] + 1]
    sr_tracks = tracks_to_sr(tracks, res, pixel_size)
    if not sr_tracks:
        zeros = np.zeros(size_out)
        mat, zdir, vel = zeros, zeros.copy(), zeros.copy()
    else:
        mat = _quiet(ULM_Track2MatOut, sr_tracks, size_out)
        if all(t.shape[1] >= 4 for t in sr_tracks):
            zdir = _quiet(ULM_Track2MatOut, sr_tracks, size_out, "2D_vel_z")
            vel = _quiet(ULM_Track2MatOut, sr_tracks, size_out, "2D_velnorm")
        else:
            zdir, vel = np.zeros(size_out), np.zeros(size_out)
    lam = ULM.get("lambda")
    if lam:
        vel = vel * lam
    sr = 1.0 / res
    return {
        "MatOut": mat, "MatOut_zdir": zdir, "MatOut_vel": vel,
        "llz": np.arange(srs[0] + 1) * sr * pixel_size[0],
        "llx": np.arange(srs[1] + 1) * sr * pixel_size[1],
        "sizeOut": size_out,
    }


# --------------------------------------------------------------------------- blocks on disk

@dataclass(frozen=True)
class BlockSpec:
    """One unit of work: frames ``start:stop`` of one source."""

    index: int
    path: str
    variable: str | None
    buffer: int | None
    start: int
    stop: int
    frame_offset: int  # frames of all earlier blocks

    @property
    def name(self) -> str:
        stem = Path(self.path).stem
        return f"{self.index + 1:04d}_{stem}" + (f"_f{self.start}" if self.start else "")


def block_key(spec: BlockSpec, ULM: dict, info: SourceInfo) -> str:
    """Identity of a block's result: source, frames and every parameter that changes it."""
    st = os.stat(spec.path)
    payload = {
        "path": os.path.abspath(spec.path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
        "variable": spec.variable, "buffer": spec.buffer, "start": spec.start, "stop": spec.stop,
        "ULM": ULM, "pixel_size": list(info.pixel_size), "format": _BLOCK_FORMAT, "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def write_block(path, res: BlockResult, spec: BlockSpec, key: str, info: SourceInfo):
    """Write one block's results to HDF5, atomically."""
    import h5py

    pts = np.concatenate([_pad5(t) for t in res.tracks]) if res.tracks else np.zeros((0, 5), np.float32)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in res.tracks])]).astype(np.int64)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update({
                "pyulm_block": _BLOCK_FORMAT, "key": key, "source": str(spec.path), "variable": info.label,
                "start": spec.start, "stop": spec.stop, "n_frames": res.n_frames, "frame_offset": spec.frame_offset,
                "timings": json.dumps(res.timings), "ncols": json.dumps([t.shape[1] for t in res.tracks]),
            })
            f.create_dataset("MatTracking", data=res.MatTracking)
            f.create_dataset("tracks_points", data=pts)
            f.create_dataset("tracks_offsets", data=offsets)
            f.create_dataset("PowDop", data=res.powdop)


def _pad5(t):
    t = np.asarray(t, dtype=np.float32)
    if t.shape[1] < 5:  # PALA's no-track sentinel [0 0 0 0]
        t = np.hstack([t, np.zeros((t.shape[0], 5 - t.shape[1]), np.float32)])
    return t


def read_block(path) -> tuple[BlockResult, dict]:
    """Read a per-block result file; ValueError if it is not one."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("pyulm_block") != _BLOCK_FORMAT:
                raise ValueError(f"{path}: not a pyulm block result")
            attrs = dict(f.attrs)
            mat = f["MatTracking"][()]
            pts = f["tracks_points"][()]
            offs = f["tracks_offsets"][()]
            pd = f["PowDop"][()]
    except OSError as exc:
        raise ValueError(f"{path}: unreadable block result ({exc})") from None
    ncols = json.loads(attrs["ncols"])
    tracks = [pts[offs[i]:offs[i + 1], :ncols[i]] for i in range(len(offs) - 1)]
    res = BlockResult(mat, tracks, pd, int(attrs["n_frames"]), json.loads(attrs["timings"]))
    return res, attrs


def block_done(path, key: str) -> bool:
    """True when ``path`` holds a complete result computed with the same key."""
    if not Path(path).is_file():
        return False
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return f.attrs.get("pyulm_block") == _BLOCK_FORMAT and f.attrs.get("key") == key
    except OSError:
        return False


def run_block(spec: BlockSpec, cfg_json: str, out_path: str, key: str, progress_topic: str | None = None,
              *, emit=None) -> dict:
    """Read, process and write one block (runs inside a worker); returns a small summary.

    The frames are read here, not sent from the client, so a worker holds at
    most the blocks it is processing; the filter then writes the block's amplitude
    over its IQ, so one block costs about its own size plus a few MB.
    """
    cfg = Config.model_validate_json(cfg_json)
    emit = emit or _emitter(spec.index, progress_topic)
    t0 = time.perf_counter()
    emit("read")
    info = _inspect_with(cfg, spec.path)
    ULM = resolve_ulm(cfg, info)
    n = spec.stop - spec.start
    ULM["size"] = [info.shape[0], info.shape[1], n]
    ULM["SVD_cutoff"] = [ULM["SVD_cutoff"][0], min(ULM["SVD_cutoff"][1], n)]
    # The block read here is handed over (no reference kept): its |IQ| is written over it.
    holder = [V.as_frames(read_frames(info, spec.start, spec.stop))]
    t_read = time.perf_counter() - t0
    emit("filter")
    res = _process(holder, ULM, info.pixel_size, emit, consume=True)
    res.timings["read"] = t_read
    emit("write")
    write_block(out_path, res, spec, key, info)
    _release_free_memory()
    return {"index": spec.index, "n_frames": res.n_frames, "n_localizations": int(res.MatTracking.shape[0]),
            "n_tracks": len(res.tracks), "timings": res.timings, "pid": os.getpid()}


def _release_free_memory():
    """Give the heap memory freed by a block back to the system (glibc ``malloc_trim``).

    glibc keeps freed memory below its (adaptive) thresholds for reuse; trimmed once per
    block, it is not still resident when the next block's read peaks. A no-op elsewhere.
    """
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        with contextlib.suppress(Exception):
            import ctypes
            import ctypes.util

            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _emitter(index, topic):
    if topic is None:
        return lambda stage: None
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return lambda stage: None
    return lambda stage: worker.log_event(topic, {"block": index, "stage": stage})


def _inspect_with(cfg: Config, path) -> SourceInfo:
    info = inspect(path, cfg.input.variable)
    if cfg.input.speed_of_sound is not None:
        info = info.with_overrides(speed_of_sound=cfg.input.speed_of_sound)
    return info


# --------------------------------------------------------------------------- whole runs

@dataclass
class RunSummary:
    blocks: int
    computed: int
    skipped: int
    frames: int
    localizations: int
    tracks: int
    wall_time: float
    outputs: dict

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.wall_time if self.wall_time > 0 else float("nan")

    def text(self) -> str:
        return (f"{self.blocks} blocks ({self.computed} computed, {self.skipped} already done), "
                f"{self.frames} frames, {self.localizations} localizations, {self.tracks} tracks, "
                f"{self.wall_time:.1f} s wall time, {self.frames_per_second:.0f} frames/s")


def plan(inputs, cfg: Config) -> tuple[list[BlockSpec], list[SourceInfo], list[dict]]:
    """Inspect every input (metadata only) and cut it into blocks; one clear error on bad input."""
    if not inputs:
        raise ValueError("no input files given")
    specs, infos, ulms = [], [], []
    first = None
    offset = 0
    for p in inputs:
        info = _inspect_with(cfg, p)
        ulm = resolve_ulm(cfg, info)
        if first is None:
            first = info
        elif tuple(info.shape[:2]) != tuple(first.shape[:2]):
            raise FormatError(f"{p}: frames are {info.shape[0]}x{info.shape[1]} (z x x) but {first.path.name} has "
                              f"{first.shape[0]}x{first.shape[1]}; all blocks must have the same image size")
        elif tuple(info.pixel_size) != tuple(first.pixel_size):
            raise FormatError(f"{p}: pixel size {info.pixel_size} differs from {first.path.name}'s {first.pixel_size}")
        nt = info.n_frames
        step = cfg.input.frames_per_block or nt
        for start in range(0, nt, step):
            stop = min(start + step, nt)
            specs.append(BlockSpec(len(specs), str(p), cfg.input.variable, info.buffer, start, stop, offset))
            infos.append(info)
            u = dict(ulm)
            u["size"] = [info.shape[0], info.shape[1], stop - start]
            u["SVD_cutoff"] = [ulm["SVD_cutoff"][0], min(ulm["SVD_cutoff"][1], stop - start)]
            if u["SVD_cutoff"][0] > u["SVD_cutoff"][1]:
                raise ConfigError(f"{p}: frames {start}:{stop} are too few for SVD_cutoff {cfg.ulm.SVD_cutoff}")
            ulms.append(u)
            offset += stop - start
    return specs, infos, ulms


def run(inputs, cfg: Config | None = None, out_dir="ulm_out", *, workers: int = 0, scheduler: str | None = None,
        force: bool = False, progress: bool = True, window: int | None = None) -> RunSummary:
    """Process whole acquisitions: every block, then the maps over all blocks.

    Parameters
    ----------
    inputs : list of paths
        Data files (PALA blocks, Verasonics workspaces, raw binary), processed in this order.
    cfg : Config, optional
        Defaults: PALA's in vivo example.
    out_dir : path
        Created if needed. Holds ``blocks/`` (per-block results), ``ulm_results.mat``,
        ``ulm_tracks.mat``, ``localizations.h5``, ``tracks.h5``, images and ``pyulm-process.log``.
    workers : int
        0: in this process. N > 0: a local Dask cluster of N worker processes.
    scheduler : str, optional
        Address of an existing Dask scheduler (its workers must see the same files).
    force : bool
        Recompute blocks whose results exist.
    progress : bool
        tqdm bars (overall and per block).
    window : int, optional
        Blocks in flight at once on a cluster (default 2 per worker): bounds memory.

    Returns
    -------
    RunSummary
    """
    cfg = cfg or Config()
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    inputs = [str(p) for p in inputs]
    specs, infos, ulms = plan(inputs, cfg)  # bad input fails here, before anything is written
    _prepare_out(out_dir)
    handler = _log_to(out_dir / "pyulm-process.log")
    try:
        log.info("pyulm %s: processing %d input(s), %d block(s) into %s", __version__, len(inputs), len(specs), out_dir)
        log.info("config:\n%s", cfg.to_toml())
        for info in {id(i): i for i in infos}.values():
            log.info("input:\n%s", info.describe())
        blocks_dir = out_dir / "blocks"
        blocks_dir.mkdir(exist_ok=True)
        for stale in blocks_dir.glob(".*.part"):  # temp files of a killed run
            stale.unlink(missing_ok=True)
        keys = [block_key(s, u, i) for s, u, i in zip(specs, ulms, infos)]
        paths = [blocks_dir / f"{s.name}.h5" for s in specs]
        todo = [k for k in range(len(specs)) if force or not block_done(paths[k], keys[k])]
        skipped = len(specs) - len(todo)
        if skipped:
            log.info("%d block(s) already done, skipped (use --force to recompute)", skipped)
        cfg_json = cfg.model_dump_json()
        n_frames_total = sum(s.stop - s.start for s in specs)
        bars = _Bars(progress, len(specs), n_frames_total, skipped, sum(specs[k].stop - specs[k].start for k in range(len(specs)) if k not in set(todo)))
        try:
            if todo and (workers or scheduler):
                _run_dask(specs, todo, paths, keys, cfg_json, workers, scheduler, window, bars)
            else:
                for k in todo:
                    bars.start(k, specs[k])
                    summ = _run_local(specs[k], cfg_json, str(paths[k]), keys[k], bars)
                    bars.finish(k, specs[k], summ)
        finally:
            bars.close()
        summary = _finish(specs, infos, ulms, paths, cfg, out_dir)
        summary.computed, summary.skipped = len(todo), skipped
        summary.wall_time = time.perf_counter() - t_start
        log.info("summary: %s", summary.text())
        return summary
    except Exception as exc:
        log.error("failed: %s", exc)
        raise
    finally:
        logging.getLogger("pyulm").removeHandler(handler)
        handler.close()


def _prepare_out(out_dir: Path):
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"{out_dir}: cannot create the output directory ({exc.strerror or exc})") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"{out_dir}: the output directory is not writable")


def _log_to(path: Path):
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    lg = logging.getLogger("pyulm")
    lg.addHandler(handler)
    if lg.level == logging.NOTSET or lg.level > logging.INFO:
        lg.setLevel(logging.INFO)
    return handler


def _run_local(spec, cfg_json, out_path, key, bars):
    return run_block(spec, cfg_json, out_path, key, emit=lambda stage: bars.stage(spec.index, stage))


def _run_dask(specs, todo, paths, keys, cfg_json, workers, scheduler, window, bars):
    from distributed import Client, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="20s")
    else:
        cluster = _local_cluster(int(workers))
        client = Client(cluster)
    topic = f"pyulm-progress-{os.getpid()}-{time.time_ns()}"
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or int(workers or 1))
        window = window or 2 * n_workers
        log.info("dask: %d worker(s) at %s, %d block(s) in flight at most", n_workers, client.scheduler.address, window)
        with contextlib.suppress(Exception):
            client.subscribe_topic(topic, lambda event: bars.stage(event[1]["block"], event[1]["stage"]))
        pending = iter(todo)
        ac = as_completed()

        def submit_next():
            k = next(pending, None)
            if k is None:
                return False
            bars.start(k, specs[k])
            fut = client.submit(run_block, specs[k], cfg_json, str(paths[k]), keys[k], topic,
                                key=f"pyulm-block-{k}-{keys[k]}", pure=False, retries=0)
            fut.pyulm_index = k
            ac.add(fut)
            return True

        for _ in range(window):
            if not submit_next():
                break
        for fut in ac:
            k = fut.pyulm_index
            try:
                summ = fut.result()
            except Exception:
                for f in list(ac.futures):
                    f.cancel()
                raise
            bars.finish(k, specs[k], summ)
            submit_next()
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(topic)
        client.close()
        if cluster is not None:
            cluster.close()


def _local_cluster(n_workers: int, **kwargs):
    """The Dask cluster ``run(workers=N)`` starts: N worker processes of one thread each.

    Dask starts its worker processes with one BLAS/OpenMP thread
    (``distributed.nanny.pre-spawn-environ``), as pyulm wants: each process works on one
    block, so N workers keep N cores busy without oversubscription. It also sets
    ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's mmap threshold at 128 kB: every
    larger temporary (row blocks, band-pass and localization chunks) is then a fresh
    mapping, ~150 000 page faults per 78 x 118 x 800 block and a quarter of the worker's
    CPU time spent in the kernel (measured). pyulm's workers keep glibc's adaptive
    defaults instead, and :func:`run_block` trims the heap after each block, which keeps
    the same peak memory. A ``MALLOC_TRIM_THRESHOLD_`` set in the user's environment
    still reaches them.
    """
    import dask
    from distributed import LocalCluster

    key = "distributed.nanny.pre-spawn-environ"
    env = dict(dask.config.get(key, default={}) or {})
    env[_MALLOC_TRIM] = None  # None: not set by the nanny (dask.config convention)
    opts = dict(threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                silence_logs=logging.ERROR)
    opts.update(kwargs)
    # A Dask nanny started earlier in this process wrote Dask's value into os.environ,
    # which the worker processes spawned now would inherit: they get the user's instead.
    current = os.environ.get(_MALLOC_TRIM)
    _set_environ(_MALLOC_TRIM, _USER_MALLOC_TRIM)
    try:
        with dask.config.set({key: env}):
            return LocalCluster(n_workers=n_workers, **opts)
    finally:
        _set_environ(_MALLOC_TRIM, current)


_MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
_USER_MALLOC_TRIM = os.environ.get(_MALLOC_TRIM)  # as the user started Python


def _set_environ(name: str, value: str | None):
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


class _Bars:
    """tqdm bars: overall blocks, overall frames, one per block in flight."""

    def __init__(self, enabled, n_blocks, n_frames, done_blocks, done_frames):
        self.enabled = enabled
        self.block_bars = {}
        if enabled:
            from tqdm.auto import tqdm

            self.tqdm = tqdm
            self.blocks = tqdm(total=n_blocks, initial=done_blocks, desc="blocks", unit="block", position=0)
            self.frames = tqdm(total=n_frames, initial=done_frames, desc="frames", unit="frame", position=1)

    def start(self, k, spec):
        log.info("block %d (%s frames %d:%d) started", k + 1, spec.path, spec.start, spec.stop)
        if self.enabled and k not in self.block_bars:
            self.block_bars[k] = self.tqdm(total=len(STAGES), desc=f"block {k + 1}", unit="stage", leave=False,
                                           position=2 + len(self.block_bars) % 8)

    def stage(self, k, stage):
        bar = self.block_bars.get(k)
        if bar is not None and stage in STAGES:
            bar.set_postfix_str(stage)
            bar.n = STAGES.index(stage)
            bar.refresh()

    def finish(self, k, spec, summ):
        tm = ", ".join(f"{n} {v:.2f} s" for n, v in summ["timings"].items())
        log.info("block %d done: %d frames, %d localizations, %d tracks (%s; pid %s)", k + 1, summ["n_frames"],
                 summ["n_localizations"], summ["n_tracks"], tm, summ.get("pid"))
        if self.enabled:
            bar = self.block_bars.pop(k, None)
            if bar is not None:
                bar.close()
            self.blocks.update(1)
            self.frames.update(summ["n_frames"])

    def close(self):
        if self.enabled:
            for bar in self.block_bars.values():
                bar.close()
            self.frames.close()
            self.blocks.close()


def _finish(specs, infos, ulms, paths, cfg: Config, out_dir: Path) -> RunSummary:
    from .tables import Localizations, Metadata, Tracks

    info0, ulm0 = infos[0], ulms[0]
    all_tracks, mat_per_block, powdops = [], [], []
    loc_parts, n_frames, n_loc = [], 0, 0
    track_blocks = []
    for k, p in enumerate(paths):
        res, attrs = read_block(p)
        all_tracks.extend(res.tracks)
        track_blocks.extend([k] * len(res.tracks))
        mat_per_block.append(res.MatTracking)
        powdops.append(res.powdop)
        n_frames += res.n_frames
        n_loc += res.MatTracking.shape[0]
        loc_parts.append((res.MatTracking, specs[k].frame_offset, k))
    maps = accumulate_maps(all_tracks, info0.shape[:2], ulm0, info0.pixel_size)
    powdop = np.mean(np.stack(powdops), axis=0)
    ULM = {k: v for k, v in ulm0.items() if v is not None and k not in ("frame_rate",)}
    ULM["size"] = list(ulm0["size"])
    lam = ulm0.get("lambda")
    thr = cfg.output.mat_v73_threshold
    outputs = {}
    results = {
        "MatOut": maps["MatOut"], "MatOut_zdir": maps["MatOut_zdir"], "MatOut_vel": maps["MatOut_vel"],
        "PowDop": powdop, "ULM": ULM, "llx": maps["llx"], "llz": maps["llz"],
        "lambda": float(lam) if lam else np.zeros((0, 0)),
        "MatOut_vel_unit": "mm/s" if lam else "wavelengths/s",
    }
    outputs["results"] = out_dir / "ulm_results.mat"
    ver = save_mat(outputs["results"], results, v73_threshold=thr)
    outputs["tracks_mat"] = out_dir / "ulm_tracks.mat"
    mat_cell = np.empty((len(mat_per_block), 1), dtype=object)
    for k, m in enumerate(mat_per_block):
        mat_cell[k, 0] = m
    track_cell = np.empty((len(all_tracks), 1), dtype=object)
    for k, t in enumerate(all_tracks):
        track_cell[k, 0] = t
    ver2 = save_mat(outputs["tracks_mat"], {
        "Track_tot": track_cell, "MatTracking": mat_cell, "ULM": ULM,
        "lambda": float(lam) if lam else np.zeros((0, 0)),
        "block_files": [str(s.path) for s in specs], "block_frames": np.array([[s.start + 1, s.stop] for s in specs], float),
    }, v73_threshold=thr)
    log.info("wrote %s (MAT v%s) and %s (MAT v%s)", outputs["results"], ver, outputs["tracks_mat"], ver2)
    if cfg.output.tables:
        meta = Metadata(pixel_size=tuple(info0.pixel_size), origin=tuple(info0.origin), frame_rate=ulm0["frame_rate"],
                        unit="wavelength", params={"ULM": ULM, "sources": [str(s.path) for s in specs]})
        z, x, fr, inten, blk = [], [], [], [], []
        for m, off, k in loc_parts:
            z.append(m[:, 1] / info0.pixel_size[0])
            x.append(m[:, 2] / info0.pixel_size[1])
            fr.append(m[:, 3].astype(np.int64) - 1 + off)
            inten.append(m[:, 0])
            blk.append(np.full(m.shape[0], k, np.int64))
        locs = Localizations(np.concatenate(z), np.concatenate(x), np.concatenate(fr), np.concatenate(inten),
                             extra={"block": np.concatenate(blk)}, meta=meta)
        outputs["localizations"] = locs.save(out_dir / "localizations.h5")
        scale = np.array([info0.pixel_size[0], info0.pixel_size[1], info0.pixel_size[0], info0.pixel_size[1], 1.0], np.float32)
        arrays = [np.hstack([_pad5(t) / scale, np.full((len(t), 1), b, np.float32)]) for t, b in zip(all_tracks, track_blocks)]
        trk = Tracks.from_list(arrays, columns=("z", "x", "vz", "vx", "t", "block"), meta=meta, dtype=np.float32) if arrays \
            else Tracks(np.zeros((0, 6), np.float32), None, ("z", "x", "vz", "vx", "t", "block"), meta)
        outputs["tracks"] = trk.save(out_dir / "tracks.h5")
    outputs.update(write_images(out_dir, maps, powdop, ulm0, cfg.output.images))
    return RunSummary(len(specs), 0, 0, n_frames, n_loc, len(all_tracks), 0.0, {k: str(v) for k, v in outputs.items()})


def write_images(out_dir: Path, maps: dict, powdop, ULM: dict, formats) -> dict:
    """PALA-style density, direction, velocity and power Doppler images (PNG and/or TIFF)."""
    if not formats:
        return {}
    from . import figures as F

    res = float(ULM["res"])
    lam = ULM.get("lambda")
    mat = maps["MatOut"]
    images = {
        "MatOut": F.density_rgb(mat, res=res, pixel_size_mm=lam),
        "MatOut_zdir": F.direction_rgb(mat, maps["MatOut_zdir"], res=res, pixel_size_mm=lam),
        "MatOut_vel": F.velocity_rgb(maps["MatOut_vel"], mat, res=res, pixel_size_mm=lam),
    }
    pd = np.asarray(powdop, float) ** (1 / 3)
    images["PowDop"] = F.apply_colormap(pd, F.hot(128), (float(pd.min()), 0.9 * float(pd.max()) or 1.0))
    out = {}
    ext = {"png": ".png", "tiff": ".tif"}
    for name, rgb in images.items():
        for fmt in formats:
            p = out_dir / f"{name}{ext[fmt]}"
            F.save_figure(rgb, p, pixel_size_mm=lam, res=res if name != "PowDop" else 1.0)
            out[f"{name}_{fmt}"] = p
    return out


__all__ = ["process_frames", "accumulate_maps", "tracks_to_sr", "sr_size", "run", "plan", "RunSummary",
           "BlockResult", "BlockSpec", "read_block", "write_block", "run_block"]
