"""Tiny real image files, written byte by byte: golden fixtures and tests need no Pillow.

Both writers are deterministic on any machine (no zlib compression, whose output differs
between zlib builds; no encoder library), so a fixture holding their bytes never drifts.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

Pixel = tuple[int, int, int]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png(pixels: Sequence[Sequence[Pixel]]) -> bytes:
    """An 8-bit RGB PNG of ``pixels`` (rows of (r, g, b)); its image data deflate-stored."""
    height, width = len(pixels), len(pixels[0]) if pixels else 0
    if not width or any(len(row) != width for row in pixels):
        raise ValueError("pixels must be a non-empty rectangle of (r, g, b) rows")
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", _zlib_stored(raw))
            + _chunk(b"IEND", b""))


def solid_png(width: int, height: int, color: Pixel) -> bytes:
    return png([[color] * width for _ in range(height)])


def gray_jpeg(level: int = 128) -> bytes:
    """An 8×8 baseline JPEG of one grey ``level`` (0..255): one block, its DC term only."""
    if not 0 <= level <= 255:
        raise ValueError("level must be 0..255")
    dc = 8 * (level - 128)              # the block's DC coefficient (quantizer 1)
    size = abs(dc).bit_length()          # its magnitude category
    extra = dc if dc >= 0 else dc + (1 << size) - 1
    # Huffman tables of one code each ("0"): the DC category, then end-of-block.
    bits = "0" + (format(extra, f"0{size}b") if size else "") + "0"
    bits += "1" * (-len(bits) % 8)
    scan = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    scan = scan.replace(b"\xff", b"\xff\x00")  # byte stuffing
    one_code = bytes([1] + [0] * 15)
    return b"".join([
        b"\xff\xd8",
        _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(0xDB, b"\x00" + b"\x01" * 64),                       # quantizer 1 everywhere
        _segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00"),      # 8×8, one component
        _segment(0xC4, b"\x00" + one_code + bytes([size])),           # DC table 0
        _segment(0xC4, b"\x10" + one_code + b"\x00"),                 # AC table 0: EOB
        _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        scan,
        b"\xff\xd9",
    ])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _zlib_stored(data: bytes) -> bytes:
    """A zlib stream of stored (uncompressed) deflate blocks."""
    blocks = [data[i:i + 65535] for i in range(0, len(data), 65535)] or [b""]
    out = bytearray(b"\x78\x01")
    for k, block in enumerate(blocks):
        out.append(1 if k == len(blocks) - 1 else 0)
        out += struct.pack("<HH", len(block), len(block) ^ 0xFFFF) + block
    return bytes(out + struct.pack(">I", zlib.adler32(data)))


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body
