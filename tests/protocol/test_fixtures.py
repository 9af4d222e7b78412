"""The golden messages the C++ and C# decoders read: present, current, small and consistent.

If a codec change alters a byte of any fixture, these tests fail; rerun
``python -m bridge.tools.fixtures`` only when the change is meant, and the plugins'
tests will then say whether they still agree.
"""

from __future__ import annotations

from pathlib import Path

import msgpack
import numpy as np
import pytest

from blendshape import rig
from bridge.protocol import codec
from bridge.protocol import messages as m
from bridge.tools import fixtures

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "protocol"
MESSAGES = fixtures.fixture_messages()


def read(stem: str) -> bytes:
    return (FIXTURE_DIR / f"{stem}.msgpack").read_bytes()


def decode(data: bytes) -> m.Message:
    kind = msgpack.unpackb(data, raw=False)["type"]
    return codec.decode_server(data) if kind in m.SERVER_TYPES else codec.decode_client(data)


def test_the_script_writes_into_tests_fixtures() -> None:
    assert fixtures.DEFAULT_DIR == FIXTURE_DIR


def test_every_message_type_has_a_fixture() -> None:
    kinds = {type(msg) for msg in MESSAGES.values()}
    assert kinds == set(m.CLIENT_TYPES.values()) | set(m.SERVER_TYPES.values())
    assert {"utterance_start", "utterance_end", "curves", "curves_f32"} <= set(MESSAGES)


def test_the_directory_holds_exactly_the_fixtures() -> None:
    on_disk = {path.stem for path in FIXTURE_DIR.glob("*.msgpack")}
    assert on_disk == set(MESSAGES)


@pytest.mark.parametrize("stem", sorted(MESSAGES))
def test_fixture_bytes_are_what_the_codec_writes(stem: str) -> None:
    data = read(stem)
    assert data == codec.encode(MESSAGES[stem])
    assert len(data) < 10_000


@pytest.mark.parametrize("stem", sorted(MESSAGES))
def test_fixture_decodes_to_its_message(stem: str) -> None:
    assert decode(read(stem)) == MESSAGES[stem]


def test_check_mode_agrees_and_writing_is_reproducible(tmp_path: Path) -> None:
    assert fixtures.main(["--check"]) == 0
    assert fixtures.main(["--check", str(tmp_path)]) == 1  # nothing there yet
    written = fixtures.write_fixtures(tmp_path)
    assert {p.name for p in written} == {f"{stem}.msgpack" for stem in MESSAGES}
    for path in written:
        assert path.read_bytes() == read(path.stem)
    assert fixtures.stale_fixtures(tmp_path) == []


def test_the_fixtures_are_one_consistent_session() -> None:
    hello, welcome = MESSAGES["hello"], MESSAGES["welcome"]
    assert isinstance(hello, m.Hello) and isinstance(welcome, m.Welcome)
    assert rig.resolve_channels(hello.channels) == welcome.channels
    assert (welcome.fps, welcome.audio_rate, welcome.encoding) == (
        hello.fps, hello.audio_rate, hello.encoding)
    for stem, encoding in (("curves", "f16"), ("curves_f32", "f32")):
        curves = decode(read(stem))
        assert isinstance(curves, m.Curves) and curves.n == 3
        frames = codec.decode_curves(curves.data, curves.n, len(welcome.channels), encoding)
        np.testing.assert_array_equal(frames, fixtures.curve_frames())  # exact: dyadic weights
    jaw = welcome.channels.index("jawOpen")
    assert fixtures.curve_frames()[:, jaw].tolist() == [0.25, 0.5, 0.375]


def test_curves_fixture_is_little_endian_half_floats() -> None:
    curves = decode(read("curves"))
    assert isinstance(curves, m.Curves)
    raw = np.frombuffer(curves.data, "<f2").reshape(3, 52)
    np.testing.assert_array_equal(raw, fixtures.curve_frames())
    assert 0 < np.count_nonzero(raw) < raw.size


def test_audio_fixture_is_ten_ms_of_a_440_hz_tone() -> None:
    audio = decode(read("audio"))
    assert isinstance(audio, m.Audio)
    pcm = codec.decode_pcm16(audio.data).astype(np.float64) / 32767.0
    assert len(pcm) == 480  # 10 ms at 48 kHz
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(480) / 48000)
    np.testing.assert_allclose(pcm, expected, atol=1 / 32767)
