import os
from pathlib import Path

import h5py
import numpy as np
import pytest

REF = Path(__file__).resolve().parents[1] / "reference_data"
BLOCKS = ("a", "b")
METHODS = ("radial", "wa", "interp", "nolocalization")


class RefBlock:
    """Read access to reference_data/pala_block_<X>.h5 (see make_reference_data.py)."""

    def __init__(self, blk: str):
        self.name = blk
        self.path = REF / f"pala_block_{blk}.h5"
        with h5py.File(self.path) as f:
            self.params = {k: np.asarray(v) for k, v in f["params"].attrs.items()}

    def __getitem__(self, key):
        with h5py.File(self.path) as f:
            return f[key][()]

    def attrs(self, key):
        with h5py.File(self.path) as f:
            return dict(f[key].attrs)

    def tracks(self, method: str, name: str) -> list:
        """A reference track list (``Tracks_raw``, ``Tracks_vel``, ...) as arrays."""
        with h5py.File(self.path) as f:
            g = f[f"{method}/{name}"]
            offs = g["offsets"][()]
            if "values" in g:
                v = g["values"][()]
                return [v[offs[i]:offs[i + 1]].reshape(1, -1) for i in range(offs.size - 1)]
            p = g["points"][()]
            return [p[offs[i]:offs[i + 1]] for i in range(offs.size - 1)]

    def map(self, method: str, name: str) -> np.ndarray:
        with h5py.File(self.path) as f:
            g = f[f"{method}/{name}"]
            M = np.zeros(tuple(g.attrs["shape"]))
            M[g["row"][()], g["col"][()]] = g["value"][()]
            return M

    def ulm(self, method: str) -> dict:
        """The ULM struct PALA used for this block and method, as a dict."""
        p = self.params
        nt = int(p["shape"][2])
        fwhm = float(p["fwhm"][0])
        a = self.attrs(method)
        ulm = {
            "numberOfParticles": int(p["numberOfParticles"][0]),
            "fwhm": [fwhm, fwhm],
            "LocMethod": method,
            "parameters": {"NLocalMax": int(a["NLocalMax"][0])},
            "max_linking_distance": float(p["max_linking_distance"][0]),
            "max_gap_closing": float(p["max_gap_closing"][0]),
            "min_length": float(p["min_length"][0]),
            "res": float(p["res"][0]),
            "size": [int(v) for v in p["shape"]],
            "scale": [1.0, 1.0, 1.0 / float(p["frame_rate"])],
        }
        if "InterpMethod" in a:
            ulm["parameters"]["InterpMethod"] = str(a["InterpMethod"])
        assert nt == ulm["size"][2]
        return ulm


@pytest.fixture(scope="session", params=BLOCKS)
def ref(request):
    return RefBlock(request.param)


@pytest.fixture(scope="session")
def ref_a():
    return RefBlock("a")


SHARED = Path(os.environ.get("PYULM_SHARED_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference"))
