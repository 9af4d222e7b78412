"""``talkbridge loadtest``'s options and target: bounded on purpose (at most 500 sessions for
at most an hour, on loopback unless a remote ``--url`` is allowed explicitly)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

KINDS = ("say", "audio_in", "chat")
MAX_SESSIONS = 500
MAX_SECONDS = 3600.0



@dataclass(frozen=True)
class LoadOptions:
    """One run's shape; refuses sizes beyond what a test tool should ever open."""

    sessions: int = 10
    seconds: float = 20.0
    mix: tuple[str, ...] = KINDS
    buffer: float = 0.3                      # the client's jitter buffer (s)
    seed: int = 0
    pause: tuple[float, float] = (0.3, 1.0)  # a user's pause between turns (s): idle flows too
    turn_timeout: float = 60.0               # a turn not ended by then counts as an error
    grace: float = 5.0                       # a turn cut at the run's end may take this to end

    def __post_init__(self) -> None:
        if not 1 <= self.sessions <= MAX_SESSIONS:
            raise ValueError(f"--sessions {self.sessions}: use 1 to {MAX_SESSIONS}")
        if not 1.0 <= self.seconds <= MAX_SECONDS:
            raise ValueError(f"--seconds {self.seconds}: use 1 to {MAX_SECONDS:.0f}")
        if not 0.0 <= self.buffer <= 5.0:
            raise ValueError(f"--buffer {self.buffer}: use 0 to 5 seconds")
        if not self.mix or any(k not in KINDS for k in self.mix):
            raise ValueError(f"--mix {','.join(self.mix)}: use a comma list of {', '.join(KINDS)}")

    def kind(self, index: int) -> str:
        """Session ``index``'s role: the mix dealt round-robin, so every kind is present."""
        return self.mix[index % len(self.mix)]


def parse_mix(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_remote: bool) -> None:
    """Loading someone else's server by a typo would be a denial of service: refuse it."""
    if urlsplit(url).scheme not in ("ws", "wss"):
        raise ValueError(f"--url {url}: use ws://HOST:PORT/v1/stream")
    if not allow_remote and not is_loopback(url):
        raise ValueError(f"--url {url} is not on loopback; add --allow-remote if you mean it")


