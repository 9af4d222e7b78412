"""The browser viewer in real headless Chromium against a real server on loopback.

Screenshots of a closed-lip and an open-jaw moment land in test-artifacts/viewer/ so a
person can look at them.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bridge.server.host import Server, ServerConfig
from tests.viewer.cdp import Browser, find_chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "viewer"

if find_chromium() is None:
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; .ci/run must install it", pytrace=False)
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

STATE = """JSON.stringify({t: tb.ctx ? tb.ctx.currentTime : 0, playing: tb.state.playing,
  pos: tb.state.position, jaw: tb.state.face.jawOpen || 0, close: tb.state.face.mouthClose || 0,
  gap: tb.state.face.lipGap, blink: tb.state.face.blink, frames: tb.framesReceived,
  errors: tb.errors.map(e => e.code)})"""


@pytest.fixture
async def browser(registry):
    server = Server(ServerConfig(port=0), tts=registry)
    await server.start()
    browser = Browser()
    await browser.start(f"http://127.0.0.1:{server.port}/")
    try:
        yield browser
    finally:
        await browser.close()
        await server.stop()


# The two moments photographed: sealed lips on p/b, an open jaw on the vowels.
WANTED = {
    "closed-lips": lambda s: s["gap"] < 0.5 and s["close"] > 0.2,
    "open-jaw": lambda s: s["jaw"] > 0.35,
}


async def _poll(browser: Browser, condition: str, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await browser.evaluate(f"(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {condition}")


async def _frozen_shot(browser: Browser, name: str, wanted) -> dict | None:
    """Pause the audio clock (and with it the face), photograph the moment, resume.

    The face keeps moving between the sample that prompted the shot and the suspend taking
    effect, so the frozen state is checked again: a moment that no longer shows ``wanted``
    is not kept (None) and the caller waits for the next one.
    """
    import json

    await browser.evaluate("tb.ctx.suspend().then(() => true)")
    await asyncio.sleep(0.1)  # let a frame render at the frozen time
    state = json.loads(await browser.evaluate(STATE))
    if wanted(state):
        await browser.screenshot(ARTIFACTS / name)
    await browser.evaluate("tb.ctx.resume().then(() => true)")
    return state if wanted(state) else None


async def test_a_typed_sentence_is_spoken_with_the_mouth_in_sync(browser):
    import json

    await _poll(browser, "!!(tb.welcome && document.getElementById('voice').options.length > 100)")
    assert await browser.evaluate("tb.welcome.channels.length") == 52 + 3 + 4 + 15
    await browser.evaluate("document.getElementById('text').value = 'Papa bought a big blue boat.';"
                           "document.getElementById('say').click(); true")
    await _poll(browser, "tb.state.playing !== null")
    samples, shots = [], {}
    for _ in range(400):
        s = json.loads(await browser.evaluate(STATE))
        samples.append(s)
        if s["playing"] and s["pos"] is not None and s["pos"] > 0.05:
            for name, wanted in WANTED.items():
                if name not in shots and wanted(s):
                    shot = await _frozen_shot(browser, f"{name}.png", wanted)
                    if shot is not None:
                        shots[name] = shot
        if s["playing"] is None and len(samples) > 20 and samples[-2]["playing"] is None:
            break
        await asyncio.sleep(0.02)
    playing = [s for s in samples if s["playing"]]
    assert len(playing) > 20, samples[-5:]
    # Audio time advances while the utterance plays, and so does the utterance position.
    assert playing[-1]["t"] - playing[0]["t"] > 1.0
    assert playing[-1]["pos"] > playing[0]["pos"] + 1.0
    # The mouth changes with the curves: sealed lips on p/b, an open jaw on the vowels.
    assert shots.keys() == WANTED.keys(), (min(s["gap"] for s in playing), max(s["jaw"] for s in playing))
    assert shots["closed-lips"]["gap"] < 0.5 and shots["open-jaw"]["jaw"] > 0.35  # what the pictures show
    assert max(s["gap"] for s in playing) > 10 and min(s["gap"] for s in playing) < 0.5
    assert samples[-1]["frames"] > 80 and samples[-1]["errors"] == []
    assert browser.exceptions == []
    assert (ARTIFACTS / "closed-lips.png").stat().st_size > 5000


async def test_gestures_show_as_the_voice_reaches_them(browser):
    await _poll(browser, "!!tb.welcome")
    await browser.evaluate("document.getElementById('text').value = "
                           "\"Yes, absolutely. Do you really think so? I don't know.\";"
                           "document.getElementById('say').click(); true")
    await _poll(browser, "tb.state.playing !== null")
    badges = set()
    for _ in range(int(8.0 / 0.03)):
        text = await browser.evaluate("document.getElementById('gesture').hidden ? '' : "
                                      "document.getElementById('gesture').textContent")
        badges.update(word for word in ("nod", "tilt", "shrug") if word in text)
        if badges == {"nod", "tilt", "shrug"}:
            break
        await asyncio.sleep(0.03)
    assert badges == {"nod", "tilt", "shrug"}, await browser.evaluate("tb.gesturesShown.join(',')")
    shown = await browser.evaluate("tb.gesturesShown.join(',')")
    assert shown.index("nod") < shown.index("tilt") < shown.index("shrug")  # in the order spoken
    assert await browser.evaluate("tb.gesturesReceived") >= 3
    assert browser.exceptions == []


async def test_idle_face_blinks_between_utterances(browser):
    await _poll(browser, "!!tb.welcome")
    blinks = []
    for _ in range(int(7.0 / 0.03)):  # blinks come every 2-6 s
        blinks.append(await browser.evaluate("tb.state.face.blink || 0"))
        if max(blinks) > 0.8:
            break
        await asyncio.sleep(0.03)
    assert max(blinks) > 0.8
    assert browser.exceptions == []


@pytest.fixture
async def talking(registry):
    """A server with the dialogue loop and the viewer open on it; yields both."""
    from bridge.dialogue.config import DialogueConfig

    server = Server(ServerConfig(port=0, dialogue=DialogueConfig(memory=":memory:")),
                    tts=registry)
    await server.start()
    browser = Browser()
    await browser.start(f"http://127.0.0.1:{server.port}/")
    try:
        yield server, browser
    finally:
        await browser.close()
        await server.stop()


async def test_the_mic_button_streams_the_microphone_to_the_dialogue_loop(talking):
    """Chromium's fake microphone (a beep) goes out as 16 kHz mic messages while the button
    is on, the server's dialogue loop hears it, and the button off stops it."""
    server, browser = talking
    await _poll(browser, "!!tb.welcome")
    await browser.evaluate("document.getElementById('mic').click(); true")
    await _poll(browser, "tb.micSent > 15", timeout=20)
    assert await browser.evaluate("document.getElementById('mic').getAttribute('aria-pressed')") == "true"
    session = next(iter(server._sessions.values()))
    for _ in range(100):  # the dialogue loop loads its ears, then counts the audio it heard
        if session.dialogue is not None and session.dialogue.listener.mic_end > 1.0:
            break
        await asyncio.sleep(0.1)
    assert session.dialogue is not None and session.dialogue.listener.mic_end > 1.0
    await browser.evaluate("document.getElementById('mic').click(); true")
    await _poll(browser, "document.getElementById('mic').getAttribute('aria-pressed') === 'false'")
    sent = await browser.evaluate("tb.micSent")
    await asyncio.sleep(0.5)
    assert await browser.evaluate("tb.micSent") == sent  # off is off
    assert await browser.evaluate("tb.errors.map(e => e.code)") == []
    assert browser.exceptions == []


