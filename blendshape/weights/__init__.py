"""The shipped checkpoints of the audio → face network and their model card (MODEL_CARD.md).

``talkbridge-a2f.pt`` streams (40 ms look-ahead): the server, live mode and ``audio_in``.
``talkbridge-a2f-offline.pt`` hears whole files through Whisper's encoder (``blendshape.net.ear_model``):
``talkbridge animate`` (its default quality, ``offline``).
"""

from pathlib import Path

DEFAULT_CHECKPOINT = Path(__file__).with_name("talkbridge-a2f.pt")
OFFLINE_CHECKPOINT = Path(__file__).with_name("talkbridge-a2f-offline.pt")
