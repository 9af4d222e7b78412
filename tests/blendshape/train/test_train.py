"""Training on real espeak-ng clips, a few steps: it learns, it resumes exactly, and the
offline quality model sees both ways. A short run so the training code can't rot."""

from __future__ import annotations

import functools
import io
import logging
from dataclasses import replace

import numpy as np
import pytest
import torch

from blendshape.net.ear_model import EarConfig, EarEngine
from blendshape.net.features import log_mel
from blendshape.net.model import REALTIME, AudioToFace, ModelConfig, OfflineOnly
from blendshape.net.stream import animate_clip, load_for_files, load_model
from blendshape.train.corpus import build_clip, load_shard
from blendshape.train.texts import COVERAGE
from blendshape.train.train import (
    InitMismatch,
    ResumeMismatch,
    TrainConfig,
    _examples,
    _moments,
    train,
)
from bridge.cli.app import main
from bridge.ops.progress import ProgressBar

TINY = ModelConfig(hidden=16)
TINY_OFFLINE = ModelConfig(hidden=16, kernel=5, lookahead=0, bidirectional=True)


@pytest.fixture(scope="module")
def clips(espeak, registry):
    out = []
    for lang in ("en-us", "de", "cmn"):
        _, voice = registry.resolve(voice=f"espeak:{lang}")
        text = COVERAGE[lang.split("-")[0]][0]
        out.append(build_clip(espeak.synthesize(text, voice), voice.id, lang, text))
    return out


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"steps": 6, "batch": 2, "crop": 60, "variants": 1, "threads": 1,
                          "checkpoint_every": 3, **kw})


@pytest.mark.parametrize("stack", [1, 2])
def test_loss_falls(clips, stack):
    losses: list[float] = []
    train(clips, _config(steps=40, lr=1e-2), replace(TINY, stack=stack), "cpu",
          progress=lambda d, t, loss: losses.append(loss))
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_a_fine_tune_starts_from_its_init_weights_and_their_normalization(clips, tmp_path):
    base = train(clips, _config(steps=20, lr=1e-2), TINY, "cpu")
    torch.save(base.checkpoint(), tmp_path / "base.pt")
    losses: list[float] = []
    tuned = train(clips[:1], _config(steps=2, lr=1e-6, init=str(tmp_path / "base.pt")), TINY,
                  "cpu", progress=lambda d, t, loss: losses.append(loss))
    assert torch.equal(tuned.mean, base.mean) and torch.equal(tuned.std, base.std)
    for a, b in zip(tuned.parameters(), base.parameters()):  # a tiny rate: barely moved
        assert torch.allclose(a, b, atol=1e-4)
    fresh: list[float] = []
    train(clips[:1], _config(steps=2, lr=1e-6), TINY, "cpu",
          progress=lambda d, t, loss: fresh.append(loss))
    assert losses[0] < fresh[0]  # it starts where the base ended, not from random weights
    with pytest.raises(InitMismatch, match="another shape.*hidden 16 → 24"):
        train(clips, _config(steps=1, init=str(tmp_path / "base.pt")), replace(TINY, hidden=24), "cpu")
    with pytest.raises(InitMismatch, match="not network weights"):
        train(clips, _config(steps=1, init=str(tmp_path / "missing.pt")), TINY, "cpu")
    with pytest.raises(InitMismatch, match="holds AudioToFace weights, not EarToFace"):
        train(clips, _config(steps=1, init=str(tmp_path / "base.pt")), EarConfig(hidden=16), "cpu")


class _Stop(Exception):
    pass


def _die_at_4(done: int, total: int, loss: float) -> None:
    """A kill after the step-3 checkpoint, before the next: the run loses step 4."""
    if done == 4:
        raise _Stop


def test_an_interrupted_run_resumes_to_the_same_weights(clips, tmp_path):
    straight = train(clips, _config(), TINY, "cpu", checkpoint=tmp_path / "a.ckpt")

    with pytest.raises(_Stop):
        train(clips, _config(), TINY, "cpu", checkpoint=tmp_path / "b.ckpt", progress=_die_at_4)
    assert torch.load(tmp_path / "b.ckpt", weights_only=False)["step"] == 3
    steps: list[int] = []
    resumed = train(clips, _config(), TINY, "cpu", checkpoint=tmp_path / "b.ckpt", resume=True,
                    progress=lambda d, t, loss: steps.append(d))
    assert steps == [4, 5, 6]
    for name, tensor in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, rtol=0, atol=1e-6, msg=name)
    assert not (tmp_path / "b.ckpt.tmp").exists()


