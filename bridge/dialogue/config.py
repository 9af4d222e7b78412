"""The dialogue loop's settings: the ``[dialogue]``, ``[vad]``, ``[asr]`` and ``[llm]`` tables.

Secrets never live here: providers take the *name* of an environment variable
(``api_key_env``, ``key_env``) and read it themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from bridge.dialogue.turns import TurnConfig, TurnConfigError

#: Microphone rates the server resamples from; anything else is refused with this list.
MIC_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)


class DialogueConfigError(ValueError):
    """A dialogue setting is wrong; the message names the key and what would be right."""


def default_memory_path() -> Path:
    """Where ``talkbridge serve`` keeps conversations between restarts."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "talkbridge" / "memory.sqlite3"


@dataclass(frozen=True)
class DialogueConfig:
    """Everything one server's dialogue loop needs to build its providers."""

    enabled: bool = True
    turn: TurnConfig = field(default_factory=TurnConfig)
    persona: str | None = None        # YAML file; None: the shipped persona
    memory: str = ":memory:"          # SQLite file, postgresql:// URL; ":memory:" forgets at exit
    voice: str | None = None          # TTS voice of replies; None: the server's default
    vad: Mapping[str, Any] = field(default_factory=lambda: {"provider": "silero"})
    asr: Mapping[str, Any] = field(default_factory=dict)  # no provider: default_asr_name()
    llm: Mapping[str, Any] = field(default_factory=lambda: {"provider": "persona"})
    asr_timeout: float = 5.0          # s for the final transcript after the user stops
    llm_timeout: float = 15.0         # s for the model's first token, and between tokens
    mic_burst: float = 1.0            # s of mic audio accepted ahead of real time
    max_history: int = 40             # messages of memory given to the model
    warm_up: bool = False             # load every provider at start (serve does)
    preemptive: bool | None = None    # prepare answers while the user pauses; None: persona only
    image_max_age: float = 60.0       # s a camera picture goes with the turns after it

    @classmethod
    def from_tables(cls, conf: Mapping[str, Any]) -> "DialogueConfig":
        """Build from a parsed TOML document (its dialogue-related tables)."""
        table = dict(conf.get("dialogue", {}))
        turn_keys = {f.name for f in fields(TurnConfig)}
        own_keys = {f.name for f in fields(cls)} - {"turn", "vad", "asr", "llm"}
        unknown = set(table) - turn_keys - own_keys
        if unknown:
            raise DialogueConfigError(
                f"unknown key(s) in [dialogue]: {', '.join(sorted(unknown))}; valid: "
                f"{', '.join(sorted(turn_keys | own_keys))}")
        try:
            turn = TurnConfig(**{k: float(v) for k, v in table.items() if k in turn_keys})
        except TurnConfigError as exc:
            raise DialogueConfigError(str(exc)) from None
        kwargs: dict[str, Any] = {k: v for k, v in table.items() if k in own_keys}
        for name in ("vad", "asr", "llm"):
            if name in conf:
                section = conf[name]
                if not isinstance(section, Mapping):
                    raise DialogueConfigError(f"[{name}] must be a table")
                kwargs[name] = dict(section)
        for key in ("asr_timeout", "llm_timeout", "mic_burst"):
            if key in kwargs and not 0 < float(kwargs[key]) <= 600:
                raise DialogueConfigError(f"dialogue.{key} = {kwargs[key]}: use 0 to 600 seconds")
        age = kwargs.get("image_max_age", 60.0)
        if isinstance(age, bool) or not isinstance(age, (int, float)) or not 0 <= age <= 86400:
            raise DialogueConfigError(f"dialogue.image_max_age = {age!r}: use 0 to 86400 seconds "
                                      "(how long a camera picture goes with the turns after it)")
        return cls(turn=turn, **kwargs)
