"""Verasonics channel data (RcvData) to IQ: reading, demodulation, plane-wave delay-and-sum.

>>> import os, tempfile, numpy as np
>>> from pyulm.beamform import open_rcvdata, save_workspace, workspace_variables
>>> from pyulm.sim.channel import plane_wave_acquisition
>>> acq = plane_wave_acquisition(n_elements=16, angles=(-5, 0, 5), depth=(4, 20), sample_mode="BS100BW")
>>> rcv = np.zeros((acq.rows_per_frame, 16, 2), np.int16)           # a Vantage's int16 buffer
>>> p = os.path.join(tempfile.mkdtemp(), "ws.mat")
>>> save_workspace(p, workspace_variables(acq, rcv, pdata=((8, 6), (1.0, 1.0), (5.0, -2.5))))
'5'
>>> src = open_rcvdata(p)                 # Trans, TX, Receive, PData, RcvData, ...
>>> src.read(0, 2).shape                  # (z, x, t) complex64 on PData's grid
(8, 6, 2)

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
