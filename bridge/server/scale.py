"""Past one machine: speech synthesis as a Ray Serve deployment (DESIGN §8).

Synthesis is what saturates a front (the load test: 187 % CPU at 40 talking sessions, most of
it Piper), so it is the first stage to leave the process. ``talkbridge serve --ray ADDRESS``
(or ``[scale] ray``) joins a Ray cluster, deploys :class:`Synthesizer` there (its replicas
load the same voices as the front) and gives the sessions a registry whose providers know
the voices locally and synthesize remotely. Any replica serves any sentence: a sentence is
the unit of work and carries all of its state (text and voice), so the front keeps none.

A replica that dies mid-sentence (a lost node, an out-of-memory kill) costs that call one
retry on another replica; a second failure is the sentence's ``TTSError``, which ends that
utterance with an ``error`` while the session and the others go on.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from blendshape.phonemes import PhonemeSpan
from bridge.ops.logs import first_line
from bridge.speech.sentences import split_sentences
from bridge.speech.tts.base import SpeechChunk, TTSError, TTSProvider, Voice
from bridge.speech.tts.registry import TTSRegistry

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'talkbridge[ray]'"
APP = "talkbridge-tts"
#: Seconds a sentence may take on the cluster (queueing included) before it fails.
CALL_TIMEOUT_S = 60.0
#: Starts of a replica Serve tries before it gives up on a deployment. A replica that can't
#: start (a voice or model missing on its node) fails the same way every time; Serve's own
#: 20 tries kept the front waiting a minute or more before it said so.
CONSTRUCTOR_TRIES = 3


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster can't be joined; the message says what to do."""


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``host:port`` of its head, or ``auto``)."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(f"--ray needs Ray Serve: {INSTALL_HINT}") from exc
    try:
        ray.init(address=address, namespace="talkbridge", log_to_driver=False,
                 ignore_reinit_error=True, logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - ray raises ConnectionError, RuntimeError, ...
        why = first_line(str(exc), type(exc).__name__)[:120]
        hint = ("the head wants Ray's token: set RAY_AUTH_MODE=token, and RAY_AUTH_TOKEN unless "
                "~/.ray/auth_token holds it") if "auth" in why.lower() or "token" in why.lower() \
            else "start one with `ray start --head` or fix the address"
        raise RayUnavailable(f"[scale] ray {address}: cannot join the cluster ({why}): "
                             f"{hint}") from None


def run_app(app: Any, name: str) -> Any:
    """``serve.run(app)`` as application ``name``, with Serve started without its HTTP proxy.

    talkbridge calls its deployments through handles only. Serve's default proxy would bind
    127.0.0.1:8000 on every node, for nothing: where anything else already holds that port
    (a web app, another Serve), Serve's start failed half a minute later with a dead proxy
    actor, and the front never opened. A Serve that is already running (another front
    started it) is joined as it is, proxy or not.
    """
    from ray import serve

    serve.start(proxy_location="Disabled")
    try:
        return serve.run(app, name=name, route_prefix=None)
    except RuntimeError as exc:  # "Deploying application … failed", and nothing of why
        why = _replica_failure(name) or first_line(str(exc))
        serve.delete(name)
        why = re.sub(r"^[\w.]+\.(\w+): ", r"\1: ", why)  # the exception's class, not its module
        why = why if len(why) <= 240 else why[:239] + "…"
        raise RayUnavailable(f"[scale] the cluster could not start {name}: {why} (fix it "
                             "where the replicas run; their logs: /tmp/ray/session_latest/logs/"
                             "serve on that node)") from None


def _replica_failure(name: str) -> str:
    """The exception a failed deployment of application ``name`` ended with (the last line of
    Serve's message for it: the replica's own error, e.g. a voice missing on that node)."""
    from ray import serve

    try:
        app = serve.status().applications.get(name)
    except Exception:  # noqa: BLE001 - the reason is a courtesy; the failure stands anyway
        return ""
    for deployment in (app.deployments.values() if app is not None else ()):
        lines = [line.strip() for line in (deployment.message or "").splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return ""


def check_gpus(key: str, per_replica: float, replicas: int) -> None:
    """Refuse at start, in one line, replicas that ask for GPUs the cluster doesn't have:
    Serve would otherwise wait for them without end, and the front would never open."""
    if per_replica <= 0:
        return
    import ray

    have = float(ray.cluster_resources().get("GPU", 0.0))
    need = per_replica * replicas
    if need > have + 1e-9:
        raise RayUnavailable(
            f"[scale] {key} {per_replica:g} × {replicas} replica(s) needs {need:g} GPU(s) and the "
            f"cluster has {have:g}: start a GPU node with `ray start --address HEAD:6379 "
            f"--num-gpus N`, or set {key} = 0 for CPUs")


def call_with_retry(method: Any, *args: Any, what: str, fault: Callable[[str], Exception],
                    keep: tuple[type[Exception], ...] = (), timeout_s: float = CALL_TIMEOUT_S) -> Any:
    """``method.remote(*args)``'s result, asked for twice at most.

    A replica that dies under a call (a lost node, an out-of-memory kill, ``ray.kill``) fails
    that call; the second try goes to another replica, or waits for Serve's restart of the
    only one. ``keep`` are the deployment's own answers (an unknown voice), passed on as they
    are: asking again would give the same. The second failure is ``fault(one line)``.
    """
    for attempt in (1, 2):
        try:
            return method.remote(*args).result(timeout_s=timeout_s)
        except keep:
            raise
        except Exception as exc:  # noqa: BLE001 - a dead replica, a lost node, a time-out
            why = f"{type(exc).__name__}: {first_line(str(exc))[:120]}"
            if attempt == 2:
                raise fault(f"the Ray cluster could not {what}: {why}") from None
            log.warning("Ray call to %s failed (%s); retrying on another replica", what, why)
    raise AssertionError("unreachable")


class Synthesizer:
    """The deployment: the front's voices, loaded once per replica."""

    def __init__(self, tts_conf: Mapping[str, Any] | None = None) -> None:
        from bridge.speech.tts.config import make_registry

        self.registry = make_registry(dict(tts_conf or {}))

    def synthesize(self, text: str, voice_id: str) -> list[dict[str, Any]]:
        """Every sentence of ``text`` in ``voice_id``, as plain data (pickled back), each
        naming the replica and node that spoke it (for the logs, and the fault tests)."""
        import ray

        began = time.perf_counter()
        provider, voice = self.registry.resolve(voice_id)
        chunks = list(provider.synthesize(text, voice))
        where = {"replica_pid": os.getpid(), "replica_node": ray.get_runtime_context().get_node_id(),
                 "replica_seconds": time.perf_counter() - began}  # its own work, no hop
        return [{"pcm": np.asarray(c.pcm, np.float32), "rate": c.rate, "text": c.text,
                 "phonemes": [(p.phoneme, p.start, p.end) for p in c.phonemes],
                 "alphabet": c.alphabet, "lang": c.lang, "meta": {**c.meta, **where}}
                for c in chunks]


def deploy(tts_conf: Mapping[str, Any] | None, replicas: int = 1,
           cpus_per_replica: float = 1.0) -> Any:
    """Run :class:`Synthesizer` on the cluster (replacing an older deployment of it);
    returns its handle."""
    from ray import serve

    deployment = serve.deployment(Synthesizer, name="Synthesizer").options(
        num_replicas=replicas, ray_actor_options={"num_cpus": cpus_per_replica},
        max_ongoing_requests=4, max_constructor_retry_count=CONSTRUCTOR_TRIES)
    return run_app(deployment.bind(dict(tts_conf or {})), APP)


class RemoteTTS:
    """A provider whose voices are the local one's and whose synthesis runs on the cluster."""

    def __init__(self, local: TTSProvider, handle: Any) -> None:
        self.name = local.name
        self._local, self._handle = local, handle

    def voices(self) -> list[Voice]:
        return self._local.voices()

    def synthesize(self, text: str, voice: Voice) -> Iterator[SpeechChunk]:
        """One cluster call a sentence, made when the caller asks for that sentence: the first
        audio waits for the first sentence only, and an interrupted ``say`` stops asking."""
        for sentence in split_sentences(text) or [text]:
            for chunk in self._call(sentence, voice):
                yield SpeechChunk(chunk["pcm"], chunk["rate"],
                                  [PhonemeSpan(p, s, e) for p, s, e in chunk["phonemes"]],
                                  chunk["text"], chunk["alphabet"], chunk["lang"], chunk["meta"])

    def _call(self, text: str, voice: Voice) -> list[dict[str, Any]]:
        return call_with_retry(self._handle.synthesize, text, voice.id,
                               what=f"synthesize {text[:30]!r}", fault=TTSError, keep=(TTSError,))


def remote_registry(local: TTSRegistry, handle: Any) -> TTSRegistry:
    """``local``'s voices and default, every provider's synthesis on the cluster."""
    providers = [RemoteTTS(p, handle) for p in local.providers()]
    return TTSRegistry(providers, default_voice=local.default_voice)
