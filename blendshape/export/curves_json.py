"""Curves to talkbridge's own curves JSON (DESIGN §4), and back.

The document is ours and small: ``format``, ``version``, ``fps``, ``channels``, ``frames``
and ``duration``; readers refuse another format or version instead of misreading it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence

import numpy as np

from blendshape import rig
from blendshape.export.frames import PathLike, check_fps, check_full_frames, dump_json_rows

#: ``"format"`` value of a curves JSON document.
CURVES_FORMAT = "talkbridge.curves"
#: Version of the curves JSON layout; readers refuse others instead of misreading them.
CURVES_VERSION = 1
#: Channels of a curves JSON unless asked otherwise (DESIGN §4: arkit52 + visemes).
DEFAULT_JSON_CHANNELS: tuple[str, ...] = rig.ARKIT52 + rig.VISEME_CHANNELS
#: Decimals kept in JSON: 1e-4 is far below what a face shows, and it halves the file.
JSON_DECIMALS = 4


def _json_number(value: float) -> int | float:
    """A whole fps stays an int (``"fps": 60``), as DESIGN §4 shows it."""
    return int(value) if float(value).is_integer() else float(value)


def curves_document(
    frames: np.ndarray,
    fps: float,
    channels: Sequence[str] = DEFAULT_JSON_CHANNELS,
    duration: float | None = None,
) -> dict:
    """The DESIGN §4 curves JSON document for full frames.

    ``channels`` may mix channel names and set names (``"arkit52"``, ``"visemes"``), like a
    client's ``hello.channels``, so the CLI can pass the user's choice through unchanged.
    ``duration`` defaults to ``n / fps``; callers with audio pass the audio's length, which
    can differ from the frame grid by a fraction of a frame.
    """
    doc, count, rows = _curves(frames, fps, channels, duration)
    return {**doc, "frames": rows(0, count).tolist()}


def _curves(frames: np.ndarray, fps: float, channels: Sequence[str], duration: float | None
            ) -> tuple[dict, int, Callable[[int, int], np.ndarray]]:
    """The document with its frames left empty (their place kept), the frame count, and the
    frames' rows ``i`` to ``j`` as written."""
    fps = check_fps(fps)
    arr = check_full_frames(frames)
    names = rig.resolve_channels(channels)
    if duration is None:
        duration = arr.shape[0] / fps
    duration = float(duration)
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"duration must be a non-negative number of seconds, got {duration!r}")

    def rows(i: int, j: int) -> np.ndarray:
        # Round in float64 so that tolist() yields short reprs (0.1234, not 0.12340000271...);
        # adding 0.0 turns -0.0 into 0.0.
        return np.round(rig.select(arr[i:j], names), JSON_DECIMALS) + 0.0

    doc = {"format": CURVES_FORMAT, "version": CURVES_VERSION, "fps": _json_number(fps),
           "channels": list(names), "frames": [], "duration": round(duration, 6)}
    return doc, int(arr.shape[0]), rows


def write_json(
    path: PathLike,
    frames: np.ndarray,
    fps: float,
    channels: Sequence[str] = DEFAULT_JSON_CHANNELS,
    duration: float | None = None,
) -> None:
    """Write a curves JSON file (compact separators: a minute of speech stays well under 3 MB)."""
    doc, count, rows = _curves(frames, fps, channels, duration)
    with open(path, "w", encoding="utf-8") as fh:
        dump_json_rows(fh, doc, "frames", count, rows)


def read_json(path: PathLike) -> tuple[np.ndarray, float, tuple[str, ...], float]:
    """Read a curves JSON file back: ``(frames (n, len(channels)), fps, channels, duration)``.

    The format and version are checked first so that an unrelated JSON file, or one from a
    future layout, fails with a message that says so instead of a KeyError deep inside.
    """
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if not isinstance(doc, dict) or doc.get("format") != CURVES_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{os.fspath(path)}: not a {CURVES_FORMAT} document (format={found!r})")
    if doc.get("version") != CURVES_VERSION:
        raise ValueError(
            f"{os.fspath(path)}: unsupported {CURVES_FORMAT} version {doc.get('version')!r}"
            f" (this reader knows version {CURVES_VERSION})"
        )
    try:
        fps = check_fps(doc["fps"])
        channels = tuple(str(c) for c in doc["channels"])
        rows = list(doc["frames"])
        duration = float(doc.get("duration", len(rows) / fps))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{os.fspath(path)}: malformed {CURVES_FORMAT} document: {exc}") from exc
    for k, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(channels):
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise ValueError(
                f"{os.fspath(path)}: frame {k} has {got} values,"
                f" but {len(channels)} channels are named"
            )
    arr = np.array(rows, dtype=np.float32).reshape(len(rows), len(channels))
    return arr, fps, channels, duration


