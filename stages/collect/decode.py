"""Bytes to text, defensively: decompression by file suffix (keeping what a truncated
archive still holds), BOM-aware decoding, invalid UTF-8 and NUL bytes repaired and counted."""

from __future__ import annotations

import bz2
import codecs
import lzma
import zlib

from stages.collect.docs import Tally

COMPRESSED = (".gz", ".bz2", ".zst", ".xz")


def _stream(make, data: bytes) -> tuple[bytes, bool]:
    """Decompress possibly concatenated streams; returns (bytes, truncated_or_corrupt)."""
    out: list[bytes] = []
    buf = data
    while buf:
        d = make()
        try:
            out.append(d.decompress(buf))
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError):
            return b"".join(out), True
        if not d.eof:
            return b"".join(out), True
        # Some writers pad the end with zero bytes; they are not a further stream.
        buf = d.unused_data.lstrip(b"\0")
    return b"".join(out), False


def _unzstd(data: bytes) -> tuple[bytes, bool]:
    import zstandard

    out: list[bytes] = []
    buf = data
    while buf:
        d = zstandard.ZstdDecompressor().decompressobj()
        try:
            out.append(d.decompress(buf))
        except zstandard.ZstdError:
            return b"".join(out), True
        if not d.eof:
            return b"".join(out), True
        buf = d.unused_data
    return b"".join(out), False


def decompress(data: bytes, name: str, where: str, tally: Tally) -> tuple[bytes, str]:
    """Undo .gz/.bz2/.zst/.xz by suffix; returns the bytes and the inner file name.

    A truncated or corrupt archive keeps what decompressed cleanly and counts a skip
    (reason truncated_file), so the good records before the damage survive.
    """
    lower = name.lower()
    if not lower.endswith(COMPRESSED):
        return data, name
    if lower.endswith(".gz"):
        out, bad = _stream(lambda: zlib.decompressobj(wbits=47), data)
    elif lower.endswith(".bz2"):
        out, bad = _stream(bz2.BZ2Decompressor, data)
    elif lower.endswith(".xz"):
        out, bad = _stream(lzma.LZMADecompressor, data)
    else:
        out, bad = _unzstd(data)
    if bad:
        tally.skip(
            "truncated_file",
            where,
            f"compressed data ends early or is corrupt; kept the first {len(out)} bytes",
        )
    return out, name[: name.rfind(".")]


def looks_binary(data: bytes) -> bool:
    """True for payloads that are not text: many NULs (without a UTF-16/32 BOM) or image magic."""
    head = data[:4096]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8)):
        return False
    if head.startswith((b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"%PDF", b"PK\x03\x04", b"RIFF")):
        return True
    return bool(head) and head.count(0) > len(head) // 10


def decode_text(data: bytes, where: str, tally: Tally) -> str:
    """Decode a text file: honour a UTF-8/16/32 BOM, else UTF-8; repair and count the rest."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        text = data.decode("utf-32", errors="replace")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            text = data.decode("utf-8-sig", errors="replace")
            tally.repair(
                "invalid_utf8", where, f"not valid UTF-8 ({e.reason} at byte {e.start}); replaced with U+FFFD"
            )
    if "\x00" in text:
        tally.repair("nul_bytes", where, f"{text.count(chr(0))} NUL characters removed")
        text = text.replace("\x00", "")
    return text
