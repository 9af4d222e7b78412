"""What every curves file format checks before writing (a real frame rate, full frames),
and how the JSON formats write a long take's rows.

One module so that each format (:mod:`blendshape.export.curves_json`, ``livelink_csv``,
``a2f``, ``gltf``) refuses the same bad input with the same message, and none imports another.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import IO, Union

import numpy as np

from blendshape import rig

PathLike = Union[str, "os.PathLike[str]"]

#: Frames a writer formats at a time: a long take's rows never sit in memory all at once.
ROWS_BLOCK = 4096


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



def dump_json_rows(fh: IO[str], doc: dict, key: str, count: int,
                   rows: Callable[[int, int], np.ndarray]) -> None:
    """Write ``doc`` as compact JSON, its ``key`` holding ``rows(0, count).tolist()``, made
    and written ``ROWS_BLOCK`` rows at a time: the bytes ``json.dump`` writes for the whole
    document, without its rows as Python lists in memory (an hour's curves JSON took
    ~0.5 GB that way) or as one string.

    ``doc[key]`` is ignored; ``rows(i, j)`` gives rows ``i`` to ``j`` as a float64 array."""
    head, tail = json.dumps({**doc, key: []}, separators=(",", ":"), allow_nan=False
                            ).split(json.dumps(key) + ":[]", 1)
    fh.write(head + json.dumps(key) + ":[")
    for i in range(0, count, ROWS_BLOCK):
        block = json.dumps(rows(i, min(i + ROWS_BLOCK, count)).tolist(),
                           separators=(",", ":"), allow_nan=False)
        fh.write(("," if i else "") + block[1:-1])
    fh.write("]" + tail + "\n")
