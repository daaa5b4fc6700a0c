"""The error and the variable listing shared by every reader of :mod:`pyulm.io`."""
from __future__ import annotations

from dataclasses import dataclass

NUMERIC_CLASSES = frozenset({
    "double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
})


class FormatError(ValueError):
    """The file cannot be read as what it claims to be (one line, names the file)."""


@dataclass(frozen=True)
class VarInfo:
    """One variable of a file as listed without loading it.

    Attributes
    ----------
    name : str
    shape : tuple of int
        MATLAB's dimensions.
    mclass : str
        MATLAB class: ``double``, ``single``, ``int16``, ``logical``, ``cell``, ``struct``, ``char``, ...
    complex : bool
        Complex numeric data.
    nbytes : int or None
        Bytes the data take in memory in their class, when known from the header (numeric classes).
    stored_nbytes : int or None
        Bytes the variable takes in the file, when known (MAT v5).
    """

    name: str
    shape: tuple
    mclass: str
    complex: bool = False
    nbytes: int | None = None
    stored_nbytes: int | None = None

    def describe(self) -> str:
        dims = "x".join(str(int(s)) for s in self.shape) if self.shape else "?"
        cplx = " complex" if self.complex else ""
        return f"{self.name:<16s} {dims:>18s}  {self.mclass}{cplx}"
