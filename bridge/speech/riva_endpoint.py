"""Where NVIDIA Riva is and how to reach it: shared by the Riva ASR and TTS providers.

Both speak gRPC to the same server (or NVIDIA-hosted NIMs) with the same credentials, so the
endpoint, its channel, its per-call metadata, the import of Riva's client and the one-line
explanation of a failed call live here, once.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Sequence

from bridge.speech.locale import locale_code

INSTALL_HINT = "pip install talkbridge[riva]"
#: Bare language codes → the BCP-47 codes Riva's models are deployed under.
_LANGUAGES = {"en": "en-US", "es": "es-US", "de": "de-DE", "fr": "fr-FR", "it": "it-IT",
              "pt": "pt-BR", "ru": "ru-RU", "ja": "ja-JP", "ko": "ko-KR", "hi": "hi-IN",
              "zh": "zh-CN", "cmn": "zh-CN", "ar": "ar-AR", "nl": "nl-NL"}
_HINTS = {
    "UNAVAILABLE": "is the Riva server running and reachable at {server}? (start it with "
                   "riva_start.sh; for NVIDIA-hosted endpoints use server="
                   "'grpc.nvcf.nvidia.com:443', use_ssl=True and a function_id)",
    "UNAUTHENTICATED": "check the API key in the environment variable {key_env} "
                       "(and the function_id, for NVIDIA-hosted endpoints)",
    "PERMISSION_DENIED": "the API key in {key_env} is not allowed to use this function: "
                         "check the key and the function_id",
    "DEADLINE_EXCEEDED": "the server gave no answer in time: check its load or the network, "
                         "or raise the timeout option",
    "INVALID_ARGUMENT": "the server rejected the request: check language_code, the sample "
                        "rate and the model or voice names against the models deployed",
    "NOT_FOUND": "the model or voice is not deployed on this server",
    "RESOURCE_EXHAUSTED": "the server is out of capacity or quota: retry later",
    "UNIMPLEMENTED": "this server does not offer this Riva service (is it enabled in "
                     "Riva's config.sh?)",
}


def import_grpc() -> Any:
    """The ``grpc`` module once Riva's client is importable, else ImportError with the hint."""
    try:
        import grpc

        importlib.import_module("riva.client.proto")  # the stubs every caller needs next
    except ImportError as exc:
        raise ImportError(f"the NVIDIA Riva client is not installed: {INSTALL_HINT}") from exc
    return grpc


def riva_language(lang: str) -> str:
    """``en`` → ``en-US``; ``fr_fr`` → ``fr-FR``; anything else is passed through."""
    return locale_code(lang, _LANGUAGES)


@dataclass(frozen=True)
class RivaEndpoint:
    """Where Riva is and how to authenticate: one gRPC channel shared by every call.

    ``api_key_env`` names the environment variable holding an NVIDIA API key (sent as
    ``authorization: Bearer …``); ``function_id`` selects the NIM on NVIDIA's hosted
    endpoint (``grpc.nvcf.nvidia.com:443``). Keys never go in config files.
    """

    server: str = "localhost:50051"
    use_ssl: bool = False
    ssl_cert: str | None = None
    api_key_env: str | None = None
    function_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    def call_metadata(self) -> list[tuple[str, str]]:
        """Per-call gRPC metadata; raises ValueError when the named key variable is unset."""
        pairs = [(k.lower(), v) for k, v in self.metadata]
        if self.api_key_env:
            key = os.environ.get(self.api_key_env, "").strip()
            if not key:
                raise ValueError(f"no Riva API key: set the environment variable "
                                 f"{self.api_key_env} (or drop the api_key_env option for a "
                                 f"local server without authentication)")
            pairs.append(("authorization", f"Bearer {key}"))
        if self.function_id:
            pairs.append(("function-id", self.function_id))
        return pairs

    def channel(self, grpc: Any) -> Any:
        """A lazily connecting channel (nothing touches the network until the first call)."""
        options = [("grpc.max_receive_message_length", 64 << 20),
                   ("grpc.max_send_message_length", 64 << 20)]
        if not (self.use_ssl or self.ssl_cert):
            return grpc.insecure_channel(self.server, options=options)
        root = None
        if self.ssl_cert:
            with open(os.path.expanduser(self.ssl_cert), "rb") as handle:
                root = handle.read()
        return grpc.secure_channel(self.server, grpc.ssl_channel_credentials(root), options=options)

    def describe(self, exc: Any, what: str, mid_stream: bool = False) -> str:
        """An RpcError → one actionable sentence: status, the server's words, the fix."""
        return describe_rpc_error(exc, what, self.server, self.api_key_env, mid_stream)


def describe_rpc_error(exc: Any, what: str, server: str, key_env: str | None,
                       mid_stream: bool = False) -> str:
    """``Riva recognition at … failed: UNAUTHENTICATED (bad key); check the API key in …``.

    ``mid_stream``: the stream had already answered, so UNAVAILABLE means a lost
    connection rather than a server that is not there.
    """
    code_fn = getattr(exc, "code", None)
    code = code_fn() if callable(code_fn) else None
    name = getattr(code, "name", None) or "UNKNOWN"
    details_fn = getattr(exc, "details", None)
    details = (details_fn() if callable(details_fn) else None) or str(exc)
    if mid_stream and name in ("UNAVAILABLE", "CANCELLED", "INTERNAL", "UNKNOWN"):
        hint = ("the connection was lost mid-stream (a server restart or the network); "
                "this turn is lost, the next one reconnects")
    else:
        hint = _HINTS.get(name, "see the Riva server log").format(
            server=server, key_env=key_env or "named by the api_key_env option")
    return f"Riva {what} at {server} failed: {name} ({details}); {hint}"


@dataclass(frozen=True)
class RivaConnection:
    """What a provider holds after :func:`connect`: the grpc module, endpoint, metadata, channel."""

    grpc: Any
    endpoint: RivaEndpoint
    metadata: list[tuple[str, str]]
    channel: Any


def connect(server: str, use_ssl: bool, ssl_cert: str | None, api_key_env: str | None,
            function_id: str | None, metadata: Sequence[Sequence[str]] | None,
            error: type[Exception]) -> RivaConnection:
    """The providers' common constructor: Riva's client imported, the key read, a lazy
    channel opened. Failures raise ``error`` (the provider's own type) with the fix."""
    try:
        grpc = import_grpc()
    except ImportError as exc:
        raise error(str(exc)) from exc
    endpoint = RivaEndpoint(server, use_ssl, ssl_cert, api_key_env, function_id,
                            tuple((str(k), str(v)) for k, v in (metadata or ())))
    try:
        call_metadata = endpoint.call_metadata()
    except ValueError as exc:
        raise error(str(exc)) from None
    return RivaConnection(grpc, endpoint, call_metadata, endpoint.channel(grpc))
