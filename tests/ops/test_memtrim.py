"""The allocator setting that keeps RSS flat is applied by a real glibc call."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from bridge.ops.memtrim import fixed_mmap_threshold


@pytest.mark.skipif(sys.platform != "linux" or not ctypes.util.find_library("c"),
                    reason="mallopt is glibc's")
def test_the_mmap_threshold_is_fixed_on_glibc():
    assert fixed_mmap_threshold() is True
    assert fixed_mmap_threshold(256 * 1024) is True  # idempotent, any size
