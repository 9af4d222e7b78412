"""Curves to an NVIDIA Audio2Face blendshape-weights JSON (``.a2f.json``).

Audio2Face's Blendshape Conversion exports "the resulting blendshape weight values as
.json file" (A2F user manual, *Data Conversion › Blendshape Conversion*). NVIDIA documents
no schema, so the layout below is the one that public readers and writers of those files
agree on:

* Keys, in the order the exporter writes them: ``exportFps``, ``trackPath``, ``numPoses``,
  ``numFrames``, ``facsNames``, ``weightMat``. Readers that agree on them:

  - the Unreal plugin ``SteveSantoso/CBAudio2Face`` (``CBAudio2Face/Source/CBAudio2Face/
    Private/AudioToLipsync/CBAudioToLipsyncFunctionLibrary.cpp``):
    ``GetIntegerField("exportFps")``, ``GetStringField("trackPath")``,
    ``GetIntegerField("numPoses")``, ``GetIntegerField("numFrames")``, then the arrays
    ``facsNames`` and ``weightMat`` (rows of numbers) -- so ``trackPath`` must be present
    and a string, and the counts are integers;
  - a Blender add-on ("Import A2F Blendshapes", operator
    ``object.blendshape_animation_operator``): ``json_animate['weightMat']``,
    ``['numPoses']``, ``['numFrames']``, ``['facsNames']``, keyed onto shape keys found by
    name at frame ``i``;
  - a Maya snippet reading ``a2f_bs_weights.json``: ``setKeyframe(bsNode + '.' +
    facsNames[i], v=weightMat[fr][i], t=fr)`` for ``fr in range(numFrames)``;
  - a Maya MetaHuman importer that sets the scene rate from ``exportFps`` (as an int when
    whole) and loads ``trackPath`` as the scene's sound.

  A backend's template copied from a real export shows the same key order with
  ``"exportFps": 30``, a Windows ``…\\audio.wav`` ``trackPath``, ``"numPoses": 52`` and the
  52 ARKit names in ``EARFaceBlendShape`` order (``rig.ARKIT52``).
* ``weightMat`` is ``numFrames`` rows of ``numPoses`` plain JSON numbers; frame ``k`` is
  at ``k / exportFps`` seconds (every reader keys frame ``k`` at time ``k``).
* Newer Audio2Face releases ("Blendshape and joint Conversion", whose advanced options
  export the L/R eye and jaw joints) add a joint block -- ``joints`` (e.g. ``["jaw",
  "eye_L", "eye_R"]``), ``rotations`` and ``translations`` (one list per frame) -- that
  newer readers index by frame (a Babylon.js player's ``Audio2FaceExportData``; a chunk merger
  that concatenates ``rotations``/``translations``). We export no joints, so we write
  ``joints: []`` and one empty list per frame, which every reader above accepts.

``exportFps`` is written as an integer when whole (``60``), as the Unreal reader's
``GetIntegerField`` and Maya's integer frame rates expect; weights keep 6 decimals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from blendshape import rig
from blendshape.export.frames import check_fps, check_full_frames, dump_json_rows

#: Decimals of a weight: float32 carries ~7 significant digits; 1e-6 is far below visible.
A2F_DECIMALS = 6
#: Key order of an Audio2Face blendshape export.
A2F_KEYS: tuple[str, ...] = (
    "exportFps", "trackPath", "numPoses", "numFrames", "facsNames", "weightMat",
    "joints", "rotations", "translations",
)


def a2f_document(frames: np.ndarray, fps: float, track_path: str = "") -> dict:
    """The Audio2Face blendshape JSON document for full frames (``rig.ALL_CHANNELS`` order).

    ``track_path`` names the audio the animation belongs to (A2F writes the ``.wav`` it
    processed); empty when there is none. Only the 52 ARKit columns are exported.
    """
    doc, count, rows = _a2f(frames, fps, track_path)
    return {**doc, "weightMat": rows(0, count).tolist()}


def _a2f(frames: np.ndarray, fps: float, track_path: str
         ) -> tuple[dict, int, Callable[[int, int], np.ndarray]]:
    """The document with ``weightMat`` left empty (its place kept), the frame count, and
    ``weightMat``'s rows ``i`` to ``j`` as written."""
    fps = check_fps(fps)
    arr = check_full_frames(frames)
    if not isinstance(track_path, str):
        raise TypeError(f"track_path must be a string, got {type(track_path).__name__}")

    def rows(i: int, j: int) -> np.ndarray:
        # Through float32 (what the curves are) then rounded in float64 so that tolist()
        # gives short reprs; adding 0.0 turns -0.0 into 0.0.
        arkit = rig.select(arr[i:j], rig.ARKIT52).astype(np.float32).astype(np.float64)
        return np.round(arkit, A2F_DECIMALS) + 0.0

    n = int(arr.shape[0])
    doc = {
        "exportFps": int(fps) if fps.is_integer() else fps,
        "trackPath": track_path,
        "numPoses": len(rig.ARKIT52),
        "numFrames": n,
        "facsNames": list(rig.ARKIT52),
        "weightMat": [],
        "joints": [],
        "rotations": [[] for _ in range(n)],
        "translations": [[] for _ in range(n)],
    }
    return doc, n, rows


def write_a2f_json(path, frames: np.ndarray, fps: float, track_path: str = "") -> None:
    """Write an Audio2Face blendshape JSON file (compact; readers only ``json.load`` it)."""
    doc, count, rows = _a2f(frames, fps, track_path)
    with open(path, "w", encoding="utf-8") as fh:
        dump_json_rows(fh, doc, "weightMat", count, rows)


__all__ = ["A2F_DECIMALS", "A2F_KEYS", "a2f_document", "write_a2f_json"]
