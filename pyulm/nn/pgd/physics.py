"""Physical imaging parameters of PgD and the physics images it learns (numpy only; no torch).

:class:`PhysicsParams` is one imaging condition: probe (centre frequency, bandwidth,
pitch, element count), pulse (cycles), beamforming (F-number, compounding angles,
pixel size) and depth. Units are in the field names. :func:`normalise` turns it into
the conditioning vector of the network; :func:`sample_params` draws conditions that
span common ULM linear arrays (5-20 MHz) in three **disjoint** splits; and
:func:`simulate_images` (:mod:`pyulm.nn.pgd.imaging`, re-exported here) renders the
physics images (complex IQ) of a bubble table with :func:`pyulm.psf.psf_from_transducer`,
the reference PgD is trained on and scored against.

Parameter sets come from keywords, a dict / TOML file (:meth:`PhysicsParams.from_dict`,
:meth:`PhysicsParams.from_toml`) or a Verasonics workspace
(:meth:`PhysicsParams.from_verasonics`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from ... import _validate as V

__all__ = ["PhysicsParams", "RANGES", "FIELDS", "normalise", "sample_params", "split_of", "simulate_images",
           "physics_psf", "pymust_physics_psf", "PgDRangeWarning"]

#: Trained range of every conditioning field: (low, high, unit, log scale in the vector).
RANGES = {
    "center_frequency_mhz": (5.0, 20.0, "MHz", True),
    "fractional_bandwidth": (0.4, 1.0, "pulse-echo -6 dB bandwidth / centre frequency", False),
    "n_cycles": (1.0, 4.0, "transmit cycles", False),
    "pitch_mm": (0.05, 0.35, "mm", True),
    "n_elements": (64, 256, "elements", True),
    "f_number": (0.5, 3.0, "receive F-number", True),
    "n_angles": (1, 25, "compounded plane waves", False),
    "angle_span_deg": (0.0, 40.0, "degrees (max - min steering angle)", False),
    "pixel_size_mm": (0.019, 0.31, "mm (square pixels)", True),  # lambda/4 at 20 MHz .. lambda at 5 MHz
    "depth_mm": (3.0, 40.0, "mm", True),
}
#: Order of the conditioning vector of :func:`normalise`.
FIELDS = tuple(RANGES)
_INTEGER = ("n_elements", "n_angles")
#: Element counts drawn by :func:`sample_params` (the arrays ULM labels use).
ELEMENT_COUNTS = (64, 128, 192, 256)
#: Pixel sizes drawn by :func:`sample_params`, wavelengths (beamforming grids of lambda/4 to lambda).
PIXEL_WAVELENGTHS = (0.25, 1.0)
# The held-out design: 4 bins per axis over centre frequency, F-number and pixel size in
# wavelengths; cell (i, j, k) is in the test split when (i + 2j + 3k) % 7 == 0 and in the
# validation split when it is 1, so both splits touch every bin of every axis while no test
# condition lies in a training cell.
_SPLIT_AXES = ("center_frequency_mhz", "f_number", "pixel_size_wavelengths")
SPLITS = ("train", "val", "test")


class PgDRangeWarning(UserWarning):
    """A physics parameter outside the range PgD was trained on (it extrapolates there)."""


@dataclass(frozen=True)
class PhysicsParams:
    """One imaging condition (a linear array, plane-wave compounding, delay-and-sum).

    Parameters
    ----------
    center_frequency_mhz : float
        Transmit centre frequency, MHz (trained range 5-20).
    fractional_bandwidth : float
        Pulse-echo -6 dB bandwidth of the transducer / centre frequency, in (0, 2].
    n_cycles : float
        Cycles of the transmit burst (Verasonics: ``TW.Parameters(3)`` half-cycles / 2).
    pitch_mm : float
        Element pitch, mm.
    n_elements : int
        Elements of the array (the receive aperture is ``pitch_mm * n_elements``).
    f_number : float
        Receive F-number of the beamformer; limited by the aperture at depth
        (``max(f_number, depth_mm / aperture)``).
    n_angles : int
        Compounded plane-wave transmits, evenly spread over ``angle_span_deg``.
    angle_span_deg : float
        Largest minus smallest steering angle, degrees (0 with one angle).
    pixel_size_mm : float
        Pixel size (square pixels, dz = dx), mm.
    depth_mm : float
        Depth of the imaged region, mm.
    speed_of_sound : float
        m/s; sets the wavelength in mm (not a conditioning input: soft tissue is assumed,
        and the network sees the wavelength through the centre frequency).

    Examples
    --------
    >>> p = PhysicsParams(center_frequency_mhz=7.6, n_angles=5, angle_span_deg=20.0)
    >>> round(p.wavelength_mm, 4), p.angles_deg.tolist()
    (0.2026, [-10.0, -5.0, 0.0, 5.0, 10.0])
    """

    center_frequency_mhz: float = 15.625
    fractional_bandwidth: float = 0.67
    n_cycles: float = 1.0
    pitch_mm: float = 0.1
    n_elements: int = 128
    f_number: float = 1.0
    n_angles: int = 3
    angle_span_deg: float = 10.0
    pixel_size_mm: float = 0.05
    depth_mm: float = 8.0
    speed_of_sound: float = 1540.0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _INTEGER:
                v = V.positive(v, f.name, integer=True)
            else:
                v = V.positive(v, f.name, allow_zero=f.name == "angle_span_deg")
            object.__setattr__(self, f.name, v)
        if self.fractional_bandwidth > 2:
            raise ValueError(f"fractional_bandwidth: expected a value in (0, 2], got {self.fractional_bandwidth!r}")
        if self.angle_span_deg >= 180:
            raise ValueError(f"angle_span_deg: expected a span below 180 degrees, got {self.angle_span_deg!r}")
        if (self.n_angles == 1) != (self.angle_span_deg == 0):
            raise ValueError(f"n_angles, angle_span_deg: one angle has a span of 0 and several angles a span > 0, "
                             f"got n_angles={self.n_angles}, angle_span_deg={self.angle_span_deg}")

    # -- derived quantities -------------------------------------------------
    @property
    def wavelength_mm(self) -> float:
        """Wavelength at the centre frequency, mm."""
        return self.speed_of_sound / (self.center_frequency_mhz * 1e3)

    @property
    def pixel_size_wavelengths(self) -> float:
        """Pixel size (dz = dx) in wavelengths."""
        return self.pixel_size_mm / self.wavelength_mm

    @property
    def angles_deg(self) -> np.ndarray:
        """The compounding angles, degrees (symmetric about 0)."""
        return np.linspace(-self.angle_span_deg / 2, self.angle_span_deg / 2, self.n_angles)

    @property
    def effective_f_number(self) -> float:
        """Receive F-number at ``depth_mm``: the array cannot open wider than ``pitch_mm * n_elements``."""
        return max(self.f_number, self.depth_mm / (self.pitch_mm * self.n_elements))

    @property
    def split(self) -> str:
        """``"train"``, ``"val"`` or ``"test"``: the held-out cell this condition lies in (see :func:`split_of`)."""
        return split_of(self)

    def to_dict(self) -> dict:
        """Plain ``{field: value}`` (what :meth:`from_dict` reads)."""
        return asdict(self)

    def out_of_range(self) -> list[str]:
        """One message per field outside the trained range :data:`RANGES` (empty when all are inside)."""
        out = []
        for name, (lo, hi, unit, _) in RANGES.items():
            v = getattr(self, name)
            if not lo <= v <= hi:
                out.append(f"{name} = {v:g} is outside the trained range [{lo:g}, {hi:g}] ({unit})")
        return out

    # -- constructors ------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict, where: str = "physics parameters") -> "PhysicsParams":
        """Build from ``{field: value}``; unknown keys are one error naming them; missing fields take the defaults.

        Examples
        --------
        >>> PhysicsParams.from_dict({"center_frequency_mhz": 7.6}).center_frequency_mhz
        7.6
        >>> PhysicsParams.from_dict({"frequency": 7.6})
        Traceback (most recent call last):
        ...
        pyulm._validate.UnknownOptionError: frequency: physics parameters has no option 'frequency' (did you mean center_frequency_mhz?); it accepts: ...
        """
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected a table of parameters, got {type(d).__name__}")
        V.check_options(where, d, [f.name for f in fields(cls)])
        return cls(**d)

    @classmethod
    def from_toml(cls, path) -> "PhysicsParams":
        """Read a TOML file: the fields at top level, or in a ``[physics]`` table."""
        from ..._optional import load_toml

        raw = load_toml(path, "physics parameters")
        if "physics" in raw:
            extra = sorted(set(raw) - {"physics"})
            if extra:
                raise ValueError(f"physics parameters {path}: unknown key(s) {extra} next to [physics]")
            raw = raw["physics"]
        return cls.from_dict(raw, f"physics parameters {path}")

    @classmethod
    def from_verasonics(cls, Trans, TW, PData=None, TX=None, Resource=None, **overrides) -> "PhysicsParams":
        """Build from the structs of a Verasonics workspace (see :mod:`pyulm.nn.pgd.verasonics`)."""
        from .verasonics import params_from_verasonics

        return cls.from_dict(params_from_verasonics(Trans, TW, PData, TX, Resource, overrides),
                             "from_verasonics overrides")


def _unit(name: str, value: float) -> float:
    """``value`` of field ``name`` mapped to [0, 1] over its trained range (log scale where marked)."""
    lo, hi, _, log = RANGES[name]
    if log:
        return (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (value - lo) / (hi - lo)


def normalise(params: PhysicsParams) -> np.ndarray:
    """The conditioning vector: each field of :data:`FIELDS` mapped linearly (log-linearly for
    frequency, sizes, counts and F-number) from its trained range to [-1, 1].

    Values outside the range map outside [-1, 1] (the network extrapolates).

    Examples
    --------
    >>> v = normalise(PhysicsParams(center_frequency_mhz=5.0, n_elements=256))
    >>> v.shape, float(v[0]), float(v[4])
    ((10,), -1.0, 1.0)
    """
    if not isinstance(params, PhysicsParams):
        raise ValueError(f"params: expected PhysicsParams, got {type(params).__name__}")
    return np.array([2 * _unit(n, getattr(params, n)) - 1 for n in FIELDS], dtype=np.float32)


def _split_unit(name: str, params: PhysicsParams) -> float:
    if name == "pixel_size_wavelengths":
        lo, hi = PIXEL_WAVELENGTHS
        return (math.log(params.pixel_size_wavelengths) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return _unit(name, getattr(params, name))


def split_cell(params: PhysicsParams) -> tuple[int, int, int]:
    """The held-out design's cell (0-3 per axis) of centre frequency, F-number and pixel size in wavelengths."""
    return tuple(min(3, max(0, int(_split_unit(n, params) * 4))) for n in _SPLIT_AXES)


