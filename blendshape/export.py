"""Curves to files: talkbridge curves JSON and Live Link Face CSV takes (DESIGN §4).

:func:`write_curves` also dispatches to the formats kept in their own modules:
Audio2Face blendshape JSON (``.a2f.json``, :mod:`blendshape.export_a2f`) and glTF 2.0
morph-target animation (``.gltf``/``.glb``, :mod:`blendshape.export_gltf`).

Offline commands (``say``, ``animate``) hand their full frames (``rig.ALL_CHANNELS``
order, 74 columns) to :func:`write_curves`; the extension picks the format. The JSON is
ours and small; the CSV imitates a take recorded by Epic's Live Link Face iOS app, because
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
import json
import math
import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from . import rig

PathLike = Union[str, "os.PathLike[str]"]

#: ``"format"`` value of a curves JSON document.
CURVES_FORMAT = "talkbridge.curves"
#: Version of the curves JSON layout; readers refuse others instead of misreading them.
CURVES_VERSION = 1
#: Channels of a curves JSON unless asked otherwise (DESIGN §4: arkit52 + visemes).
DEFAULT_JSON_CHANNELS: tuple[str, ...] = rig.ARKIT52 + rig.VISEME_CHANNELS
#: Decimals kept in JSON: 1e-4 is far below what a face shows, and it halves the file.
JSON_DECIMALS = 4

#: File extensions :func:`write_curves` understands (``.wav`` is written elsewhere).
#: ``.a2f.json`` is matched on the whole name before ``.json``.
SUPPORTED_EXTENSIONS: tuple[str, ...] = (".json", ".csv", ".a2f.json", ".gltf", ".glb")

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


# --------------------------------------------------------------------------- validation


def _check_fps(fps: float) -> float:
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return fps


def _check_full_frames(frames: np.ndarray) -> np.ndarray:
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
    fps = _check_fps(fps)
    arr = _check_full_frames(frames)
    names = rig.resolve_channels(channels)
    if duration is None:
        duration = arr.shape[0] / fps
    duration = float(duration)
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"duration must be a non-negative number of seconds, got {duration!r}")
    # Round in float64 so that tolist() yields short reprs (0.1234, not 0.12340000271...);
    # adding 0.0 turns -0.0 into 0.0.
    values = np.round(rig.select(arr, names), JSON_DECIMALS) + 0.0
    return {
        "format": CURVES_FORMAT,
        "version": CURVES_VERSION,
        "fps": _json_number(fps),
        "channels": list(names),
        "frames": values.tolist(),
        "duration": round(duration, 6),
    }


def write_json(
    path: PathLike,
    frames: np.ndarray,
    fps: float,
    channels: Sequence[str] = DEFAULT_JSON_CHANNELS,
    duration: float | None = None,
) -> None:
    """Write a curves JSON file (compact separators: a minute of speech stays well under 3 MB)."""
    doc = curves_document(frames, fps, channels, duration)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")


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
        fps = _check_fps(doc["fps"])
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


# --------------------------------------------------------------------------- Live Link Face CSV


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
    fps = _check_fps(fps)
    arr = _check_full_frames(frames)
    start = float(start)
    if not math.isfinite(start) or start < 0:
        raise ValueError(f"start must be a non-negative number of seconds, got {start!r}")
    ll61 = rig.to_livelink61(arr).astype(np.float64)
    values = ll61[:, _CSV_FROM_LL61]
    times = start + np.arange(arr.shape[0], dtype=np.float64) / fps
    rate = _timecode_rate_for(times)
    count = str(len(LIVELINK_CSV_CURVES))
    rows = [
        [livelink_timecode(float(t), rate), count, *(_csv_number(v) for v in row)]
        for t, row in zip(times, values.tolist())
    ]
    return list(LIVELINK_CSV_HEADER), rows


def write_livelink_csv(
    path: PathLike, frames: np.ndarray, fps: float, start_timecode_s: float = 0.0
) -> None:
    """Write a Live Link Face CSV take (``\\n`` line ends, no quoting, UTF-8 = ASCII here)."""
    header, rows = livelink_csv_rows(frames, fps, start_timecode_s)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# --------------------------------------------------------------------------- dispatch


def curves_format(path: PathLike) -> str:
    """The entry of :data:`SUPPORTED_EXTENSIONS` that ``path`` ends with (case-insensitive).

    The longest match wins, so ``take.a2f.json`` is Audio2Face JSON, not curves JSON.
    Raises ValueError naming the supported extensions otherwise.
    """
    name = Path(os.fspath(path)).name.lower()
    matches = [ext for ext in SUPPORTED_EXTENSIONS if name.endswith(ext) and name != ext]
    if not matches:
        suffix = Path(name).suffix
        raise ValueError(
            f"unsupported curves file extension {suffix or '(none)'!r} for {os.fspath(path)}:"
            f" use one of {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    return max(matches, key=len)


def write_curves(
    path: PathLike,
    frames: np.ndarray,
    fps: float,
    duration: float | None = None,
    *,
    track_path: str = "",
) -> None:
    """Write ``frames`` to ``path`` in the format its extension names (case-insensitive).

    ``duration`` goes into the curves JSON document; the other formats have no such field
    (their length is their frames), so it is ignored there. ``track_path`` is the audio
    file the curves belong to, written as ``trackPath`` in ``.a2f.json`` (ignored
    elsewhere).
    """
    fmt = curves_format(path)
    if fmt == ".json":
        write_json(path, frames, fps, duration=duration)
    elif fmt == ".csv":
        write_livelink_csv(path, frames, fps)
    elif fmt == ".a2f.json":
        from .export_a2f import write_a2f_json  # imported here: it imports this module

        write_a2f_json(path, frames, fps, track_path=track_path)
    else:
        from .export_gltf import write_glb, write_gltf  # imported here: it imports this module

        (write_glb if fmt == ".glb" else write_gltf)(path, frames, fps)


__all__ = [
    "BLENDSHAPE_COUNT_COLUMN",
    "CURVES_FORMAT",
    "CURVES_VERSION",
    "DEFAULT_JSON_CHANNELS",
    "LIVELINK_CSV_CURVES",
    "LIVELINK_CSV_HEADER",
    "SUPPORTED_EXTENSIONS",
    "TIMECODE_COLUMN",
    "TIMECODE_RATE",
    "curves_document",
    "curves_format",
    "livelink_csv_rows",
    "livelink_timecode",
    "read_json",
    "write_curves",
    "write_json",
    "write_livelink_csv",
]
