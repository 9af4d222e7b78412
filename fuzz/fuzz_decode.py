"""Coverage-guided fuzzing of the protocol decoder (atheris / libFuzzer).

Every input goes to ``decode_client`` and ``decode_server`` twice: as raw bytes, and read
as a recipe for a message-shaped map (a real type name, its own field names, values of any
msgpack kind) so the field checks get as much attention as the msgpack parser. The only
acceptable outcomes are a message that re-encodes to itself or a
:class:`~bridge.protocol.errors.ProtocolError`; anything else raised is a crash, and
libFuzzer writes the input to ``crash-*``.

    pip install atheris
    mkdir -p /tmp/tb-corpus
    python fuzz/fuzz_decode.py /tmp/tb-corpus tests/fixtures/protocol \\
        -dict=fuzz/msgpack.dict -atheris_runs=1000000

The first directory collects the inputs that found new coverage; the golden fixtures seed
it with one real frame of every message type. Reproduce a crash with
``python fuzz/fuzz_decode.py crash-<hash>``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import atheris
import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["bridge.protocol"]):
    from bridge.protocol import codec
    from bridge.protocol import messages as m
    from bridge.protocol.errors import ProtocolError

TYPES = {**m.CLIENT_TYPES, **m.SERVER_TYPES}
TYPE_NAMES = sorted(TYPES)
FIELDS = {name: [f.name for f in dataclasses.fields(cls)] for name, cls in TYPES.items()}
WORDS = ["arkit52", "visemes", "head", "f16", "f32", "start", "end", "say", "done", "finished",
         "happy", "idle", ""]
INTS = [0, 1, -1, 60, 240, 241, 8000, 48000, 192001, 2**31 - 1, 2**31, 2**63 - 1, -(2**63),
        2**64 - 1]


def _value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> object:
    kind = fdp.ConsumeIntInRange(0, 11)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.PickValueInList(INTS)
    if kind == 3:
        return fdp.ConsumeIntInRange(-(2**63), 2**64 - 1)
    if kind == 4:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if kind == 5:
        return fdp.PickValueInList(WORDS)
    if kind == 6:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 24))
    if kind == 7:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    if depth > 3:
        return None
    if kind in (8, 9):
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    return {fdp.PickValueInList(WORDS): _value(fdp, depth + 1)
            for _ in range(fdp.ConsumeIntInRange(0, 3))}


def _message_shaped(data: bytes) -> bytes:
    """A map with a real type and (mostly) its own field names, values of any kind."""
    fdp = atheris.FuzzedDataProvider(data)
    name = fdp.PickValueInList(TYPE_NAMES)
    body: dict[object, object] = {"type": name}
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        key = (fdp.PickValueInList(FIELDS[name]) if fdp.ConsumeIntInRange(0, 7)
               else fdp.ConsumeUnicodeNoSurrogates(6))
        body[key] = _value(fdp)
    return msgpack.packb(body, use_bin_type=True)


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    _check(data)
    _check(_message_shaped(data))


def _check(data: bytes) -> None:
    for decode in (codec.decode_client, codec.decode_server):
        try:
            msg = decode(data)
        except ProtocolError:
            continue
        again = decode(codec.encode(msg))
        if again != msg:
            raise AssertionError(f"re-encoding changed the message: {msg!r} -> {again!r}")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
