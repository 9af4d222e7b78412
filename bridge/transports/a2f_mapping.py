"""Audio2Face-3D's stream, sans-I/O: NVIDIA's request messages in, our face out as its replies.

One :class:`A2FStream` is one ``ProcessAudioStream`` call (PROTOCOLS.md §8). The gRPC
servicer (:mod:`bridge.transports.a2f_grpc`) only reads, hands each request here, feeds the
audio this returns to the network, and writes the replies this builds:

* in: ``audio_stream_header`` (mono 16-bit PCM, 16–144 kHz, as Audio2Face-3D accepts; emotion
  and blendshape parameters), then ``audio_with_emotion`` chunks (≤ 10 s each, ≤ 300 s in
  all: Audio2Face-3D's own limits), then ``end_of_audio``;
* out: a header naming the 52 ARKit blendshapes in Audio2Face-3D's PascalCase, then
  ``animation_data`` — frames at 30 fps on the audio's clock and the audio they cover,
  echoed — then the ``END_OF_A2F_AUDIO_PROCESSING`` event and a ``SUCCESS`` status.

A bad request raises :class:`A2FInputError`, whose message says what was wrong; the
servicer answers it with ``INVALID_ARGUMENT`` and the other streams go on.

Emotions: Audio2Face-3D's ten map onto our emotion layer (:data:`EMOTION_MAP`). It mixes the
client's ("preferred") emotion with one its own model hears in the audio; we have no such
model, so that part is neutral: emotion = emotion_strength × preferred_emotion_strength ×
the client's emotion, each strength 1 unless the client sets it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from nvidia_ace import animation_pb2, audio_pb2, status_pb2
from nvidia_audio2face_3d import messages_pb2 as a2f

from blendshape import rig
from blendshape.layers.emotion import EmotionTrack
from blendshape.layers.life import LifeConfig, LifeLayer
from blendshape.net.stream import FrameRateConverter, to_full_frames

#: Audio2Face-3D's frame rate.
FPS = 30
#: Audio2Face-3D's input limits (its ``input_sanitization`` defaults).
MIN_RATE, MAX_RATE = 16000, 144000
MAX_CHUNK_SECONDS = 10.0
MAX_CLIP_SECONDS = 300.0
#: Audio2Face-3D's names: ARKit's, in ARKit's order, PascalCase (NVIDIA's configs; PROTOCOLS §1).
BLENDSHAPE_NAMES: tuple[str, ...] = rig.LIVELINK61[:52]
#: Blinks and gaze are seeded as ``talkbridge animate`` seeds them: the same audio gives the
#: same animation, as Audio2Face-3D's does.
LIFE_SEED = 0
#: Audio2Face-3D's default emotion transition (``live_transition_time``), in seconds.
TRANSITION_SECONDS = 0.5

#: Audio2Face-3D's emotions → ours. Pain is the disgust-like pose of brow lowering, lid
#: tightening, nose wrinkle and raised upper lip (the pain face's action units), with a frown;
#: cheekiness is a half smile; out-of-breath has no pose (the life layer breathes).
EMOTION_MAP: dict[str, dict[str, float]] = {
    "amazement": {"surprised": 1.0},
    "anger": {"angry": 1.0},
    "cheekiness": {"happy": 0.5},
    "disgust": {"disgust": 1.0},
    "fear": {"fear": 1.0},
    "grief": {"sad": 1.0},
    "joy": {"happy": 1.0},
    "outofbreath": {},
    "pain": {"disgust": 0.6, "angry": 0.4},
    "sadness": {"sad": 1.0},
}

_ARKIT = rig.column_indices(rig.ARKIT52)


class A2FInputError(ValueError):
    """A request Audio2Face-3D's contract does not allow; the message says which and why."""


@dataclass(frozen=True)
class Started:
    """The header was good: send ``reply``, then open a network stream at ``rate``."""

    reply: a2f.A2F3DAnimationDataStream
    rate: int


@dataclass(frozen=True)
class Audio:
    """Samples (float, -1..1, at the header's rate) for the network."""

    pcm: np.ndarray


