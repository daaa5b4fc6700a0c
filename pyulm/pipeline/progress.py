"""Progress of a run: tqdm bars in the client, stage events from Dask workers."""
from __future__ import annotations

import logging

from .._optional import require
from .store import display

log = logging.getLogger("pyulm.pipeline")

STAGES = ("read", "filter", "localize", "track", "write")


class Bars:
    """tqdm bars (overall blocks, overall frames, one per block in flight) and the log lines of each block."""

    def __init__(self, enabled, n_blocks, n_frames, done_blocks, done_frames):
        self.enabled = enabled
        self.block_bars = {}
        if enabled:
            tqdm = require("tqdm.auto", "progress bars (progress=False runs without them)").tqdm

            self.tqdm = tqdm
            self.blocks = tqdm(total=n_blocks, initial=done_blocks, desc="blocks", unit="block", position=0)
            self.frames = tqdm(total=n_frames, initial=done_frames, desc="frames", unit="frame", position=1)

    def start(self, k, spec):
        log.info("block %d (%s frames %d:%d) started", k + 1, display(spec.path), spec.start, spec.stop)
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


def emitter(index, topic):
    """``emit(stage)`` for block ``index``: a Dask event on ``topic`` inside a worker, else nothing."""
    if topic is None:
        return lambda stage: None
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return lambda stage: None
    return lambda stage: worker.log_event(topic, {"block": index, "stage": stage})
