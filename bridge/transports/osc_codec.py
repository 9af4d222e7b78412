"""OSC 1.0 encoding, sans-I/O: addresses and arguments in, datagram bytes out.

Small on purpose (python-osc's builders allocate per message; a 60 fps VMC stream sends
~3,000 messages a second per avatar). Strings are UTF-8 (VMC says so), NUL-terminated and
padded to 4 bytes; numbers big-endian.
"""

from __future__ import annotations

import struct
from typing import Iterable, Sequence, Union

OscArg = Union[float, int, str, bool]

#: OSC time tag meaning "immediately".
IMMEDIATELY = 1


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (4 - len(data) % 4)


def osc_string(text: str) -> bytes:
    """NUL-terminated, padded to a multiple of 4 (always at least one NUL)."""
    return _pad(text.encode("utf-8"))


def osc_message(address: str, *args: OscArg) -> bytes:
    """One OSC message; bool → T/F, int → i (int32), float → f (float32), str → s."""
    tags = [","]
    payload = []
    for arg in args:
        if isinstance(arg, bool):
            tags.append("T" if arg else "F")
        elif isinstance(arg, int):
            tags.append("i")
            payload.append(struct.pack(">i", arg))
        elif isinstance(arg, float):
            tags.append("f")
            payload.append(struct.pack(">f", arg))
        elif isinstance(arg, str):
            tags.append("s")
            payload.append(osc_string(arg))
        else:
            raise TypeError(f"OSC argument of type {type(arg).__name__} is not supported")
    return osc_string(address) + osc_string("".join(tags)) + b"".join(payload)


def osc_bundle(messages: Iterable[bytes], timetag: int = IMMEDIATELY) -> bytes:
    """A bundle of already-encoded messages (or bundles)."""
    parts = [osc_string("#bundle"), struct.pack(">Q", timetag)]
    for msg in messages:
        parts.append(struct.pack(">i", len(msg)))
        parts.append(msg)
    return b"".join(parts)


def split_bundle(messages: Sequence[bytes], max_bytes: int = 1400) -> list[bytes]:
    """Pack messages into as few bundles as fit one UDP datagram each (no IP fragmentation)."""
    out: list[bytes] = []
    batch: list[bytes] = []
    size = 16
    for msg in messages:
        if batch and size + 4 + len(msg) > max_bytes:
            out.append(osc_bundle(batch))
            batch, size = [], 16
        batch.append(msg)
        size += 4 + len(msg)
    if batch:
        out.append(osc_bundle(batch))
    return out
