"""The end of a run: PALA's maps over all blocks, block by block, then the result files, block by block."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config
from ..io._write import StreamedCell
from .maps import MapAccumulator
from .outputs import write_images, write_results, write_tables, write_tracks
from .store import BlockFileError, display, read_block, writing


@dataclass
class RunSummary:
    """What :func:`pyulm.pipeline.run` did: block counts, totals, wall time (s) and output paths."""

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



class BlockFiles:
    """A run's block files for its result files: what they hold, counted on a first pass
    (:meth:`add`), and the files read again one at a time (:meth:`read`), each read checking
    the key and checksum (:func:`pyulm.pipeline.store.read_block`). Memory: one block, plus
    a few numbers per block."""

    def __init__(self, paths, keys):
        self.paths, self.keys = list(paths), list(keys)
        self._tally = []

    def __len__(self) -> int:
        return len(self.paths)

    def add(self, res, attrs) -> None:
        """Count one block (in order): localizations, tracks, points and the cells' bytes."""
        lengths = np.diff(attrs["offsets"])
        track_size, track_nbytes = StreamedCell.sizes(lengths, json.loads(attrs["ncols"]), attrs["points"].dtype)
        m = res.MatTracking
        mat_size, mat_nbytes = StreamedCell.sizes([m.shape[0]], [m.shape[1]], m.dtype)
        self._tally.append((m.shape[0], len(lengths), len(attrs["points"]), track_size, track_nbytes, mat_size, mat_nbytes))

    def totals(self) -> tuple[dict, dict]:
        """``({localizations, tracks, points, track_size, track_nbytes}, {size, nbytes})`` over the blocks
        (the second: the ``MatTracking`` cell's)."""
        if len(self._tally) != len(self.paths):
            raise RuntimeError(f"{len(self._tally)} of {len(self.paths)} blocks counted")
        s = np.sum(np.array(self._tally, np.int64).reshape(-1, 7), axis=0).tolist()
        return (dict(zip(("localizations", "tracks", "points", "track_size", "track_nbytes"), s[:5])),
                {"size": s[5], "nbytes": s[6]})

    def read(self):
        """``(k, BlockResult, attrs)`` for each block in order, one file at a time; a block whose
        counts changed since :meth:`add` (the file was replaced) is an error."""
        for k, (p, key) in enumerate(zip(self.paths, self.keys)):
            res, attrs = read_block(p, key)
            if (res.MatTracking.shape[0], len(res.tracks), len(attrs["points"])) != self._tally[k][:3]:
                raise BlockFileError(f"{display(p)}: changed while the result files were written")
            yield k, res, attrs


def finish(pl, paths, keys, cfg: Config, out_dir: Path) -> RunSummary:
    """The end of a run in bounded memory: a first pass over the block files for the maps and the
    counts, then the result files, the track and localization files written block by block
    (each block file read again as they are written). Memory holds the maps and one block,
    whatever the length of the acquisition."""
    specs, p0, info0 = pl.specs, pl.params[0], pl.infos[0]
    acc = MapAccumulator(info0.shape[:2], p0.res, p0.pixel_size, p0.wavelength_mm, "float32")
    blocks = BlockFiles(paths, keys)
    n_frames = 0
    for k, p in enumerate(paths):
        res, attrs = read_block(p, keys[k])
        acc.add_tracks(res.tracks)
        if res.matout is not None:
            acc.add_map(res.matout)
        acc.add_powdop(res.powdop)
        blocks.add(res, attrs)
        n_frames += res.n_frames
        del res, attrs
    maps = acc.maps()
    powdop = acc.powdop
    totals, _ = blocks.totals()
    thr = cfg.output.mat_v73_threshold
    with writing(out_dir, "results in the output directory"):
        outputs = {"results": write_results(out_dir, maps, powdop, p0, specs, thr),
                   "tracks_mat": write_tracks(out_dir, blocks, p0, specs, thr)}
        if cfg.output.tables:
            outputs.update(write_tables(out_dir, blocks, p0, info0, specs))
        outputs.update(write_images(out_dir, maps, powdop, p0, cfg.output.images, cfg.output.figures, info0.origin))
    return RunSummary(len(specs), 0, 0, n_frames, totals["localizations"], totals["tracks"], 0.0,
                      {k: str(v) for k, v in outputs.items()})
