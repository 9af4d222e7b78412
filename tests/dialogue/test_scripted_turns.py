"""Turn-taking end to end on scripted ears, in virtual time (see ``scripted.py``).

The real session, speech pipeline, voice, dialogue, turn machine, persona and memory; the
detector scores loudness, the recognizer reads a script, and one virtual clock paces both
the character's speech and the user's microphone. So barge-in, a cough and a pause mid-
question are timed to the frame, without a wall clock, without flite, in milliseconds.
"""

from __future__ import annotations

import numpy as np

from bridge.protocol import messages as m
from tests.dialogue.scripted import ScriptedDialogue, hiss, tone


async def _story_playing(h: ScriptedDialogue, until: float) -> None:
    await h.open()
    await h.session.handle(m.Chat(text="tell me a long story"))
    await h.until(lambda: any(a.t >= until for _, a in h.of(m.Audio, id="r1")))


async def test_barge_in_stops_the_reply_and_memory_keeps_only_what_was_heard(registry):
    h = ScriptedDialogue(registry, ["wait, stop please"])

    async def scenario() -> float:
        await _story_playing(h, until=2.0)
        # The engine reports it has played 1.5 s of the reply when the user starts talking.
        await h.session.handle(m.Playback(id="r1", state="position", position=1.5))
        start = await h.say(np.concatenate([tone(1.0), hiss(1.0)]))
        await h.until(lambda: bool(h.of(m.Utterance, id="r1", state="end")))
        return start

    speech_start = await h.clock.run(scenario())
    await h.close()
    (clear_at, _), = h.of(m.Clear, id="r1")
    assert h.of(m.Utterance, id="r1", state="end")[0][1].reason == "interrupted"
    # The character stops once the speech is long enough to count, within a detector frame.
    min_barge_in = h.services.config.turn.min_barge_in
    assert min_barge_in <= clear_at - speech_start <= min_barge_in + 0.07
    heard = [text for role, text in h.memory() if role == "assistant"]
    assert heard and heard[-1].startswith("Once upon a time") and heard[-1].endswith("…")
    assert "whole town" not in heard[-1]  # the end of the story was never heard


async def test_a_cough_does_not_interrupt_the_character(registry):
    h = ScriptedDialogue(registry, ["hm"])

    async def scenario() -> None:
        await _story_playing(h, until=1.0)
        await h.say(np.concatenate([tone(0.1), hiss(0.6)]))  # 100 ms of sound
        await h.until(lambda: bool(h.of(m.Utterance, id="r1", state="end")))

    await h.clock.run(scenario())
    await h.close()
    assert h.of(m.Utterance, id="r1", state="end")[0][1].reason == "done"
    assert not h.of(m.Clear) and not h.of(m.Transcript, final=True)  # no turn, nothing answered


async def test_a_pause_mid_question_is_continued_not_answered_twice(registry):
    h = ScriptedDialogue(registry, ["What is", "your name?"], user="pauser")

    async def scenario() -> None:
        await h.open()
        # 0.5 s is longer than end_silence: the turn ends and a reply starts, then the user
        # goes on speaking.
        await h.say(np.concatenate([hiss(0.3), tone(0.4), hiss(0.5), tone(0.5), hiss(1.2)]))
        await h.until(lambda: any(r.final and "Ada" in r.text for _, r in h.of(m.Reply)))

    await h.clock.run(scenario())
    await h.close()
    finals = [t.text for _, t in h.of(m.Transcript, final=True)]
    assert finals == ["What is", "your name?"]
    ends = h.of(m.Utterance, state="end")
    assert ends and ends[0][1].reason == "interrupted"  # the premature reply was cut
    users = [text for role, text in h.memory() if role == "user"]
    assert users == ["What is your name?"]  # one turn, both halves


async def test_a_spoken_question_is_transcribed_and_answered_in_the_characters_voice(registry):
    h = ScriptedDialogue(registry, ["What is your name?"])

    async def scenario() -> None:
        await h.open()
        await h.say(np.concatenate([hiss(0.3), tone(0.8), hiss(1.0)]))
        await h.until(lambda: bool(h.of(m.Utterance, state="end")))

    await h.clock.run(scenario())
    await h.close()
    (heard_at, transcript), = h.of(m.Transcript, final=True)
    assert transcript.text == "What is your name?"
    reply = [r for _, r in h.of(m.Reply, final=True)][-1]
    assert "Ada" in reply.text
    first_audio = h.of(m.Audio)[0][0]
    assert first_audio >= heard_at  # spoken after the question was heard, never before
    assert h.of(m.Utterance, state="end")[-1][1].reason == "done"
