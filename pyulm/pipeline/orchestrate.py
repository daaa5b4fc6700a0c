"""Whole runs: plan the blocks (every check first), compute the missing ones, write the results."""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import _validate as V
from .._parallel import default_workers, limit_threads
from .._version import __version__
from ..config import Config, ConfigError
from ..io import FormatError, SourceInfo, inspect, read_frames
from .block import filter_checks_input, run_stages
from .checks import check_metadata, memory_limit, split_frames
from .cluster import release_free_memory, run_on_cluster
from .lock import OutputLock, describe_owner
from .finish import RunSummary, finish
from .params import BlockParams, block_params
from .progress import Bars, emitter
from .store import BlockSpec, block_key, block_ok, display, write_block

log = logging.getLogger("pyulm.pipeline")

#: Names of the files a run writes in its output folder (their temporaries are ``.NAME.*.part``).
OUTPUT_NAMES = ("ulm_results.mat", "ulm_tracks.mat", "localizations.h5", "tracks.h5") + tuple(
    f"{n}.{e}" for n in ("MatOut", "MatOut_zdir", "MatOut_vel", "PowDop") for e in ("png", "tif")) + tuple(
    f"{n}.{e}" for n in ("density", "direction", "velocity") for e in ("png", "pdf", "tif"))


@dataclass
class Plan:
    """The blocks of a run: one spec, source and parameter set per block, and notes for the log."""

    specs: list
    infos: list
    params: list
    notes: list


def plan(inputs, cfg: Config) -> Plan:
    """Inspect every input (metadata only, once per file) and cut it into blocks.

    Every check that needs no frame is made here, before anything is written: file
    headers and declared sizes (:func:`pyulm.io.inspect`), metadata ranges, the config
    against each file, and the memory a block needs (blocks larger than the memory limit
    are split by frames). One clear error names the file.
    """
    if not inputs:
        raise ValueError("no input files given")
    limit = memory_limit(cfg)
    specs, infos, params, notes = [], [], [], []
    first = None
    offset = 0
    for p in inputs:
        info = _inspect_with(cfg, p)
        base = block_params(cfg, info, info.n_frames)
        check_metadata(info, base.frame_rate)
        if first is None:
            first = info
        elif tuple(info.shape[:2]) != tuple(first.shape[:2]):
            raise FormatError(f"{display(p)}: frames are {info.shape[0]}x{info.shape[1]} (z x x) but "
                              f"{display(first.path.name)} has {first.shape[0]}x{first.shape[1]}; all blocks must "
                              "have the same image size")
        elif tuple(info.pixel_size) != tuple(first.pixel_size):
            raise FormatError(f"{display(p)}: pixel size {info.pixel_size} differs from "
                              f"{display(first.path.name)}'s {first.pixel_size}")
        nt = info.n_frames
        step, note = split_frames(info, cfg, limit)
        if note:
            notes.append(note)
        for start in range(0, nt, step):
            stop = min(start + step, nt)
            specs.append(BlockSpec(len(specs), str(p), cfg.input.variable, info.buffer, start, stop, offset))
            infos.append(info)
            params.append(base.for_frames(stop - start, f"{display(p)}: frames {start}:{stop}: "))
            offset += stop - start
    return Plan(specs, infos, params, notes)


def _inspect_with(cfg: Config, path) -> SourceInfo:
    info = inspect(path, cfg.input.variable)
    if cfg.input.speed_of_sound is not None:
        info = info.with_overrides(speed_of_sound=cfg.input.speed_of_sound)
    return info


def run_block(spec: BlockSpec, info: SourceInfo, params: BlockParams, out_path: str, key: str,
              progress_topic: str | None = None, *, emit=None) -> dict:
    """Read, process and write one block (runs inside a worker); returns a small summary.

    ``info`` is what the planner read: no metadata is read again here. The frames are
    read here, not sent from the client, so a worker holds at most the blocks it is
    processing; the filter then writes the block's amplitude over its IQ, so one block
    costs about its own size plus a few MB.
    """
    emit = emit or emitter(spec.index, progress_topic)
    t0 = time.perf_counter()
    emit("read")
    # The block read here is handed over (no reference kept): its |IQ| is written over it.
    holder = [V.as_frames(read_frames(info, spec.start, spec.stop), check_finite=not filter_checks_input(params))]
    t_read = time.perf_counter() - t0
    emit("filter")
    # in a worker's thread (Dask): one thread, BLAS included, whatever the worker's environment
    in_worker = threading.current_thread() is not threading.main_thread()
    with limit_threads(1) if in_worker else contextlib.nullcontext():
        res = run_stages(holder, params, emit, consume=True)
    res.timings["read"] = t_read
    emit("write")
    write_block(out_path, res, spec, key, info.label)
    release_free_memory()
    return {"index": spec.index, "n_frames": res.n_frames, "n_localizations": int(res.MatTracking.shape[0]),
            "n_tracks": len(res.tracks), "timings": res.timings, "pid": os.getpid()}


