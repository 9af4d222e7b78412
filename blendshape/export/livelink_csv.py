"""Curves to a Live Link Face CSV take. The CSV imitates a take recorded by Epic's Live Link Face iOS app, because
that is the one face-animation file that Unreal, Blender, Maya, MotionBuilder and a dozen
scripts already read.

What a real take looks like, and what its readers demand (checked against public files):

* Header: ``Timecode,BlendshapeCount,`` then 61 PascalCase curves in the *app's* order,
  which is the ``EARFaceBlendShape`` order except that ``JawRight`` comes before
  ``JawLeft`` and ``MouthRight`` before ``MouthLeft``; the 9 head/eye rotations close the
  row (``HeadYaw … RightEyeRoll``). Takes ``AnimaVR/NeuroSync_Player:
  livelink/animations/Happy/Happy.csv`` and ``…/Angry/MySlate_165_iPhone_cal.csv``;
  the same 61 names in ``alexdjulin/LiveLinkFace-CSV-Retarget-For-Motionbuilder:
  anim/S07-001.csv``. We therefore map columns by name, never by position.
* The second column is spelled ``BlendshapeCount`` in the NeuroSync takes and
  ``BlendShapeCount`` in the alexdjulin takes (another app version). We write
  ``BlendshapeCount``: NeuroSync's reader drops that exact (case-sensitive) pandas
  column (``livelink/animations/animation_loader.py``), and Unreal's importer compares
  the name with ``FString !=``, which ignores case.
* Every row carries ``61`` in that column; ``polyvox`` (Dart, ``DynamicAnimation.
  _loadLiveLinkFaceCSV``) zero-fills any row whose count differs from its number of
  values, so the count must equal the 61 value columns.
* Values are fixed-point with 10 decimals (``0.0105142975``, ``-0.0035002194``); the
  rotations are radians.
* Timecode ``HH:MM:SS:FF.fff``: time of day, then the frame number at a 60 fps timecode
  rate *with a fractional part* — three digits of a frame, not milliseconds. Consecutive
  60 Hz rows read ``14:58:02:44.643``, ``…:45.645``, ``…:59.666``, ``14:58:03:00.668``
  (Happy.csv); a 30 Hz take steps two frames a row, ``12:27:47:47.169``, ``…:49.169``
  (S07-001.csv). Epic's importer (``LiveLinkFaceImporterFactory.cpp``, plugin
  LiveLinkFaceImporter) splits on ``:``, reads the last field with ``Atof`` and computes
  ``h*3600 + m*60 + s + frames/rate``; it *infers* the rate as 60 if any frame field
  exceeds 30, else 30, and rejects rows whose column count differs from the header's.
  The Maya importer (``aronamao/Maya-Live-Link-CSV-Import:CSVImport/Source/
  csvImport.cpp``) assumes 60 fps frames; the MotionBuilder script strips the last four
  characters (``.fff``) before parsing ``HH:MM:SS:FF``; the Diffeomorphic Blender
  importer takes ``row[2:-9]`` as shapes and the last 9 columns as head/eye rotations.

Hence our timecode rate is 60 (what the app writes, what Maya assumes) whatever the
curve fps — except for a take so short that no frame field would exceed 30, where we
switch to a 30 fps timecode so that Unreal's inference still gives the right times.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable

import numpy as np

from blendshape import rig
from blendshape.export.frames import ROWS_BLOCK, PathLike, check_fps, check_full_frames

TIMECODE_COLUMN = "Timecode"
BLENDSHAPE_COUNT_COLUMN = "BlendshapeCount"

#: The 61 curve columns in the order the Live Link Face app writes them. It differs from
#: ``rig.LIVELINK61`` (Unreal's enum order) in two swapped pairs; see the module docstring.
def _app_column_order() -> tuple[str, ...]:
    names = list(rig.LIVELINK61)
    for a, b in (("JawLeft", "JawRight"), ("MouthLeft", "MouthRight")):
        i, j = names.index(a), names.index(b)
        names[i], names[j] = names[j], names[i]
    return tuple(names)


LIVELINK_CSV_CURVES: tuple[str, ...] = _app_column_order()
assert len(LIVELINK_CSV_CURVES) == 61 and set(LIVELINK_CSV_CURVES) == set(rig.LIVELINK61)

#: Full CSV header line, as a list of column names.
LIVELINK_CSV_HEADER: tuple[str, ...] = (
    (TIMECODE_COLUMN, BLENDSHAPE_COUNT_COLUMN) + LIVELINK_CSV_CURVES
)

#: For each CSV curve column, its index in ``rig.to_livelink61`` output (mapping by name).
_CSV_FROM_LL61 = np.array(
    [rig.LIVELINK61.index(name) for name in LIVELINK_CSV_CURVES], dtype=np.intp
)

#: Timecode frame rate the app writes; Maya's importer assumes it.
TIMECODE_RATE = 60
#: Unreal's importer treats a take as 60 fps only if some frame field exceeds this.
_UNREAL_60FPS_THRESHOLD = 30.0



def _timecode_ticks(seconds: float, rate: int) -> int:
    """Time in thousandths of a timecode frame, the resolution the app writes."""
    return int(round(seconds * rate * 1000))


def livelink_timecode(seconds: float, rate: int = TIMECODE_RATE) -> str:
    """``seconds`` (since midnight, or since the take's start) as ``HH:MM:SS:FF.fff``.

    ``FF.fff`` is the frame number at ``rate`` frames per second with three decimals of a
    frame, exactly as Live Link Face writes it and Unreal's importer reads it back
    (``frames / rate``). Integer arithmetic on thousandths of a frame keeps ``59.9999`` from
    printing as frame 60. Hours are not wrapped at 24 so that times stay increasing.
    """
    if rate <= 0 or int(rate) != rate:
        raise ValueError(f"timecode rate must be a positive integer, got {rate!r}")
    seconds = float(seconds)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timecode seconds must be a non-negative number, got {seconds!r}")
    rate = int(rate)
    ticks = _timecode_ticks(seconds, rate)
    whole_seconds, in_second = divmod(ticks, rate * 1000)
    frame, sub = divmod(in_second, 1000)
    hours, rest = divmod(whole_seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}:{frame:02d}.{sub:03d}"


def _timecode_rate_for(times: np.ndarray) -> int:
    """60, unless Unreal's 30/60 inference would misread the take as 30 fps (a take < ~0.5 s)."""
    if times.size == 0:
        return TIMECODE_RATE
    per_second = TIMECODE_RATE * 1000
    field_max = max((_timecode_ticks(float(t), TIMECODE_RATE) % per_second) / 1000 for t in times)
    return TIMECODE_RATE if field_max > _UNREAL_60FPS_THRESHOLD else 30


def _csv_number(value: float) -> str:
    """Fixed point with 10 decimals like the app; never ``-0.0000000000``."""
    text = f"{value:.10f}"
    return "0.0000000000" if text == "-0.0000000000" else text


def livelink_csv_rows(
    frames: np.ndarray, fps: float, start: float = 0.0
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a Live Link Face CSV take for full frames.

    Columns are filled by name from ``rig.to_livelink61`` (Unreal enum order) into the
    app's header order, so the Jaw/Mouth Left/Right swap of the app cannot mirror a face.
    Row ``k`` is stamped ``start + k / fps``.
    """
    count, rows = _take(frames, fps, start)
    return list(LIVELINK_CSV_HEADER), rows(0, count)


def _take(frames: np.ndarray, fps: float, start: float
          ) -> tuple[int, Callable[[int, int], list[list[str]]]]:
    """The take's row count, and its rows ``i`` to ``j`` as written."""
    fps = check_fps(fps)
    arr = check_full_frames(frames)
    start = float(start)
    if not math.isfinite(start) or start < 0:
        raise ValueError(f"start must be a non-negative number of seconds, got {start!r}")
    times = start + np.arange(arr.shape[0], dtype=np.float64) / fps
    rate = _timecode_rate_for(times)
    count = str(len(LIVELINK_CSV_CURVES))

    def rows(i: int, j: int) -> list[list[str]]:
        values = rig.to_livelink61(arr[i:j]).astype(np.float64)[:, _CSV_FROM_LL61]
        return [[livelink_timecode(float(t), rate), count, *(_csv_number(v) for v in row)]
                for t, row in zip(times[i:j], values.tolist())]

    return int(arr.shape[0]), rows


def write_livelink_csv(
    path: PathLike, frames: np.ndarray, fps: float, start_timecode_s: float = 0.0
) -> None:
    """Write a Live Link Face CSV take (``\\n`` line ends, no quoting, UTF-8 = ASCII here),
    ``ROWS_BLOCK`` rows at a time: an hour's rows as Python strings all at once took ~1 GB."""
    count, rows = _take(frames, fps, start_timecode_s)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(LIVELINK_CSV_HEADER)
        for i in range(0, count, ROWS_BLOCK):
            writer.writerows(rows(i, min(i + ROWS_BLOCK, count)))
