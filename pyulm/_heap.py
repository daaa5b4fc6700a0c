"""glibc's heap thresholds for block processing (the SVD filter's and the pipeline's temporaries).

A 78 x 118 x 800 block allocates and frees tens of MB of temporaries of 1-30 MB in turn
(the projection's row blocks, the band-pass's and the localization's chunks, the tracks
and the maps). Under glibc's adaptive defaults the mmap threshold only follows the largest
chunk freed so far (~4 MB there) and the heap is trimmed whenever ~8 MB lie free at its
top: about 10,000 page faults per block, each page of a temporary faulted in and zeroed
again (measured: 8,200-10,600 minor faults per run of ``process_frames`` + maps, 18-23 ms
of CPU in the kernel with 32 MB / 64 MB below). :func:`tune_heap` fixes the thresholds at
glibc's own ceiling for the adaptive mmap threshold (32 MB) and twice that for the trim
threshold, as the adaptive rule would set them: freed temporaries are reused in place
(~600 faults per run). Blocks larger than 32 MB (the amplitude) are still mapped and
unmapped on their own. ``pyulm process`` trims the heap after each block
(:func:`pyulm.pipeline.cluster.release_free_memory`), so its peak memory is unchanged.
"""
from __future__ import annotations

import os
import threading

#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the adaptive threshold's own ceiling
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
#: the environment variables with which a user sets glibc's thresholds (then left alone)
_USER_TUNING = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_",
                "GLIBC_TUNABLES")

_lock = threading.Lock()
_done = None  # None: not tried yet; then whether the thresholds were set


def tune_heap() -> bool:
    """Set glibc's mmap and trim thresholds once per process (see the module's notes);
    True when they were set by this call or an earlier one. A no-op (False) outside glibc,
    or where the user set glibc's malloc environment variables."""
    global _done
    with _lock:
        if _done is not None:
            return _done
        _done = False
        if any(os.environ.get(name) for name in _USER_TUNING):
            return False
        try:
            import ctypes

            if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
                return False
            mallopt = ctypes.CDLL("libc.so.6").mallopt
            ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        except (OSError, AttributeError, ValueError):
            return False
        _done = bool(ok)
        return _done
