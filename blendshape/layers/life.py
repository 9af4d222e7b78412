"""The life layer: blinks, gaze, head motion and breath over any animation source.

A face that only moves its mouth looks dead. Blinks, gaze and the slow head motion are pure
functions of time and a seed, so a stream cut into chunks gets exactly the curves the whole
clip would, and a test can ask for any instant. The one input they take from speech is its
loudness, which nods and tilts the head; that follower carries state, fed in time order.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np

from blendshape import rig
from blendshape.layers.easing import ease, unit

_A = rig.ARKIT_INDEX
_C = rig.CHANNEL_INDEX


class LifeConfigError(ValueError):
    """A bad life-layer setting (unknown key, wrong type, out of range), reported at start."""


@dataclass(frozen=True)
class LifeConfig:
    """Every knob of the life layer; the ``[life]`` table of the TOML config.

    Times are seconds, angles radians. Each of the four layers can be switched off; its
    channels are then left as the source made them (at rest for a face at rest).
    """

    blinks: bool = True
    gaze: bool = True
    head: bool = True
    breathing: bool = True
    blink_interval: tuple[float, float] = (2.0, 6.0)  # between blink events (last blink → next)
    blink_duration: float = 0.24                       # close + hold + open
    double_blink: float = 0.12                         # probability an event is a double blink
    double_blink_gap: tuple[float, float] = (0.3, 0.45)  # onset to onset
    saccade_interval: tuple[float, float] = (0.6, 2.5)
    saccade_duration: float = 0.04
    gaze_range: tuple[float, float] = (0.12, 0.06)     # yaw, pitch half-ranges of fixations
    gaze_drift: float = 0.008                          # slow drift around a fixation
    head_amplitude: float = 0.04                       # slow idle sway
    breathing_rate: float = 0.25                       # breaths per second
    breathing_amplitude: float = 0.006                 # head pitch per breath
    loudness_head_gain: float = 0.06                   # nod at full loudness
    loudness_response: float = 0.08                    # follower time constant

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "bool":
                if not isinstance(value, bool):
                    raise LifeConfigError(f"life.{f.name} must be true or false, not {value!r}")
            elif f.type.startswith("tuple"):
                self._check_pair(f.name, value)
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise LifeConfigError(f"life.{f.name} must be a number >= 0, not {value!r}")
        if self.double_blink > 1:
            raise LifeConfigError(f"life.double_blink is a probability (0..1), not {self.double_blink}")
        for name in ("blink_duration", "saccade_duration", "breathing_rate", "loudness_response"):
            if getattr(self, name) <= 0:
                raise LifeConfigError(f"life.{name} must be > 0")
        if self.double_blink_gap[0] < self.blink_duration:
            raise LifeConfigError("life.double_blink_gap must start at or after blink_duration "
                                  f"({self.blink_duration} s) so the lids reopen in between")
        if self.blink_interval[0] < self.blink_duration:
            raise LifeConfigError("life.blink_interval must not be shorter than blink_duration")

    def _check_pair(self, name: str, value: Any) -> None:
        ok = (isinstance(value, tuple) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
        if not ok:
            raise LifeConfigError(f"life.{name} must be two numbers, not {value!r}")
        low, high = value
        if name == "gaze_range":  # (yaw, pitch) half-ranges, not an interval
            if low < 0 or high < 0:
                raise LifeConfigError(f"life.gaze_range = {list(value)}: need yaw, pitch >= 0")
        elif not 0 < low <= high:
            raise LifeConfigError(f"life.{name} = {list(value)}: need 0 < low <= high")

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> "LifeConfig":
        """From a ``[life]`` TOML table: unknown keys and bad values raise LifeConfigError."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise LifeConfigError(f"unknown [life] key{'s' if len(unknown) > 1 else ''} "
                                  f"{', '.join(map(repr, unknown))}; known: {', '.join(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
        return cls(**values)


