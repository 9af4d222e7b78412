"""What the user heard of a reply, given the engine's playback position."""

from bridge.dialogue.heard import CUT_MARK, SpokenReply
from bridge.speech.sentences import SentenceStream


def reply() -> SpokenReply:
    r = SpokenReply()
    r.add(0.0, 1.0, "Hello there.")
    r.add(1.0, 3.0, "I can tell you about the harbour and the old lighthouse.")
    return r


def test_nothing_played_nothing_heard():
    assert reply().heard(0.0) == ""


def test_whole_sentences_up_to_the_position():
    assert reply().heard(1.0) == "Hello there."
    assert reply().heard(99.0) == reply().full_text()


def test_a_sentence_cut_midway_keeps_the_words_played_and_a_mark():
    heard = reply().heard(2.0)  # half of the second sentence's 11 words
    assert heard == "Hello there. I can tell you about" + CUT_MARK


def test_sentences_stream_out_as_soon_as_the_next_begins():
    stream = SentenceStream()
    text = "Hi! I am Ada. Dr. Who paid 3.14 dollars. Bye"
    out = []
    for ch in text:
        out.extend(stream.push(ch))
    assert out == ["Hi!", "I am Ada.", "Dr. Who paid 3.14 dollars."]
    assert stream.flush() == ["Bye"]


def test_a_long_first_sentence_is_released_at_its_first_clause():
    stream = SentenceStream(first_max_chars=40)
    text = "Well, as I was saying to the captain yesterday, the sea was rough. Next one."
    out = []
    for i in range(0, len(text), 5):
        out.extend(stream.push(text[i:i + 5]))
    out.extend(stream.flush())
    assert out[0] == "Well, as I was saying to the captain yesterday,"
    assert " ".join(out) == text
