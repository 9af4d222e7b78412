"""The engines: ONNX Runtime runs the shipped weights to PyTorch's curves, and the choice of
engine falls back to PyTorch, with a warning, wherever ONNX Runtime can't take the model."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from blendshape.net import engine as engines
from blendshape.net.engine import ExportFailed, OrtEngine, TorchEngine, engine_for
from blendshape.net.features import log_mel
from blendshape.net.model import OFFLINE, AudioToFace, ModelConfig
from blendshape.net.stream import Batcher, Stream, animate_clip, load_model, load_network


@pytest.fixture(scope="module")
def shipped() -> AudioToFace:
    return load_model(device=torch.device("cpu"))


@pytest.fixture(scope="module")
def speech(espeak) -> np.ndarray:
    """Two seconds and more of real speech at 16 kHz."""
    voice = next(v for v in espeak.voices() if v.id == "espeak:en-us")
    chunks = list(espeak.synthesize("Peter bought a map of the moon. Why, you ask?", voice))
    from blendshape.net.features import resample

    return resample(np.concatenate([c.pcm for c in chunks]), chunks[0].rate)


def test_onnxruntime_gives_the_shipped_weights_pytorchs_curves(shipped, speech):
    ort, pt = OrtEngine(shipped), TorchEngine(shipped)
    np.testing.assert_allclose(animate_clip(ort, speech, 16_000), animate_clip(pt, speech, 16_000),
                               atol=1e-5)
    # A live stream in 20 ms chunks, against PyTorch's whole clip (look-ahead removed).
    lead = shipped.config.lookahead
    feats = np.concatenate([log_mel(speech), np.full((lead, 80), np.log(1e-6), np.float32)])
    whole = pt.whole(feats)[lead:]
    stream, batcher = Stream(ort, 16_000), Batcher(ort)
    parts = [batcher.push(stream, speech[i:i + 320]) for i in range(0, len(speech), 320)]
    parts.append(batcher.push(stream, np.zeros(0, np.float32), last=True))
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-5)


def test_a_cpu_gets_onnxruntime_and_everything_else_gets_pytorch(shipped):
    assert isinstance(engine_for(shipped), OrtEngine)
    assert isinstance(load_network(device=torch.device("cpu")), OrtEngine)
    assert isinstance(engine_for(shipped, "torch"), TorchEngine)
    offline = AudioToFace(ModelConfig(hidden=16, kernel=5, lookahead=0, bidirectional=True))
    assert OFFLINE.bidirectional and isinstance(engine_for(offline), TorchEngine)
    with pytest.raises(ExportFailed, match="no streaming step"):
        engine_for(offline, "onnxruntime")
    ready = TorchEngine(shipped)
    assert engine_for(ready, "onnxruntime") is ready  # an engine is used as it is
    with pytest.raises(ValueError, match="auto, torch or onnxruntime"):
        engine_for(shipped, "tensorrt")


def test_a_failed_export_keeps_pytorch_with_a_warning(shipped, monkeypatch, caplog):
    """A torch without the ONNX exporter (removed in some future release) is simulated by
    an export that raises; the fallback itself is the real one."""
    def no_exporter(model):
        raise RuntimeError("torch.onnx.export is not available")

    monkeypatch.setattr(engines, "_export", no_exporter)
    with caplog.at_level(logging.WARNING, logger="blendshape.net.engine"):
        engine = engine_for(shipped)
    assert isinstance(engine, TorchEngine)
    assert "ONNX Runtime could not take it" in caplog.text and "not available" in caplog.text
    with pytest.raises(ExportFailed, match="not available"):
        engine_for(shipped, "onnxruntime")


def test_states_join_and_split_without_mixing_streams(shipped):
    ort = OrtEngine(shipped)
    states = [ort.initial_state(1) for _ in range(3)]
    rng = np.random.default_rng(0)
    feats = rng.normal(-6, 2, size=(3, 2, 80)).astype(np.float32)
    _, batch = ort.step(feats, ort.join(states))
    for j in range(3):
        alone = ort.step(feats[j:j + 1], states[j])[1]
        for got, want in zip(ort.take(batch, j), alone):
            np.testing.assert_allclose(got, want, atol=1e-6)
