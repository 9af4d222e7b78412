"""The network's streaming path equals the whole-clip path; batching changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blendshape.net.decide import seal_decided_closures
from blendshape.net.engine import Int8Engine, OrtEngine, engine_for
from blendshape.net.features import FRAME_RATE, log_mel
from blendshape.net.model import AudioToFace, ModelConfig
from blendshape.net.stream import (
    Batcher,
    Stream,
    animate_clip,
    stream_features,
    to_full_frames,
)


@pytest.fixture(scope="module", params=[(1, False, False), (2, False, False), (1, True, True)],
                ids=["stack1", "stack2", "denoise+decide"])
def model(request):
    """A model stepping one frame at a time, one hearing two frames a step (whose
    streams hold an odd frame back and fill the last step with silence), and one hearing
    log-mel with the causal noise floor taken off (whose streams carry that floor) and
    sealing the lips where its top viseme is PP, as the shipped checkpoint does."""
    torch.manual_seed(0)
    stack, denoise, decide = request.param
    net = AudioToFace(ModelConfig(hidden=64, stack=stack, denoise=denoise,
                                  decide_closures=decide)).eval()
    with torch.no_grad():
        net.mean.fill_(-6.0)
        net.std.fill_(3.0)
        if decide:  # a viseme head sure enough to lead with PP in some frames (60 of 151)
            net.head.weight[52:] *= 30
            net.head.bias[53] = net.head.bias[52:].max() - 1
    return net


@pytest.fixture(scope="module", params=["torch", "onnxruntime", "onnxruntime+torch", "int8"])
def engine(request, model):
    """The model in each engine; every expectation below is PyTorch's whole-clip run, or
    for the 8-bit graph its own (it stays within quantization of PyTorch's: test_engine).
    The third hands batches of two streams or more to PyTorch and single streams to ONNX
    Runtime, so streams' states cross between the two."""
    if request.param == "onnxruntime+torch":
        return OrtEngine(model, torch_above=1)
    return engine_for(model, request.param)


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (env * (0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.normal(size=len(t)))).astype(np.float32)


def _whole(model, audio, engine=None):
    """The whole clip's curves, look-ahead dropped: PyTorch's, or an 8-bit ``engine``'s."""
    lead = model.config.lookahead
    feats = np.concatenate([log_mel(audio, model.config.denoise),
                            np.full((lead, 80), np.log(1e-6), np.float32)])
    if isinstance(engine, Int8Engine):
        return engine.whole(feats)[lead:]
    with torch.no_grad():
        logits = model(torch.from_numpy(feats)[None])[0, lead:]
    weights = AudioToFace.activate(logits).numpy()
    return seal_decided_closures(weights) if model.config.decide_closures else weights


@pytest.mark.parametrize("chunk_ms", [10, 16, 20])
def test_streaming_in_small_chunks_equals_the_whole_clip(model, engine, chunk_ms):
    audio = _speechlike(1.51, 1)  # 151 frames and 4 of look-ahead: an odd number
    stream, batcher = Stream(engine, 16000), Batcher(engine)
    step = 16 * chunk_ms
    parts = [batcher.push(stream, audio[i:i + step]) for i in range(0, len(audio), step)]
    parts.append(batcher.push(stream, np.zeros(0, np.float32), last=True))
    streamed = np.concatenate(parts)
    whole = _whole(model, audio, engine)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-3)


def test_a_long_file_taken_in_blocks_equals_one_pass(model, engine, monkeypatch):
    """A long recording's features and network pass go CLIP_BLOCK frames at a time with
    the floor and the state carried over (so an hour's show fits in memory): the curves
    are one pass's. 63-frame blocks here: an odd size, which a two-frame model takes as 62."""
    from blendshape.net import features, stream

    # 307 frames: five blocks, the last one short; in steady noise, so the floor works
    audio = _speechlike(3.07, 5) + 0.1 * np.random.default_rng(9).normal(size=49_120)
    audio = audio.astype(np.float32)
    assert np.abs(log_mel(audio, True) - log_mel(audio)).max() > 1.0
    whole = animate_clip(engine, audio, 16_000, 60)
    monkeypatch.setattr(features, "CLIP_BLOCK", 63)
    monkeypatch.setattr(stream, "CLIP_BLOCK", 63)
    blocked = animate_clip(engine, audio, 16_000, 60)
    assert blocked.shape == whole.shape
    np.testing.assert_allclose(blocked, whole, atol=1e-5, rtol=0)
    np.testing.assert_allclose(log_mel(audio, model.config.denoise),
                               _one_block_log_mel(audio, model.config.denoise, monkeypatch),
                               atol=1e-6, rtol=0)


def _one_block_log_mel(audio: np.ndarray, denoise: bool, monkeypatch) -> np.ndarray:
    from blendshape.net import features

    with monkeypatch.context() as patch:
        patch.setattr(features, "CLIP_BLOCK", 10**9)
        return log_mel(audio, denoise)