#: Seconds of the life layer's past (blinks, saccades) a live face keeps (``forget_before``):
#: far more than any utterance looks back, far less than a month-long kiosk would pile up.
LIFE_MEMORY = 60.0


def _blink_shape(dt: np.ndarray, duration: float = 0.24) -> np.ndarray:
    """Lid closure over a blink that starts at dt=0: fast close, short hold, slower open."""
    close, hold, open_ = (duration * r for r in (0.07 / 0.24, 0.04 / 0.24, 0.13 / 0.24))
    out = np.zeros_like(dt)
    a = (dt >= 0) & (dt < close)
    out[a] = np.sin(0.5 * math.pi * dt[a] / close)
    b = (dt >= close) & (dt < close + hold)
    out[b] = 1.0
    c = (dt >= close + hold) & (dt < close + hold + open_)
    out[c] = 0.5 + 0.5 * np.cos(math.pi * (dt[c] - close - hold) / open_)
    return out


#: A follower this close to 0 (radians of nod, before the gain) is at rest: it only decays.
_AT_REST = 1e-12
#: Frames of life computed at once for a stream that asks for one or two at a time.
_BLOCK = 64


@dataclass
class _Block:
    """Life's time-pure columns on a run of frames on one grid.

    A live stream asks for its life one or two frames at a time, 50 times a second, and
    a life frame costs ~40 small numpy calls whatever the count: 160 µs for 2 frames, as
    much as for 64. The event loop spent a quarter of its time there at 100 sessions. The
    curves are pure in time, so frames taken from a block are the ones asked for.
    """

    t0: float
    step: float
    blink: np.ndarray  # (n,) eyelid closure
    gaze: np.ndarray   # (n, 12) the _GAZE_COLUMNS values
    head: np.ndarray   # (n, 3) sway and breathing; speech nods are added per query

    def find(self, times: np.ndarray) -> slice | None:
        """Where ``times`` lie in this block, if every one is on its grid."""
        first = (float(times[0]) - self.t0) / self.step
        i = round(first)
        if abs(first - i) > 1e-6 or i < 0 or i + len(times) > len(self.blink):
            return None
        grid = self.t0 + (i + np.arange(len(times))) * self.step
        if np.abs(times - grid).max() > 1e-9:
            return None
        return slice(i, i + len(times))


@dataclass
class _Follower:
    """Critically damped follower of a piecewise-constant input; exact for any step size."""

    omega: float
    t: float | None = None
    pos: float = 0.0
    vel: float = 0.0

    def settle(self, times: np.ndarray) -> bool:
        """Move on to ``times`` with no input if the follower is at rest (True): it stays
        there, so a silent frame skips the per-frame loop of :meth:`run`."""
        if abs(self.pos) > _AT_REST or abs(self.vel) > _AT_REST:
            return False
        self.pos = self.vel = 0.0
        if len(times):
            last = float(np.max(times))
            self.t = last if self.t is None else max(self.t, last)
        return True

    def run(self, times: np.ndarray, target: np.ndarray) -> np.ndarray:
        out = np.empty(len(times))
        w = self.omega
        for i, (t, x) in enumerate(zip(times, target)):
            dt = 0.0 if self.t is None else max(0.0, float(t) - self.t)  # back in time: hold
            y, decay = self.pos - x, math.exp(-w * dt)
            c = self.vel + w * y
            self.pos = x + (y + c * dt) * decay
            self.vel = (self.vel - w * c * dt) * decay
            self.t = max(float(t), self.t if self.t is not None else float(t))
            out[i] = self.pos
        return out