def test_a_checkpoint_from_before_a_config_field_existed_resumes(clips, tmp_path):
    """A run started before an upgrade added a field (``stack``) goes on after it: the
    field had its default then."""
    path = tmp_path / "old.ckpt"
    with pytest.raises(_Stop):
        train(clips, _config(), TINY, "cpu", checkpoint=path, progress=_die_at_4)
    state = torch.load(path, weights_only=False)
    del state["model"]["config"]["stack"], state["run"]["warp"]
    torch.save(state, path)
    steps: list[int] = []
    train(clips, _config(), TINY, "cpu", checkpoint=path, resume=True,
          progress=lambda d, t, loss: steps.append(d))
    assert steps == [4, 5, 6]


def test_resume_refuses_a_checkpoint_of_another_run(clips, tmp_path):
    train(clips, _config(steps=3), TINY, "cpu", checkpoint=tmp_path / "c.ckpt")
    with pytest.raises(ResumeMismatch, match="seed 0 → 1"):
        train(clips, _config(steps=3, seed=1), TINY, "cpu", checkpoint=tmp_path / "c.ckpt", resume=True)
    with pytest.raises(ResumeMismatch, match="hidden 16 → 24"):
        train(clips, _config(steps=3), ModelConfig(hidden=24), "cpu", checkpoint=tmp_path / "c.ckpt",
              resume=True)


def test_the_offline_model_hears_the_future_and_the_realtime_one_does_not():
    torch.manual_seed(0)
    feats = torch.randn(1, 80, 80)
    later = feats.clone()
    later[:, 60:] += 3.0  # change only what comes after frame 60
    for config, hears in ((TINY_OFFLINE, True), (TINY, False), (replace(TINY, stack=2), False)):
        model = AudioToFace(config).eval()
        with torch.no_grad():
            a, b = model(feats)[0, :55], model(later)[0, :55]
        assert (not torch.allclose(a, b, atol=1e-6)) == hears, config


def test_the_offline_model_refuses_to_stream(tmp_path, caplog):
    model = AudioToFace(TINY_OFFLINE)
    with pytest.raises(OfflineOnly, match="cannot stream"):
        model.step(torch.zeros(1, 2, 80), model.initial_state(1))
    path = tmp_path / "offline.pt"
    torch.save(model.checkpoint(), path)
    with pytest.raises(OfflineOnly, match="--quality offline"):
        load_model(path, torch.device("cpu"))
    assert load_for_files("offline", path, torch.device("cpu")).config.bidirectional
    # Offline weights missing: one warning, then the realtime model.
    with caplog.at_level(logging.WARNING):
        fallback = load_for_files("offline", tmp_path / "missing.pt", torch.device("cpu"))
    assert not fallback.config.bidirectional and "using the realtime model" in caplog.text
    # Whole files animate with no delay to remove: frames cover the audio's duration.
    frames = animate_clip(load_for_files("offline", path, torch.device("cpu")),
                          np.zeros(16_000, np.float32), 16_000, 60)
    assert frames.shape == (60, 52 + 3 + 4 + 15)


def test_whisper_states_are_learnt_beside_the_face_and_left_out_of_the_weights(clips, tmp_path):
    """``states_weight``: a head on the top GRU layer learns Whisper's states of the audio
    it hears. It adds to the loss from the first step, the loss falls with it, the weights
    the run gives have exactly the tensors a run without it gives, and an interrupted run
    resumes to the same weights (the head resumes with it)."""
    plain: list[float] = []
    train(clips, _config(steps=1), TINY, "cpu", progress=lambda d, t, loss: plain.append(loss))
    losses: list[float] = []
    model = train(clips, _config(steps=40, lr=1e-2, states_weight=1.0), TINY, "cpu",
                  progress=lambda d, t, loss: losses.append(loss))
    assert losses[0] > plain[0] + 0.5  # the same first batch, plus ~1 of z-scored states
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert model.state_dict().keys() == AudioToFace(TINY).state_dict().keys()

    config = _config(states_weight=1.0)
    straight = train(clips, config, TINY, "cpu", checkpoint=tmp_path / "a.ckpt")
    with pytest.raises(_Stop):
        train(clips, config, TINY, "cpu", checkpoint=tmp_path / "b.ckpt", progress=_die_at_4)
    resumed = train(clips, config, TINY, "cpu", checkpoint=tmp_path / "b.ckpt", resume=True)
    for name, tensor in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, rtol=0, atol=1e-6, msg=name)
    with pytest.raises(ValueError, match="one frame a step"):
        train(clips, config, replace(TINY, stack=2), "cpu")


