"""``talkbridge say``, ``animate`` and ``voices``: speech and face curves to files, and the voices."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from blendshape.animator import ANIMATORS
from bridge.cli.args import (
    emotion_arg,
    positive_fps,
)

log = logging.getLogger("talkbridge")


def add_say(sub) -> None:
    """``talkbridge say``."""
    say = sub.add_parser("say", help="speak a text to files: .wav, .json, .csv, .a2f.json, .gltf, .glb")
    say.add_argument("text")
    say.add_argument("--voice", help="voice id (see `talkbridge voices`)")
    say.add_argument("--lang", help="language, e.g. en, de, cmn; picks a voice")
    say.add_argument("--fps", type=positive_fps, default=60)
    say.add_argument("--emotion", help="e.g. happy, or happy=0.6,surprised=0.4")
    say.add_argument("--seed", type=int, default=0, help="seed of blinks and gaze")
    say.add_argument("--animator", choices=ANIMATORS, default="auto",
                     help="auto: the voice's exact phoneme timings (the network's teacher), the "
                          "network for a voice without them; network: the network hears the "
                          "audio; procedural: timings only")
    say.add_argument("--weights", type=Path, help="network weights (default: the shipped ones)")
    say.add_argument("-o", "--output", action="append", required=True, type=Path,
                     help="output file; repeat for several (.wav, .json, .csv, .a2f.json, .gltf, .glb)")



def add_animate(sub) -> None:
    """``talkbridge animate``."""
    animate = sub.add_parser("animate", help="any speech audio → face curves files (the network)")
    animate.add_argument("audio", type=Path, help="wav, flac, ogg or mp3")
    animate.add_argument("--fps", type=positive_fps, default=60)
    animate.add_argument("--seed", type=int, default=0, help="seed of blinks and gaze")
    animate.add_argument("--quality", choices=("realtime", "offline"), default="offline",
                         help="offline (default): the model that hears the whole file through "
                              "Whisper's encoder, the best curves, most of all in noise; "
                              "realtime: the streaming network, as live audio gets it")
    animate.add_argument("--weights", type=Path, help="network checkpoint (default: the shipped "
                         "one of that quality)")
    animate.add_argument("-o", "--output", action="append", required=True, type=Path,
                         help="output file; repeat for several (.json, .csv, .a2f.json, .gltf, .glb)")



def add_voices(sub) -> None:
    """``talkbridge voices``."""
    voices = sub.add_parser("voices", help="list the voices of each TTS provider")
    voices.add_argument("--json", action="store_true")



def cmd_say(args: argparse.Namespace) -> int:
    from blendshape.export import files as export
    from bridge.cli.render import render, write_wav
    from bridge.server.host import default_registry

    outputs: list[Path] = args.output
    for path in outputs:
        if path.suffix.lower() == ".wav":
            continue
        try:
            export.curves_format(path)
        except ValueError:
            supported = ", ".join((".wav",) + tuple(export.SUPPORTED_EXTENSIONS))
            raise SystemExit(f"talkbridge say: cannot write {path}: use one of {supported}") from None
    result = render(default_registry(), args.text, voice=args.voice, lang=args.lang,
                    fps=args.fps, emotion=emotion_arg(args.emotion), seed=args.seed,
                    animator=args.animator, network=_lazy_network(args.weights))
    # A2F-style JSON names its sound track; point it at the .wav written beside it, if any.
    wav = next((p for p in outputs if p.suffix.lower() == ".wav"), None)
    for path in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".wav":
            write_wav(str(path), result.pcm, result.rate)
        else:
            export.write_curves(path, result.frames, result.fps, duration=result.duration,
                                track_path=str(wav.resolve()) if wav else "")
        print(f"wrote {path}")
    print(f"{result.duration:.2f} s of speech, {len(result.frames)} frames at {result.fps} fps, "
          f"voice {result.voice}")
    return 0


def _lazy_network(weights: Path | None):
    """``say``'s network, loaded at the first sentence that needs it: the offline quality
    model, since a file's sentences arrive whole (the realtime one where the ear is missing).
    Missing or corrupt weights: one warning, then None for every sentence (the timings
    animate them)."""
    loaded: list = []

    def animate(pcm, rate: int, fps: int):
        if not loaded:
            try:
                import torch

                from blendshape.net.stream import load_for_files

                loaded.append(load_for_files("offline", weights, torch.device("cpu")))
            except Exception as exc:  # noqa: BLE001 - any unloadable weights: the teacher speaks
                log.warning("no network (%s): the procedural animator animates this speech", exc)
                loaded.append(None)
        if loaded[0] is None:
            return None
        from blendshape.net.stream import animate_clip

        return animate_clip(loaded[0], pcm, rate, fps)
    return animate


def read_audio(path: Path):
    """Mono float audio and its rate from wav, flac, ogg or mp3 (libsndfile, from the
    soundfile wheel); a file that isn't audio, or holds none, is a one-line ValueError."""
    import numpy as np
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as exc:
        reason = str(exc).split(": ", 1)[-1].strip().rstrip(".")
        raise ValueError(f"{path}: not audio that can be read ({reason}): give a wav, flac, "
                         "ogg or mp3 file") from None
    if len(data) == 0:
        raise ValueError(f"{path}: holds no audio (0 samples)")
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)  # one channel: no copy
    return np.asarray(mono, np.float32), rate


def cmd_animate(args: argparse.Namespace) -> int:
    from blendshape import procedural
    from blendshape.export import files as export
    from blendshape.layers.life import LifeLayer
    from blendshape.net.stream import animate_clip, load_for_files

    for path in args.output:
        export.curves_format(path)  # refuses an unknown extension before any work
    audio, rate = read_audio(args.audio)
    frames = animate_clip(load_for_files(args.quality, args.weights), audio, rate, args.fps)
    times = np.arange(len(frames)) / args.fps
    LifeLayer(seed=args.seed).apply(frames, times, loudness=procedural.loudness(audio, rate, times))
    for path in args.output:
        path.parent.mkdir(parents=True, exist_ok=True)
        export.write_curves(path, frames, args.fps, duration=len(audio) / rate,
                            track_path=str(args.audio.resolve()))
        print(f"wrote {path}")
    print(f"{len(audio) / rate:.2f} s of audio, {len(frames)} frames at {args.fps} fps")
    return 0


def cmd_voices(args: argparse.Namespace) -> int:
    from bridge.server.host import default_registry

    registry = default_registry()
    voices = registry.voices()
    if args.json:
        print(json.dumps([{"id": v.id, "provider": v.provider, "name": v.name, "lang": v.lang,
                           "aliases": list(v.aliases)} for v in voices], indent=1))
        return 0
    for provider in sorted({v.provider for v in voices}, key=lambda p: p != "piper"):
        mine = [v for v in voices if v.provider == provider]
        print(f"{provider} ({len(mine)} voices)")
        for v in mine:
            default = "  (default)" if v.id == registry.default_voice else ""
            alias = f"  aliases: {', '.join(v.aliases)}" if v.aliases else ""
            print(f"  {v.id:32s} {v.lang:10s}{alias}{default}")
    return 0
