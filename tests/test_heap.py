"""glibc heap thresholds for block processing (pyulm._heap)."""
import os
import subprocess
import sys

import pytest

CHILD = "import pyulm._heap as h; print(h.tune_heap(), h.tune_heap())"
GLIBC = hasattr(os, "confstr") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")


def _run(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_thresholds_set_once_per_process():
    assert _run({}) == ["True", "True"]


def test_user_settings_left_alone():
    assert _run({"MALLOC_TRIM_THRESHOLD_": "65536"}) == ["False", "False"]