@dataclass(frozen=True)
class Ended:
    """The client sent ``end_of_audio`` (or closed its side): flush the network, then finish."""


Step = Started | Audio | Ended


def check_audio_header(header: audio_pb2.AudioHeader) -> int:
    """The sample rate of an acceptable header; A2FInputError naming the field otherwise."""
    if header.audio_format != audio_pb2.AudioHeader.AUDIO_FORMAT_PCM:
        raise A2FInputError(f"audio_format {header.audio_format}: only AUDIO_FORMAT_PCM is supported")
    if header.bits_per_sample != 16:
        raise A2FInputError(f"bits_per_sample {header.bits_per_sample}: only 16-bit PCM is "
                            "supported (as by Audio2Face-3D)")
    if header.channel_count != 1:
        raise A2FInputError(f"channel_count {header.channel_count}: only mono audio (1 channel) "
                            "is supported (as by Audio2Face-3D)")
    rate = header.samples_per_second
    if not MIN_RATE <= rate <= MAX_RATE:
        raise A2FInputError(f"samples_per_second {rate} is out of range: {MIN_RATE}-{MAX_RATE} Hz")
    return rate


def emotion_mix(weights: Mapping[str, float], max_emotions: int = 0,
                scale: float = 1.0) -> dict[str, float]:
    """Audio2Face-3D emotion weights → our emotion layer's {name: weight} mix.

    Weights are clamped to 0..1; ``max_emotions`` > 0 keeps the strongest that many (as
    Audio2Face-3D's post-processing does); names it doesn't define are ignored."""
    known = sorted(((min(max(float(w), 0.0), 1.0), name.lower()) for name, w in weights.items()
                    if name.lower() in EMOTION_MAP), reverse=True)
    kept = [(w, n) for w, n in known if w > 0][:max_emotions or None]
    mix: dict[str, float] = {}
    for weight, name in kept:
        for ours, share in EMOTION_MAP[name].items():
            mix[ours] = mix.get(ours, 0.0) + scale * weight * share
    return mix


@dataclass(frozen=True)
class EmotionSettings:
    """The header's emotion parameters, as our emotion layer takes them."""

    ramp: float = TRANSITION_SECONDS
    scale: float = 1.0
    max_emotions: int = 0
    use_timed: bool = True      # enable_preferred_emotion=false: the client's timed emotions are off
    beginning: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_header(cls, header: a2f.AudioWithEmotionStreamHeader) -> EmotionSettings:
        post, params = header.emotion_post_processing_params, header.emotion_params
        scale = 1.0
        for name in ("emotion_strength", "preferred_emotion_strength"):
            if post.HasField(name):
                scale *= min(max(getattr(post, name), 0.0), 1.0)
        ramp = params.live_transition_time if params.HasField("live_transition_time") else None
        return cls(ramp=max(ramp, 0.0) if ramp is not None else TRANSITION_SECONDS, scale=scale,
                   max_emotions=max(post.max_emotions, 0) if post.HasField("max_emotions") else 0,
                   use_timed=post.enable_preferred_emotion
                   if post.HasField("enable_preferred_emotion") else True,
                   beginning=dict(params.beginning_emotion))

    def mix(self, weights: Mapping[str, float]) -> dict[str, float]:
        return emotion_mix(weights, self.max_emotions, self.scale)


@dataclass(frozen=True)
class BlendshapeGains:
    """``blendshape_params``: value × multiplier + offset per name, then 0..1 if asked.

    Names we don't send (Audio2Face-3D's extra tongue poses) are ignored."""

    multipliers: np.ndarray = field(default_factory=lambda: np.ones(52, np.float32))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(52, np.float32))
    clamp: bool = False

    @classmethod
    def from_header(cls, header: a2f.AudioWithEmotionStreamHeader) -> BlendshapeGains:
        params = header.blendshape_params
        gains, offsets = np.ones(52, np.float32), np.zeros(52, np.float32)
        for i, name in enumerate(BLENDSHAPE_NAMES):
            gains[i] = params.bs_weight_multipliers.get(name, 1.0)
            offsets[i] = params.bs_weight_offsets.get(name, 0.0)
        return cls(gains, offsets, bool(params.enable_clamping_bs_weight))

    def apply(self, arkit: np.ndarray) -> np.ndarray:
        out = arkit * self.multipliers + self.offsets
        return np.clip(out, 0.0, 1.0) if self.clamp else out


