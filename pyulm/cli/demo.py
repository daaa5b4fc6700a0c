"""``pyulm demo``: the full pipeline on the bundled example block."""
from __future__ import annotations

from .process import add_debug, friendly


def register(subparsers):
    p = subparsers.add_parser("demo", help="run the whole pipeline on the bundled example block",
                              description="Filter, localize, track and render pyulm/data/example_block.mat (a "
                                          "64x80x200 PALA-style block) with its own parameters; write density, "
                                          "direction, velocity and power Doppler images (PNG and TIFF) and .mat results.")
    p.add_argument("--out", metavar="DIR", default="pyulm_demo", help="output directory (default: ./pyulm_demo)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_debug(p)
    p.set_defaults(func=friendly(_run))


def demo_config():
    """The parameters stored with the example block (its ``P`` struct)."""
    from ..config import Config

    return Config.from_dict({"ulm": {"numberOfParticles": 40, "NLocalMax": 3, "fwhm": 3, "max_linking_distance": 2,
                                     "max_gap_closing": 0, "min_length": 15, "res": 10}}, "demo")


def _run(args) -> int:
    from importlib.resources import as_file, files

    from ..pipeline import run
    from ..pipeline.store import display

    with as_file(files("pyulm") / "data" / "example_block.mat") as src:
        summary = run([src], demo_config(), args.out, workers=0, force=True, progress=not args.no_progress)
    print(f"pyulm demo: {summary.text()}")
    width = max(len(k) for k in summary.outputs)
    for k, v in summary.outputs.items():
        print(f"  {k:<{width}s}  {display(v)}")
    return 0
