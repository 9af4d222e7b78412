"""The command line as a user runs it: real processes, real files, real signals.

Every command of the newcomer issue runs here as a subprocess, each checked for its exit
code, its one line and no traceback: ``serve`` on a port out of range, in use, on an address
not this machine's, with a bad ``[session]`` setting (and, in tests/ops/test_reach.py, with
an unreachable provider); ``animate`` on a text file, a fake and an empty ``.wav``, and flac;
``voices`` into a closed pipe; ``--help``; ``chat`` with and without ``-v``.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from blendshape import rig

CLI = [sys.executable, "-m", "bridge.cli"]


def test_say_writes_wav_json_and_csv(tmp_path):
    out = [tmp_path / "hello.wav", tmp_path / "hello.json", tmp_path / "hello.csv"]
    proc = subprocess.run(CLI + ["say", "Papa bought a big blue boat."]
                          + [a for p in out for a in ("-o", str(p))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with wave.open(str(out[0])) as wav:
        rate, n = wav.getframerate(), wav.getnframes()
        pcm = np.frombuffer(wav.readframes(n), "<i2")
    assert rate == 22050 and wav.getnchannels() == 1
    duration = n / rate
    assert 1.0 < duration < 4.0 and np.abs(pcm).max() > 10000
    doc = json.loads(out[1].read_text())
    assert doc["format"] == "talkbridge.curves" and doc["version"] == 1 and doc["fps"] == 60
    assert doc["channels"] == list(rig.ARKIT52 + rig.VISEME_CHANNELS)
    assert abs(len(doc["frames"]) / 60 - duration) <= 1 / 60
    assert doc["duration"] == pytest.approx(duration, abs=1e-3)
    with open(out[2], newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:2] == ["Timecode", "BlendshapeCount"] and len(rows[0]) == 63
    assert set(rows[0][2:]) == set(rig.LIVELINK61)
    assert len(rows) - 1 == len(doc["frames"])


def test_say_animator_network_hears_the_audio_and_weights_that_fail_leave_the_timings(tmp_path):
    """``--animator network`` animates espeak's audio with the network instead of its exact
    timings; corrupt weights give one warning and the timings' curves, never a crash."""
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    runs = {"auto": [], "network": ["--animator", "network"],
            "corrupt": ["--animator", "network", "--weights", str(bad)]}
    frames, errs = {}, {}
    for name, extra in runs.items():
        path = tmp_path / f"{name}.json"
        proc = subprocess.run(CLI + ["say", "Papa bought a big blue boat.", "--voice", "espeak:en-us",
                                     "-o", str(path)] + extra, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        frames[name] = np.array(json.loads(path.read_text())["frames"])
        errs[name] = proc.stderr
    jaw = rig.ARKIT52.index("jawOpen")
    assert frames["auto"].shape == frames["network"].shape
    assert np.abs(frames["auto"] - frames["network"]).max() > 0.05
    assert np.corrcoef(frames["auto"][:, jaw], frames["network"][:, jaw])[0, 1] > 0.6
    assert np.array_equal(frames["corrupt"], frames["auto"])
    assert errs["corrupt"].count("no network") == 1 and "no network" not in errs["network"]


def test_say_fps_option(tmp_path):
    path = tmp_path / "x.json"
    subprocess.run(CLI + ["say", "Hello.", "--fps", "30", "-o", str(path)], check=True,
                   capture_output=True, timeout=120)
    assert json.loads(path.read_text())["fps"] == 30


def test_say_rejects_unknown_extension_and_voice(tmp_path):
    proc = subprocess.run(CLI + ["say", "Hi.", "-o", str(tmp_path / "x.mp4")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and ".json" in proc.stderr
    proc = subprocess.run(CLI + ["say", "Hi.", "--voice", "nobody", "-o", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "espeak:de" in proc.stderr


def test_voices_lists_piper_and_espeak():
    proc = subprocess.run(CLI + ["voices", "--json"], capture_output=True, text=True, timeout=60)
    voices = json.loads(proc.stdout)
    ids = {v["id"] for v in voices}
    assert "piper:en_US-joe-medium" in ids
    assert {"espeak:cmn", "espeak:de", "espeak:es", "espeak:fr-fr", "espeak:ja"} <= ids
    assert len(voices) > 100


def test_serve_shuts_down_cleanly_on_sigterm():
    proc = subprocess.Popen(CLI + ["serve", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        assert "ws://127.0.0.1:" in line, proc.stderr.read() if proc.poll() is not None else line
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_say_writes_a2f_json_and_glb_that_independent_readers_load(tmp_path):
    import pygltflib

    wav, a2f, glb = tmp_path / "s.wav", tmp_path / "s.a2f.json", tmp_path / "s.glb"
    subprocess.run(CLI + ["say", "Big blue boat.", "-o", str(wav), "-o", str(a2f), "-o", str(glb)],
                   check=True, capture_output=True, timeout=120)
    doc = json.loads(a2f.read_text())
    assert doc["facsNames"] == list(rig.ARKIT52) and doc["trackPath"] == str(wav.resolve())
    assert len(doc["weightMat"]) == doc["numFrames"] and doc["numPoses"] == 52
    gltf = pygltflib.GLTF2().load(str(glb))
    assert gltf.meshes[0].extras["targetNames"] == list(rig.ARKIT52)
    times = gltf.accessors[gltf.animations[0].samplers[0].input]
    assert times.count == doc["numFrames"]


@pytest.mark.parametrize("port", ["80000", "-5", "http"])
def test_serve_refuses_a_port_out_of_range_in_one_line_before_loading_anything(port):
    # 20 s: loading the models alone takes longer, so a refusal inside it came before them.
    run = subprocess.run(CLI + ["serve", "--port", port], capture_output=True, text=True,
                         timeout=20)
    assert run.returncode == 2
    err = run.stderr.strip().splitlines()
    assert err[-1].startswith("talkbridge serve: error: argument --port: ")
    assert "Traceback" not in run.stderr


def test_serve_on_a_port_in_use_exits_at_once_with_one_line():
    """Under a supervisor a server that hangs on a start-up error never comes back."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--port", str(port)],
                             capture_output=True, text=True, timeout=20)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        f"talkbridge serve: can't listen on 127.0.0.1:{port} (Address already in use): is "
        "another server there? Pick another --port, or stop it"]


@pytest.mark.parametrize("extra, table, wanted", [
    ([], '[session]\nlead = "x"\n', "talkbridge serve: [session] lead must be a number of at least "
                                     "0.001, not 'x'"),
    ([], "[session]\nleed = 0.3\n", "talkbridge serve: unknown key(s) in [session]: leed; valid: "),
    ([], "[session]\nmax_queue = 0\n", "talkbridge serve: [session] max_queue must be a whole "
                                        "number from 1 to 10000, not 0"),
    ([], "[sesion]\nlead = 0.3\n", "talkbridge serve: unknown table(s) in the config: [sesion]; valid: "),
    ([], "[server]\nprot = 8000\n", "talkbridge serve: unknown key(s) in [server]: prot; valid: "),
    ([], '[outputs]\nvmcc = "127.0.0.1"\n', "talkbridge serve: unknown key(s) in [outputs]: vmcc; valid: "),
    ([], "[gestures]\nnods = false\n", "talkbridge serve: unknown [gestures] key 'nods'; known: "
                                       "enabled, strength, curves, messages, nod, shake"),
    ([], "[gestures]\nstrength = 5\n", "talkbridge serve: gestures.strength must be a number "
                                       "from 0 to 2, not 5"),
    ([], '[scale]\nray = "127.0.0.1:1"\nnetwork_gpus = -1\n',
     "talkbridge serve: [scale] network_gpus -1: a number 0-8, the share of a GPU"),
    (["--host", "8.8.8.8"], "", "talkbridge serve: can't listen on 8.8.8.8:0 (Cannot assign "
                                 "requested address): it isn't an address of this machine"),
])
def test_serve_refuses_a_bad_setting_in_one_line_before_loading_anything(tmp_path, extra, table,
                                                                          wanted):
    config = tmp_path / "talkbridge.toml"
    config.write_text(table)
    run = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--port", "0", "--config",
                          str(config), *extra], capture_output=True, text=True, timeout=20)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(wanted), run.stderr
    assert "listening" not in run.stdout and "serving" not in run.stdout


@pytest.mark.parametrize("kind", ["text", "empty_wav", "fake_wav", "flac"])
def test_animate_reads_real_audio_and_refuses_anything_else_in_one_line(tmp_path, kind):
    """Not audio, a .wav that isn't one, a wav of no samples: one line, exit 2, no traceback.
    flac (libsndfile, in the soundfile wheel) works from a plain install."""
    import soundfile

    path = {"text": tmp_path / "passwd", "empty_wav": tmp_path / "empty.wav",
            "fake_wav": tmp_path / "fake.wav", "flac": tmp_path / "tone.flac"}[kind]
    if kind == "text":
        path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    elif kind == "fake_wav":
        path.write_bytes(b"ID3\x04" + bytes(400))  # an mp3 tag, named .wav
    elif kind == "empty_wav":
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16_000)
    else:
        t = np.arange(16_000) / 16_000
        soundfile.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * t), 16_000)
    run = subprocess.run(CLI + ["animate", str(path), "-o", str(tmp_path / "out.json"),
                                "--quality", "realtime"], capture_output=True, text=True, timeout=120)
    if kind == "flac":
        assert run.returncode == 0, run.stderr
        assert len(json.loads((tmp_path / "out.json").read_text())["frames"]) == 60
        return
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert lines[0].startswith(f"talkbridge animate: {path}: ")
    assert ("holds no audio" if kind == "empty_wav" else "give a wav, flac, ogg or mp3") in lines[0]


def test_a_closed_pipe_ends_a_listing_quietly():
    """`talkbridge voices | head`: the reader goes away, the writer stops without a word.
    ``true`` reads nothing and exits before Python has started, so every write fails."""
    run = subprocess.run(f'{sys.executable} -m bridge.cli voices | true; echo "${{PIPESTATUS[0]}}"',
                         shell=True, capture_output=True, text=True, timeout=120,
                         executable="/bin/bash")
    assert run.stderr == "" and run.stdout.strip() == "141"


def test_help_names_no_document_the_repository_lacks():
    run = subprocess.run(CLI + ["--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "DESIGN" not in run.stdout and "README" in run.stdout


def test_chat_keeps_logs_out_of_the_conversation_unless_asked(tmp_path):
    """Replies on stdout, and by default not one log line on stderr between them; -v logs."""
    def chat(*flags: str) -> subprocess.CompletedProcess:
        return subprocess.run(CLI + [*flags, "chat", "--no-audio", "--memory",
                                     str(tmp_path / "memory.db")], input="Hello there.\n",
                              capture_output=True, text=True, timeout=120)

    quiet, verbose = chat(), chat("-v")
    assert quiet.returncode == 0 and "Ada> " in quiet.stdout
    assert quiet.stderr == ""
    assert " INFO " in verbose.stderr or " DEBUG " in verbose.stderr