def split_of(params: PhysicsParams) -> str:
    """The split (``"train"``, ``"val"``, ``"test"``) of the held-out cell holding ``params``."""
    i, j, k = split_cell(params)
    s = (i + 2 * j + 3 * k) % 7
    return "test" if s == 0 else "val" if s == 1 else "train"


def _draw(rng: np.random.Generator) -> PhysicsParams:
    def uniform(name):
        lo, hi, _, log = RANGES[name]
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if log else float(rng.uniform(lo, hi))

    f0 = uniform("center_frequency_mhz")
    wl = 1540.0 / (f0 * 1e3)
    lo, hi = RANGES["pitch_mm"][:2]
    n_angles = 1 if rng.random() < 0.1 else int(rng.integers(2, RANGES["n_angles"][1] + 1))
    return PhysicsParams(
        center_frequency_mhz=f0, fractional_bandwidth=uniform("fractional_bandwidth"), n_cycles=uniform("n_cycles"),
        pitch_mm=float(np.clip(wl * rng.uniform(0.5, 1.5), lo, hi)),  # real arrays: pitch about one wavelength
        n_elements=int(rng.choice(ELEMENT_COUNTS)), f_number=uniform("f_number"), n_angles=n_angles,
        angle_span_deg=0.0 if n_angles == 1 else float(rng.uniform(4.0, RANGES["angle_span_deg"][1])),
        pixel_size_mm=wl * float(np.exp(rng.uniform(*np.log(PIXEL_WAVELENGTHS)))), depth_mm=uniform("depth_mm"))


