from bridge.speech.sentences import split_sentences, streaming_pieces


def test_split_sentences():
    assert split_sentences("Hello there. How are you? Fine!") == ["Hello there.", "How are you?", "Fine!"]
    assert split_sentences("Dr. Smith paid 3.50 dollars. Then left.") == [
        "Dr. Smith paid 3.50 dollars.", "Then left."]
    assert split_sentences("你好。我们走吧！") == ["你好。", "我们走吧！"]
    assert split_sentences("  ") == []
    assert split_sentences("no end") == ["no end"]


def test_a_long_first_sentence_is_cut_after_its_first_clause():
    text = ("Well, as I was saying to the captain yesterday, the boat needs paint before the race. "
            "We start tomorrow.")
    assert streaming_pieces(text) == [
        "Well, as I was saying to the captain yesterday,",
        "the boat needs paint before the race.", "We start tomorrow."]
    assert streaming_pieces("Short one, really. Next.") == ["Short one, really.", "Next."]
