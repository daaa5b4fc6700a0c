"""Whole-acquisition processing, as PALA's in vivo example (``PALA_InVivoULM_example.m``).

Per block (:func:`process_frames`, :mod:`~pyulm.pipeline.block`): SVD clutter filter and
band-pass, localization, tracking, on the core verbs with their PALA switches, with
the parameters of :class:`BlockParams` (built once per block from the config and the
file's metadata, :func:`block_params`). Over all blocks (:class:`MapAccumulator`,
:func:`accumulate_maps`): PALA's density, direction and speed maps, block by block.
:func:`run` does all of it over files, serially or on a Dask cluster, into an output
folder it holds alone (:mod:`~pyulm.pipeline.lock`), with per-block results written
atomically, keyed and checksummed (:mod:`~pyulm.pipeline.store`), so an interrupted
run resumes and never reuses a result it did not make.

Files: ``params`` (parameters), ``block`` (one block), ``store`` (block files),
``maps`` (accumulation), ``checks`` (before writing), ``orchestrate`` (plan, run),
``finish`` (the end of a run),
``cluster`` (Dask), ``lock``, ``progress``, ``outputs`` (``.mat``, tables, images).
"""
from .block import BlockResult, process_frames
from .cluster import local_cluster
from .lock import OutputInUseError
from .maps import MapAccumulator, accumulate_maps
from .finish import RunSummary
from .orchestrate import Plan, plan, run, run_block
from .outputs import pala_ulm, write_images
from .params import BlockParams, block_params
from .store import BlockFileError, BlockSpec, read_block, write_block

__all__ = ["process_frames", "accumulate_maps", "MapAccumulator", "run", "plan", "Plan", "RunSummary",
           "BlockResult", "BlockSpec", "BlockParams", "block_params", "pala_ulm", "read_block",
           "write_block", "run_block", "write_images", "local_cluster", "OutputInUseError", "BlockFileError"]
