"""Whisper's encoder states distilled into the realtime network while it trains.

Why: the realtime network has to stream with 40 ms of look-ahead, so it cannot hear through
Whisper's encoder (which attends over the whole clip) the way the offline model does, and on
voices it never heard it confuses vowels and misses closures in noise (model card). What it
can do is learn to *predict* those states from what it hears: a linear head on its top GRU
layer is trained to give Whisper tiny.en's states of the same audio, z-scored per dimension,
so the GRU is pushed to carry what 680k hours of real speech taught Whisper. The head is
dropped after training: the shipped weights, their size and their speed are unchanged.

A first CPU probe (a fine-tune from the shipped weights, beside an equal control, model card)
kept more closures at 10 dB with the states than without (+0.054 [+0.002, +0.134]). From
scratch (``talkbridge train --states-weight``) they gained on every condition at 6,000 steps
against an equal control; at the shipped 12,000 they kept the jaw in noise (+0.067 against
the shipped weights) but not the closures, so the shipped weights were made without them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from blendshape.net.ear import WIDTH
from blendshape.net.ear_model import EarFeatures


class StatesHead(nn.Module):
    """GRU outputs (B, T, hidden) → Whisper's states (B, T, 384), for the loss only.

    ``mean`` and ``std`` are the corpus's, per dimension: every dimension weighs the same in
    the loss, whatever its scale in the encoder."""

    def __init__(self, hidden: int, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, WIDTH)
        self.register_buffer("mean", torch.from_numpy(np.asarray(mean, np.float32)))
        self.register_buffer("std", torch.from_numpy(np.asarray(std, np.float32) + 1e-3))

    def loss(self, hidden: torch.Tensor, states: torch.Tensor, lead: int) -> torch.Tensor:
        """Mean squared error of the z-scored states, delayed by the network's look-ahead as
        its face targets are (output ``t + lead`` describes frame ``t``)."""
        hidden = hidden[:, lead:]
        states = states[:, : states.shape[1] - lead].float()
        return ((self.linear(hidden) - (states - self.mean) / self.std) ** 2).mean()


class WhisperStates:
    """Audio at 16 kHz → Whisper tiny.en's states at the network's 100 frames a second,
    noise-gated as the offline model hears them, as float16 (a 180-minute corpus in three
    versions is 2.5 GB of them, not 5)."""

    def __init__(self) -> None:
        self.features = EarFeatures("whisper")

    def __call__(self, audio16k: np.ndarray) -> np.ndarray:
        return self.features(audio16k).astype(np.float16)
