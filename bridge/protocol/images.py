"""What an ``image`` message may carry: JPEG or PNG bytes, at most 1 MiB, told by their magic.

The wire says nothing else about the format, so the first bytes decide: a JPEG starts
``FF D8 FF``, a PNG with its 8-byte signature ``89 50 4E 47 0D 0A 1A 0A``. Anything else is
refused here, before it could reach a language model that would fail on it later and
slower; formats a browser or engine might plausibly send instead (GIF, WebP, BMP, TIFF,
HEIC) are named, so the fix is obvious. Pure: bytes in, a media type or a reason out.
"""

from __future__ import annotations

#: The most ``image.data`` may hold. The whole message must also fit the connection's
#: message limit (1 MiB by default), so a frame this large needs a server with a higher
#: ``max_message_bytes``; clients should aim well below (the viewer sends ≤ 512 KiB).
MAX_IMAGE_BYTES = 1 << 20

#: Magic bytes → the media type language models are told.
ACCEPTED: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)

#: Image formats that are refused by name (tested in this order).
_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"), (b"\x00\x00\x01\x00", "ICO"),
)


class NotAnImage(ValueError):
    """The bytes are not a JPEG or PNG of an accepted size; the message says which rule."""


def media_type(data: bytes, limit: int = MAX_IMAGE_BYTES) -> str:
    """``"image/jpeg"`` or ``"image/png"`` for ``data``; NotAnImage says why not."""
    if not data:
        raise NotAnImage("is empty; send the bytes of a JPEG or PNG file")
    if len(data) > limit:
        raise NotAnImage(f"has {len(data)} bytes; at most {limit} (1 MiB) are allowed: scale "
                         "the frame down or compress it more")
    for magic, kind in ACCEPTED:
        if data.startswith(magic):
            return kind
    other = _other_format(data)
    if other is not None:
        raise NotAnImage(f"is a {other} image; only JPEG and PNG are supported")
    raise NotAnImage(f"is not a JPEG or PNG image (it starts {data[:8].hex(' ')}); send "
                     "the encoded file's bytes, not raw pixels or text")


def _other_format(data: bytes) -> str | None:
    """The name of a known image format ``data`` is in, other than JPEG and PNG."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"avif"):
        return "AVIF" if data[8:12] == b"avif" else "HEIC"
    for magic, name in _OTHER_FORMATS:
        if data.startswith(magic):
            return name
    return None
