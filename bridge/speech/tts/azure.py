"""Azure AI Speech neural TTS, with the face timed by Azure's own viseme events.

Every synthesis raises ``viseme_received`` events: a viseme ID (0–21, Microsoft's
IPA-grouped set) at an audio offset in 100-ns ticks. They become :class:`PhonemeSpan` s with
one representative IPA symbol per ID, so the procedural animator drives the face exactly as
it does from espeak-ng's phonemes. With ``animation="blendshapes"`` the SSML also asks for
Azure's facial expression animation (``<mstts:viseme type="FacialExpression"/>``): JSON
chunks of 60 fps frames of 55 values, the first 52 of them ARKit in the canonical order of
:data:`blendshape.rig.ARKIT52`; those land in ``SpeechChunk.meta["arkit60"]``.

Each sentence is one synthesis, so its offsets and frame indices count from its own first
sample. The event → spans/frames conversions are pure functions, tested with recorded
payloads; the SDK glue stays thin. The SDK is imported only when the provider is built.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from blendshape.phonemes import PhonemeSpan
from blendshape.rig import ARKIT52
from bridge.speech.azure_sdk import connect
from bridge.speech.sentences import streaming_pieces
from bridge.speech.tts.base import SpeechChunk, TTSError, Voice

log = logging.getLogger(__name__)

TICKS_PER_SECOND = 10_000_000
BLENDSHAPE_FPS = 60
#: One IPA symbol per Azure viseme ID, from Microsoft's table (viseme ID → IPA group):
#: 0 silence, 1 æ ə ʌ, 2 ɑ, 3 ɔ, 4 ɛ ʊ, 5 ɝ, 6 j i ɪ, 7 w u, 8 o, 9 aʊ, 10 ɔɪ, 11 aɪ, 12 h,
#: 13 ɹ, 14 l, 15 s z, 16 ʃ tʃ dʒ ʒ, 17 ð, 18 f v, 19 d t n θ, 20 k g ŋ, 21 p b m.
AZURE_VISEME_IPA: tuple[str, ...] = (
    "", "ə", "ɑ", "ɔ", "ɛ", "ɝ", "i", "u", "o", "aʊ", "ɔɪ", "aɪ",
    "h", "ɹ", "l", "s", "ʃ", "ð", "f", "t", "k", "p",
)
#: The 55 values of each ``BlendShapes`` frame, in Azure's documented order.
AZURE_BLENDSHAPES: tuple[str, ...] = (*ARKIT52, "headRoll", "leftEyeRoll", "rightEyeRoll")
ANIMATIONS = ("visemes", "blendshapes")
#: Output rates Azure synthesizes as raw 16-bit mono PCM (no container to parse).
_RAW_FORMATS = {8000: "Raw8Khz16BitMonoPcm", 16000: "Raw16Khz16BitMonoPcm",
                22050: "Raw22050Hz16BitMonoPcm", 24000: "Raw24Khz16BitMonoPcm",
                44100: "Raw44100Hz16BitMonoPcm", 48000: "Raw48Khz16BitMonoPcm"}
_CANCEL_HINTS = {
    "AuthenticationFailure": "check the key and the region",
    "BadRequest": "check the voice name and the SSML (is the voice available in this region?)",
    "ConnectionFailure": "check the network, the region or the endpoint",
    "TooManyRequests": "quota exceeded: retry later or raise the tier",
    "ServiceTimeout": "the service timed out: retry, or shorten the sentence",
}


@dataclass(frozen=True, slots=True)
class VisemeEvent:
    """One ``viseme_received`` event, reduced to its three fields."""

    audio_offset: int   # 100-ns ticks from this synthesis's first sample
    viseme_id: int
    animation: str = ""  # the FacialExpression JSON chunk, when asked for


def event_from_sdk(evt: Any) -> VisemeEvent:
    """Read a ``SpeechSynthesisVisemeEventArgs`` by duck typing."""
    return VisemeEvent(int(getattr(evt, "audio_offset", 0) or 0),
                       int(getattr(evt, "viseme_id", 0) or 0),
                       getattr(evt, "animation", "") or "")


def _is_animation_carrier(event: VisemeEvent) -> bool:
    """Azure sends the blend-shape chunks on extra events with offset 0 and viseme 0 after
    the real visemes; those carry frames, not a silence at time 0."""
    return bool(event.animation) and event.audio_offset == 0 and event.viseme_id == 0


def viseme_spans(events: Iterable[VisemeEvent], duration: float) -> list[PhonemeSpan]:
    """Viseme events → IPA phoneme spans in seconds, covering ``[0, duration]``.

    Each viseme holds from its offset to the next one (the last to the end of the audio);
    the audio before the first viseme is silence. Unknown IDs become silence.
    """
    timed: dict[int, int] = {}
    for event in events:
        if not _is_animation_carrier(event):
            timed[event.audio_offset] = event.viseme_id  # the same offset twice: last wins
    starts = sorted(timed)
    spans: list[PhonemeSpan] = []
    if starts and starts[0] > 0:
        spans.append(PhonemeSpan("", 0.0, min(starts[0] / TICKS_PER_SECOND, duration)))
    for i, offset in enumerate(starts):
        start = offset / TICKS_PER_SECOND
        end = starts[i + 1] / TICKS_PER_SECOND if i + 1 < len(starts) else duration
        end = min(end, duration)
        if end > start:
            spans.append(PhonemeSpan(_viseme_ipa(timed[offset]), start, end))
    return spans


def _viseme_ipa(viseme_id: int) -> str:
    if 0 <= viseme_id < len(AZURE_VISEME_IPA):
        return AZURE_VISEME_IPA[viseme_id]
    log.warning("unknown Azure viseme id %d: treated as silence", viseme_id)
    return ""


def blendshape_frames(animations: Iterable[str], n_frames: int | None = None) -> np.ndarray:
    """FacialExpression JSON chunks → one float32 array of frames ``(n, 55)`` at 60 fps.

    ``FrameIndex`` is the number of frames before the chunk, so chunks may come in any
    order; a gap holds the frame before it. With ``n_frames`` the result is cut to that
    many, or padded by holding the last frame (Azure's audio runs on past its last frame
    with trailing silence). Raises ValueError for a malformed chunk.
    """
    placed: dict[int, np.ndarray] = {}
    for text in animations:
        if not text:
            continue
        start, frames = _parse_chunk(text)
        for k, frame in enumerate(frames):
            placed[start + k] = frame
    total = max(placed, default=-1) + 1
    if n_frames is not None:
        total = n_frames
    out = np.zeros((total, len(AZURE_BLENDSHAPES)), dtype=np.float32)
    held = np.zeros(len(AZURE_BLENDSHAPES), dtype=np.float32)
    for k in range(total):
        held = placed.get(k, held)
        out[k] = held
    return np.clip(out, 0.0, 1.0)


def _parse_chunk(text: str) -> tuple[int, np.ndarray]:
    try:
        data = json.loads(text)
        start = int(data["FrameIndex"])
        frames = np.asarray(data["BlendShapes"], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed Azure blend-shape chunk ({exc}): {text[:80]!r}") from exc
    if frames.size == 0:
        return start, np.zeros((0, len(AZURE_BLENDSHAPES)), dtype=np.float32)
    if frames.ndim != 2 or frames.shape[1] != len(AZURE_BLENDSHAPES) or start < 0:
        raise ValueError(f"Azure blend-shape chunk at frame {start} has shape {frames.shape}; "
                         f"expected (n, {len(AZURE_BLENDSHAPES)})")
    return start, frames


def arkit_frames(frames: np.ndarray) -> np.ndarray:
    """Azure's 55-value frames → ``(n, 52)`` in :data:`ARKIT52` order (the same order)."""
    return np.ascontiguousarray(frames[:, : len(ARKIT52)], dtype=np.float32)


