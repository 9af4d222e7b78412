"""Language codes as cloud speech services want them: ``en`` → ``en-US``, ``fr_fr`` → ``fr-FR``."""

from __future__ import annotations

from typing import Mapping


def locale_code(lang: str, defaults: Mapping[str, str]) -> str:
    """A region-qualified locale; a bare language takes the service's default region."""
    key = lang.strip().replace("_", "-")
    if "-" in key:
        head, _, tail = key.partition("-")
        return f"{head.lower()}-{tail.upper() if len(tail) == 2 else tail}"
    return defaults.get(key.lower(), key)
