"""espeak-ng through ctypes: 100+ languages, with exact phoneme events from the synthesizer.

espeak-ng reports each phoneme (in IPA, with ``espeakINITIALIZE_PHONEME_IPA``) together with
the sample index where it starts, so the face is timed to the audio it made. The library and
its data come from the ``espeakng-loader`` wheel; a system ``libespeak-ng`` is the fallback.
espeak-ng keeps global state, so every call holds one process-wide lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import threading
from typing import Iterator

import numpy as np

from blendshape.phonemes import PhonemeSpan
from bridge.speech.sentences import streaming_pieces
from bridge.speech.tts.base import SpeechChunk, TTSError, Voice

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PHONEME_EVENTS = 0x0001
_PHONEME_IPA = 0x0002
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_INSTALL_HINT = ("espeak-ng is missing: pip install espeakng-loader "
                 "(or apt-get install libespeak-ng1)")


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


class _VoiceInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
                ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


def _load_library() -> tuple[ctypes.CDLL, bytes | None]:
    try:
        import espeakng_loader

        return ctypes.CDLL(espeakng_loader.get_library_path()), espeakng_loader.get_data_path().encode()
    except (ImportError, OSError, RuntimeError):
        name = ctypes.util.find_library("espeak-ng")
        if name is None:
            raise TTSError(_INSTALL_HINT) from None
        return ctypes.CDLL(name), None


def _languages(raw: bytes) -> list[str]:
    """Decode espeak's ``languages`` field: (priority byte, name, NUL)*, then NUL."""
    out: list[str] = []
    i = 0
    while i < len(raw) and raw[i] != 0:
        end = raw.index(b"\0", i + 1) if b"\0" in raw[i + 1:] else len(raw)
        out.append(raw[i + 1:end].decode("utf-8", "replace"))
        i = end + 1
    return out


def _system_library() -> tuple[ctypes.CDLL, bytes | None]:
    """The distribution's ``libespeak-ng``: the only build here that can drive MBROLA."""
    # By path: by soname, dlopen would hand back the wheel's library if it is loaded already.
    for path in sorted(glob.glob("/usr/lib/*/libespeak-ng.so.1") + glob.glob("/usr/lib/libespeak-ng.so.1")):
        return ctypes.CDLL(path), None
    raise TTSError("MBROLA voices need the system espeak-ng: "
                   "apt-get install espeak-ng mbrola mbrola-us1")


