"""The network's streaming path equals the whole-clip path; batching changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blendshape.features import FRAME_RATE, log_mel
from blendshape.model import AudioToFace, ModelConfig
from blendshape.stream import Batcher, Stream, animate_clip, to_full_frames


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = AudioToFace(ModelConfig(hidden=64)).eval()
    with torch.no_grad():
        net.mean.fill_(-6.0)
        net.std.fill_(3.0)
    return net


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (env * (0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.normal(size=len(t)))).astype(np.float32)


def _whole(model, audio):
    lead = model.config.lookahead
    feats = np.concatenate([log_mel(audio), np.full((lead, 80), np.log(1e-6), np.float32)])
    with torch.no_grad():
        logits = model(torch.from_numpy(feats)[None])[0, lead:]
    return AudioToFace.activate(logits).numpy()


@pytest.mark.parametrize("chunk_ms", [10, 16, 20])
def test_streaming_in_small_chunks_equals_the_whole_clip(model, chunk_ms):
    audio = _speechlike(1.5, 1)
    stream, batcher = Stream(model, 16000), Batcher(model)
    step = 16 * chunk_ms
    parts = [batcher.push(stream, audio[i:i + step]) for i in range(0, len(audio), step)]
    parts.append(batcher.push(stream, np.zeros(0, np.float32), last=True))
    streamed = np.concatenate(parts)
    whole = _whole(model, audio)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-3)


def test_batched_streams_equal_single_streams(model):
    audios = [_speechlike(1.0, s) for s in range(4)]
    singles = []
    for audio in audios:
        stream, batcher = Stream(model, 16000), Batcher(model)
        singles.append(np.concatenate([batcher.push(stream, audio[i:i + 320])
                                       for i in range(0, len(audio), 320)]))
    streams = [Stream(model, 16000) for _ in audios]
    batcher = Batcher(model)
    outs = [[] for _ in audios]
    for i in range(0, len(audios[0]), 320):
        feats = [s.features(a[i:i + 320]) for s, a in zip(streams, audios)]
        for k, w in enumerate(batcher.step(streams, feats)):
            outs[k].append(w)
    for single, batched in zip(singles, outs):
        np.testing.assert_allclose(np.concatenate(batched), single, atol=1e-4)


def test_other_rates_are_resampled(model):
    audio16 = _speechlike(1.0, 3)
    frames = animate_clip(model, audio16, 16000, fps=60)
    assert len(frames) == 60
    t = np.arange(48000) / 48000
    frames48 = animate_clip(model, np.interp(t, np.arange(16000) / 16000, audio16), 48000, fps=30)
    assert len(frames48) == 30


def test_full_frames_resample_time_correctly():
    weights = np.zeros((100, 67), np.float32)
    weights[:, 17] = np.arange(100) / 100  # jawOpen ramps over one second at 100 fps
    full = to_full_frames(weights, fps=60)
    assert full.shape == (60, 74)
    assert full[30, 17] == pytest.approx(0.5, abs=1e-6)  # frame 30 at 60 fps = 0.5 s
    assert FRAME_RATE == 100


@pytest.mark.parametrize("fps,piece", [(60, 3), (30, 1), (25, 7)])
def test_frame_rate_converter_equals_one_pass(fps, piece):
    from blendshape.stream import FrameRateConverter

    weights = np.random.default_rng(0).random((157, 67)).astype(np.float32)
    conv = FrameRateConverter(fps)
    parts = [conv.push(weights[i:i + piece]) for i in range(0, len(weights), piece)]
    parts.append(conv.push(np.zeros((0, 67), np.float32), last=True))
    np.testing.assert_allclose(np.concatenate(parts), to_full_frames(weights, fps), atol=1e-6)
