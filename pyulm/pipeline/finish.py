"""The end of a run: PALA's maps over all blocks, block by block, then the result files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from .maps import MapAccumulator
from .outputs import write_images, write_results, write_tables, write_tracks
from .store import read_block, writing


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



def finish(pl, paths, keys, cfg: Config, out_dir: Path) -> RunSummary:
    """Maps block by block (memory bounded by a block), then the result files."""
    specs, p0, info0 = pl.specs, pl.params[0], pl.infos[0]
    acc = MapAccumulator(info0.shape[:2], p0.res, p0.pixel_size, p0.wavelength_mm, "float32")
    all_tracks, mat_per_block, track_parts, loc_parts = [], [], [], []
    n_frames = n_loc = 0
    for k, p in enumerate(paths):
        res, attrs = read_block(p, keys[k])
        acc.add_tracks(res.tracks)
        acc.add_powdop(res.powdop)
        all_tracks.extend(res.tracks)  # views of the block's points: kept once for the track files
        track_parts.append((attrs["points"], attrs["offsets"], k))
        mat_per_block.append(res.MatTracking)
        n_frames += res.n_frames
        n_loc += res.MatTracking.shape[0]
        loc_parts.append((res.MatTracking, specs[k].frame_offset, k))
    maps = acc.maps()
    powdop = acc.powdop
    thr = cfg.output.mat_v73_threshold
    with writing(out_dir, "results in the output directory"):
        outputs = {"results": write_results(out_dir, maps, powdop, p0, specs, thr),
                   "tracks_mat": write_tracks(out_dir, mat_per_block, all_tracks, p0, specs, thr)}
        if cfg.output.tables:
            outputs.update(write_tables(out_dir, loc_parts, track_parts, p0, info0, specs))
        outputs.update(write_images(out_dir, maps, powdop, p0, cfg.output.images, cfg.output.figures, info0.origin))
    return RunSummary(len(specs), 0, 0, n_frames, n_loc, len(all_tracks), 0.0, {k: str(v) for k, v in outputs.items()})
