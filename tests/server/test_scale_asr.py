"""serve --ray: a turn's recognition (Whisper) on a Ray Serve replica of the real local
cluster of ``.ci/run``: a flite-spoken turn is heard by a Ray worker, one final call a turn,
partials come back while it is spoken, and a replica killed before the turn ends costs the
final call a retry."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from tests.dialogue.conftest import flite_speech

TURN = "Please open the red door."


@pytest.fixture(scope="module")
def recognizer(ray_address):
    """Whisper tiny.en (bundled) on half a CPU, deployed once for the module."""
    pytest.importorskip("faster_whisper")
    from ray import serve

    from bridge.server import scale_asr

    if not scale_asr.remote_provider({"provider": "whisper"}):
        pytest.skip("no whole-turn recognizer to deploy")
    handle = scale_asr.deploy({"provider": "whisper"}, cpus_per_replica=0.5)
    yield scale_asr.RemoteASR("whisper", handle)
    serve.delete(scale_asr.APP)


@pytest.fixture(scope="module")
def turn(tmp_path_factory):
    """The user's turn as the dialogue has it: float32 at 16 kHz, in 20 ms mic chunks."""
    pcm = flite_speech(TURN, tmp_path_factory.mktemp("flite")) / 32768.0
    return [pcm[i:i + 320].astype("float32") for i in range(0, len(pcm), 320)]


def _words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalpha() or c == " ").split()


def _hear(asr, chunks, prepare: bool = False) -> str:
    stream = asr.new_stream("en")
    for chunk in chunks:  # at once: a partial asked for has no time to come back
        stream.push(chunk)
    if prepare:  # the user paused: the pass starts before the turn ends
        stream.prepare()
    return stream.finish()


def test_a_flite_turn_is_transcribed_by_a_ray_worker(recognizer, turn):
    assert _words(_hear(recognizer, turn)) == _words(TURN)
    assert _words(_hear(recognizer, turn, prepare=True)) == _words(TURN)
    assert recognizer.replica_pids and os.getpid() not in recognizer.replica_pids


def test_partials_come_back_while_the_turn_is_spoken_and_never_hold_up_the_audio(
        recognizer, turn):
    """Pushed in real time, as the dialogue pushes a microphone: a greedy pass over the turn
    so far is asked for every second of audio and reported by a later push. No push waits
    for the cluster."""
    stream = recognizer.new_stream("en")
    partials, slowest = [], 0.0
    silence = [np.zeros(320, np.float32)] * 100  # the user's pause, 2 s
    start = time.monotonic()
    for k, chunk in enumerate([*turn, *silence]):
        began = time.monotonic()
        text = stream.push(chunk)
        slowest = max(slowest, time.monotonic() - began)
        if text is not None:
            partials.append(text)
        time.sleep(max(0.0, start + (k + 1) * 0.02 - time.monotonic()))
    assert partials, "no partial came back in 2 s of pause"
    assert _words(partials[0])[:2] == ["please", "open"]  # the turn's first second, heard there
    assert slowest < 0.1  # the push never waited for a pass (one takes ~0.3 s here)
    assert _words(stream.finish()) == _words(TURN)


def test_a_killed_recognizer_costs_the_turn_a_retry(recognizer, turn):
    import ray

    before = set(recognizer.replica_pids)
    stream = recognizer.new_stream("en")
    for chunk in turn:
        stream.push(chunk)
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if "Recognizer" in actor["name"]:
            ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=False)
    assert _words(stream.finish()) == _words(TURN)
    assert recognizer.replica_pids - before  # the restarted replica heard it
