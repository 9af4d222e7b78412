"""Train the network on teacher clips: crops, augmentation, delayed targets. CPU or GPU.

The loss asks for three things a viewer notices: the right mouth shape (cross-entropy on the
ARKit weights, mouth channels weighted up), the right viseme (cross-entropy against the
teacher's distribution), and no jitter (L1 on frame-to-frame differences). With
``states_weight``, the realtime network also learns to predict Whisper's encoder states of
what it hears (:mod:`blendshape.train.distill`), through a head that is dropped afterwards.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from blendshape import rig
from blendshape.net.ear_model import EarConfig, EarFeatures, EarToFace, model_from_checkpoint
from blendshape.net.features import log_mel
from blendshape.net.model import N_ARKIT, AudioToFace, ModelConfig
from blendshape.train import augment
from blendshape.train.corpus import Clip
from blendshape.train.distill import StatesHead, WhisperStates

log = logging.getLogger(__name__)

_MOUTH = torch.tensor([2.0 if n.startswith(("jaw", "mouth", "tongue", "cheekPuff")) else 0.5
                       for n in rig.ARKIT52])


@dataclass
class TrainConfig:
    steps: int = 6000
    batch: int = 16
    crop: int = 300            # frames (3 s)
    lr: float = 2e-3
    variants: int = 2          # augmented copies of each clip, besides the clean one
    seed: int = 0
    threads: int = 0           # 0: torch's default
    checkpoint_every: int = 200  # steps between resumable checkpoints (when a path is given)
    warp: float = 0.0          # vocal-tract-length warp of each crop's spectrum, up to ±this
    viseme_weight: float = 0.3  # the viseme cross-entropy's share of the loss
    init: str = ""             # start from these weights (fine-tuning), not from random ones
    augment: str = "light"     # how much noise and telephone band (augment.PROFILES)
    states_weight: float = 0.0  # Whisper's states distilled into the realtime GRU (distill.py)


class ResumeMismatch(ValueError):
    """A checkpoint from a different run (model, steps, batch or seed) was asked to resume."""


#: What must match for a checkpoint to resume this run; threads and the interval may change.
_RUN_KEYS = ("steps", "batch", "crop", "lr", "variants", "seed", "warp", "viseme_weight", "init",
             "augment", "states_weight")

Progress = Callable[[int, int, float], None]  # (steps done, steps in all, last loss)


def _examples(clips: Sequence[Clip], variants: int, rng: np.random.Generator,
              featurize: Callable[[np.ndarray], np.ndarray] = log_mel, profile: str = "light",
              states: Callable[[np.ndarray], np.ndarray] | None = None
              ) -> list[tuple[np.ndarray, ...]]:
    """(features, targets) pairs: each clip clean and in ``variants`` augmented versions;
    with ``states``, (features, targets, Whisper's states of the same audio) triples."""
    out: list[tuple[np.ndarray, ...]] = []
    for clip in clips:
        versions = [(clip.audio, clip.targets)]
        for _ in range(variants):
            audio, targets, _ = augment.random_chain(clip.audio, clip.targets, rng, profile)
            versions.append((audio, targets))
        for audio, targets in versions:
            feats = featurize(audio)
            heard = states(audio) if states is not None else None
            n = min(len(feats), len(targets), len(heard) if heard is not None else len(feats))
            if n > 10:
                out.append((feats[:n], targets[:n]) if heard is None else
                           (feats[:n], targets[:n], heard[:n]))
    return out


def _batch(examples, size: int, crop: int, rng: np.random.Generator, warp: float = 0.0):
    """Random crops: (features, targets) tensors, and Whisper's states where examples have them."""
    feats, targets, states = [], [], []
    for i in rng.integers(0, len(examples), size):
        f, t, *s = examples[i]
        start = int(rng.integers(0, max(1, len(f) - crop)))
        f, t = f[start:start + crop], t[start:start + crop]
        s = [x[start:start + crop] for x in s]
        if warp:
            f = augment.warp_mel(f, float(rng.uniform(1 - warp, 1 + warp)))
        pad = crop - len(f)
        if pad:  # short clip: pad with its own silence (first frame) and rest targets
            f = np.concatenate([f, np.repeat(f[:1], pad, axis=0)])
            t = np.concatenate([t, np.repeat(t[-1:], pad, axis=0)])
            s = [np.concatenate([x, np.repeat(x[:1], pad, axis=0)]) for x in s]
        feats.append(f)
        targets.append(t)
        states += s
    out = (torch.from_numpy(np.stack(feats).astype(np.float32)),
           torch.from_numpy(np.stack(targets).astype(np.float32)))
    return out + (torch.from_numpy(np.stack(states).astype(np.float32)),) if states else out


def loss_fn(model: AudioToFace, feats: torch.Tensor, targets: torch.Tensor,
            viseme_weight: float = 0.3) -> torch.Tensor:
    lead = model.config.lookahead
    logits = model(feats)[:, lead:]
    targets = targets[:, : targets.shape[1] - lead]
    arkit_logits, arkit = logits[..., :N_ARKIT], targets[..., :N_ARKIT]
    weight = _MOUTH.to(logits.device)
    # Cross-entropy, not L1: sparse shapes (lip press, pucker) are 0 most of the time, and
    # an L1 fit predicts their median — never closing the lips. Cross-entropy fits the mean.
    shape = (torch.nn.functional.binary_cross_entropy_with_logits(
        arkit_logits, arkit, reduction="none") * weight).mean()
    pred = torch.sigmoid(arkit_logits)
    motion = ((pred.diff(dim=1) - arkit.diff(dim=1)).abs() * weight).mean()
    vis_log = torch.log_softmax(logits[..., N_ARKIT:], dim=-1)
    visemes = -(targets[..., N_ARKIT:] * vis_log).sum(-1).mean()
    return shape + 0.5 * motion + viseme_weight * visemes


def train(clips: Sequence[Clip], config: TrainConfig = TrainConfig(),
          model_config: ModelConfig | EarConfig = ModelConfig(), device: str | None = None, *,
          checkpoint: Path | None = None, resume: bool = False,
          progress: Progress | None = None) -> AudioToFace | EarToFace:
    """Train on ``clips``; with ``checkpoint``, save a resumable state every few hundred steps.

    ``resume`` continues from that file: model, optimizer, step and random state, so an
    interrupted run ends with the same weights as an uninterrupted one (on the same device
    and corpus — ``talkbridge train`` keeps the corpus beside the checkpoint for that).
    """
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    started = time.time()
    ear = isinstance(model_config, EarConfig)
    if config.states_weight and (ear or model_config.stack != 1):
        raise ValueError("states_weight distils Whisper's states into the realtime network "
                         "(one frame a step); the offline model hears them itself")
    examples = _examples(clips, config.variants, rng,
                         EarFeatures(model_config.inputs) if ear
                         else functools.partial(log_mel, denoise=model_config.denoise),
                         config.augment, WhisperStates() if config.states_weight else None)
    frames = sum(len(ex[0]) for ex in examples)
    log.info("%d examples, %.1f min of audio, features in %.0f s", len(examples),
             frames / 6000, time.time() - started)
    model = _initial_model(config, model_config, _moments([ex[0] for ex in examples])).to(dev)
    head = (StatesHead(model_config.hidden, *_moments([ex[2] for ex in examples])).to(dev)
            if config.states_weight else None)
    heard: list[torch.Tensor] = []  # the top GRU layer's outputs, for the states' loss
    hook = (model.gru.register_forward_hook(lambda module, args, out: heard.append(out[0]))
            if head is not None else None)
    params = [*model.parameters(), *(head.parameters() if head is not None else ())]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-4)
    first = 0
    if resume and checkpoint is not None and checkpoint.exists():
        first = _restore(checkpoint, model, opt, rng, config, head)
        log.info("resumed %s at step %d/%d", checkpoint, first, config.steps)
    for step in range(first, config.steps):
        lr = config.lr * 0.5 * (1 + math.cos(math.pi * step / config.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        feats, targets, *states = _batch(examples, config.batch, config.crop, rng, config.warp)
        heard.clear()
        loss = loss_fn(model, feats.to(dev), targets.to(dev), config.viseme_weight)
        if head is not None:
            loss = loss + config.states_weight * head.loss(heard[0], states[0].to(dev),
                                                           model.config.lookahead)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        done = step + 1
        if progress is not None:
            progress(done, config.steps, loss.item())
        elif step % 100 == 0 or done == config.steps:
            log.info("step %d/%d loss %.4f lr %.2e (%.0f s)", done, config.steps, loss.item(), lr,
                      time.time() - started)
        if checkpoint is not None and (done % config.checkpoint_every == 0 or done == config.steps):
            _save(checkpoint, model, opt, rng, config, done, head)
    if hook is not None:
        hook.remove()
    return model.cpu().eval()


class InitMismatch(ValueError):
    """``init`` weights whose shape differs from the model asked for."""


def _moments(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation over every frame, without one big copy."""
    total = sum(len(f) for f in arrays)
    s = sum(f.astype(np.float64).sum(axis=0) for f in arrays)
    s2 = sum((f.astype(np.float64) ** 2).sum(axis=0) for f in arrays)
    mean = s / total
    std = np.sqrt(np.maximum(s2 / total - mean ** 2, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


def _initial_model(config: TrainConfig, model_config: ModelConfig | EarConfig,
                   moments: tuple[np.ndarray, np.ndarray]) -> AudioToFace | EarToFace:
    """Random weights normalized to this corpus, or ``config.init``'s weights as they are.

    Fine-tuning keeps the init's normalization: its weights were learnt on those inputs, and
    a corpus with other statistics would shift every feature the network knows.
    """
    if not config.init:
        model = (EarToFace if isinstance(model_config, EarConfig) else AudioToFace)(model_config)
        model.mean.copy_(torch.from_numpy(moments[0]))
        model.std.copy_(torch.from_numpy(moments[1] + 1e-3))
        return model
    try:
        model = model_from_checkpoint(torch.load(config.init, map_location="cpu",
                                                 weights_only=False))
    except Exception as exc:  # missing, truncated or not weights
        raise InitMismatch(f"--init {config.init}: not network weights ({exc!r:.80})") from exc
    if type(model.config) is not type(model_config):
        raise InitMismatch(f"--init {config.init} holds {type(model).__name__} weights, not "
                           f"{'EarToFace' if isinstance(model_config, EarConfig) else 'AudioToFace'}"
                           " ones: fine-tune a model of the same kind")
    if isinstance(model_config, ModelConfig) and model.config.denoise != model_config.denoise:
        # Same shape, other front end: the weights learn to hear the floor taken off.
        model.config = replace(model.config, denoise=model_config.denoise)
    if model.config != model_config:
        differ = ", ".join(f"{k} {v} → {getattr(model_config, k)}"
                           for k, v in asdict(model.config).items() if getattr(model_config, k) != v)
        raise InitMismatch(f"--init {config.init} has another shape ({differ}): drop the shape "
                           "options, or train from scratch")
    return model.train()


def _run(config: TrainConfig) -> dict[str, object]:
    """The settings a checkpoint records and a resume must match."""
    fields = asdict(config)
    return {k: fields[k] for k in _RUN_KEYS}


def _save(path: Path, model: AudioToFace, opt: torch.optim.Optimizer, rng: np.random.Generator,
          config: TrainConfig, step: int, head: StatesHead | None = None) -> None:
    """Write the resumable state atomically: a kill mid-write leaves the previous one intact."""
    state = {"model": model.checkpoint(), "optimizer": opt.state_dict(), "step": step,
             "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
             "run": _run(config)}
    if head is not None:  # trained with the network, dropped from the weights it ships
        state["states_head"] = head.state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _restore(path: Path, model: AudioToFace, opt: torch.optim.Optimizer,
             rng: np.random.Generator, config: TrainConfig, head: StatesHead | None = None) -> int:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        # Fields added since the checkpoint was written had their defaults then: fill them.
        theirs = {**_run(replace(TrainConfig(), **state["run"])),
                  **asdict(type(model.config)(**state["model"]["config"]))}
    except Exception as exc:  # truncated, foreign or not a checkpoint at all
        raise ResumeMismatch(f"{path} is not a training checkpoint ({exc!r:.80}): delete it "
                             "to start over") from exc
    ours = {**_run(config), **asdict(model.config)}
    if theirs != ours:
        differ = ", ".join(f"{k} {theirs.get(k)} → {ours.get(k)}" for k in ours
                           if theirs.get(k) != ours.get(k))
        raise ResumeMismatch(f"{path} is from another run ({differ}): start over without "
                             "--resume, or resume with the options it was started with")
    model.load_state_dict(state["model"]["state_dict"])
    if head is not None:
        head.load_state_dict(state["states_head"])
    opt.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])
