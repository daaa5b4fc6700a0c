"""Validated processing parameters: the ``pyulm process`` config file.

The TOML ``[ulm]`` table takes PALA's ``ULM`` field names, so a MATLAB user
copies values across unchanged; defaults are PALA's in vivo example
(``PALA_InVivoULM_example.m``). Physical units are accepted where users think
in them (``max_velocity_mm_s``). Unknown keys are errors that name them.

Examples
--------
>>> cfg = Config.from_dict({"ulm": {"numberOfParticles": 40, "NLocalMax": 3}})
>>> cfg.ulm.numberOfParticles, cfg.ulm.fwhm, cfg.ulm.ButterCuttofFreq
(40, (3.0, 3.0), (50.0, 249.0))
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Union

from ._optional import require, toml
from .io._write import V73_THRESHOLD

tomllib = toml()
require("pydantic", "pyulm process (its config)")  # a missing extra is named, then imported as usual
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator  # noqa: E402


class ConfigError(ValueError):
    """A bad config: one line naming the file, the field and what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: the localization methods that are networks (``[ulm] precision`` reaches them)
LEARNED_LOCALIZERS = ("mblnet", "3dml")


class ULMParams(_Strict):
    """PALA's ``ULM`` struct fields (names as in PALA).

    Positions and distances are in wavelengths (PALA converts pixels to
    wavelengths before tracking); frames are counted in frames.
    """

    numberOfParticles: int = Field(90, gt=0, le=1_000_000, description="max detections per frame")
    fwhm: tuple[float, float] = Field((3.0, 3.0), description="[fwhm_x fwhm_z] of the PSF in pixels (PALA order)")
    LocMethod: str = Field("radial", description="a registered localization method")
    SVD_cutoff: tuple[int, Union[int, Literal["end"]]] = Field((5, "end"), description="kept singular components [first last]")
    ButterCuttofFreq: tuple[float, ...] = Field((50.0, 249.0), description="band-pass [low high] Hz; [] disables")
    max_linking_distance: float = Field(2.0, gt=0, le=1000, description="wavelengths per frame")
    max_velocity_mm_s: float | None = Field(None, gt=0, le=1e5, description="sets max_linking_distance from frame rate and wavelength")
    max_gap_closing: int = Field(0, ge=0, le=1000)
    min_length: int = Field(15, ge=0, le=100_000, description="keep tracks longer than this (frames)")
    res: float = Field(10.0, gt=0, le=100, description="super-resolution factor")
    NLocalMax: int = Field(3, ge=1, le=1000)
    InterpMethod: str = Field("spline", description="for LocMethod interp")
    scale: tuple[float, float, float] | None = Field(None, description="[dz dx dt]; dt gives the frame rate when the file does not")
    pyulm_svd: Literal["double", "pala_single"] = Field(
        "double", description="SVD route: double (accurate) or pala_single (PALA's single-precision X'*X on single data)")
    tracking: Literal["hungarian", "deepstulm"] = Field(
        "hungarian", description="hungarian: PALA's localize + link (tracks, velocity maps); deepstulm: the Deep-stULM "
        "network's track maps summed into MatOut (no velocity maps; needs pyulm[nn])")
    deepstulm_weights: str | None = Field(None, description="Deep-stULM model directory or weights.pt; default the shipped model")
    translate: str | None = Field(None, description="CycleULM MB-DT model directory: translate the filtered frames into the "
                                  "MB-only domain before localization (any LocMethod; needs pyulm[nn])")
    pipeline: str | None = Field(None, description="a named pipeline (sets LocMethod): cycleulm-ncc, cycleulm-decon, "
                                 "cycleulm-loc, cycleulm-e2e (need translate), baseline1, baseline2")
    mbtnet_weights: str | None = Field(None, description='MBT-Net model directory for pipeline = "cycleulm-e2e"; '
                                       "default the shipped model")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="arithmetic of the learned networks (MB-DT translate step, MBT-Net, LocMethod mblnet/3dml): "
        "fp32 (reference) or bf16 (~2-3x faster on CPUs with AMX / AVX-512 BF16; docs/cycleulm.md, docs/nn.md)")

    @field_validator("fwhm", mode="before")
    @classmethod
    def _fwhm(cls, v):
        if isinstance(v, (int, float)):
            v = (v, v)
        if isinstance(v, (list, tuple)) and len(v) == 1:
            v = (v[0], v[0])
        if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) and x > 0 for x in v):
            return tuple(float(x) for x in v)
        raise ValueError(f"expected one or two positive numbers (pixels), got {v!r}")

    @field_validator("SVD_cutoff", mode="before")
    @classmethod
    def _svd(cls, v):
        if isinstance(v, int) and not isinstance(v, bool):
            v = (v, "end")
        if isinstance(v, (list, tuple)) and len(v) == 1:
            v = (v[0], "end")
        if isinstance(v, (list, tuple)) and len(v) == 2:
            lo, hi = v
            if isinstance(hi, str) and hi.lower() in ("end", "nt"):
                hi = "end"
            if isinstance(lo, int) and lo >= 1 and (hi == "end" or (isinstance(hi, int) and hi >= lo)):
                return (lo, hi)
        raise ValueError(f"expected [first, last] 1-based components with 1 <= first <= last, last a number or \"end\", got {v!r}")

    @field_validator("ButterCuttofFreq", mode="before")
    @classmethod
    def _band(cls, v):
        if v is False or v is None:
            return ()
        if isinstance(v, (list, tuple)) and len(v) == 0:
            return ()
        if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v) and 0 < v[0] < v[1]:
            return (float(v[0]), float(v[1]))
        raise ValueError(f"expected [low, high] in Hz with 0 < low < high (or [] for no band-pass), got {v!r}")

    @field_validator("LocMethod")
    @classmethod
    def _method(cls, v):
        from .localization import available_methods, get_method

        try:
            get_method(v)
        except ValueError:
            raise ValueError(f"unknown method {v!r}; available: {', '.join(available_methods())}") from None
        return v.lower()

    @field_validator("scale", mode="before")
    @classmethod
    def _scale(cls, v):
        if v is None:
            return None
        if isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) and x > 0 for x in v):
            return tuple(float(x) for x in v)
        raise ValueError(f"expected [dz, dx, dt] with positive numbers (dt in seconds), got {v!r}")

    @model_validator(mode="after")
    def _weights_need_deepstulm(self):
        if self.deepstulm_weights is not None and self.tracking != "deepstulm":
            raise ValueError('deepstulm_weights is used only with tracking = "deepstulm"')
        return self

    @field_validator("translate")
    @classmethod
    def _translator_dir(cls, v):
        if v is not None and not Path(v).expanduser().is_dir():
            raise ValueError(f"MB-DT model directory {v!r} does not exist (train one with `pyulm train mbdt`)")
        return v

    @field_validator("pipeline")
    @classmethod
    def _pipeline_name(cls, v):
        from .nn.cycleulm.pipelines import PIPELINES

        if v is not None and v.lower() not in PIPELINES:
            raise ValueError(f"unknown pipeline {v!r}; available: {', '.join(PIPELINES)}")
        return None if v is None else v.lower()

    @model_validator(mode="before")
    @classmethod
    def _pipeline_localizer(cls, data):
        """A named pipeline sets LocMethod (so the effective config, written back, loads again);
        a LocMethod of another localizer is refused after."""
        if isinstance(data, dict) and isinstance(data.get("pipeline"), str) and "LocMethod" not in data:
            from .nn.cycleulm.pipelines import PIPELINES

            spec = PIPELINES.get(data["pipeline"].lower())
            if spec is not None:
                data = {**data, "LocMethod": spec.localizer or "mblnet"}
        return data

    @model_validator(mode="after")
    def _pipeline_fits(self):
        if self.mbtnet_weights is not None and self.pipeline != "cycleulm-e2e":
            raise ValueError('mbtnet_weights is used only with pipeline = "cycleulm-e2e"')
        if self.pipeline is None:
            return self
        from .nn.cycleulm.pipelines import pipeline_spec

        spec = pipeline_spec(self.pipeline, self.translate)  # a translator for cycleulm-*, none for the baselines
        if self.LocMethod != (spec.localizer or "mblnet"):
            raise ValueError(f"pipeline {self.pipeline!r} sets the localizer ({spec.localizer or 'mblnet'}): "
                             f"drop LocMethod = {self.LocMethod!r}")
        if self.tracking != "hungarian":
            raise ValueError(f'pipeline {self.pipeline!r} runs its own tracking: drop tracking = "{self.tracking}"')
        if self.pipeline == "cycleulm-e2e" and self.res != 4:
            raise ValueError(f"pipeline 'cycleulm-e2e' makes its maps on MBT-Net's x4 grid: set res = 4 (got {self.res:g})")
        return self

    @model_validator(mode="after")
    def _precision_needs_a_network(self):
        if self.precision != "fp32" and self.translate is None and self.pipeline is None \
                and self.LocMethod not in LEARNED_LOCALIZERS:
            raise ValueError(f"precision = {self.precision!r} sets the arithmetic of the learned networks (translate, "
                             f"pipeline, LocMethod {' or '.join(LEARNED_LOCALIZERS)}); LocMethod = {self.LocMethod!r} "
                             "without a translator runs none: drop precision")
        return self

    @model_validator(mode="after")
    def _one_distance(self):
        if self.max_velocity_mm_s is not None and "max_linking_distance" in self.model_fields_set:
            raise ValueError("give either max_linking_distance (wavelengths/frame) or max_velocity_mm_s, not both")
        return self


