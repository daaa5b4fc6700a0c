"""Reading ULM data and writing results MATLAB can load.

Readers (lazy: metadata first, then one frame range at a time):

* PALA blocks: ``IQ`` [Nz Nx Nt] + ``UF`` + ``PData`` (MAT v5/v6/v7 or v7.3);
* Verasonics workspaces: ``IQData{n}`` complex [rows cols pages frames],
  ``ImgData``/``ImgDataP`` intensity, with ``PData``/``Trans``/``Resource``;
  ``RcvData`` (channel data) is beamformed as it is read (:mod:`pyulm.beamform`);
* any MAT-file with a 3-D array (name it with ``variable=``);
* raw binary blocks with a JSON sidecar (shape, dtype, order).

MAT v5/v6/v7 files are read (and written) by pyulm's own numpy-only codec;
:func:`inspect` checks every header, declared size and metadata value before
any frame is read, and reads metadata variables once, under a size cap.

MAT v7.3 arrays compressed as MATLAB and hdf5storage write them (deflate, shuffle,
fletcher32) are decoded by pyulm's own chunk reader, one thread per core, byte for
byte what h5py reads; other storage goes through h5py (see ``docs/io.md``).

Writers: :func:`save_mat` (v5, switching to v7.3 above 2 GB per variable) and
the HDF5 tables of :mod:`pyulm.tables`.

Examples
--------
>>> from importlib.resources import files
>>> import pyulm.io
>>> info = pyulm.io.inspect(files("pyulm") / "data" / "example_block.mat")
>>> frames = pyulm.io.read_frames(info, 0, 50)
>>> frames.shape, info.pixel_size, round(info.wavelength_mm, 4)
((64, 80, 50), (1.0, 1.0), 0.0986)
"""
from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._lazy import attach

__all__ = [
    "FormatError", "RawChannelDataError", "VarInfo", "SourceInfo", "DEFAULT_SPEED_OF_SOUND", "V73_THRESHOLD",
    "mat_version", "detect_format", "list_variables", "read_mat", "inspect", "read_frames", "parse_variable",
    "save_mat", "load_table", "variable_nbytes", "to_matlab", "h5_read", "h5_read_path", "available_memory",
]
# Imported on first use (PEP 562): the MATLAB bridge, which starts Python on
# every call, imports the MAT v5 codec (pyulm.io._mat5) and nothing else.
_EXPORTS = {
    "FormatError": "_errors", "VarInfo": "_errors", "list_variables": "_matfile", "mat_version": "_matfile",
    "read_mat": "_matfile",
    "DEFAULT_SPEED_OF_SOUND": "_source", "RawChannelDataError": "_source", "SourceInfo": "_sourceinfo",
    "detect_format": "_source", "inspect": "_source", "parse_variable": "_source", "read_frames": "_source",
    "V73_THRESHOLD": "_write", "load_table": "_write", "save_mat": "_write", "variable_nbytes": "_write",
    "to_matlab": "_write", "h5_read": "_h5chunks", "h5_read_path": "_h5chunks", "available_memory": "_limits",
}

if _TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._errors import FormatError, VarInfo
    from ._matfile import list_variables, mat_version, read_mat
    from ._source import (DEFAULT_SPEED_OF_SOUND, RawChannelDataError, detect_format, inspect, parse_variable,
                          read_frames)
    from ._sourceinfo import SourceInfo
    from ._h5chunks import h5_read, h5_read_path
    from ._limits import available_memory
    from ._write import V73_THRESHOLD, load_table, save_mat, to_matlab, variable_nbytes


__getattr__, __dir__ = attach(__name__, _EXPORTS)