def _identity(events: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return events


def _drop_lead(events: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """MBROLA's audio lacks the 1,000-sample lead that espeak counts into every event.

    Measured on 14 voices × 6 sentences: the first event sits at sample 1,000 and the last
    one ends 1,000 samples after the audio; stop closures and vowel onsets line up once
    every event moves back by the first one's offset.
    """
    lead = events[0][1] if events else 0
    return [(name, max(0, sample - lead)) for name, sample in events]


class EspeakTTS:
    """One shared engine per process; synthesis is serialized by a lock."""

    name = "espeak"
    _lock = threading.Lock()
    _lib: ctypes.CDLL | None = None
    _rate = 22050
    _library = staticmethod(_load_library)
    _align = staticmethod(_identity)

    def __init__(self) -> None:
        self._samples: list[bytes] = []
        self._events: list[tuple[str, int]] = []
        self._callback = _Callback(self._on_synth)
        self._voices: list[Voice] | None = None

    def _engine(self) -> ctypes.CDLL:
        cls = type(self)
        if cls._lib is None:
            lib, data = self._library()
            rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data,
                                         _PHONEME_EVENTS | _PHONEME_IPA)
            if rate <= 0:
                raise TTSError(f"espeak-ng failed to initialize (data at {data!r}). {_INSTALL_HINT}")
            lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceInfo))
            cls._lib, cls._rate = lib, rate
        return cls._lib

    def _on_synth(self, wav: ctypes.POINTER(ctypes.c_short), count: int,  # type: ignore[valid-type]
                  events: ctypes.POINTER(_Event)) -> int:  # type: ignore[valid-type]
        if wav and count > 0:
            self._samples.append(ctypes.string_at(wav, count * 2))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                self._events.append((event.id.string.decode("utf-8", "replace"), event.sample))
            i += 1
        return 0

    def voices(self) -> list[Voice]:
        if self._voices is None:
            with self._lock:
                lib = self._engine()
                table = lib.espeak_ListVoices(None)
                seen: dict[str, Voice] = {}
                i = 0
                while table[i]:
                    info = table[i].contents
                    langs = _languages(ctypes.string_at(info.languages, 64))
                    name = (info.name or b"").decode("utf-8", "replace")
                    ident = (info.identifier or b"").decode("utf-8", "replace")
                    if langs and langs[0] not in seen:
                        lang = langs[0]
                        seen[lang] = Voice(id=f"espeak:{lang}", provider="espeak", name=ident,
                                           lang=lang, aliases=(), description=f"espeak-ng {name}")
                    i += 1
            self._voices = sorted(seen.values(), key=lambda v: v.id)
        return self._voices

    def synthesize(self, text: str, voice: Voice) -> Iterator[SpeechChunk]:
        for sentence in streaming_pieces(text):
            yield self._synthesize_sentence(sentence, voice)

    def _synthesize_sentence(self, sentence: str, voice: Voice) -> SpeechChunk:
        with self._lock:
            lib = self._engine()
            if lib.espeak_SetVoiceByName((voice.name or voice.lang).encode()) != 0:
                raise TTSError(f"espeak-ng has no voice {voice.lang!r}")
            # An MBROLA voice speaks at its database's rate, not the one Initialize returned.
            rate = int(lib.espeak_ng_GetSampleRate()) if hasattr(lib, "espeak_ng_GetSampleRate") \
                else self._rate
            lib.espeak_SetSynthCallback(self._callback)
            self._samples, self._events = [], []
            data = sentence.encode("utf-8")
            lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            samples, events = self._samples, self._align(self._events)
        pcm = np.frombuffer(b"".join(samples), dtype="<i2").astype(np.float32) / 32768.0
        spans: list[PhonemeSpan] = []
        total = len(pcm)
        if events and events[0][1] > 0:
            spans.append(PhonemeSpan("", 0.0, events[0][1] / float(rate)))
        for i, (name, start) in enumerate(events):
            end = events[i + 1][1] if i + 1 < len(events) else total
            if end > start:
                spans.append(PhonemeSpan(name, start / float(rate), end / float(rate)))
        return SpeechChunk(pcm=pcm, rate=rate, phonemes=spans, text=sentence,
                           alphabet="ipa", lang=voice.lang)


class MbrolaTTS(EspeakTTS):
    """espeak-ng's MBROLA voices: diphones cut from recordings of real speakers.

    For the network's corpus only (``talkbridge train``): espeak's formant voices are all one
    synthetic timbre, and these are human ones whose phoneme timings are still exact, since
    espeak-ng hands MBROLA the durations it reports. The wheel's library is built without
    MBROLA, so this uses the distribution's (``apt-get install espeak-ng mbrola mbrola-us1``)
    in its own engine. The databases forbid selling them; the weights hold none of their audio.
    """

    name = "mbrola"
    _lock = threading.Lock()
    _lib: ctypes.CDLL | None = None
    _library = staticmethod(_system_library)
    _align = staticmethod(_drop_lead)

    def __init__(self, root: str = "/usr/share/mbrola") -> None:
        super().__init__()
        self.root = root

    def voices(self) -> list[Voice]:
        """Voices whose database is installed (``mb-us1`` needs ``/usr/share/mbrola/us1/us1``)."""
        if self._voices is None:
            found: list[Voice] = []
            with self._lock:
                lib = self._engine()
                lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_VoiceInfo)
                # espeak_ListVoices leaves MBROLA voices out: ask for each installed database.
                dbs = sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []
                # mb-de1-en: the same database reading English through espeak's mapping.
                for name in (f"{db}{suffix}" for db in dbs for suffix in ("", "-en")):
                    db = name.removesuffix("-en")
                    if not os.path.isfile(os.path.join(self.root, db, db)) or \
                            lib.espeak_SetVoiceByName(f"mb-{name}".encode()) != 0:
                        continue
                    info = lib.espeak_GetCurrentVoice().contents
                    if (info.identifier or b"").decode("utf-8", "replace").rpartition("/")[2] != f"mb-{name}":
                        continue  # espeak fell back to another voice: this one isn't defined
                    langs = _languages(ctypes.string_at(info.languages, 64)) if info.languages else []
                    found.append(Voice(id=f"mbrola:{name}", provider="mbrola", name=f"mb-{name}",
                                       lang=langs[0] if langs else db, aliases=(),
                                       description=f"MBROLA {name}"))
            self._voices = found
            if found:  # after the scan, the next sentence lost its first phoneme event (once)
                self._synthesize_sentence("a", found[0])
        return self._voices
