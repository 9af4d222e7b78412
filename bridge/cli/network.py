"""``talkbridge eval`` and ``train``: measure the network on unseen voices, and train it."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

log = logging.getLogger("talkbridge")


def add_eval(sub) -> None:
    """``talkbridge eval``."""
    evaluate = sub.add_parser("eval", help="measure the network on flite voices it never heard")
    evaluate.add_argument("--quality", choices=("realtime", "offline"), default="realtime")
    evaluate.add_argument("--weights", type=Path)
    evaluate.add_argument("--json", action="store_true",
                          help="metrics as JSON, by condition → animator → metric")
    evaluate.add_argument("--degrade", type=_degradations, default=(), metavar="NAMES",
                          help="also measure on degraded audio, comma-separated: noise10 (pink "
                               "noise at 10 dB SNR), phone8k (telephone band, μ-law); clean is "
                               "always measured")
    evaluate.add_argument("--voices", type=_flite_voices, default=None, metavar="NAMES",
                          help="flite voices, comma-separated (default kal,awb,rms,slt)")
    evaluate.add_argument("--sentences", type=_sentences, default=None,
                          help="only the first N of the 8 sentences")
    evaluate.add_argument("--mandarin", action="store_true",
                          help="also a mandarin row: Kokoro's two shipped Mandarin voices, 8 "
                               "sentences, labelled by their own timings (talkbridge[kokoro])")
    evaluate.add_argument("--against", type=Path, action="append", default=[], metavar="WEIGHTS",
                          help="other weights to measure in the same run, each a row named "
                               "by its file (e.g. a candidate beside the shipped weights)")



def add_train(sub) -> None:
    """``talkbridge train``."""
    train = sub.add_parser("train", help="build the corpus from the embedded voices and train the network")
    train.add_argument("--minutes", type=float, default=None,
                       help="minutes of speech to synthesize (default 180; offline 105)")
    train.add_argument("--steps", type=int, default=None, help="default 12000; offline 3000")
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--variants", type=int, default=None,
                       help="augmented copies of each clip (default 2)")
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    train.add_argument("--warp", type=float, default=0.0,
                       help="warp each crop's spectrum by a random vocal-tract length within "
                            "±this (0.1: ±10 %%; 0: off)")
    train.add_argument("--viseme-weight", type=float, default=0.3,
                       help="share of the viseme cross-entropy in the loss")
    train.add_argument("--lookahead", type=_lookahead, default=None,
                       help="realtime model: frames of 10 ms it hears past the face it "
                            "animates, 0-8 (default 4: 40 ms)")
    train.add_argument("--hidden", type=_hidden, default=None,
                       help="width of the convolutions and GRU (default 192; offline: the "
                            "GRU's, 128): "
                            "wider fits better and runs slower, ~(width/192)² a stream")
    train.add_argument("--stack", type=_stack, default=None,
                       help="realtime model: 10 ms frames it hears and says per step (default "
                            "1; 2 runs the GRU at 50 steps a second: ~2× faster to train, "
                            "1.2-1.8× to run, worse on unseen voices, see the model card)")
    train.add_argument("--quality", choices=("realtime", "offline"), default="realtime",
                       help="realtime: the streaming model (40 ms look-ahead); offline: the "
                            "whole-file model on Whisper's encoder")
    train.add_argument("--workdir", type=Path, default=Path("talkbridge-train"),
                       help="where the corpus and resumable checkpoints go (default ./talkbridge-train)")
    train.add_argument("--resume", action="store_true", help="go on from the workdir's checkpoint")
    train.add_argument("--out", type=Path, default=None,
                       help="weights path (default: the shipped file of that quality)")
    train.add_argument("--init", type=Path, default=None,
                       help="fine-tune: start from these weights (their shape and input "
                            "normalization) instead of random ones")
    train.add_argument("--lr", type=float, default=2e-3,
                       help="peak learning rate of the cosine schedule (default 2e-3; a "
                            "fine-tune wants less, e.g. 5e-4)")
    train.add_argument("--states-weight", type=float, default=0.0,
                       help="realtime model: also learn to predict Whisper tiny.en's encoder "
                            "states of what it hears, this share of the loss (0.5 in the model "
                            "card's probe; 0: off); the shipped weights stay the same size")



def _degradations(text: str) -> tuple[str, ...]:
    """``noise10,phone8k`` → names; an unknown one is a usage error naming the valid ones."""
    from blendshape.train.degrade import UnknownDegradation, parse_names

    try:
        return parse_names(text)
    except UnknownDegradation as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _flite_voices(text: str) -> tuple[str, ...]:
    from bridge.tools.evaluation import FLITE_VOICES

    voices = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in voices if v not in FLITE_VOICES]
    if unknown or not voices:
        raise argparse.ArgumentTypeError(f"{','.join(unknown) or text!r}: choose from "
                                         f"{', '.join(FLITE_VOICES)} (comma-separated)")
    return voices


def _sentences(text: str) -> int:
    from bridge.tools.evaluation import EVAL_TEXTS

    count = int(text)
    if not 1 <= count <= len(EVAL_TEXTS):
        raise argparse.ArgumentTypeError(f"{count}: 1-{len(EVAL_TEXTS)} sentences")
    return count


def cmd_eval(args: argparse.Namespace) -> int:
    from blendshape.net.engine import ExportFailed, Int8Engine, OrtEngine
    from blendshape.net.stream import load_for_files
    from bridge.tools.evaluation import (
        CLEAN,
        EVAL_TEXTS,
        FLITE_VOICES,
        evaluate_conditions,
        format_differences,
        format_table,
        paired_differences,
    )

    against = {f"network:{path.stem}": load_for_files(args.quality, path) for path in args.against}
    network = load_for_files(args.quality, args.weights)
    if isinstance(network, OrtEngine):  # a CPU: live streams run these weights in 8 bits
        try:
            against = {"network_live_int8": Int8Engine(network.model), **against}
        except ExportFailed as exc:
            print(f"no 8-bit row ({exc})", file=sys.stderr)
    report = evaluate_conditions(network,
                                 (CLEAN, *args.degrade), voices=args.voices or FLITE_VOICES,
                                 texts=EVAL_TEXTS[:args.sentences], against=against)
    if args.mandarin:
        from bridge.tools.evaluation import kokoro_mandarin_clips

        mandarin = evaluate_conditions(load_for_files(args.quality, args.weights), (CLEAN,),
                                       against=against, clips=kokoro_mandarin_clips())
        report.metrics["mandarin"] = mandarin.metrics[CLEAN]
        report.per_clip["mandarin"] = mandarin.per_clip[CLEAN]
    print(json.dumps(report.metrics, indent=1) if args.json else format_table(report.metrics))
    if not args.json:  # is a difference between two rows more than the draw of the clips?
        print("\n" + format_differences(paired_differences(report.per_clip)))
    cost = ", ".join(f"{name} {s:.3f}" for name, s in report.seconds_per_clip.items())
    print(f"seconds a clip ({report.audio_seconds_per_clip:.2f} s of audio on average, per "
          f"condition): {cost}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from blendshape.net.ear_model import EarConfig
    from blendshape.net.model import REALTIME, ModelConfig
    from blendshape.train.train import TrainConfig, train
    from blendshape.weights import DEFAULT_CHECKPOINT, OFFLINE_CHECKPOINT
    from bridge.ops.progress import ProgressBar

    started = time.time()
    offline = args.quality == "offline"
    if offline and (args.lookahead or (args.stack or 1) > 1 or args.warp
                    or args.states_weight):  # before the corpus
        raise SystemExit("talkbridge train: --lookahead, --stack, --warp and --states-weight are "
                         "for the realtime model; the offline model hears the whole file "
                         "through Whisper")
    if args.states_weight and (args.stack or 1) > 1:
        raise SystemExit("talkbridge train: --states-weight needs one frame a step (no --stack)")
    if args.states_weight:  # the states need Whisper's weights: say so before the corpus
        from blendshape.net.ear import EarMissing, WhisperEar

        try:
            WhisperEar().load()
        except EarMissing as exc:
            raise SystemExit(f"talkbridge train: --states-weight: {exc}") from None
    init_config = _init_config(args.init, offline) if args.init is not None else None
    args.minutes = args.minutes if args.minutes is not None else (105.0 if offline else 180.0)
    args.steps = args.steps if args.steps is not None else (3000 if offline else 12000)
    state = args.workdir / f"{args.quality}.ckpt"
    if state.exists() and not args.resume:
        print(f"talkbridge train: {state} holds an earlier run's checkpoint: add --resume to go "
              "on from it, or delete it to start over", file=sys.stderr)
        return 2
    clips = _corpus(args, offline)
    variants = args.variants if args.variants is not None else 2
    config = TrainConfig(steps=args.steps, batch=args.batch, seed=args.seed, threads=args.threads,
                         variants=variants, warp=args.warp, viseme_weight=args.viseme_weight,
                         lr=args.lr, init=str(args.init) if args.init else "",
                         augment="noisy" if offline else "light",
                         states_weight=args.states_weight)
    shape = {k: v for k, v in (("lookahead", args.lookahead), ("hidden", args.hidden),
                               ("stack", args.stack)) if v is not None}
    if offline:  # the ear model has a width; look-ahead and stacking are the realtime model's
        shape = {k: v for k, v in shape.items() if k == "hidden"}
    # A realtime run from scratch learns on plain log-mel and is *given* the noise floor and the
    # closure decision afterwards, as the shipped weights were: learning on the floored
    # features cost closures (model card, "Whisper's states at the shipped length").
    model_config = EarConfig(**shape) if offline else replace(ModelConfig(), **shape)
    if init_config is not None:  # the init's shape; shape options that differ are refused
        model_config = replace(init_config, **shape)
    model = train(clips, config, model_config, checkpoint=state,
                  resume=args.resume, progress=_loss_bar(ProgressBar("train")))
    if not offline and init_config is None:  # hears and decides as the shipped weights
        model.config = replace(model.config, denoise=REALTIME.denoise,
                               decide_closures=REALTIME.decide_closures)
    out = args.out or (OFFLINE_CHECKPOINT if offline else DEFAULT_CHECKPOINT)
    _save_weights(out, model, clips, config, args.quality, started)
    state.unlink(missing_ok=True)  # finished: the next run starts fresh (the corpus stays)
    return 0


def _corpus(args: argparse.Namespace, offline: bool) -> list:
    """The workdir's corpus for these minutes and seed, built (and kept) if it isn't there:
    a resumed run trains on the clips it started with (Piper's draws differ run to run)."""
    from blendshape.train.corpus import load_shard, save_shard
    from bridge.ops.progress import ProgressBar
    from bridge.tools.training import OFFLINE_SHARES, SHARES, build_corpus, training_registry

    corpus = args.workdir / f"corpus-{args.minutes:g}min-seed{args.seed}.npz"
    if corpus.exists():
        clips = load_shard(str(corpus))
        print(f"corpus: {len(clips)} clips from {corpus}")
        return clips
    clips = build_corpus(training_registry(), args.minutes, seed=args.seed,
                         progress=ProgressBar("corpus (min)"),
                         shares=OFFLINE_SHARES if offline else SHARES)
    args.workdir.mkdir(parents=True, exist_ok=True)
    save_shard(str(corpus), clips)
    return clips


def _save_weights(out: Path, model, clips: list, config, quality: str, started: float) -> None:
    """The trained weights with how they were made (the model card reads these)."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = model.checkpoint()
    checkpoint["training"] = {
        "minutes": round(sum(c.duration for c in clips) / 60, 2), "clips": len(clips),
        "voices": sorted({c.voice for c in clips}), "steps": config.steps, "batch": config.batch,
        "variants": config.variants, "dropout": getattr(model.config, "dropout", 0.0),
        "warp": config.warp, "viseme_weight": config.viseme_weight, "lr": config.lr,
        "init": config.init, "augment": config.augment, "states_weight": config.states_weight,
        "seed": config.seed, "quality": quality, "seconds": round(time.time() - started),
        "torch": torch.__version__,
    }
    torch.save(checkpoint, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {model.param_count()} parameters, "
          f"sha256 {digest}) in {time.time() - started:.0f} s")


def _init_config(path: Path, offline: bool):
    """The model shape of the weights ``--init`` names, or a one-line exit (also when they
    are the other quality's: the run would write them over the wrong shipped file)."""
    import torch

    from blendshape.net.ear_model import EarConfig, model_from_checkpoint

    try:
        config = model_from_checkpoint(torch.load(path, map_location="cpu",
                                                  weights_only=False)).config
    except Exception as exc:  # noqa: BLE001 - missing, truncated, not weights
        raise SystemExit(f"talkbridge train: --init {path}: not network weights ({exc!r:.80})")
    if isinstance(config, EarConfig) != offline:
        theirs = "offline" if isinstance(config, EarConfig) else "realtime"
        raise SystemExit(f"talkbridge train: --init {path} holds the {theirs} model's weights: "
                         f"fine-tune them with --quality {theirs}")
    return config


def _hidden(text: str) -> int:
    width = int(text)
    if not 8 <= width <= 1024:
        raise argparse.ArgumentTypeError(f"{width}: the width is 8-1024 (the shipped model's is 192)")
    return width


def _stack(text: str) -> int:
    """A step of more than 4 frames would hold a frame back longer than the look-ahead."""
    frames = int(text)
    if not 1 <= frames <= 4:
        raise argparse.ArgumentTypeError(f"{frames}: 1-4 frames of 10 ms a step")
    return frames


def _lookahead(text: str) -> int:
    """At most 80 ms (DESIGN §5): a live face already lags its voice by the look-ahead."""
    frames = int(text)
    if not 0 <= frames <= 8:
        raise argparse.ArgumentTypeError(f"{frames} frames: the look-ahead is 0-8 frames of 10 ms")
    return frames


def _loss_bar(bar):
    """Training's (step, steps, loss) → the progress bar, with a smoothed loss as its note."""
    smoothed: float | None = None

    def report(done: int, total: int, loss: float) -> None:
        nonlocal smoothed
        smoothed = loss if smoothed is None else 0.98 * smoothed + 0.02 * loss
        bar(done, total, f"loss {smoothed:.4f}")
    return report
