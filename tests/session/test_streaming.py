"""The chunker pairs audio and frames on the same spans of the utterance clock."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.session.streaming import UtteranceChunker, frames_per_chunk


@pytest.mark.parametrize("fps,in_rate,out_rate", [(60, 22050, 48000), (30, 22050, 16000),
                                                  (60, 24000, 24000), (25, 16000, 44100)])
def test_chunks_tile_the_utterance(fps, in_rate, out_rate):
    chunker = UtteranceChunker(fps, out_rate, frames_per_chunk(fps))
    rng = np.random.default_rng(0)
    chunks = []
    total_in = 0
    n_frames = 0
    for seconds in (0.73, 1.31, 0.05):  # three "sentences"
        n = int(seconds * in_rate)
        total_in += n
        frames_needed = int(np.ceil(total_in / in_rate * fps - 1e-9)) - n_frames
        frames = np.arange(n_frames, n_frames + frames_needed, dtype=np.float32)[:, None]
        n_frames += frames_needed
        chunks += chunker.push(rng.uniform(-0.5, 0.5, n).astype(np.float32), in_rate, frames)
    chunks += chunker.finish()
    audio_pos, frame_pos = 0, 0
    for c in chunks:
        assert c.audio_t == pytest.approx(audio_pos / out_rate)
        assert c.curves_t == pytest.approx(frame_pos / fps)
        np.testing.assert_array_equal(c.frames[:, 0], np.arange(frame_pos, frame_pos + len(c.frames)))
        if len(c.frames):  # audio and frames cover the same span, to within one sample
            end_audio = (audio_pos + len(c.pcm)) / out_rate
            end_frames = (frame_pos + len(c.frames)) / fps
            if c is not chunks[-1]:
                assert end_audio == pytest.approx(end_frames, abs=1 / out_rate)
        audio_pos += len(c.pcm)
        frame_pos += len(c.frames)
    assert frame_pos == n_frames
    assert audio_pos == pytest.approx(total_in * out_rate / in_rate, abs=2)
    assert all(len(c.frames) == frames_per_chunk(fps) for c in chunks[:-2])
