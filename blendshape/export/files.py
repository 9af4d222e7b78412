"""Curves to files, the format picked by the extension: the one entry point of ``export``.

Offline commands (``say``, ``animate``) hand their full frames (``rig.ALL_CHANNELS`` order,
74 columns) to :func:`write_curves`. Each format lives in its own module: curves JSON
(:mod:`~blendshape.export.curves_json`), Live Link Face CSV (:mod:`~blendshape.export.
livelink_csv`), Audio2Face JSON (:mod:`~blendshape.export.a2f`) and glTF 2.0
(:mod:`~blendshape.export.gltf`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from blendshape.export.a2f import write_a2f_json
from blendshape.export.curves_json import write_json
from blendshape.export.frames import PathLike
from blendshape.export.gltf import write_glb, write_gltf
from blendshape.export.livelink_csv import write_livelink_csv

#: File extensions :func:`write_curves` understands (``.wav`` is written elsewhere).
#: ``.a2f.json`` is matched on the whole name before ``.json``.
SUPPORTED_EXTENSIONS: tuple[str, ...] = (".json", ".csv", ".a2f.json", ".gltf", ".glb")


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
        write_a2f_json(path, frames, fps, track_path=track_path)
    else:
        (write_glb if fmt == ".glb" else write_gltf)(path, frames, fps)
