"""What Azure recognition and Azure voices both need: the key, the region, the SDK.

Checked when the provider is built, so a missing key or region fails at start with the
variable to set, not at the first turn.
"""

from __future__ import annotations

import os
from typing import Any, Callable

INSTALL_HINT = "pip install talkbridge[azure]"


def connect(key_env: str, region: str | None, region_env: str, endpoint: str | None,
            error: type[Exception]) -> tuple[Any, Callable[[], Any]]:
    """The SDK module and a factory of fresh ``SpeechConfig``s; faults raise ``error``."""
    key = os.environ.get(key_env, "").strip()
    if not key:
        raise error(f"no Azure Speech key: set the environment variable {key_env} "
                    f"(or name another one with the key_env option)")
    region = region or os.environ.get(region_env, "").strip() or None
    if not region and not endpoint:
        raise error(f"Azure Speech needs a region: set the region option or {region_env} "
                    f"(e.g. westeurope), or an endpoint")
    try:
        import azure.cognitiveservices.speech as speechsdk
    except ImportError as exc:
        raise error(f"the Azure Speech SDK is not installed: {INSTALL_HINT}") from exc

    def speech_config() -> Any:
        if endpoint:
            return speechsdk.SpeechConfig(subscription=key, endpoint=endpoint)
        return speechsdk.SpeechConfig(subscription=key, region=region)

    return speechsdk, speech_config
