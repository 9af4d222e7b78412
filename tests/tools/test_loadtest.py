"""``talkbridge loadtest``: the late-frame checker on synthetic times, and one short real run."""

from __future__ import annotations

import asyncio
import gc
import os

import pytest
import torch

from blendshape.net.model import AudioToFace, ModelConfig
from bridge.cli.app import main
from bridge.server.host import Server, ServerConfig
from bridge.tools import loadtest
from bridge.tools.load_checker import ClientView, Histogram, PlayoutChecker, Tally
from bridge.tools.load_options import LoadOptions, check_url
from bridge.tools.load_report import Sample, cpu_seconds, format_report, rss_mb, summarize_samples

# ---- the checker, on a virtual timeline -------------------------------------------------


def test_first_audio_starts_playback_one_buffer_later():
    checker = PlayoutChecker(buffer=0.3)
    first = checker.audio("u", 0.0, at=10.0)  # plays at 10.3
    assert (first.late, first.lead) == (0, pytest.approx(0.3))
    assert checker.audio("u", 0.5, at=10.79).late == 0   # plays at 10.8: 10 ms to spare
    late = checker.audio("u", 0.5, at=10.81)              # 10 ms after it should play
    assert late.late == 1 and late.lead == pytest.approx(-0.01)


def test_curves_rows_are_late_one_by_one():
    checker = PlayoutChecker(buffer=0.3)
    checker.audio("u", 0.0, at=10.0)
    # rows at t = 1.0, 1.05, 1.10 (20 fps) play at 11.30, 11.35, 11.40; arriving at 11.36
    verdict = checker.curves("u", 1.0, 3, 20.0, at=11.36)
    assert (verdict.frames, verdict.late) == (3, 2)
    assert checker.curves("u", 1.0, 3, 20.0, at=11.29).late == 0


def test_curves_before_any_audio_cannot_be_late():
    verdict = PlayoutChecker(buffer=0.3).curves("u", 0.0, 3, 60.0, at=99.0)
    assert (verdict.late, verdict.lead) == (0, None)


def test_audio_in_curves_are_due_one_buffer_after_the_client_sent_that_audio():
    checker = PlayoutChecker(buffer=0.3)
    checker.sent("a", 0.00, at=100.00)
    checker.sent("a", 0.02, at=100.02)
    checker.sent("a", 0.04, at=100.04)
    assert checker.curves("a", 0.02, 1, 60.0, at=100.31).late == 0   # due 100.32
    assert checker.curves("a", 0.02, 1, 60.0, at=100.33).late == 1
    assert checker.curves("a", 0.50, 1, 60.0, at=100.33).late == 0   # past the audio: the last send
    assert checker.curves("a", 0.50, 1, 60.0, at=100.35).late == 1


def test_client_view_counts_late_frames_by_source_and_hands_back_ends():
    tally = Tally(started=4.0)
    view = ClientView(buffer=0.3, tally=tally)
    view.ask("say", 9.5)
    assert view.receive({"type": "utterance", "id": "s1", "state": "start", "source": "say"}, 9.9) is None
    view.receive({"type": "audio", "id": "s1", "seq": 0, "t": 0.0, "data": b""}, 10.0)
    view.receive({"type": "curves", "id": "s1", "seq": 0, "t": 0.0, "fps": 60, "n": 3, "data": b""}, 10.0)
    view.receive({"type": "audio", "id": "s1", "seq": 1, "t": 0.05, "data": b""}, 10.5)  # 150 ms late
    view.receive({"type": "curves", "id": "idle", "seq": 0, "t": 3.0, "fps": 60, "n": 3, "data": b""}, 10.6)
    view.receive({"type": "error", "code": "queue_full", "message": "", "fatal": False}, 10.6)
    end = {"type": "utterance", "id": "s1", "state": "end", "source": "say", "reason": "done"}
    assert view.receive(end, 11.0) == end
    assert tally.frames == {"audio": 2, "curves": 3, "idle": 3}
    assert tally.late == {"say": 1}
    assert tally.worst_late == pytest.approx(0.15)
    # Where it fell: 6.5 s into the run, 50 ms into its utterance (a sentence boundary or
    # a stall of every stream shows up here).
    assert tally.late_events == [{"run_s": 6.5, "source": "say", "what": "audio",
                                  "utterance_t": 0.05, "frames": 1, "late_ms": 150.0}]
    assert tally.errors == {"queue_full": 1}
    assert tally.response["say"].percentile(50) == 500.0


def test_histogram_percentiles_at_one_ms():
    hist = Histogram()
    for ms in range(1, 101):
        hist.add(ms / 1000)
    assert hist.percentile(50) == 50.0 and hist.percentile(99) == 99.0
    assert Histogram().percentile(50) is None


# ---- /proc parsing and the report ---------------------------------------------------------

def test_proc_parsing():
    stat = "4242 (python -m (x)) S 1 2 3 4 5 6 7 8 9 10 300 100 20 30 20 0 1"
    assert cpu_seconds(stat, ticks=100) == pytest.approx(4.5)
    assert rss_mb("Name:\tpython\nVmRSS:\t  2048 kB\n") == 2.0
    with pytest.raises(ValueError):
        rss_mb("Name:\tzombie\n")


def test_rss_growth_is_measured_after_warm_up():
    """Median of the second tenth against median of the last tenth of the load."""
    samples = [Sample(t, cpu=t * 0.5, rss=100.0 if t < 10 else 200.0 + t) for t in range(101)]
    summary = summarize_samples(samples, seconds=100)
    assert summary["rss_mb"]["first"] == 215.0 and summary["rss_mb"]["last"] == 295.0
    assert summary["rss_mb"]["growth_percent"] == pytest.approx(100 * 80 / 215, abs=0.01)
    assert summary["cpu_percent"] == {"mean": 50.0, "max": 50.0}
    assert summarize_samples(samples[:1], seconds=100) is None


