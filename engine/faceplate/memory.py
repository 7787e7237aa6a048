"""Frame buffers reused inside a process, instead of given back to the system after every frame.

A frame is a few large arrays (a 640×360 float RGB frame is 2.7 MB, 1080p 25 MB). glibc's allocator
serves such blocks with ``mmap`` and returns them to the system when freed, so every frame's arrays
are new pages that the kernel zeroes on first touch: measured on the extract benchmark's 640×360
frames, a plain read took 10.7 ms a frame that way and 6.2-6.6 ms with the blocks kept (~2,000 page
faults a read fewer), and how fast a read was depended on what the process had allocated before.
:func:`keep_frame_buffers` raises glibc's ``mmap`` and trim thresholds, so freed frame buffers stay
in the heap for the next frame. Our own processes call it (the command line, at start); a host
such as Natron keeps its allocator as it is. Other C libraries: no effect (nothing to tune).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger("faceplate")

#: blocks up to this size come from the heap (glibc clamps it to its own maximum, 32 MB on 64-bit: a
#: 1080p float RGB frame fits)
MMAP_THRESHOLD = 64 << 20
#: free memory kept at the top of the heap before it is given back to the system
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_done = False


def keep_frame_buffers() -> bool:
    """Tune glibc's allocator to keep freed frame buffers (once per process); False where the C
    library is not glibc or refuses the settings (nothing changed)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another C library: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) or mallopt(_M_MMAP_THRESHOLD, 32 << 20))
    ok = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and ok
    _done = ok
    log.debug("glibc mallopt (keep frame buffers): %s", "set" if ok else "refused")
    return ok
