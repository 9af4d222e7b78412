"""The audio → face network: causal convolutions + GRU with a fixed look-ahead.

Input: log-mel frames (``features.py``, 100 a second). Output per frame: the 52 ARKit weights
(sigmoid) and the 15 viseme weights (softmax). Frame i of the output describes the face at
frame i − ``lookahead``: the network hears ``lookahead`` frames (10 ms each) past the
moment it animates, which is all the future it needs to see a plosive coming, and the only
latency it adds beyond the 10 ms hop.

The streaming step is a pure function of (features, state) → (curves, state) with the state
an explicit tuple of tensors batched over streams (DESIGN §8): a batcher, or a remote
replica, can carry any stream's state without the model holding any.

``stack`` = s makes each step hear s frames side by side and say s frames: the GRU runs at
100/s steps a second, about twice as fast to train and 1.2–1.8× to run at s = 2, but the
20,000-step run of it heard unseen voices worse than the shipped stride of one (model card).

The same class with ``bidirectional=True`` was the first *offline quality* model:
centred convolutions and a bidirectional GRU on log-mel, so each frame sees the whole clip
both ways. It never shipped (every run closed the lips less reliably than this streaming
network); the shipped offline model hears through Whisper's encoder
(:mod:`blendshape.net.ear_model`). Such a checkpoint still loads for files with ``--weights``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from blendshape.net.features import LOG_FLOOR, N_MELS

N_ARKIT, N_VISEMES = 52, 15
N_OUT = N_ARKIT + N_VISEMES
State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # conv1 tail, conv2 tail, GRU hidden


@dataclass(frozen=True)
class ModelConfig:
    n_mels: int = N_MELS
    hidden: int = 192
    layers: int = 2
    kernel: int = 3
    lookahead: int = 4  # frames of 10 ms
    bidirectional: bool = False  # the offline model: whole clips only, context both ways
    dropout: float = 0.0  # training only: the offline model needs it to generalize
    stack: int = 1  # 10 ms frames per network step: 2 runs the GRU at 50 steps a second
    denoise: bool = False  # hears log-mel with the causal noise floor taken off (NoiseFloor)
    decide_closures: bool = False  # lips seal where the top viseme is PP (net/decide.py)

    def __post_init__(self) -> None:
        if self.stack < 1 or (self.bidirectional and self.stack != 1):
            raise ValueError(f"stack {self.stack}: 1 or more frames a step, and 1 for the "
                             "offline (bidirectional) model")


#: The shipped realtime model's: it hears through the causal noise floor and seals the lips
#: where its viseme head decides p/b/m. ``talkbridge train`` writes it into a realtime run's
#: weights from scratch, so new weights hear and decide as the shipped ones do; like them,
#: the run learns on plain log-mel and is given both afterwards (learning on the floored
#: features cost closures, clean and in noise: model card).
REALTIME = ModelConfig(denoise=True, decide_closures=True)

#: The offline quality model: the whole clip both ways, wider convolutions, no delay.
OFFLINE = ModelConfig(hidden=160, kernel=5, lookahead=0, bidirectional=True, dropout=0.3)


Frames = TypeVar("Frames", torch.Tensor, np.ndarray)


def pad_to_stack(feats: Frames, stack: int, dim: int = 0) -> Frames:
    """Silence after ``feats`` (numpy or torch) up to a whole number of ``stack``-frame steps.

    The model is causal, so frames after the end change nothing before it; callers drop
    the outputs the padding makes.
    """
    extra = -feats.shape[dim] % stack
    if not extra:
        return feats
    shape = list(feats.shape)
    shape[dim] = extra
    if isinstance(feats, torch.Tensor):
        return torch.cat([feats, torch.full(shape, math.log(LOG_FLOOR), dtype=feats.dtype,
                                            device=feats.device)], dim=dim)
    return np.concatenate([feats, np.full(shape, np.log(LOG_FLOOR), feats.dtype)], axis=dim)


class OfflineOnly(RuntimeError):
    """A bidirectional (offline quality) model was asked to stream."""


class AudioToFace(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("mean", torch.zeros(c.n_mels))
        self.register_buffer("std", torch.ones(c.n_mels))
        self.conv1 = nn.Conv1d(c.n_mels * c.stack, c.hidden, c.kernel)
        self.conv2 = nn.Conv1d(c.hidden, c.hidden, c.kernel)
        self.gru = nn.GRU(c.hidden, c.hidden, num_layers=c.layers, batch_first=True,
                          bidirectional=c.bidirectional, dropout=c.dropout if c.layers > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)  # identity unless training with dropout > 0
        self.head = nn.Linear(c.hidden * (2 if c.bidirectional else 1), N_OUT * c.stack)

    # ---- the one computation, shared by training, offline and streaming -----------------

    def initial_state(self, batch: int, device: torch.device | None = None) -> State:
        c = self.config
        device = device or self.mean.device
        silence = self.mean.repeat(c.stack).view(1, -1, 1).expand(batch, -1, c.kernel - 1)
        return (silence.to(device).clone(),
                torch.zeros(batch, c.hidden, c.kernel - 1, device=device),
                torch.zeros(c.layers, batch, c.hidden, device=device))

    def step(self, feats: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """(B, T, n_mels) log-mel frames → (B, T, 67) logits, carrying ``state`` across calls.

        The first ``kernel − 1`` steps of context come from the state (silence at the start),
        so cutting a clip into chunks changes nothing. With ``stack`` s, T must be a multiple
        of s: each step hears s frames side by side and says s frames
        (:class:`~blendshape.net.stream.Stream` holds a frame back until its partner comes).
        """
        if self.config.bidirectional:
            raise OfflineOnly("this is an offline quality model (bidirectional): it animates "
                              "whole files (`talkbridge animate --quality offline`) and cannot "
                              "stream; use the realtime weights for serve, live and audio_in")
        tail1, tail2, hidden = state
        stacked = ((feats - self.mean) / self.std).reshape(feats.shape[0], -1,
                                                           feats.shape[2] * self.config.stack)
        x = torch.cat([tail1, stacked.transpose(1, 2)], dim=2)
        k = self.config.kernel - 1
        h1 = torch.relu(self.conv1(x))
        y = torch.cat([tail2, h1], dim=2)
        h2 = torch.relu(self.conv2(y))
        out, hidden = self.gru(self.drop(h2).transpose(1, 2), hidden)
        logits = self.head(self.drop(out)).reshape(feats.shape[0], -1, N_OUT)
        return logits, (x[:, :, -k:], y[:, :, -k:], hidden)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Whole clips from silence: (B, T, n_mels) → (B, T, 67) logits (not yet delayed)."""
        if self.config.bidirectional:
            return self._both_ways(feats)
        frames = feats.shape[1]
        feats = pad_to_stack(feats, self.config.stack, dim=1)
        logits, _ = self.step(feats, self.initial_state(feats.shape[0], feats.device))
        return logits[:, :frames]

    def _both_ways(self, feats: torch.Tensor) -> torch.Tensor:
        """The offline model: silence on both sides of centred convolutions, then a BiGRU."""
        pad = (self.config.kernel - 1) // 2
        silence = torch.full((feats.shape[0], 2 * pad, feats.shape[2]), math.log(LOG_FLOOR),
                             dtype=feats.dtype, device=feats.device)
        padded = torch.cat([silence[:, :pad], feats, silence[:, pad:]], dim=1)
        x = ((padded - self.mean) / self.std).transpose(1, 2)
        h1 = torch.relu(self.conv1(x))
        h2 = torch.relu(self.conv2(nn.functional.pad(h1, (pad, pad))))
        out, _ = self.gru(self.drop(h2).transpose(1, 2))
        return self.head(self.drop(out))

    @staticmethod
    def activate(logits: torch.Tensor) -> torch.Tensor:
        """Logits → weights: sigmoid for ARKit, softmax for visemes."""
        return torch.cat([torch.sigmoid(logits[..., :N_ARKIT]),
                          torch.softmax(logits[..., N_ARKIT:], dim=-1)], dim=-1)

    def param_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def checkpoint(self) -> dict:
        return {"config": asdict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict) -> "AudioToFace":
        model = cls(ModelConfig(**checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"])
        return model.eval()