def test_a_sawing_rss_with_no_trend_has_no_growth_and_closing_time_is_not_the_show():
    """RSS that saws between 780 and 860 MB has not grown, wherever the end sample falls;
    a jump while the clients close (after the run) shows in ``max`` only."""
    saw = [Sample(t, cpu=t, rss=780.0 + 80.0 * ((t % 30) / 29)) for t in range(600)]
    closing = [Sample(600.5, cpu=600.5, rss=900.0), Sample(601.5, cpu=601.5, rss=950.0)]
    summary = summarize_samples(saw + closing, seconds=600)
    assert abs(summary["rss_mb"]["growth_percent"]) < 1.0
    assert summary["rss_mb"]["max"] == 950.0
    leaking = [Sample(s.t, s.cpu, s.rss + 0.1 * s.t) for s in saw]  # +54 MB over the run
    assert summarize_samples(leaking, seconds=600)["rss_mb"]["growth_percent"] > 5.0


def test_bounds_and_loopback():
    with pytest.raises(ValueError, match="1 to 500"):
        LoadOptions(sessions=501)
    with pytest.raises(ValueError, match="--mix"):
        LoadOptions(mix=("say", "sing"))
    check_url("ws://127.0.0.1:9/v1/stream", allow_remote=False)
    check_url("ws://localhost:9/v1/stream", allow_remote=False)
    check_url("ws://[::1]:9/v1/stream", allow_remote=False)
    with pytest.raises(ValueError, match="loopback"):
        check_url("ws://10.1.2.3:9/v1/stream", allow_remote=False)
    check_url("ws://10.1.2.3:9/v1/stream", allow_remote=True)
    assert LoadOptions(sessions=5).kind(4) == "audio_in"


def test_a_drop_says_which_side_closed():
    from types import SimpleNamespace as NS

    from websockets.frames import Close

    def ws(rcvd, sent):
        return NS(protocol=NS(close_rcvd=rcvd, close_sent=sent))

    assert loadtest._close_story(ws(Close(1001, "going away"), None)) == "server closed 1001 going away"
    assert loadtest._close_story(ws(None, Close(1011, "keepalive ping timeout"))) == \
        "client closed 1011 keepalive ping timeout"
    assert loadtest._close_story(ws(None, None)) == "connection lost (no close frame)"


def test_cli_refuses_too_many_sessions_and_remote_urls(capsys):
    assert main(["loadtest", "--sessions", "501"]) == 2
    assert main(["loadtest", "--url", "ws://192.0.2.1:8765/v1/stream"]) == 2
    assert "loopback" in capsys.readouterr().err


# ---- one short run against an in-process server -----------------------------------------

@pytest.fixture
async def server(registry, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pt"
    torch.save(AudioToFace(ModelConfig(hidden=32)).checkpoint(), weights)
    srv = Server(ServerConfig(port=0, weights=str(weights), warm_up=False), tts=registry)
    await srv.start()
    yield srv
    await srv.stop()


async def test_a_short_run_reports_every_kind_with_no_errors(server):
    opts = LoadOptions(sessions=3, seconds=4.0, pause=(0.1, 0.3), turn_timeout=30.0, grace=1.0)
    report = await loadtest.run_load(f"ws://127.0.0.1:{server.port}/v1/stream", opts,
                                     pid=os.getpid())
    assert set(report) >= {"sessions", "seconds", "messages", "frames", "late", "lead_ms",
                           "server", "errors", "dropped_connections", "client", "machine", "ok"}
    assert report["mix"] == {"say": 1, "audio_in": 1, "chat": 1}
    assert report["errors"] == {} and report["dropped_connections"] == 0
    assert report["frames"]["audio"] > 0 and report["frames"]["curves"] > 0
    assert report["frames"]["checked"] == report["frames"]["audio"] + report["frames"]["curves"]
    assert 0.0 <= report["late"]["share"] <= 1.0
    assert report["lead_ms"]["p50"] is not None
    assert report["elapsed_s"] < 4.0 + 3.0  # the run ends on time: turns are cut at the end
    assert set(report["first_frame_ms"]) == {"say", "audio_in", "chat"}
    server_stats = report["server"]
    assert server_stats["rss_mb"]["last"] > 0 and server_stats["cpu_percent"]["mean"] >= 0
    assert "late frames" in format_report(report)
    # The server's collections, scraped from its /metrics and told by generation.
    gc.collect(2)
    report["server_gc"] = await asyncio.to_thread(
        loadtest.gc_pauses, f"ws://127.0.0.1:{server.port}/v1/stream")
    full = report["server_gc"]["2"]
    assert full["count"] >= 1 and full["sum"] >= 0 and 0 <= full["over_50ms"] <= full["over_20ms"]
    assert "server gc 2  " in format_report(report)
    assert loadtest.gc_pauses("ws://127.0.0.1:9/v1/stream") is None  # nothing there


def test_a_busy_answer_ends_the_turn_and_is_counted_apart_from_faults():
    view = ClientView(0.3, Tally())
    view.ask("say", 0.96)
    end = view.receive({"type": "error", "code": "busy", "message": "the server is busy",
                        "fatal": False}, 1.0)
    assert end is not None and end["code"] == "busy"
    assert view.tally.turns["busy"] == 1 and not view.tally.errors
    assert view.tally.busy_answer.count == 1 and view.tally.busy_answer.percentile(50) == 40.0
    assert not view.tally.response  # a refusal is not a first frame
    assert view.receive({"type": "error", "code": "internal", "message": "x", "fatal": False},
                        1.1) is None
    assert view.tally.errors["internal"] == 1