async def test_the_camera_button_shares_webcam_frames_with_the_dialogue_loop(talking):
    """Chromium's fake camera goes out as JPEG `image` messages: one as sharing starts (then
    every 5 s), one at once with Snap; the session keeps the newest for the next turn."""
    server, browser = talking
    await _poll(browser, "!!tb.welcome")
    await browser.evaluate("document.getElementById('camera').click(); true")
    await _poll(browser, "tb.cameraSent >= 1", timeout=20)
    assert await browser.evaluate("document.getElementById('camera').getAttribute('aria-pressed')") == "true"
    session = next(iter(server._sessions.values()))
    for _ in range(100):
        if session.dialogue is not None and session.dialogue.sight.latest is not None:
            break
        await asyncio.sleep(0.1)
    first = session.dialogue.sight.latest
    assert first is not None and first.media_type == "image/jpeg" and first.prompt is None
    assert 1000 < len(first.data) <= 512 * 1024
    assert first.taken <= session.clock() < first.taken + 5.0  # t: on the session clock
    (part,) = session.dialogue.sight.for_turn("what do you see", session.clock())
    assert part.data_url.startswith("data:image/jpeg;base64,/9j/")

    await browser.evaluate("document.getElementById('snap').click(); true")
    await _poll(browser, "tb.cameraSent >= 2")
    for _ in range(50):
        if session.dialogue.sight.latest is not first:
            break
        await asyncio.sleep(0.1)
    assert session.dialogue.sight.latest is not first and len(session.dialogue.sight) == 1

    await browser.evaluate("document.getElementById('camera').click(); true")
    await _poll(browser, "document.getElementById('camera').getAttribute('aria-pressed') === 'false'")
    assert await browser.evaluate("tb.camera === null")
    assert await browser.evaluate("tb.errors.map(e => e.code)") == []
    assert browser.exceptions == []
