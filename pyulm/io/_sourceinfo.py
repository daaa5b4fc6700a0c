"""SourceInfo: what :func:`pyulm.io.inspect` found in a file, and how to read its frames."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ._metadata import DEFAULT_SPEED_OF_SOUND


@dataclass
class SourceInfo:
    """How pyulm reads one file.

    Attributes
    ----------
    path : Path
    format : str
        ``mat4``, ``mat5`` (v5/v6/v7), ``mat73``, ``hdf5`` or ``raw``.
    layout : str
        ``pala`` (IQ + UF + PData), ``verasonics`` (IQData/ImgData cells), ``generic``
        (a named or detected 3-D array), ``raw`` (binary + sidecar) or ``rcvdata``
        (Verasonics channel data, beamformed as it is read).
    variable : str
        The variable holding the frames (``IQ``, ``IQData``, ...).
    buffer : int or None
        1-based cell index for Verasonics buffers (``IQData{buffer}``).
    shape : (Nz, Nx, Nt)
    stored_shape : tuple
        Shape of the stored array in MATLAB order (4-D for Verasonics buffers).
    dtype : numpy dtype name of the stored samples, when known without loading.
    pixel_size : (dz, dx) in wavelengths.
    origin : (z0, x0) in wavelengths (centre of pixel (1,1) in MATLAB terms).
    frame_rate : Hz, or None when the file does not say.
    center_frequency_mhz, speed_of_sound : for the wavelength.
    notes : list of str
        Every assumption made while reading (defaults used, objects skipped, ...).
    variables : list of VarInfo
    raw_meta : dict or None
        The checked sidecar of a raw binary file.
    sample_nbytes : int
        Bytes of one sample as :func:`read_frames` returns it (16 for complex128).
    max_bytes : int or None
        The most bytes one :func:`read_frames` call may allocate (see :func:`inspect`).
    rcvdata : pyulm.beamform.RcvDataSource or None
        For Verasonics channel data (``layout = "rcvdata"``): the acquisition and grid
        :func:`read_frames` beamforms the frames with.

    Everything :func:`read_frames` needs is here: pipeline workers get this
    object and never read the file's metadata again.
    """

    path: Path
    format: str
    layout: str
    variable: str
    buffer: int | None = None
    shape: tuple = ()
    stored_shape: tuple = ()
    dtype: str = "?"
    pixel_size: tuple = (1.0, 1.0)
    origin: tuple = (0.0, 0.0)
    frame_rate: float | None = None
    center_frequency_mhz: float | None = None
    speed_of_sound: float = DEFAULT_SPEED_OF_SOUND
    notes: list = field(default_factory=list)
    variables: list = field(default_factory=list)
    raw_meta: dict | None = None
    sample_nbytes: int = 0
    max_bytes: int | None = None
    rcvdata: object | None = None

    @property
    def n_frames(self) -> int:
        return int(self.shape[2])

    @property
    def frame_nbytes(self) -> int:
        """Bytes of one (Nz, Nx) frame as read."""
        return int(self.shape[0]) * int(self.shape[1]) * int(self.sample_nbytes)

    @property
    def wavelength_mm(self) -> float | None:
        """Wavelength in mm: speed of sound / centre frequency (PALA: 1540/(TwFreq*1e3))."""
        if not self.center_frequency_mhz:
            return None
        return self.speed_of_sound / (self.center_frequency_mhz * 1e3)

    @property
    def label(self) -> str:
        return f"{self.variable}{{{self.buffer}}}" if self.buffer else self.variable

    def describe(self) -> str:
        """A human-readable report (used by ``pyulm info``)."""
        fmt = {"mat4": "MAT v4 (scipy)", "mat5": "MAT v5/v6/v7 (pyulm's MAT v5 codec)", "mat73": "MAT v7.3 (HDF5, h5py)",
               "hdf5": "HDF5 without MATLAB header (h5py)", "raw": "raw binary with JSON sidecar"}[self.format]
        lines = [f"file:        {self.path}", f"format:      {fmt}", f"layout:      {self.layout}"]
        if self.variables:
            lines.append("variables:")
            lines += ["  " + v.describe() for v in self.variables]
        lam = self.wavelength_mm
        lines += [
            "pyulm reads:",
            f"  frames     {self.label}  stored {'x'.join(map(str, self.stored_shape))} {self.dtype}"
            f" -> (z, x, t) = {' x '.join(map(str, self.shape))}",
            f"  pixel      dz = {self.pixel_size[0]:g}, dx = {self.pixel_size[1]:g} wavelengths",
            f"  origin     z0 = {self.origin[0]:g}, x0 = {self.origin[1]:g} wavelengths",
            f"  wavelength {lam:.6g} mm (c = {self.speed_of_sound:g} m/s, f = {self.center_frequency_mhz:g} MHz)" if lam
            else "  wavelength unknown (no Trans.frequency / UF.TwFreq): maps stay in wavelengths",
            f"  frame rate {self.frame_rate:g} Hz" if self.frame_rate else
            "  frame rate unknown: give it with scale = [1, 1, dt] in the [ulm] table of the config",
        ]
        if self.notes:
            lines.append("notes:")
            lines += ["  - " + n for n in self.notes]
        return "\n".join(lines)

    def with_overrides(self, *, frame_rate=None, speed_of_sound=None) -> "SourceInfo":
        changes = {}
        if frame_rate is not None:
            changes["frame_rate"] = float(frame_rate)
        if speed_of_sound is not None:
            changes["speed_of_sound"] = float(speed_of_sound)
        return replace(self, **changes)
