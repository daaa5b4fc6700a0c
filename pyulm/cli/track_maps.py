"""``pyulm track-maps FILE... --out OUT``: Deep-stULM angiograms (see :mod:`pyulm.nn.deepstulm.cli`)."""
from ..nn.deepstulm.cli import register  # noqa: F401