class InputParams(_Strict):
    """How frames are read from the input files."""

    variable: str | None = Field(None, description='variable holding the frames, e.g. "IQ" or "IQData{2}"')
    speed_of_sound: float | None = Field(None, gt=100, lt=10000, description="m/s; default from the file or 1540")
    frames_per_block: int = Field(0, ge=0, description="split each file in blocks of this many frames; 0 = one block per file")


class OutputParams(_Strict):
    """What ``pyulm process`` writes besides the per-block results."""

    images: tuple[Literal["png", "tiff"], ...] = ("png", "tiff")
    figures: tuple[Literal["png", "pdf", "tiff"], ...] = Field(
        ("png",), description="readable figures (axes in mm, colour bars with units, scale bar): formats")
    mat_v73_threshold: int = Field(V73_THRESHOLD, gt=0, description="bytes per variable above which .mat files are v7.3")
    tables: bool = Field(True, description="write localizations.h5 and tracks.h5")


class RunParams(_Strict):
    """The resources a run may use (they never change its results)."""

    threads: int = Field(0, ge=0, le=4096, description="threads in this process (pyulm's and BLAS's); "
                         "0 = the CPUs it may use (affinity, cgroup quota)")
    memory_limit_mb: float = Field(0, ge=0, description="most memory one block may take (MB); larger blocks are split "
                                   "by frames; 0 = half the memory available when the run starts")