def test_batched_streams_equal_single_streams(model, engine):
    audios = [_speechlike(1.0, s) for s in range(4)]
    streams = [Stream(engine, 16000) for _ in audios]
    batcher = Batcher(engine)
    outs: list[list[np.ndarray]] = [[] for _ in audios]
    sent = [0] * len(audios)
    tick = 0
    # Streams join and leave the batch and send 10 or 20 ms a tick, so a tick batches
    # groups of different lengths and streams whose states were last advanced apart. Their
    # features are computed together, as the server's tick does (noise floors included).
    while any(n < len(a) for n, a in zip(sent, audios)):
        chunks = []
        for j, audio in enumerate(audios):
            size = 160 * (1 + j % 2) if (tick + j) % 3 else 0
            chunks.append((audio[sent[j]:sent[j] + size], False))
            sent[j] += size
        feats = stream_features(streams, chunks)
        for j, weights in enumerate(batcher.step(streams, feats)):
            outs[j].append(weights)
        tick += 1
    for stream, out, audio in zip(streams, outs, audios):
        out.append(batcher.push(stream, np.zeros(0, np.float32), last=True))
        np.testing.assert_allclose(np.concatenate(out), _whole(model, audio, engine), atol=1e-4)


def test_other_rates_are_resampled(model, engine):
    audio16 = _speechlike(1.0, 3)
    frames = animate_clip(engine, audio16, 16000, fps=60)
    assert len(frames) == 60
    np.testing.assert_allclose(frames, to_full_frames(_whole(model, audio16, engine), 60, 60),
                               atol=1e-5)
    t = np.arange(48000) / 48000
    frames48 = animate_clip(engine, np.interp(t, np.arange(16000) / 16000, audio16), 48000, fps=30)
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
    from blendshape.net.stream import FrameRateConverter

    weights = np.random.default_rng(0).random((157, 67)).astype(np.float32)
    conv = FrameRateConverter(fps)
    parts = [conv.push(weights[i:i + piece]) for i in range(0, len(weights), piece)]
    parts.append(conv.push(np.zeros((0, 67), np.float32), last=True))
    np.testing.assert_allclose(np.concatenate(parts), to_full_frames(weights, fps), atol=1e-6)


@pytest.mark.parametrize("fps", [60, 30, 25, 50])
def test_frame_rate_converter_releases_a_frame_as_soon_as_what_it_reads_exists(fps):
    """Frame k reads network frames floor(k·100/fps) and the one after (that one alone where
    k·100/fps is whole): it must come out with the push that completes them, not 10 ms
    later (the converter used to wait for one network frame more)."""
    from blendshape.net.stream import FrameRateConverter, converter_wait

    conv, released_at = FrameRateConverter(fps), []
    for total in range(1, 80):  # one network frame a push
        released_at += [total] * len(conv.push(np.zeros((1, 67), np.float32)))
    for k, total in enumerate(released_at):
        pos = k * FRAME_RATE / fps
        assert total == int(np.ceil(pos - 1e-9)) + 1, (k, pos, total)
    assert converter_wait(fps) == pytest.approx(
        max(np.ceil(k * FRAME_RATE / fps - 1e-9) - k * FRAME_RATE / fps for k in range(fps))
        / FRAME_RATE)
    assert converter_wait(60) == pytest.approx(1 / 150)  # two thirds of a network frame


class _FullCard(AudioToFace):
    """Raises CUDA's out-of-memory error on the first ``fail`` steps (the real one needs a GPU
    that is full; the error type and the recovery path are the real ones)."""

    fail = 1

    def step(self, feats, state):
        if self.fail:
            self.fail -= 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 MiB")
        return super().step(feats, state)


def test_cuda_out_of_memory_moves_the_network_to_the_cpu_and_loses_no_frame(model, caplog):
    full = _FullCard(model.config).eval()
    full.load_state_dict(model.state_dict())
    audio = _speechlike(1.0, 5)
    stream, batcher = Stream(full, 16000), Batcher(full)
    with caplog.at_level("WARNING", logger="blendshape.net.engine"):
        parts = [batcher.push(stream, audio[i:i + 320]) for i in range(0, len(audio), 320)]
    parts.append(batcher.push(stream, np.zeros(0, np.float32), last=True))
    np.testing.assert_allclose(np.concatenate(parts), _whole(model, audio), atol=1e-3)
    assert batcher.fell_back and full.mean.device.type == "cpu"
    assert [r.message for r in caplog.records if "out of memory" in r.message]
    full.fail = 1  # out of memory on the CPU too: that is a real fault, not retried forever
    with pytest.raises(torch.cuda.OutOfMemoryError):
        batcher.push(Stream(full, 16000), audio[:320])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_asking_for_cuda_without_a_gpu_runs_on_the_cpu_with_a_warning(caplog):
    from blendshape.net.stream import pick_device

    with caplog.at_level("WARNING", logger="blendshape.net.engine"):
        assert pick_device("cuda").type == "cpu"
    assert "no CUDA GPU" in caplog.text
    assert pick_device(None).type == "cpu" and pick_device("cpu").type == "cpu"
