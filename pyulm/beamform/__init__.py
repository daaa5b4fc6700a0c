"""Verasonics channel data (RcvData) to IQ: reading, demodulation, plane-wave delay-and-sum.

>>> from pyulm.beamform import open_rcvdata                      # doctest: +SKIP
>>> src = open_rcvdata("workspace.mat")   # Trans, TX, Receive, PData, RcvData, ...
>>> iq = src.read(0, 100)                 # (z, x, t) complex64 on PData's grid

* :func:`open_rcvdata` / :class:`RcvDataSource`: a Vantage workspace (MAT v5 or
  v7.3) read lazily, compound frame by compound frame;
* :class:`PlaneWaveAcquisition`: the sequence in SI units (what the beamformer needs);
* :class:`Beamformer`: demodulation + delay-and-sum + compounding as precomputed
  sparse matrices (scipy threads or torch);
* :func:`workspace_variables` / :func:`save_workspace`: write channel data as a
  Vantage saves it (used by :mod:`pyulm.sim.channel`).

See ``docs/beamform.md``.
"""
from ._fields import WorkspaceError
from .acquisition import PlaneWaveAcquisition
from .beamformer import Beamformer
from .das import Grid, make_grid
from .rcvdata import RcvDataSource, open_rcvdata
from .write import save_workspace, workspace_variables

__all__ = ["PlaneWaveAcquisition", "Beamformer", "Grid", "make_grid", "RcvDataSource", "open_rcvdata",
           "WorkspaceError", "save_workspace", "workspace_variables"]
