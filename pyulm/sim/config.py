"""The simulation config (TOML file and CLI flags), validated with pydantic."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class PSFConfig(BaseModel):
    """``[psf]``: ``kind = "gaussian"`` (``fwhm`` in pixels) or ``"transducer"``."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["gaussian", "transducer"] = "gaussian"
    fwhm: tuple[float, float] = (3.0, 3.0)
    center_frequency_mhz: float = Field(15.625, gt=0, description="MHz")
    fractional_bandwidth: Optional[float] = Field(0.67, gt=0, le=2)
    n_cycles: Optional[float] = Field(None, gt=0)
    f_number: Optional[float] = Field(None, gt=0)
    pitch_mm: float = Field(0.1, gt=0, description="mm")
    n_elements: int = Field(128, gt=0)
    depth_mm: float = Field(8.0, gt=0, description="mm")
    angles: list[float] = [-10.0, 10.0]
    speed_of_sound: float = Field(1540.0, gt=0)
    lateral: Literal["sinc", "gaussian"] = "sinc"
    shrink: Optional[float] = Field(None, gt=0)

    @model_validator(mode="after")
    def _fwhm_positive(self):
        if min(self.fwhm) <= 0:
            raise ValueError(f"fwhm: expected values > 0 pixels, got {self.fwhm}")
        return self

    def build(self):
        from .psf import gaussian_psf, psf_from_transducer

        if self.kind == "gaussian":
            psf = gaussian_psf(self.fwhm)
        else:
            psf = psf_from_transducer(
                self.center_frequency_mhz, fractional_bandwidth=self.fractional_bandwidth, n_cycles=self.n_cycles,
                f_number=self.f_number, pitch_mm=self.pitch_mm, n_elements=self.n_elements, depth_mm=self.depth_mm,
                angles=self.angles, speed_of_sound=self.speed_of_sound, lateral=self.lateral,
            )
        return psf.shrink(self.shrink) if self.shrink else psf


class NetworkConfig(BaseModel):
    """``[network]``: a random tree, or ``mask = "file.npy|png"`` (with ``mask_res``)."""

    model_config = ConfigDict(extra="forbid")
    n_roots: int = Field(2, gt=0)
    root_radius: float = Field(1.0, gt=0, description="pixels")
    min_radius: float = Field(0.2, gt=0)
    max_depth: int = Field(6, ge=0)
    mask: Optional[str] = None
    mask_res: float = Field(1.0, gt=0)


class SimConfig(BaseModel):
    """Everything :func:`pyulm.sim.simulate` needs, plus the output blocks."""

    model_config = ConfigDict(extra="forbid")
    shape: tuple[int, int] = (128, 128)
    n_frames: int = Field(800, gt=0, description="frames per block")
    n_blocks: int = Field(1, gt=0)
    seed: int = Field(0, ge=0)
    concentration: Optional[float] = Field(None, gt=0, description="bubbles per mm^2 of field")
    injection_rate: Optional[float] = Field(None, gt=0, description="bubbles per frame")
    max_velocity: float = Field(20.0, gt=0, description="mm/s")
    intensity: tuple[float, float] = (0.5, 1.5)
    intensity_jitter: float = Field(0.1, ge=0)
    snr_db: Optional[float] = 30.0
    clutter_db: Optional[float] = None
    frame_rate: float = Field(1000.0, gt=0)
    formats: list[Literal["mat", "h5"]] = ["mat", "h5"]
    psf: PSFConfig = PSFConfig()
    network: NetworkConfig = NetworkConfig()

    @model_validator(mode="after")
    def _check(self):
        if min(self.shape) <= 0:
            raise ValueError(f"shape: expected positive sizes (pixels), got {self.shape}")
        return self


def parse_config(data: dict) -> SimConfig:
    """A validated SimConfig; errors become one ValueError naming the field."""
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(v) for v in err["loc"]) or "config"
        raise ValueError(f"{loc}: {err['msg']} (got {err.get('input')!r})") from None
