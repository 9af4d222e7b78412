"""Past one machine: speech recognition as a Ray Serve deployment (DESIGN §8).

Whisper hears a turn whole (:class:`~bridge.speech.asr.base.WholeTurnStream`): its passes
over the turn are the recognizer's whole cost, so they are the part that moves. The front
keeps the turn's audio as it arrives, and when the turn ends (or the user pauses,
:meth:`RemoteTurn.prepare`) sends all of it to a :class:`Recognizer` replica in one call.
While the user speaks, every ``partial_interval`` seconds of audio it asks a replica for a
greedy pass over the turn so far, without waiting: the partial is reported by the first push
after it comes back, as a local Whisper's would be (a little later, never blocking the
audio). A turn carries all of its state, so any replica hears any turn. A replica that dies
under the final call costs it one retry; a second failure is the turn's ``ASRError``, which
the dialogue reports as it reports a local recognizer's. A lost partial is only skipped.

Only whole-turn recognizers go this way (Whisper: :data:`REMOTE_PROVIDERS`). Streaming ones
(PocketSphinx, Riva, Azure) stay in the front: their partials need the audio as it comes,
and Riva's and Azure's arithmetic already runs elsewhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from bridge.server.scale import CONSTRUCTOR_TRIES, call_with_retry, run_app
from bridge.speech.asr.base import ASRError, PartialGate, PreparedWholeTurn, WholeTurnStream

log = logging.getLogger(__name__)

APP = "talkbridge-asr"
#: Recognizers whose streams hear the turn whole, so one call a turn loses nothing.
REMOTE_PROVIDERS = ("whisper",)
#: Seconds one turn's final pass may take on the cluster, queueing and a restart included:
#: the dialogue's own ``asr_timeout`` (5 s by default) answers the user well before.
CALL_TIMEOUT_S = 20.0


class Recognizer:
    """The deployment's body: the front's recognizer (its ``[asr]`` table), loaded once per
    replica."""

    def __init__(self, asr_conf: Mapping[str, Any] | None = None) -> None:
        from bridge.speech.asr.registry import make_asr

        options = dict(asr_conf or {})
        self.asr = make_asr(options.pop("provider", None), options)

    def transcribe(self, audio: np.ndarray, lang: str | None) -> tuple[str, int]:
        """A whole turn's final transcript, and the replica that heard it."""
        stream = self.asr.new_stream(lang)
        if not isinstance(stream, WholeTurnStream):
            raise ASRError(f"the {self.asr.name} recognizer streams; it can't hear a turn whole")
        return stream.hear_whole(audio), os.getpid()

    def partial(self, audio: np.ndarray, lang: str | None) -> tuple[str, int]:
        """A quick hypothesis of a turn so far ("" from a recognizer that gives none)."""
        stream = self.asr.new_stream(lang)
        if not isinstance(stream, WholeTurnStream):
            raise ASRError(f"the {self.asr.name} recognizer streams; it can't hear a turn whole")
        return stream.hear_partial(audio), os.getpid()


def remote_provider(asr_conf: Mapping[str, Any] | None) -> bool:
    """Whether the ``[asr]`` table names a recognizer the cluster can run for the front."""
    from bridge.speech.asr.registry import default_asr_name

    name = dict(asr_conf or {}).get("provider") or default_asr_name()
    return str(name).strip().lower() in REMOTE_PROVIDERS


def deploy(asr_conf: Mapping[str, Any] | None, replicas: int = 1,
           cpus_per_replica: float = 0.5, gpus_per_replica: float = 0.0) -> Any:
    """Run :class:`Recognizer` on the cluster; returns its handle. Half a CPU a replica by
    default: it works only at the ends of turns, and a two-core node then holds it beside
    a synthesizer and the network. ``gpus_per_replica`` (``[scale] asr_gpus``) puts each
    replica on a GPU node, where Whisper's ``device = "auto"`` picks CUDA."""
    from ray import serve

    deployment = serve.deployment(Recognizer, name="Recognizer").options(
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus_per_replica, "num_gpus": gpus_per_replica},
        max_ongoing_requests=4,
        max_constructor_retry_count=CONSTRUCTOR_TRIES)
    return run_app(deployment.bind(dict(asr_conf or {})), APP)


