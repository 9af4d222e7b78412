"""The dialogue loop's shared providers, loaded once per server and only when first needed.

A server that only ever gets ``say`` should not pay for a speech recognizer, so listening
(VAD + ASR) and answering (LLM, persona, memory) load separately, on the first ``mic`` or
``chat``; ``serve`` warms both up before it opens the port.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.dialogue.config import DialogueConfig
from bridge.protocol import errors as err

log = logging.getLogger(__name__)


@dataclass
class Listening:
    vad: Any  # VADProvider
    asr: Any  # ASRProvider


@dataclass
class Answering:
    llm: Any                 # LLMProvider
    persona: Any             # Persona | None
    memory: Any              # ConversationMemory | None
    llm_is_persona: bool


class DialogueServices:
    """Builds the providers named in the config, once, off the event loop."""

    def __init__(self, config: DialogueConfig,
                 executor: concurrent.futures.Executor | None = None,
                 listening: Listening | None = None, asr: Any = None) -> None:
        """``listening``: a detector and recognizer to use instead of the config's (a test's
        scripted pair, or providers the host built itself); ``asr``: only the recognizer
        (one whose turns are heard on a Ray cluster, :mod:`bridge.server.scale_asr`)."""
        self.config = config
        self._executor = executor
        self._asr = asr
        self._listening: Listening | None = listening
        self._answering: Answering | None = None
        self._lock = asyncio.Lock()

    async def listening(self) -> Listening:
        if self._listening is None:
            async with self._lock:
                if self._listening is None:
                    loop = asyncio.get_running_loop()
                    self._listening = await loop.run_in_executor(self._executor, self._load_listening)
        return self._listening

    async def answering(self) -> Answering:
        if self._answering is None:
            async with self._lock:
                if self._answering is None:
                    loop = asyncio.get_running_loop()
                    self._answering = await loop.run_in_executor(self._executor, self._load_answering)
        return self._answering

    @property
    def loaded_listening(self) -> Listening | None:
        """The listening providers if they are loaded (for code that must not wait)."""
        return self._listening

    @property
    def loaded_answering(self) -> Answering | None:
        """The answering providers if they are loaded (for code that must not wait)."""
        return self._answering

    def close(self) -> None:
        """Close the memory (blocking): a shared database gets the writes still queued."""
        if self._answering is not None and self._answering.memory is not None:
            self._answering.memory.close()

    def warm_up(self) -> None:
        """Load everything now (blocking), so the first turn costs no model load."""
        if self._answering is None:
            self._answering = self._load_answering()
        if self._listening is None:
            self._listening = self._load_listening()

    def _load_listening(self) -> Listening:
        from bridge.speech.asr.registry import make_asr
        from bridge.speech.vad.registry import make_vad

        vad_opts = dict(self.config.vad)
        asr_opts = dict(self.config.asr)
        vad = make_vad(vad_opts.pop("provider", "silero"), vad_opts)
        asr = self._asr or make_asr(asr_opts.pop("provider", None), asr_opts)
        log.info("dialogue: listening with %s VAD and %s ASR", vad.name, asr.name)
        return Listening(vad, asr)

    def _load_answering(self) -> Answering:
        from bridge.llm.memory_pg import is_postgres
        from bridge.llm.memory_store import open_memory
        from bridge.llm.persona import Persona
        from bridge.llm.registry import make_llm

        persona = Persona.load(Path(self.config.persona)) if self.config.persona else \
            Persona.default()
        opts = dict(self.config.llm)
        llm = make_llm(opts, persona)
        memory_path = self.config.memory
        remote = is_postgres(memory_path)
        if memory_path != ":memory:" and not remote:
            Path(memory_path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            memory_path = str(Path(memory_path).expanduser())
        memory = open_memory(memory_path, max_messages=self.config.max_history)
        log.info("dialogue: answering with %s (persona %s), memory %s", llm.name,
                 persona.name, memory.path)
        return Answering(llm, persona, memory, opts.get("provider", "persona") == "persona")


def provider_error(exc: BaseException, provider: str, wanted: str,
                   timeout: float) -> err.TalkbridgeError:
    """A provider's failure as the client hears of it; a time-out says how long was waited."""
    if isinstance(exc, asyncio.TimeoutError):
        return err.ProviderTimeout(f"{provider} gave no {wanted} within {timeout:g} s")
    return err.ProviderError(f"{provider} failed: {exc}")
