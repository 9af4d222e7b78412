"""The shipped checkpoint of the audio → face network and its model card (MODEL_CARD.md)."""

from pathlib import Path

DEFAULT_CHECKPOINT = Path(__file__).with_name("talkbridge-a2f.pt")