class RemoteASR:
    """A recognizer whose turns are heard on the cluster (16 kHz, as Whisper takes them)."""

    def __init__(self, name: str, handle: Any, rate: int = 16000, partial_interval: float = 1.0,
                 min_partial_audio: float = 0.5) -> None:
        """``partial_interval`` and ``min_partial_audio``: as the local recognizer's (the
        ``[asr]`` table's keys); a ``partial_interval`` of 0 asks for no partials."""
        self.name, self.rate, self._handle = f"{name} (ray)", rate, handle
        self.partial_interval, self.min_partial_audio = partial_interval, min_partial_audio
        self.replica_pids: set[int] = set()  # the replicas that heard this front's turns

    def new_stream(self, lang: str | None = None) -> RemoteTurn:
        return RemoteTurn(self, lang)

    def hear(self, audio: np.ndarray, lang: str | None) -> str:
        """One turn's final pass on a replica, asked twice at most (blocking)."""
        text, pid = call_with_retry(self._handle.transcribe, audio, lang,
                                    what=f"recognize a {len(audio) / self.rate:.1f} s turn",
                                    fault=ASRError, keep=(ASRError,), timeout_s=CALL_TIMEOUT_S)
        self.replica_pids.add(pid)
        return text

    def start(self, audio: np.ndarray, lang: str | None) -> Any:
        """The same call, not waited for: a prepared pass (:meth:`RemoteTurn.prepare`)."""
        return self._handle.transcribe.remote(audio, lang)

    def start_partial(self, audio: np.ndarray, lang: str | None) -> Any:
        """A partial's pass over the turn so far, not waited for."""
        return self._handle.partial.remote(audio, lang)


class RemoteTurn(PreparedWholeTurn):
    """One turn kept here and heard there, prepared at the user's pause as Whisper's own
    stream is, with partials on the local stream's cadence, at most one in flight."""

    def __init__(self, provider: RemoteASR, lang: str | None) -> None:
        super().__init__()
        self._provider, self._lang = provider, lang
        self.rate = provider.rate
        every = int(provider.partial_interval * provider.rate)
        self._partials = PartialGate(every if every > 0 else None,
                                     int(provider.min_partial_audio * provider.rate))
        self._asked: Any = None  # the partial pass in flight

    def _partial(self, pushed: int) -> str | None:
        """The partial that came back since the last push, if its text is new; and a new
        pass asked for when one is due and none is in flight (a due one is skipped while
        one is: partials on a busy cluster come less often, never pile up)."""
        text = None
        if self._asked is not None:
            try:
                heard, pid = self._asked.result(timeout_s=0)
            except TimeoutError:
                pass  # still being heard
            except Exception as exc:  # noqa: BLE001 - a dead replica: the next one is asked anew
                log.info("a partial recognition pass failed (%s); skipped", type(exc).__name__)
                self._asked = None
            else:
                self._asked = None
                self._provider.replica_pids.add(pid)
                text = self._partials.changed(heard) if heard else None
        if self._partials.due(pushed) and self._asked is None:
            self._asked = self._provider.start_partial(self._audio(), self._lang)
        return text

    def finish(self) -> str:
        self._drop_partial()
        return super().finish()

    def cancel(self) -> None:
        self._drop_partial()
        super().cancel()

    def _drop_partial(self) -> None:
        asked, self._asked = self._asked, None
        if asked is not None:
            asked.cancel()

    def _start_pass(self, audio: np.ndarray) -> Any:
        return self._provider.start(audio, self._lang)

    def _whole_pass(self, audio: np.ndarray) -> str:
        return self._provider.hear(audio, self._lang)

    def _prepared_result(self, handle: Any, audio: np.ndarray) -> str:
        """The prepared call's transcript; if its replica died, the full call (which
        retries) instead."""
        try:
            text, pid = handle.result(timeout_s=CALL_TIMEOUT_S)
        except ASRError:
            raise
        except Exception as exc:  # noqa: BLE001 - its replica died: the full call retries
            log.warning("a prepared recognition pass failed (%s); asking again",
                        type(exc).__name__)
            return self._whole_pass(audio)
        self._provider.replica_pids.add(pid)
        return text
