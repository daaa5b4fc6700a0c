"""The core installs with numpy, scipy, h5py and threadpoolctl only: every other requirement is an extra.

Each test runs a fresh interpreter in which the optional packages cannot be imported (a
meta-path finder refuses them), which is what ``pip install pyulm`` gives a user.
"""
import configparser
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRAS_ONLY = ("dask", "distributed", "tqdm", "pydantic", "matplotlib", "PIL", "skimage", "hdf5storage",
               "deflate", "isal", "torch", "pymust", "pymatreader", "tomli")

_BLOCKER = textwrap.dedent(f"""
    import sys
    BLOCKED = {EXTRAS_ONLY!r}

    class _Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not a core requirement)",
                                          name=name)
            return None

    sys.meta_path.insert(0, _Blocker())
""")


def _run_core(code: str, tmp_path) -> subprocess.CompletedProcess:
    script = tmp_path / "core_only.py"
    script.write_text(_BLOCKER + textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300)


def test_core_requirements_are_numpy_scipy_h5py_threadpoolctl():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    required = [line.split(">")[0].split("=")[0].strip()
                for line in cfg["options"]["install_requires"].strip().splitlines()]
    assert required == ["numpy", "scipy", "h5py", "threadpoolctl"]
    extras = cfg["options.extras_require"]
    for name in ("process", "figures", "mat73", "sim", "nn"):
        assert extras[name].strip(), name


def test_core_pipeline_runs_without_any_extra(tmp_path):
    proc = _run_core("""
        import json, sys
        from importlib.resources import files
        import numpy as np
        import pyulm
        from pyulm.io import inspect, read_frames

        info = inspect(files("pyulm") / "data" / "example_block.mat")
        iq = read_frames(info)
        filt = pyulm.filter_block(iq, svd_cutoff=[5, iq.shape[2]], band=[50, 249], frame_rate=1000)
        locs = pyulm.localize(filt, "radial", fwhm=(3, 3), number_of_particles=40)
        # a frame with a flat maximal plateau takes the exact regional-maximum path
        flat = np.zeros((20, 20, 1))
        flat[8:10, 8:10, 0] = 1.0
        flat[3, 3, 0] = 0.5
        pyulm.localize(flat, "wa", fwhm=(3, 3), number_of_particles=3)
        tracks = pyulm.track(locs, max_linking_distance=2, min_length=15, frame_rate=1000)
        maps = pyulm.render(tracks, res=10, shape=iq.shape[:2], kinds=("density",))
        locs.save("locs.h5")
        back = pyulm.Localizations.load("locs.h5")
        from pyulm.cli import main
        rc = main(["info", str(files("pyulm") / "data" / "example_block.mat")])
        blocked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print(json.dumps({"n_locs": len(locs), "n_back": len(back), "n_tracks": len(tracks),
                          "density_sum": float(maps["density"].sum()), "rc": rc, "blocked": blocked}))
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["n_locs"] > 0 and out["n_back"] == out["n_locs"] and out["n_tracks"] > 0
    assert out["density_sum"] > 0 and out["rc"] == 0 and out["blocked"] == []


@pytest.mark.parametrize("what, extra", [
    ("from pyulm.pipeline import run; run([], None)", "process"),
    ("import numpy as np, pyulm.figures as f; f.write_figures('.', density=np.ones((4, 4)), res=1, pixel_size_mm=0.1)",
     "figures"),
    ("import numpy as np, pyulm.metrics as m; m.map_ssim(np.ones((8, 8)), np.ones((8, 8)))", "sim"),
])
def test_missing_extra_names_the_extra(tmp_path, what, extra):
    proc = _run_core(what, tmp_path)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert f"pyulm[{extra}]" in last, proc.stderr