def run(inputs, cfg: Config | None = None, out_dir="ulm_out", *, workers: int = 0, scheduler: str | None = None,
        force: bool = False, progress: bool = True, window: int | None = None) -> RunSummary:
    """Process whole acquisitions: every block, then the maps over all blocks.

    Parameters
    ----------
    inputs : list of paths
        Data files (PALA blocks, Verasonics workspaces, raw binary), processed in this
        order; ``str``, ``bytes`` or path-like, in any byte encoding the OS allows.
    cfg : Config, optional
        Defaults: PALA's in vivo example.
    out_dir : path
        Created if needed. Holds ``blocks/`` (per-block results), ``ulm_results.mat``,
        ``ulm_tracks.mat``, ``localizations.h5``, ``tracks.h5``, images and ``pyulm-process.log``.
        One run at a time: a second run into a folder in use fails at once.
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
    out_dir = Path(os.fsdecode(out_dir))
    inputs = [os.fsdecode(p) for p in inputs]
    pl = plan(inputs, cfg)  # bad input fails here, before anything is written
    specs = pl.specs
    _prepare_out(out_dir)
    with OutputLock(out_dir) as lock, limit_threads(cfg.run.threads or None):
        handler = _log_to(out_dir / "pyulm-process.log")
        try:
            log.info("pyulm %s: processing %d input(s), %d block(s) into %s", __version__, len(inputs), len(specs),
                     display(out_dir))
            if lock.taken_over is not None:
                log.warning("took over the output lock left by a run that ended without releasing it (%s)",
                            describe_owner(lock.taken_over))
            log.info("config:\n%s", cfg.to_toml())
            log.info("threads in this process: %d (pyulm and BLAS)", default_workers())
            for info in {id(i): i for i in pl.infos}.values():
                log.info("input:\n%s", info.describe())
            for note in pl.notes:
                log.info("%s", note)
            blocks_dir = out_dir / "blocks"
            blocks_dir.mkdir(exist_ok=True)
            _remove_temporaries(out_dir, blocks_dir)
            keys = [block_key(s, p) for s, p in zip(specs, pl.params)]
            paths = [blocks_dir / f"{s.name}.h5" for s in specs]
            todo = _blocks_to_compute(specs, paths, keys, force)
            skipped = len(specs) - len(todo)
            if skipped:
                log.info("%d block(s) already done, skipped (use --force to recompute)", skipped)
            n_frames_total = sum(s.stop - s.start for s in specs)
            done_frames = sum(specs[k].stop - specs[k].start for k in set(range(len(specs))) - set(todo))
            bars = Bars(progress, len(specs), n_frames_total, skipped, done_frames)

            def args(k):
                return specs[k], pl.infos[k], pl.params[k], str(paths[k]), keys[k]

            try:
                if todo and (workers or scheduler):
                    run_on_cluster(args, todo, workers, scheduler, window, bars, specs)
                else:
                    for k in todo:
                        bars.start(k, specs[k])
                        summ = run_block(*args(k), emit=lambda stage, k=k: bars.stage(k, stage))
                        bars.finish(k, specs[k], summ)
            finally:
                bars.close()
            summary = finish(pl, paths, keys, cfg, out_dir)
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


def _blocks_to_compute(specs, paths, keys, force: bool) -> list:
    if force:
        return list(range(len(specs)))
    todo = []
    for k, (p, key) in enumerate(zip(paths, keys)):
        why = block_ok(p, key)
        if why is not None:
            if why != "missing":
                log.warning("block %d: %s: recomputed", k + 1, why)
            todo.append(k)
    return todo


def _remove_temporaries(out_dir: Path, blocks_dir: Path):
    """Temporary files of a killed run (this folder is locked: none is in use)."""
    stale = list(blocks_dir.glob(".*.h5.*.part"))
    for name in OUTPUT_NAMES:
        stale += out_dir.glob(f".{name}.*.part")
    for p in stale:
        p.unlink(missing_ok=True)
    if stale:
        log.info("removed %d temporary file(s) left by an interrupted run", len(stale))


def _prepare_out(out_dir: Path):
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"{display(out_dir)}: cannot create the output directory ({exc.strerror or exc})") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"{display(out_dir)}: the output directory is not writable")


def _log_to(path: Path):
    # any bytes in file names reach the log as \xNN instead of failing the run
    handler = logging.FileHandler(path, mode="a", encoding="utf-8", errors="backslashreplace")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    lg = logging.getLogger("pyulm")
    lg.addHandler(handler)
    if lg.level == logging.NOTSET or lg.level > logging.INFO:
        lg.setLevel(logging.INFO)
    return handler


__all__ = ["plan", "run", "run_block", "Plan", "RunSummary", "ConfigError"]
