"""Beamforming Verasonics channel data (RcvData) to IQ."""
from .acquisition import PlaneWaveAcquisition
from .beamformer import Beamformer
from .das import Grid, make_grid

__all__ = ["PlaneWaveAcquisition", "Beamformer", "Grid", "make_grid"]
