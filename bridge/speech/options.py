"""Build a provider from a config table, so a misspelt option is named, not a TypeError."""

from __future__ import annotations

import inspect
from typing import Any, Mapping


def build_provider(provider_class: Any, options: Mapping[str, Any], kind: str, name: str) -> Any:
    kwargs = dict(options)
    signature = inspect.signature(provider_class)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        valid = ", ".join(signature.parameters)
        raise ValueError(f"bad options for {kind} {name!r}: {exc}; valid options: {valid}") from exc
    return provider_class(**kwargs)