class Config(_Strict):
    """All parameters of ``pyulm process``: tables ``[ulm]``, ``[input]``, ``[output]``, ``[run]``."""

    ulm: ULMParams = ULMParams()
    input: InputParams = InputParams()
    output: OutputParams = OutputParams()
    run: RunParams = RunParams()

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "Config":
        """Validate a nested dict (as parsed from TOML); ConfigError on any problem."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {_format_errors(exc)}") from None

    @classmethod
    def load(cls, path) -> "Config":
        """Read and validate a TOML config file."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        return cls.from_dict(data, str(path))

    def to_toml(self) -> str:
        """The effective parameters as TOML (loadable by :meth:`load`)."""
        out = []
        for table in ("ulm", "input", "output", "run"):
            out.append(f"[{table}]")
            for k, v in getattr(self, table).model_dump().items():
                if v is None:
                    continue
                out.append(f"{k} = {_toml_value(v)}")
            out.append("")
        return "\n".join(out)


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, float) and v == int(v) and abs(v) < 1e15:
        return repr(v)
    return repr(v)


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err["loc"] if not isinstance(x, int)]
        where = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else (f"[{loc[0]}]" if loc else "")
        if err["type"] == "extra_forbidden":
            allowed = _allowed(loc)
            parts.append(f"unknown key {where.strip()}" + (f" (allowed: {', '.join(allowed)})" if allowed else ""))
            continue
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict) or "got" in msg or repr(got) in msg else f" (got {got!r})"
        parts.append(f"{where}: {msg}{shown}".strip())
    return "; ".join(parts)


