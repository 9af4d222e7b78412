"""Silero VAD on onnxruntime: one shared model, the recurrent state kept per stream.

The model ships inside the ``silero-vad`` wheel, so nothing is downloaded. Silero's own
wrapper keeps its state on the model object, which would give every microphone the same
memory; here the state (and the 64-sample context the model expects before each frame)
lives in the stream, and the provider's :meth:`SileroVAD.step` is a pure function of its
inputs, batched over streams, so one ``InferenceSession`` serves every session.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from bridge.speech.vad.base import VADError

_INSTALL_HINT = "pip install silero-vad onnxruntime (both are talkbridge dependencies)"
#: Preferred first: the 16 kHz-only export is the smallest; the general one is the fallback.
_MODEL_FILES = ("silero_vad_16k_op15.onnx", "silero_vad.onnx")
_RATE = 16000
_FRAME = 512        # the only frame size the 16 kHz model accepts
_CONTEXT = 64       # samples of the previous frame the model sees before each frame
_STATE_SHAPE = (2, 1, 128)


def bundled_model_path() -> Path:
    """The ONNX file inside the installed ``silero_vad`` package; VADError if absent."""
    try:
        data = resources.files("silero_vad").joinpath("data")
    except ModuleNotFoundError as exc:
        raise VADError(f"the Silero VAD model is not installed: {_INSTALL_HINT}") from exc
    for name in _MODEL_FILES:
        candidate = data.joinpath(name)
        if candidate.is_file():
            return Path(str(candidate))
    raise VADError(f"the silero_vad package has none of {', '.join(_MODEL_FILES)}; "
                   f"reinstall it: {_INSTALL_HINT}")


def _load_session(path: Path, threads: int) -> object:
    try:
        import onnxruntime
    except ImportError as exc:
        raise VADError(f"onnxruntime is missing: {_INSTALL_HINT}") from exc
    opts = onnxruntime.SessionOptions()
    # One frame is ~0.1 ms of work: threads only add hand-off cost; parallelism comes from
    # many streams calling run() at once (onnxruntime sessions are safe to share).
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # the shipped graphs have unused initializers: not worth a warning
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise VADError(f"cannot load the Silero VAD model {path}: {exc}") from exc


class SileroVAD:
    """The Silero voice-activity model, loaded once and shared by every stream.

    Args:
        model: an ONNX export of Silero VAD (16 kHz, state input); default: the bundled one.
        threads: onnxruntime intra-op threads for each call (1 is fastest for one frame).

    Thread-safety: :meth:`step` may be called from many threads at once; a stream is not
    thread-safe and belongs to one microphone.
    """

    name = "silero"
    rate = _RATE
    frame_samples = _FRAME

    def __init__(self, model: str | Path | None = None, threads: int = 1) -> None:
        self.model_path = Path(model) if model is not None else bundled_model_path()
        if not self.model_path.is_file():
            raise VADError(f"Silero VAD model not found: {self.model_path}")
        self._session = _load_session(self.model_path, threads)
        self._sr = np.array(_RATE, dtype=np.int64)

    def new_stream(self) -> "SileroStream":
        return SileroStream(self)

    @staticmethod
    def initial_state(batch: int = 1) -> np.ndarray:
        """A fresh recurrent state for ``batch`` streams (what a new stream starts from)."""
        return np.zeros((_STATE_SHAPE[0], batch, _STATE_SHAPE[2]), dtype=np.float32)

    def step(self, frames: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score one frame per stream: ``(B, 64 + 512)`` samples, state ``(2, B, 128)``.

        Each row is the last 64 samples of that stream's previous frame followed by the new
        512. Returns ``(probabilities (B,), new_state)``; nothing is kept on the provider.
        """
        try:
            prob, new_state = self._session.run(  # type: ignore[attr-defined]
                None, {"input": frames, "state": state, "sr": self._sr})
        except Exception as exc:
            raise VADError(f"Silero VAD inference failed: {exc}") from exc
        return prob[:, 0].astype(np.float32, copy=False), new_state


class SileroStream:
    """One microphone: the recurrent state, the model's context and the unscored samples."""

    def __init__(self, vad: SileroVAD) -> None:
        self._vad = vad
        self.reset()

    def reset(self) -> None:
        self._state = SileroVAD.initial_state()
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, pcm: np.ndarray) -> np.ndarray:
        """One probability per complete 512-sample frame; the remainder waits for more audio."""
        samples = np.asarray(pcm, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"push() takes mono PCM (1-D), got shape {samples.shape}")
        buffered = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n_frames = len(buffered) // _FRAME
        probs = np.empty(n_frames, dtype=np.float32)
        row = np.empty((1, _CONTEXT + _FRAME), dtype=np.float32)
        for i in range(n_frames):
            row[0, :_CONTEXT] = self._context
            row[0, _CONTEXT:] = buffered[i * _FRAME:(i + 1) * _FRAME]
            prob, self._state = self._vad.step(row, self._state)
            probs[i] = prob[0]
            self._context = row[0, -_CONTEXT:].copy()
        self._pending = buffered[n_frames * _FRAME:].copy()
        return probs
