"""Retarget maps: our channels → the names (and ranges) another rig or app expects.

Maps are data files (JSON), so a user fixes a name for their avatar without touching code:
``{"name": ..., "entries": [{"to": "A", "from": {"viseme_aa": 1.0}, "gain": 1, "offset": 0,
"clamp": [0, 1]}, ...]}``. ``from`` is one channel or a weighted sum of channels. Shipped
maps live in ``blendshape/data/maps/``; a path to a user's file works wherever a name does,
and a user map given with ``extends`` overrides entries of a shipped one by target name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from blendshape import rig

MAPS_DIR = Path(__file__).parent / "data" / "maps"


class RetargetError(ValueError):
    """A map that cannot be applied; the message names the file and the entry."""


@dataclass(frozen=True)
class RetargetMap:
    name: str
    targets: tuple[str, ...]
    matrix: np.ndarray   # (len(rig.ALL_CHANNELS), len(targets)): weighted sums of channels
    gain: np.ndarray
    offset: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def apply(self, full: np.ndarray) -> np.ndarray:
        """Full frames (n, 74) → (n, len(targets)) target values."""
        out = np.asarray(full, dtype=np.float32) @ self.matrix
        return np.clip(out * self.gain + self.offset, self.low, self.high)

    def apply_one(self, full_frame: np.ndarray) -> dict[str, float]:
        values = self.apply(full_frame[None, :])[0]
        return dict(zip(self.targets, map(float, values)))


def shipped_maps() -> list[str]:
    return sorted(p.stem for p in MAPS_DIR.glob("*.json"))


def load_map(name_or_path: str | Path) -> RetargetMap:
    """A shipped map by name (``arkit-vrm0``) or a JSON file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = MAPS_DIR / f"{name_or_path}.json"
        if not path.exists():
            raise RetargetError(f"no shipped map {name_or_path!r}; shipped: {', '.join(shipped_maps())}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RetargetError(f"cannot read retarget map {path}: {exc}") from None
    entries = list(doc.get("entries", []))
    if "extends" in doc:
        base = json.loads((MAPS_DIR / f"{doc['extends']}.json").read_text(encoding="utf-8"))
        mine = {e.get("to") for e in entries}
        entries = [e for e in base["entries"] if e.get("to") not in mine] + entries
    return build_map(doc.get("name", path.stem), entries, source=str(path))


def build_map(name: str, entries: list[Mapping[str, Any]], source: str = "<map>") -> RetargetMap:
    if not entries:
        raise RetargetError(f"{source}: the map has no entries")
    n = len(entries)
    matrix = np.zeros((len(rig.ALL_CHANNELS), n), dtype=np.float32)
    gain, offset = np.ones(n, np.float32), np.zeros(n, np.float32)
    low, high = np.zeros(n, np.float32), np.ones(n, np.float32)
    targets = []
    for i, entry in enumerate(entries):
        target = entry.get("to")
        if not isinstance(target, str) or not target:
            raise RetargetError(f"{source}: entry {i} has no 'to' name")
        sources = entry.get("from")
        sources = {sources: 1.0} if isinstance(sources, str) else dict(sources or {})
        if not sources:
            raise RetargetError(f"{source}: entry {target!r} has no 'from' channel")
        for channel, weight in sources.items():
            column = rig.CHANNEL_INDEX.get(channel)
            if column is None:
                raise RetargetError(f"{source}: entry {target!r} reads unknown channel {channel!r}")
            matrix[column, i] = float(weight)
        gain[i] = float(entry.get("gain", 1.0))
        offset[i] = float(entry.get("offset", 0.0))
        low[i], high[i] = (float(x) for x in entry.get("clamp", (0.0, 1.0)))
        targets.append(target)
    return RetargetMap(name, tuple(targets), matrix, gain, offset, low, high)