def _allowed(loc):
    tables = {"ulm": ULMParams, "input": InputParams, "output": OutputParams, "run": RunParams}
    if len(loc) == 1:
        return list(tables)
    model = tables.get(loc[0])
    return list(model.model_fields) if model else []


EXAMPLE_TOML = """\
# pyulm process configuration. Defaults = PALA's in vivo example (PALA_InVivoULM_example.m).
# Every key is optional; unknown keys are errors.

[ulm]
# PALA's ULM field names.
numberOfParticles = 90          # max detections per frame
fwhm = [3, 3]                   # PSF FWHM in pixels, [fwhm_x fwhm_z] (one number = both)
LocMethod = "radial"            # any registered method: radial, wa, interp, nolocalization, ...
SVD_cutoff = [5, "end"]         # kept singular components [first last]; "end" = number of frames
ButterCuttofFreq = [50, 249]    # Butterworth band-pass (order 2, causal) in Hz; [] = none
max_linking_distance = 2        # wavelengths per frame; or set max_velocity_mm_s instead
# max_velocity_mm_s = 200       # fastest flow to link, mm/s (uses frame rate and wavelength)
max_gap_closing = 0             # frames a bubble may vanish
min_length = 15                 # keep tracks longer than this many frames
res = 10                        # super-resolution factor (SR pixel = 1/res pixel)
NLocalMax = 3                   # reject ROIs holding more regional maxima than this
InterpMethod = "spline"         # for LocMethod = "interp": spline, cubic, lanczos3
# scale = [1, 1, 0.001]         # [dz dx dt]; dt (s) gives the frame rate when the file does not
pyulm_svd = "double"            # SVD route: "double" (accurate) or "pala_single" (PALA's single-precision route)
tracking = "hungarian"          # "hungarian" (PALA: localize + link) or "deepstulm" (network track maps; needs pyulm[nn])
# deepstulm_weights = "dir"     # Deep-stULM model directory or weights.pt (default: the shipped model)
# translate = "mbdt_dir"        # CycleULM MB-DT model: frames -> MB-only domain before any LocMethod (needs pyulm[nn])
# pipeline = "cycleulm-ncc"     # named pipeline: cycleulm-ncc/-decon/-loc/-e2e (need translate), baseline1, baseline2
# mbtnet_weights = "dir"        # MBT-Net model directory for cycleulm-e2e (default: the shipped model; e2e needs res = 4)
# precision = "fp32"           # learned networks' arithmetic (MB-DT, MBT-Net, mblnet, 3dml): fp32 or bf16 (faster with AMX)

[input]
# variable = "IQ"               # variable holding the frames, e.g. "IQ" or "IQData{2}" (auto-detected)
# speed_of_sound = 1540         # m/s, for the wavelength (default: Resource.Parameters.speedOfSound or 1540)
frames_per_block = 0            # split files into blocks of this many frames; 0 = one block per file

[output]
images = ["png", "tiff"]        # density, direction, velocity and power Doppler images
figures = ["png"]               # readable figures (axes in mm, colour bars, scale bar): png, pdf, tiff; [] = none
mat_v73_threshold = 2146435072  # bytes per variable above which .mat results are MAT v7.3
tables = true                   # also write localizations.h5 and tracks.h5

[run]
threads = 0                     # threads in this process (pyulm's and BLAS's); 0 = the CPUs it may use
memory_limit_mb = 0             # most memory a block may take; larger blocks are split; 0 = half the free memory
"""
