"""The C heap's settings for training on the CPU: keep freed memory for the next step.

A training step on the CPU allocates and frees the same large buffers every step (the FC layers'
weight gradients are 25 MB each on MNIST). glibc's malloc serves blocks above its mmap threshold
(at most 32 MiB on 64-bit) with fresh mappings and returns freed memory at the heap's top above
its trim threshold to the kernel, so each step touches new pages and takes a page fault per 4 KiB
page: about 10,600 faults and 33 ms of kernel time a step on the AVX2 machine of docs/speed.md.
With the mmap threshold at its maximum and a trim threshold of 1 GiB the step reuses its heap
(``python -m bench.benchmarks.heap_settings`` measures both settings side by side).

The setting is the process's; ``BENCH_KEEP_FREED_MEMORY=0`` leaves glibc's defaults alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD = -1   # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest mmap threshold on 64-bit (4 MiB x sizeof(long))
TRIM_THRESHOLD = 2**30
ENV_SWITCH = "BENCH_KEEP_FREED_MEMORY"

_applied = False


def freed_memory_kept() -> bool:
    """Whether :func:`keep_freed_memory` has put its settings in force in this process."""
    return _applied


def keep_freed_memory() -> bool:
    """Raise glibc malloc's mmap threshold to 32 MiB and its trim threshold to 1 GiB, once per
    process, so that freed blocks stay in the heap for reuse; True when the settings are in force.

    False, with nothing changed, where the C library is not glibc or ``BENCH_KEEP_FREED_MEMORY``
    is ``0``. With the settings in force the resident set stays near its peak between steps
    instead of shrinking.
    """
    global _applied
    if _applied:
        return True
    if os.environ.get(ENV_SWITCH, "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    _applied = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied
