"""``python -m pyulm.nn.deepstulm FILE... --out OUT``: see :mod:`pyulm.nn.deepstulm.cli`."""
import sys

from .cli import main

sys.exit(main())
