"""Small real media files and the signed, expiring URLs that point at them.

Real result URLs are signed and temporary (DashScope about 24 h, Kling 30 days); an expired or
tampered one answers 403. The files are tiny but valid: a PNG any decoder opens, and an MP4 whose
box structure (``ftyp``, ``free``, ``mdat``) and size are right.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from urllib.parse import urlencode

__all__ = ["UrlSigner", "make_mp4", "make_png"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def make_png(seed: str, size: int = 32) -> bytes:
    """A ``size`` x ``size`` RGB PNG whose colour comes from ``seed``."""
    red, green, blue = hashlib.sha256(seed.encode()).digest()[:3]
    row = b"\x00" + bytes((red, green, blue)) * size
    pixels = zlib.compress(row * size)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def make_mp4(seed: str, total_bytes: int = 64 * 1024) -> bytes:
    """An MP4 container of exactly ``total_bytes`` (at least 64): ftyp, free, mdat boxes."""
    ftyp = b"ftyp" + b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    ftyp = struct.pack(">I", len(ftyp) + 4) + ftyp
    free = struct.pack(">I", 8) + b"free"
    payload_len = max(0, total_bytes - len(ftyp) - len(free) - 8)
    filler = hashlib.sha256(seed.encode()).digest()
    payload = (filler * (payload_len // len(filler) + 1))[:payload_len]
    mdat = struct.pack(">I", payload_len + 8) + b"mdat" + payload
    return ftyp + free + mdat


class UrlSigner:
    """Signs ``/files/...`` paths with an expiry, like an object store's presigned URLs."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _signature(self, path: str, expires: str) -> str:
        message = f"{path}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def sign(self, base_url: str, path: str, expires_at: float) -> str:
        """The full URL of ``path`` valid until ``expires_at`` (Unix seconds)."""
        expires = f"{expires_at:.3f}"
        query = urlencode({"Expires": expires, "Signature": self._signature(path, expires)})
        return f"{base_url}{path}?{query}"

    def check(self, path: str, expires: str | None, signature: str | None) -> bool:
        """True when the signature is ours (expiry is checked by the caller)."""
        if not expires or not signature:
            return False
        return hmac.compare_digest(self._signature(path, expires), signature)