@dataclass
class A2FStream:
    """One ``ProcessAudioStream`` call: requests in (:meth:`receive`), network weights in
    (:meth:`frames`), NVIDIA's reply messages out. No I/O, no clock but ``clock`` (the
    header's ``start_time_code_since_epoch``)."""

    life_config: LifeConfig = field(default_factory=LifeConfig)
    fps: int = FPS
    clock: Callable[[], float] = time.time
    rate: int = 0                 # 0 until the header arrives
    samples: int = 0              # audio received, in samples
    sent: int = 0                 # frames sent
    ended: bool = False
    _audio: bytearray = field(default_factory=bytearray)  # received, not yet echoed
    _audio_from: int = 0          # sample index of _audio[0]
    _converter: FrameRateConverter = field(init=False)
    _emotions: EmotionTrack = field(init=False)
    _settings: EmotionSettings = field(default_factory=EmotionSettings)
    _gains: BlendshapeGains = field(default_factory=BlendshapeGains)
    _life: LifeLayer = field(init=False)
    _last_weights: np.ndarray | None = None  # the network's latest frame, held at the end

    def __post_init__(self) -> None:
        self._converter = FrameRateConverter(self.fps)
        self._life = LifeLayer(LIFE_SEED, self.life_config)

    # ---- requests ---------------------------------------------------------------------------

    def receive(self, request: a2f.AudioWithEmotionStream) -> Step:
        """One client message → what to do next; A2FInputError for one out of order or bad."""
        part = request.WhichOneof("stream_part")
        if self.ended:
            raise A2FInputError(f"{part or 'a message'} after end_of_audio: the stream is over")
        if part == "audio_stream_header":
            return self._start(request.audio_stream_header)
        if self.rate == 0:
            what = "an audio chunk" if part == "audio_with_emotion" else part or "an empty message"
            raise A2FInputError(f"{what} came before the audio_stream_header: send the header "
                                "first")
        if part == "audio_with_emotion":
            return self._audio_chunk(request.audio_with_emotion)
        if part == "end_of_audio":
            return self.close()
        raise A2FInputError("an empty message: set audio_stream_header, audio_with_emotion or "
                            "end_of_audio")

    def close(self) -> Ended:
        """The end of the audio: ``end_of_audio``, or the client closing its side."""
        if self.rate == 0:
            raise A2FInputError("the stream ended before an audio_stream_header")
        self.ended = True
        return Ended()

    def _start(self, header: a2f.AudioWithEmotionStreamHeader) -> Started:
        if self.rate:
            raise A2FInputError("a second audio_stream_header: send one per stream")
        if not header.HasField("audio_header"):
            raise A2FInputError("the audio_stream_header has no audio_header (format, channels, "
                                "rate, bits)")
        self.rate = check_audio_header(header.audio_header)
        self._settings = EmotionSettings.from_header(header)
        self._gains = BlendshapeGains.from_header(header)
        self._emotions = EmotionTrack(ramp=self._settings.ramp,
                                      initial=self._settings.mix(self._settings.beginning))
        reply = a2f.A2F3DAnimationDataStream(
            animation_data_stream_header=a2f.A2F3DAnimationDataStreamHeader(
                audio_header=self._audio_header(),
                skel_animation_header=animation_pb2.SkelAnimationHeader(
                    blend_shapes=BLENDSHAPE_NAMES),
                start_time_code_since_epoch=self.clock()))
        return Started(reply, self.rate)

    def _audio_header(self) -> audio_pb2.AudioHeader:
        """What the echoed audio is: the client's own format."""
        return audio_pb2.AudioHeader(audio_format=audio_pb2.AudioHeader.AUDIO_FORMAT_PCM,
                                     channel_count=1, samples_per_second=self.rate,
                                     bits_per_sample=16)

    def _audio_chunk(self, chunk: a2f.AudioWithEmotion) -> Audio:
        data = chunk.audio_buffer
        if len(data) % 2:
            raise A2FInputError(f"an audio_buffer of {len(data)} bytes: 16-bit PCM comes in whole "
                                "2-byte samples")
        n = len(data) // 2
        if n > MAX_CHUNK_SECONDS * self.rate:
            raise A2FInputError(f"an audio_buffer of {n / self.rate:.1f} s: at most "
                                f"{MAX_CHUNK_SECONDS:.0f} s of audio per message")
        if self.samples + n > MAX_CLIP_SECONDS * self.rate:
            raise A2FInputError(f"the audio passed {MAX_CLIP_SECONDS:.0f} s: at most that much per "
                                "stream")
        for timed in chunk.emotions if self._settings.use_timed else ():
            self._emotions.set(self._settings.mix(timed.emotion), at=max(timed.time_code, 0.0))
        self._audio.extend(data)
        self.samples += n
        return Audio(np.frombuffer(data, "<i2").astype(np.float32) / 32768.0)

    # ---- replies ----------------------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        """Frames the whole audio gets: as many as ``talkbridge animate`` writes for it."""
        return math.ceil(self.samples / self.rate * self.fps - 1e-9) if self.rate else 0

    def frames(self, weights: np.ndarray, last: bool = False) -> list[a2f.A2F3DAnimationDataStream]:
        """Network weights (100 fps) → the ``animation_data`` they complete (none, or one)."""
        full = self._converter.push(weights, last=last)
        first = self._converter.next_frame - len(full)
        if len(weights):
            self._last_weights = weights[-1:]
        if last:  # the frames end with the audio, as a whole clip's do: cut, or hold the last
            full = full[:max(0, self.frame_count - first)]
            missing = self.frame_count - first - len(full)
            if missing > 0:
                held = self._last_weights if self._last_weights is not None else weights[:0]
                full = np.concatenate([full, to_full_frames(held, self.fps, missing)])
        if not len(full) and not (last and self._audio):
            return []
        times = np.arange(first, first + len(full)) / self.fps
        if len(full):
            full = self._life.apply(self._emotions.apply(full, times), times)
        self.sent += len(full)
        values = self._gains.apply(full[:, _ARKIT])
        data = animation_pb2.AnimationData(skel_animation=animation_pb2.SkelAnimation(
            blend_shape_weights=[animation_pb2.FloatArrayWithTimeCode(time_code=t, values=row)
                                 for t, row in zip(times.tolist(), values.tolist())]))
        echo = self._echo(first + len(full), last)
        if echo is not None:
            data.audio.CopyFrom(echo)
        return [a2f.A2F3DAnimationDataStream(animation_data=data)]

    def _echo(self, frames_done: int, last: bool) -> animation_pb2.AudioWithTimeCode | None:
        """The received audio the frames so far cover (all of it at the end), with its time."""
        upto = self.samples if last else min(self.samples, round(frames_done * self.rate / self.fps))
        count = upto - self._audio_from
        if count <= 0:
            return None
        echo = animation_pb2.AudioWithTimeCode(time_code=self._audio_from / self.rate,
                                               audio_buffer=bytes(self._audio[:2 * count]))
        del self._audio[:2 * count]
        self._audio_from = upto
        return echo

    def finish(self) -> list[a2f.A2F3DAnimationDataStream]:
        """After the last frames: the end-of-processing event, then the status."""
        return [a2f.A2F3DAnimationDataStream(event=a2f.Event(
                    event_type=a2f.EventType.END_OF_A2F_AUDIO_PROCESSING)),
                a2f.A2F3DAnimationDataStream(status=status_pb2.Status(
                    code=status_pb2.Status.SUCCESS,
                    message=f"sent all data: {self.sent} frames at {self.fps} fps"))]
