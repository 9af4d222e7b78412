"""The ``[gestures]`` table: gestures on or off, how strong, and which ones.

A server sets it for every session; a persona may add its style on top
(:meth:`GestureConfig.styled`): a calm character nods less, a reserved one never shrugs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

#: Every gesture the planner makes, in the order the docs list them. ``beat`` is the small
#: chin dip that goes with an emphasised word (``brow_raise`` is its face part).
GESTURES: tuple[str, ...] = ("nod", "shake", "tilt", "brow_raise", "beat", "shrug")

#: The largest ``strength`` multiplier a table may set: past it nods turn into headbanging.
MAX_STRENGTH = 2.0


class GestureConfigError(ValueError):
    """A bad ``[gestures]`` setting (unknown key, wrong type, out of range), reported at start."""


@dataclass(frozen=True)
class GestureConfig:
    """Every knob of the gesture layer.

    ``strength`` scales every gesture (0 keeps the events but makes them invisible); each
    gesture name switches that gesture alone. ``curves`` puts the head and brow part into
    the curves every output carries; ``messages`` sends ``gesture`` messages for engines that
    play body animations. Switching one off leaves the other.
    """

    enabled: bool = True
    strength: float = 1.0
    curves: bool = True
    messages: bool = True
    nod: bool = True
    shake: bool = True
    tilt: bool = True
    brow_raise: bool = True
    beat: bool = True
    shrug: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "strength":
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not 0.0 <= value <= MAX_STRENGTH:
                    raise GestureConfigError(
                        f"gestures.strength must be a number from 0 to {MAX_STRENGTH:g}, not {value!r}")
            elif not isinstance(value, bool):
                raise GestureConfigError(f"gestures.{f.name} must be true or false, not {value!r}")

    def allows(self, name: str) -> bool:
        """Is gesture ``name`` made at all (the layer on and that gesture switched on)?"""
        return self.enabled and bool(getattr(self, name, False))

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], where: str = "[gestures]") -> GestureConfig:
        """From a TOML table (or a persona's ``gestures:``); unknown keys (named with
        ``where``) and bad values raise GestureConfigError."""
        if not isinstance(table, Mapping):
            raise GestureConfigError(f"{where} must be a table of settings, not {table!r}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(map(str, set(table) - set(known)))
        if unknown:
            raise GestureConfigError(f"unknown {where} key{'s' if len(unknown) > 1 else ''} "
                                     f"{', '.join(map(repr, unknown))}; known: {', '.join(known)}")
        return cls(**table)

    def styled(self, style: GestureConfig | None) -> GestureConfig:
        """This server's settings with a persona's ``style`` on top.

        The server's switches are the ceiling (an operator who turned shrugs off gets none,
        whatever the persona says); strengths multiply, so a persona at 0.5 nods half as
        much on any server.
        """
        if style is None:
            return self
        switches = {f.name: getattr(self, f.name) and getattr(style, f.name)
                    for f in fields(self) if f.name != "strength"}
        strength = min(MAX_STRENGTH, self.strength * style.strength)
        return replace(self, strength=strength, **switches)
