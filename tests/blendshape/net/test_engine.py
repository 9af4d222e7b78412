"""The engines: ONNX Runtime's float graph runs the shipped weights to PyTorch's curves, its
8-bit graph to within quantization of them (streaming exactly as it animates a whole clip),
and the choice of engine falls back, with a warning, wherever one can't take the model."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from blendshape.net import engine as engines
from blendshape.net import int8_graph
from blendshape.net.engine import ExportFailed, Int8Engine, OrtEngine, TorchEngine, engine_for
from blendshape.net.features import log_mel
from blendshape.net.model import OFFLINE, AudioToFace, ModelConfig
from blendshape.net.stream import (
    Batcher,
    Stream,
    animate_clip,
    load_for_files,
    load_model,
    load_network,
    to_full_frames,
)


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
    assert isinstance(engine_for(shipped), Int8Engine)  # live streams
    assert isinstance(load_network(device=torch.device("cpu")), Int8Engine)
    assert isinstance(engine_for(shipped, files=True), OrtEngine)  # whole files
    assert isinstance(load_for_files("realtime", device=torch.device("cpu")), OrtEngine)
    assert isinstance(engine_for(shipped, "onnxruntime"), OrtEngine)
    assert isinstance(engine_for(shipped, "int8", files=True), Int8Engine)  # asked for: given
    assert isinstance(engine_for(shipped, "torch"), TorchEngine)
    offline = AudioToFace(ModelConfig(hidden=16, kernel=5, lookahead=0, bidirectional=True))
    assert OFFLINE.bidirectional and isinstance(engine_for(offline), TorchEngine)
    for kind in ("onnxruntime", "int8"):
        with pytest.raises(ExportFailed, match="no streaming step"):
            engine_for(offline, kind)
    ready = TorchEngine(shipped)
    assert engine_for(ready, "onnxruntime") is ready  # an engine is used as it is
    with pytest.raises(ValueError, match="auto, int8, onnxruntime, torch"):
        engine_for(shipped, "tensorrt")


def test_a_graph_that_cannot_be_built_falls_back_with_a_warning(shipped, monkeypatch, caplog):
    """An onnxruntime without ``MatMulNBits`` and a torch without the ONNX exporter (removed
    in some future release) are simulated by builders that raise; the fallbacks are real."""
    def no_int8(model):
        raise RuntimeError("MatMulNBits is not a registered function/op")

    def no_exporter(model):
        raise RuntimeError("torch.onnx.export is not available")

    monkeypatch.setattr(int8_graph, "build", no_int8)
    with caplog.at_level(logging.WARNING, logger="blendshape.net.engine"):
        assert isinstance(engine_for(shipped), OrtEngine)
    assert "8-bit ONNX Runtime graph could not be built" in caplog.text
    assert "MatMulNBits" in caplog.text
    monkeypatch.setattr(engines, "_export", no_exporter)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="blendshape.net.engine"):
        engine = engine_for(shipped)
    assert isinstance(engine, TorchEngine)
    assert "ONNX Runtime could not take it" in caplog.text and "not available" in caplog.text
    with pytest.raises(ExportFailed, match="not available"):
        engine_for(shipped, "onnxruntime")
    with pytest.raises(ExportFailed, match="MatMulNBits"):
        engine_for(shipped, "int8")


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


def test_the_8bit_graph_streams_exactly_as_it_animates_and_near_pytorch(shipped, speech):
    """Live streams on a CPU run 8-bit weights: 20 ms chunks give its whole clip's curves
    exactly (each frame's activations are quantized on their own), and both stay within
    quantization of PyTorch's float curves (the model card's eval: no figure moved)."""
    int8, pt = Int8Engine(shipped), TorchEngine(shipped)
    whole = animate_clip(int8, speech, 16_000, 100)
    stream, batcher = Stream(int8, 16_000), Batcher(int8)
    parts = [batcher.push(stream, speech[i:i + 320]) for i in range(0, len(speech), 320)]
    parts.append(batcher.push(stream, np.zeros(0, np.float32), last=True))
    np.testing.assert_allclose(to_full_frames(np.concatenate(parts), 100, len(whole)), whole,
                               atol=1e-6)
    float_curves = animate_clip(pt, speech, 16_000, 100)
    gap = np.abs(whole - float_curves)
    assert gap.max() < 0.05 and gap.mean() < 2e-3, (gap.max(), gap.mean())
    assert 0 < gap.max()  # it does run in 8 bits: not the float graph under another name


def test_8bit_batches_never_change_a_streams_result(shipped):
    """Not by a bit: not with 4 streams beside it, nor with 11 in the two-thread session."""
    int8 = Int8Engine(shipped, wide_threads=2, wide_above=8)
    assert int8._wide is not int8._session
    rng = np.random.default_rng(1)
    n = 12
    states = [int8.initial_state(1) for _ in range(n)]
    for size in (5, 12, 12):  # a few ticks, so the states differ from silence
        feats = rng.normal(-6, 2, size=(size, 2, 80)).astype(np.float32)
        weights, batch = int8.step(feats, int8.join(states[:size]))
        for j in range(size):
            alone_weights, alone = int8.step(feats[j:j + 1], states[j])
            np.testing.assert_array_equal(weights[j], alone_weights[0])
            for got, want in zip(int8.take(batch, j), alone):
                np.testing.assert_array_equal(got, want)
        states[:size] = [int8.take(batch, j) for j in range(size)]


def test_8bit_weights_stand_within_half_a_step_of_the_floats():
    rng = np.random.default_rng(2)
    w = rng.normal(0, 0.1, size=(240, 192)).astype(np.float32)
    w[:32, 5] = 0.0  # a block of zeros stays exactly zero
    packed, scales, zeros = int8_graph.quantize(w)
    assert packed.shape == (192, 8, 32) and packed.dtype == np.uint8  # 240 → 8 blocks of 32
    assert scales.shape == zeros.shape == (192 * 8,)
    # What MatMulNBits computes from them: (q − zero) · scale, block by block.
    per_block = (scales.reshape(192, 8, 1), zeros.reshape(192, 8, 1).astype(np.float32))
    back = ((packed - per_block[1]) * per_block[0]).reshape(192, 256)[:, :240].T
    step = np.repeat(scales.reshape(192, 8), 32, axis=1)[:, :240].T
    assert np.all(np.abs(back - w) <= step / 2 + 1e-7)
    assert np.all(back[:32, 5] == 0.0)


def test_the_8bit_graph_seals_the_lips_as_the_numpy_rule_does(shipped, speech):
    """The checkpoint's closure decision runs inside the 8-bit graph (the numpy rule cost a
    live chunk ~47 µs): the same bits as :func:`seal_decided_closures` on its own output."""
    from dataclasses import replace

    from blendshape.net.decide import seal_decided_closures

    plain = AudioToFace(replace(shipped.config, decide_closures=False))
    plain.load_state_dict(shipped.state_dict())
    feats = log_mel(speech, shipped.config.denoise)[None]
    deciding, undecided = Int8Engine(shipped), Int8Engine(plain)
    sealed_in_graph = deciding.step(feats, deciding.initial_state(1))[0]
    raw = undecided.step(feats, undecided.initial_state(1))[0]
    np.testing.assert_array_equal(sealed_in_graph, seal_decided_closures(raw))
    assert (sealed_in_graph != raw).any(axis=-1).sum() >= 5  # the p, b and m of the sentence