def test_train_cli_makes_loadable_weights_and_keeps_its_corpus(tmp_path, capsys):
    args = ["train", "--minutes", "0.1", "--steps", "3", "--batch", "2", "--threads", "1",
            "--viseme-weight", "1", "--hidden", "24", "--workdir", str(tmp_path / "work"), "--quality", "offline", "--out", str(tmp_path / "o.pt")]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "train [" in out.err and "3/3 100%" in out.err
    model = load_for_files("offline", tmp_path / "o.pt", torch.device("cpu"))
    assert isinstance(model, EarEngine) and model.config == EarConfig(hidden=24)  # only narrower
    frames = animate_clip(model, np.zeros(16_000, np.float32), 16_000, 60)
    assert frames.shape == (60, 52 + 3 + 4 + 15)
    with pytest.raises(OfflineOnly, match="hears whole files through Whisper"):
        load_model(tmp_path / "o.pt", torch.device("cpu"))  # never streams
    checkpoint = torch.load(tmp_path / "o.pt", weights_only=False)
    assert checkpoint["training"]["quality"] == "offline" and checkpoint["training"]["steps"] == 3
    assert checkpoint["training"]["viseme_weight"] == 1.0
    corpus = list((tmp_path / "work").glob("corpus-*.npz"))
    assert len(corpus) == 1 and not (tmp_path / "work" / "offline.ckpt").exists()
    # An earlier run's checkpoint is never silently overwritten.
    (tmp_path / "work" / "offline.ckpt").write_bytes(b"x")
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(args[:-2] + ["--out", str(tmp_path / "o2.pt"), "--resume"]) == 2  # not a checkpoint
    for extra in (["--stack", "2"], ["--warp", "0.1"], ["--states-weight", "0.5"]):
        with pytest.raises(SystemExit, match="--states-weight are for the realtime model"):
            main(args + extra)
    # A fine-tune from those weights keeps their shape; a file that isn't weights is one line.
    (tmp_path / "work" / "offline.ckpt").unlink()
    tuned = args[:-2] + ["--out", str(tmp_path / "o3.pt"), "--init", str(tmp_path / "o.pt"),
                         "--lr", "1e-4"]
    assert main(tuned) == 0
    checkpoint = torch.load(tmp_path / "o3.pt", weights_only=False)
    assert checkpoint["training"]["init"] == str(tmp_path / "o.pt") and checkpoint["training"]["lr"] == 1e-4
    with pytest.raises(SystemExit, match="--init .*not network weights"):
        main(tuned[:-4] + ["--init", str(tmp_path / "o.pt.missing")])
    # Offline weights don't fine-tune into the realtime file, nor the other way round.
    realtime = [a for a in tuned if a not in ("--quality", "offline")]
    with pytest.raises(SystemExit, match="offline model's weights: fine-tune them with --quality offline"):
        main(realtime)


def test_train_cli_distils_whisper_states_into_realtime_weights_of_the_same_shape(tmp_path):
    out = tmp_path / "r.pt"
    args = ["train", "--minutes", "0.1", "--steps", "2", "--batch", "2", "--threads", "1",
            "--hidden", "16", "--states-weight", "0.5", "--workdir", str(tmp_path / "work"),
            "--out", str(out)]
    assert main(args) == 0
    assert torch.load(out, weights_only=False)["training"]["states_weight"] == 0.5
    model = load_model(out, torch.device("cpu"))
    assert model.config == replace(REALTIME, hidden=16)  # hears and decides as the shipped weights
    assert model.state_dict().keys() == AudioToFace(model.config).state_dict().keys()
    # ...but learnt, as they did, on plain log-mel: its input normalization is the corpus's
    # plain features (the same clips and augmented copies), not the floored ones.
    corpus = load_shard(str(next((tmp_path / "work").glob("corpus-*.npz"))))

    def mean(denoise: bool) -> np.ndarray:
        heard = _examples(corpus, 2, np.random.default_rng(0), functools.partial(log_mel, denoise=denoise))
        return _moments([ex[0] for ex in heard])[0]

    plain, floored = mean(False), mean(True)
    apart = np.abs(plain - floored).max()  # 0.03-0.06 on these clips' noisy copies
    # Not exact: the run's examples are cut to Whisper's states' length, a frame or two.
    assert np.abs(model.mean.numpy() - plain).max() < apart / 5 < 1.0
    with pytest.raises(SystemExit, match="--states-weight needs one frame a step"):
        main(args + ["--stack", "2"])


def test_progress_bar_redraws_on_a_terminal_and_prints_tenths_in_a_log():
    now = [0.0]

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True
    tty, log_file = Tty(), io.StringIO()
    for stream in (tty, log_file):
        now[0] = 0.0
        bar = ProgressBar("train", stream, width=10, clock=lambda: now[0])
        for done in range(0, 101):
            bar(done, 100, "loss 1")
            now[0] += 0.5
    assert tty.getvalue().count("\r") == 101 and tty.getvalue().endswith("\n")
    lines = log_file.getvalue().splitlines()
    assert len(lines) == 11 and lines[0].startswith("train [..........] 0/100   0%")
    assert "50/100  50% 0:25 0:25 left" in lines[5]
    assert lines[-1].startswith("train [##########] 100/100 100% 0:50")
