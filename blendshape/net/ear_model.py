"""The offline quality model: Whisper's ear and our log-mel → face, for whole clips.

Why: trained on the same corpus for the same steps, a head on Whisper tiny.en's encoder
states (:mod:`blendshape.net.ear`) heard the unseen flite voices far better than the same head
on log-mel, most of all through noise and a telephone band (model card, "The offline
quality model"). Whisper's encoder has heard 680k hours of real speech; our corpus is
synthetic. The encoder attends over the whole clip, so this model is for files and whole
sentences (``talkbridge animate --quality offline``); the streaming network stays for live.

Shape: log-mel (80) and the encoder's states (384) side by side at 100 fps → normalized →
two centred convolutions (kernel 5, 160 channels, GELU) → a bidirectional GRU (128 a
direction) → 67 logits a frame (52 ARKit weights, 15 visemes), as
:class:`blendshape.net.model.AudioToFace` gives. About 0.74 M parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from blendshape.net.decide import jaw_from_visemes, seal_decided_closures
from blendshape.net.denoise import spectral_gate
from blendshape.net.ear import WIDTH, WhisperEar
from blendshape.net.features import FRAME_RATE, N_MELS, SAMPLE_RATE, log_mel
from blendshape.net.model import N_OUT, AudioToFace
from blendshape.procedural import loudness

KIND = "ear"


@dataclass(frozen=True)
class EarConfig:
    inputs: str = "both"     # "both": log-mel and Whisper side by side; "whisper": Whisper's alone
    channels: int = 160
    hidden: int = 128
    lookahead: int = 0       # the training loss's delay: none, the model hears the whole clip
    bidirectional: bool = True  # never streams (what loaders check before streaming)
    decide_closures: bool = False  # lips seal where the top viseme is PP (net/decide.py)
    jaw_from_visemes: bool = False  # the jaw from the visemes and the loudness (net/decide.py)

    def __post_init__(self) -> None:
        if self.inputs not in ("both", "whisper"):
            raise ValueError(f"inputs {self.inputs!r}: 'both' or 'whisper'")

    @property
    def n_in(self) -> int:
        return WIDTH + (N_MELS if self.inputs == "both" else 0)


class EarToFace(nn.Module):
    """(B, T, n_in) features → (B, T, 67) logits; every frame hears the whole clip."""

    def __init__(self, config: EarConfig = EarConfig()) -> None:
        super().__init__()
        self.config = c = config
        self.register_buffer("mean", torch.zeros(c.n_in))
        self.register_buffer("std", torch.ones(c.n_in))
        self.conv1 = nn.Conv1d(c.n_in, c.channels, 5, padding=2)
        self.conv2 = nn.Conv1d(c.channels, c.channels, 5, padding=2)
        self.gru = nn.GRU(c.channels, c.hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * c.hidden, N_OUT)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = ((feats - self.mean) / self.std).transpose(1, 2)
        x = nn.functional.gelu(self.conv1(x))
        x = nn.functional.gelu(self.conv2(x)).transpose(1, 2)
        return self.out(self.gru(x)[0])

    activate = staticmethod(AudioToFace.activate)

    def param_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def checkpoint(self) -> dict:
        return {"kind": KIND, "config": asdict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict) -> "EarToFace":
        model = cls(EarConfig(**checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"])
        return model.eval()


def is_ear_checkpoint(checkpoint: dict) -> bool:
    return checkpoint.get("kind") == KIND


def model_from_checkpoint(checkpoint: dict) -> AudioToFace | EarToFace:
    """Either network from its checkpoint: the ear model where the checkpoint says so, else
    :class:`~blendshape.net.model.AudioToFace` (realtime, or the old bidirectional log-mel one)."""
    kind = EarToFace if is_ear_checkpoint(checkpoint) else AudioToFace
    return kind.from_checkpoint(checkpoint)


class EarFeatures:
    """Audio at 16 kHz → the features an :class:`EarConfig` model hears, (n, n_in) at 100 fps."""

    def __init__(self, inputs: str = "both", ear: WhisperEar | None = None) -> None:
        self.inputs = inputs
        self.ear = ear or WhisperEar()

    def __call__(self, audio16k: np.ndarray) -> np.ndarray:
        audio16k = spectral_gate(audio16k)  # steady noise out first (a no-op on clean audio)
        if self.inputs == "whisper":
            return self.ear.features(audio16k)
        mel = log_mel(audio16k)  # the states' frames exactly: one per 160 samples
        feats = np.empty((len(mel), mel.shape[1] + WIDTH), np.float32)
        feats[:, :mel.shape[1]] = mel
        if len(mel):  # the states go straight beside it, not through a concatenated copy
            self.ear.features(audio16k, out=feats[:, mel.shape[1]:])
        return feats


class EarEngine:
    """What ``load_for_files("offline")`` hands out for an ear checkpoint: whole clips only."""

    def __init__(self, model: EarToFace, ear: WhisperEar | None = None) -> None:
        self.model = model.eval()
        self.config = model.config
        self.features = EarFeatures(model.config.inputs, ear)

    @torch.no_grad()
    def weights(self, audio16k: np.ndarray) -> np.ndarray:
        """(len(audio) // 160, 67) activated weights at 100 fps."""
        feats = self.features(audio16k)
        if len(feats) == 0:
            return np.zeros((0, N_OUT), np.float32)
        logits = self.model(torch.from_numpy(np.ascontiguousarray(feats[None], np.float32)))[0]
        weights = self.model.activate(logits).numpy()
        if self.config.jaw_from_visemes:
            times = np.arange(len(weights)) / FRAME_RATE  # network frame i at i / 100 s
            weights = jaw_from_visemes(weights, loudness(audio16k, SAMPLE_RATE, times))
        return seal_decided_closures(weights) if self.config.decide_closures else weights