def sample_params(rng, split: str = "train", n: int | None = None):
    """Draw imaging conditions of one split, spanning common ULM linear arrays.

    Fields are drawn uniformly over :data:`RANGES` (log-uniformly where the vector is
    log scaled), the pitch as 0.5-1.5 wavelengths (as real arrays), the pixel size as
    1/4-1 wavelength (log-uniformly: the grids ULM beamforms on), the element count
    from 64/128/192/256 and one transmit (no compounding) one time in ten. A draw is
    kept when it falls in a cell of ``split`` (:func:`split_of`): the test conditions
    are never in a training or validation cell.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random source (an int seeds one).
    split : {"train", "val", "test"}
    n : int, optional
        Number of conditions; default one (returned bare, not in a list).

    Returns
    -------
    PhysicsParams or list of PhysicsParams

    Examples
    --------
    >>> ps = sample_params(0, "test", n=3)
    >>> [p.split for p in ps]
    ['test', 'test', 'test']
    """
    V.choice(split, "split", SPLITS)
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    count = 1 if n is None else V.positive(n, "n", integer=True)
    out = []
    while len(out) < count:
        p = _draw(rng)
        if split_of(p) == split:
            out.append(p)
    return out[0] if n is None else out


# the physics images live in their own module; their names stay reachable here
from .imaging import check_bubbles, physics_psf, pymust_physics_psf, simulate_images  # noqa: E402