def frames_for(duration: float, fps: int = BLENDSHAPE_FPS) -> int:
    """Frames that cover ``duration`` seconds of audio: frame k is at ``k / fps``."""
    return int(math.ceil(duration * fps - 1e-9))


def build_ssml(text: str, voice_name: str, lang: str, blendshapes: bool) -> str:
    """The SSML of one sentence; ``blendshapes`` adds the FacialExpression request."""
    viseme = '<mstts:viseme type="FacialExpression"/>' if blendshapes else ""
    return ('<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
            'xmlns:mstts="http://www.w3.org/2001/mstts" '
            f'xml:lang={quoteattr(lang)}><voice name={quoteattr(voice_name)}>'
            f"{viseme}{escape(text)}</voice></speak>")


def chunk_from_synthesis(audio: bytes, rate: int, events: Sequence[VisemeEvent], text: str,
                         lang: str, blendshapes: bool) -> SpeechChunk:
    """One sentence's raw 16-bit PCM and its viseme events → a SpeechChunk."""
    pcm = np.frombuffer(audio[: len(audio) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    duration = len(pcm) / float(rate)
    meta: dict[str, object] = {"provider": "azure"}
    if blendshapes:
        try:
            frames = blendshape_frames((e.animation for e in events), frames_for(duration))
        except ValueError as exc:
            raise TTSError(f"Azure sent blend shapes talkbridge cannot read: {exc}") from None
        meta["arkit60"] = arkit_frames(frames)
        meta["arkit_fps"] = BLENDSHAPE_FPS
    return SpeechChunk(pcm=pcm, rate=rate, phonemes=viseme_spans(events, duration), text=text,
                       alphabet="ipa", lang=lang, meta=meta)


def cancel_message(error_code: str, error_details: str) -> str:
    """A canceled synthesis → what went wrong and how to fix it."""
    hint = _CANCEL_HINTS.get(error_code, "see the error details")
    return f"Azure speech synthesis canceled: {error_code or 'unknown'} ({hint}): " \
           f"{error_details or 'no details'}"


def _enum_name(value: Any) -> str:
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(value or "").rsplit(".", 1)[-1]


def voice_for(name: str) -> Voice:
    """``en-US-JennyNeural`` → the Voice ``azure:en-US-JennyNeural`` speaking ``en-US``."""
    parts = name.split("-")
    lang = "-".join(parts[:2]) if len(parts) >= 3 else "en-US"
    return Voice(id=f"azure:{name}", provider="azure", name=name, lang=lang, aliases=(name,),
                 description=f"Azure neural voice {name}")


class AzureTTS:
    """Azure AI Speech synthesis; one synthesizer (one service connection) per utterance.

    Args:
        region: the Speech resource's region (or env ``region_env``), unless ``endpoint``.
        key_env: the environment variable holding the key (never put keys in config files).
        endpoint: a custom endpoint URL instead of a region.
        voices: the voice names offered (``en-US-JennyNeural``); ids are ``azure:<name>``.
        rate: output sample rate, one of 8000, 16000, 22050, 24000, 44100, 48000.
        animation: ``"visemes"`` (phoneme spans from viseme IDs) or ``"blendshapes"``
            (those, plus Azure's own ARKit frames in ``meta["arkit60"]``).
        region_env: the environment variable read when ``region`` is not given.
    """

    name = "azure"

    def __init__(self, region: str | None = None, key_env: str = "AZURE_SPEECH_KEY",
                 endpoint: str | None = None, voices: Sequence[str] = ("en-US-JennyNeural",),
                 rate: int = 24000, animation: str = "visemes",
                 region_env: str = "AZURE_SPEECH_REGION") -> None:
        if animation not in ANIMATIONS:
            raise TTSError(f"unknown animation {animation!r} for azure TTS; valid: "
                           f"{', '.join(ANIMATIONS)}")
        if rate not in _RAW_FORMATS:
            raise TTSError(f"azure TTS cannot synthesize at {rate} Hz; valid rates: "
                           f"{', '.join(map(str, _RAW_FORMATS))}")
        if not voices:
            raise TTSError("the azure TTS provider needs at least one voice in its voices option")
        speechsdk, new_config = connect(key_env, region, region_env, endpoint, TTSError)
        self._sdk = speechsdk
        self._config = new_config()
        self._config.set_speech_synthesis_output_format(
            getattr(speechsdk.SpeechSynthesisOutputFormat, _RAW_FORMATS[rate]))
        self._voices = [voice_for(v) for v in voices]
        self.rate = rate
        self.blendshapes = animation == "blendshapes"

    def voices(self) -> list[Voice]:
        return list(self._voices)

    def synthesize(self, text: str, voice: Voice) -> Iterator[SpeechChunk]:
        synthesizer = self._sdk.SpeechSynthesizer(speech_config=self._config, audio_config=None)
        events: list[VisemeEvent] = []
        synthesizer.viseme_received.connect(lambda evt: events.append(event_from_sdk(evt)))
        for piece in streaming_pieces(text):
            events.clear()
            ssml = build_ssml(piece, voice.name, voice.lang, self.blendshapes)
            result = synthesizer.speak_ssml_async(ssml).get()
            self._check(result)
            yield chunk_from_synthesis(bytes(result.audio_data), self.rate, list(events),
                                       piece, voice.lang, self.blendshapes)

    def _check(self, result: Any) -> None:
        if _enum_name(result.reason) == "SynthesizingAudioCompleted":
            return
        details = getattr(result, "cancellation_details", None)
        raise TTSError(cancel_message(_enum_name(getattr(details, "error_code", "")),
                                      getattr(details, "error_details", "") or ""))