@dataclass
class LifeLayer:
    """Blinks every 2–6 s (sometimes double), saccades, slow head motion, breathing, speech nods.

    Events are drawn lazily from a seeded generator in time order, so any query — chunk by
    chunk or all at once — sees the same schedule.
    """

    seed: int = 0
    config: LifeConfig = field(default_factory=LifeConfig)
    _blink_rng: np.random.Generator = field(init=False, repr=False)
    _gaze_rng: np.random.Generator = field(init=False, repr=False)
    _blinks: list[float] = field(init=False, repr=False)
    _next_event: float = field(init=False, repr=False)
    _saccades: list[float] = field(init=False, repr=False)
    _gaze: list[tuple[float, float]] = field(init=False, repr=False)
    _phase: np.ndarray = field(init=False, repr=False)
    _nod: _Follower = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # One stream per event kind: the draws never interleave differently with query size.
        phase_rng, self._blink_rng, self._gaze_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(3))
        self._phase = np.concatenate([phase_rng.uniform(0, 2 * math.pi, size=6),
                                      phase_rng.uniform(0, 2 * math.pi, size=7)])
        self._blinks = []
        self._next_event = float(self._blink_rng.uniform(0.5, self.config.blink_interval[1]))
        self._saccades = [0.0]
        self._gaze = [(0.0, 0.0)]
        self._nod = _Follower(omega=1.0 / self.config.loudness_response)
        self._block: _Block | None = None

    # ---- event schedules (lazy, seeded, in time order) ----------------------------------

    def _extend(self, until: float) -> None:
        c = self.config
        while self._next_event < until + 1.0:
            rng = self._blink_rng
            interval, coin, gap = (float(rng.uniform(*c.blink_interval)), float(rng.random()),
                                   float(rng.uniform(*c.double_blink_gap)))
            self._blinks.append(self._next_event)
            if coin < c.double_blink:
                self._blinks.append(self._next_event + gap)
            self._next_event = self._blinks[-1] + interval
        while self._saccades[-1] < until + 1.0:
            rng = self._gaze_rng
            self._saccades.append(self._saccades[-1] + float(rng.uniform(*c.saccade_interval)))
            yaw = float(rng.uniform(-1, 1)) * c.gaze_range[0]
            pitch = float(rng.uniform(-1, 1)) * c.gaze_range[1]
            self._gaze.append((yaw, pitch))

    def forget_before(self, t: float) -> None:
        """Drop the events no query at ``t`` or later can see.

        The schedules only ever grow, one blink every few seconds: a kiosk that runs for a
        month would carry ~650,000 of them. A live session calls this as its clock moves
        on; curves at ``t`` and after are exactly what they would have been.
        """
        del self._blinks[:bisect.bisect_left(self._blinks, t - self.config.blink_duration)]
        drop = bisect.bisect_right(self._saccades, t) - 2  # gaze() looks two saccades back
        if drop > 0:
            del self._saccades[:drop], self._gaze[:drop]

    def blink_onsets(self, until: float) -> list[float]:
        """Start times of every blink up to ``until`` (a double blink gives two)."""
        self._extend(until)
        return [t for t in self._blinks if t <= until]

    # ---- pure curves ---------------------------------------------------------------------

    def blink(self, times: np.ndarray) -> np.ndarray:
        """Eyelid closure 0..1 at ``times``."""
        times = np.asarray(times, dtype=np.float64)
        out = np.zeros(len(times))
        if len(times) == 0:
            return out
        self._extend(float(times.max()))
        order = np.argsort(times, kind="stable")
        sorted_t = times[order]
        duration = self.config.blink_duration
        # Only the blinks that overlap these times: a show's hours of past blinks cost nothing.
        first = bisect.bisect_left(self._blinks, float(sorted_t[0]) - duration)
        last = bisect.bisect_right(self._blinks, float(sorted_t[-1]))
        for start in self._blinks[first:last]:
            lo, hi = np.searchsorted(sorted_t, [start, start + duration])
            if hi > lo:
                idx = order[lo:hi]
                out[idx] = np.maximum(out[idx], _blink_shape(times[idx] - start, duration))
        return out

    def gaze(self, times: np.ndarray) -> np.ndarray:
        """(n, 2) eye yaw/pitch in radians: fixations joined by saccades, with a slow drift."""
        times = np.asarray(times, dtype=np.float64)
        out = np.zeros((len(times), 2))
        if len(times) == 0:
            return out
        self._extend(float(times.max()))
        # The window of saccades around these times (one before the first, for its origin).
        lo = max(0, bisect.bisect_right(self._saccades, float(times.min())) - 2)
        hi = bisect.bisect_right(self._saccades, float(times.max()))
        saccades = np.array(self._saccades[lo:hi])
        gaze = np.array(self._gaze[lo:hi])
        k = np.clip(np.searchsorted(saccades, times, side="right") - 1, 0, None)
        target, prev = gaze[k], gaze[np.maximum(k - 1, 0)]
        prev[k == 0] = target[k == 0]
        u = (times - saccades[k]) / self.config.saccade_duration
        out = prev + (target - prev) * ease(u)[:, None]
        waves = np.sin(_DRIFT_RATES * times[:, None] + self._phase[None, 6:10])  # one call
        drift = waves[:, 0::2] + 0.5 * waves[:, 1::2]  # yaw: 0.23 + 0.61 Hz, pitch: 0.17 + 0.47
        return out + self.config.gaze_drift * drift / 1.5

    def breathing(self, times: np.ndarray) -> np.ndarray:
        """Head pitch (radians) of breathing at ``times``."""
        t = np.asarray(times, dtype=np.float64)
        c = self.config
        return c.breathing_amplitude * np.sin(2 * math.pi * c.breathing_rate * t)

    def sway(self, times: np.ndarray) -> np.ndarray:
        """(n, 3) slow idle head yaw/pitch/roll: incommensurate sines, pure in time."""
        t = np.asarray(times, dtype=np.float64)[:, None]
        freqs = np.array([[0.11, 0.07, 0.09]])
        slow = np.sin(2 * math.pi * freqs * t + self._phase[None, :3])
        wobble = 0.4 * np.sin(2 * math.pi * freqs * 2.7 * t + self._phase[None, 3:6])
        return self.config.head_amplitude * (slow + wobble) / 1.4

    # ---- speech-driven (stateful: fed in time order) -------------------------------------

    def speech_motion(self, times: np.ndarray, loudness: np.ndarray | None) -> np.ndarray:
        """(n, 3) nods and tilts that follow speech loudness (0..1 per frame).

        A critically damped follower smooths the loudness to head speed; it carries state,
        so feed frames in time order (a query back in time holds it). No loudness (idle) is
        silence: the head settles back smoothly.
        """
        times = np.asarray(times, dtype=np.float64)
        if loudness is None and self._nod.settle(times):
            return np.zeros((len(times), 3))
        loud = np.zeros(len(times)) if loudness is None else np.clip(np.asarray(loudness, float), 0, 1)
        env = self._nod.run(times, loud)
        ph, gain = self._phase[10:], self.config.loudness_head_gain
        return gain * env[:, None] * np.stack([
            0.4 * np.sin(2 * math.pi * 0.13 * times + ph[0]),          # yaw: turns a little
            1.0 + 0.3 * np.sin(2 * math.pi * 0.7 * times + ph[1]),     # pitch: chin down on stress
            0.5 * np.sin(2 * math.pi * 0.19 * times + ph[2])], axis=1)  # roll: tilts

    def head(self, times: np.ndarray, loudness: np.ndarray | None = None) -> np.ndarray:
        """(n, 3) head yaw/pitch/roll in radians: the layers that are on, summed."""
        times = np.asarray(times, dtype=np.float64)
        head = self._idle_head(times)
        if self.config.head:
            head = head + self.speech_motion(times, loudness)
        return head

    def _idle_head(self, times: np.ndarray) -> np.ndarray:
        """(n, 3) sway and breathing: the part of the head that is pure in time."""
        c = self.config
        head = self.sway(times) if c.head else np.zeros((len(times), 3))
        if c.breathing:
            head[:, 1] += self.breathing(times)
        return head

    def apply(self, full: np.ndarray, times: np.ndarray,
              loudness: np.ndarray | None = None) -> np.ndarray:
        """Write blinks, gaze (eyeLook* shapes and eye rotations) and head into full frames.

        ``loudness`` (0..1 per frame, e.g. :func:`blendshape.procedural.loudness`) adds
        nods and tilts that follow speech; leave it out for idle frames.
        """
        c = self.config
        times = np.asarray(times, dtype=np.float64)
        blink, gaze, head = self._pure(times)
        if c.blinks:
            full[:, _BLINK_COLUMNS] = np.maximum(full[:, _BLINK_COLUMNS], blink[:, None])
        if c.gaze:
            full[:, _GAZE_COLUMNS] = gaze
        if c.head or c.breathing:
            if c.head:
                head = head + self.speech_motion(times, loudness)
            full[:, _HEAD_COLUMNS] = head
        return full

    def _pure(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Blink, gaze columns and idle head at ``times``: from the block when a stream asks
        for a few frames on a grid (see :class:`_Block`), else computed for them."""
        n = len(times)
        if not 0 < n <= _BLOCK // 4:
            return self._compute(times)
        block = self._block
        where = block.find(times) if block is not None else None
        if where is None:
            step = float(times[1] - times[0]) if n > 1 else (block.step if block else 0.0)
            if step <= 0:
                return self._compute(times)
            block = _Block(float(times[0]), step,
                           *self._compute(float(times[0]) + np.arange(_BLOCK) * step))
            where = block.find(times)
            if where is None:  # not a regular run of frames
                return self._compute(times)
            self._block = block
        return block.blink[where], block.gaze[where], block.head[where]

    def _compute(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.config
        blink = self.blink(times) if c.blinks else np.zeros(len(times))
        gaze = _gaze_columns(self.gaze(times)) if c.gaze else np.zeros((len(times), 12))
        return blink, gaze, self._idle_head(times)


def _gaze_columns(gaze: np.ndarray) -> np.ndarray:
    """(n, 12) eye shapes and rotations of a gaze, in :data:`_GAZE_COLUMNS` order."""
    yaw, pitch = gaze[:, 0], gaze[:, 1]
    # Positive yaw looks to the character's left: left eye looks out, right eye looks in.
    scale_yaw, scale_pitch = 1.0 / 0.5, 1.0 / 0.35
    left, right = unit(yaw * scale_yaw), unit(-yaw * scale_yaw)
    up, down = unit(pitch * scale_pitch), unit(-pitch * scale_pitch)
    return np.stack([left, left, right, right, up, up, down, down, yaw, yaw, pitch, pitch], axis=1)


_BLINK_COLUMNS = [_A["eyeBlinkLeft"], _A["eyeBlinkRight"]]
_HEAD_COLUMNS = [_C[name] for name in rig.HEAD]
#: Where _gaze_columns' twelve values go, in its stack order.
_GAZE_COLUMNS = [_A["eyeLookOutLeft"], _A["eyeLookInRight"], _A["eyeLookInLeft"],
                 _A["eyeLookOutRight"], _A["eyeLookUpLeft"], _A["eyeLookUpRight"],
                 _A["eyeLookDownLeft"], _A["eyeLookDownRight"], _C["leftEyeYaw"],
                 _C["rightEyeYaw"], _C["leftEyePitch"], _C["rightEyePitch"]]
#: Angular rates of the gaze drift's four sines: yaw 0.23 and 0.61 Hz, pitch 0.17 and 0.47 Hz.
_DRIFT_RATES = 2 * math.pi * np.array([0.23, 0.61, 0.17, 0.47])


def idle_frames(life: LifeLayer, times: np.ndarray) -> np.ndarray:
    """Full frames for a face at rest: viseme sil, life layer on."""
    full = np.zeros((len(times), len(rig.ALL_CHANNELS)), dtype=np.float32)
    full[:, _C["viseme_sil"]] = 1.0
    return life.apply(full, times)
