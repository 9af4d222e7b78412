"""What every curves file format checks before writing: a real frame rate, full frames.

One module so that each format (:mod:`blendshape.export.curves_json`, ``livelink_csv``,
``a2f``, ``gltf``) refuses the same bad input with the same message, and none imports another.
"""

from __future__ import annotations

import math
import os
from typing import Union

import numpy as np

from blendshape import rig

PathLike = Union[str, "os.PathLike[str]"]


def check_fps(fps: float) -> float:
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return fps


def check_full_frames(frames: np.ndarray) -> np.ndarray:
    """Frames as a float64 (n, 74) array; refuse anything a reader would silently misread."""
    arr = np.asarray(frames, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(rig.ALL_CHANNELS):
        raise ValueError(
            f"frames must be (n, {len(rig.ALL_CHANNELS)}) full frames in rig.ALL_CHANNELS order,"
            f" got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise ValueError(f"frames contain NaN or infinity (first at frame {bad})")
    return arr


# --------------------------------------------------------------------------- curves JSON
