"""Bytes to text, defensively: decompression by magic bytes (keeping what a truncated
archive still holds), decoding in the declared or detected charset, and the sanitising that
every record passes: no lone surrogate, NUL or BOM leaves collect. Repairs are counted."""

from __future__ import annotations

import bz2
import codecs
import lzma
import re
import zlib

from stages.collect.charset import charset_from_bom, charset_from_meta, detect, mostly_utf8
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


# Magic bytes of the compressed formats read, so that a file is read as what it is
# whatever its name says.
_MAGIC = (
    (b"\x1f\x8b", ".gz"),
    (b"\xfd7zXZ\x00", ".xz"),
    (b"\x28\xb5\x2f\xfd", ".zst"),
)
_BZ2_MAGIC = re.compile(rb"BZh[1-9](\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)")
_FORMAT = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}


def sniff_compression(data: bytes) -> str | None:
    """The compression suffix (.gz, .bz2, .xz, .zst) that the first bytes of `data` show, or None."""
    if _BZ2_MAGIC.match(data[:10]):
        return ".bz2"
    return next((suffix for magic, suffix in _MAGIC if data.startswith(magic)), None)


def decompress(data: bytes, name: str, where: str, tally: Tally) -> tuple[bytes, str] | None:
    """Undo gzip/bzip2/xz/zstd, found by their magic bytes; returns the bytes and the inner
    file name (the name without its compression suffix), or None when the file is skipped.

    A file named for one compression and holding another is read as what it holds; one named
    compressed that holds no compression is read as it is when it is text, and skipped
    (reason not_compressed) when it is not. A truncated or corrupt archive keeps what
    decompressed cleanly and counts a skip (reason truncated_file), so the good records
    before the damage survive.
    """
    lower = name.lower()
    named = next((s for s in COMPRESSED if lower.endswith(s)), None)
    inner = name[: -len(named)] if named else name
    found = sniff_compression(data)
    if found is None:
        if named is None:
            return data, name
        if looks_binary(data):
            tally.skip("not_compressed", where, f"not a {_FORMAT[named]} file, and not text either")
            return None
        tally.repair("misnamed_compression", where, f"not a {_FORMAT[named]} file; read as uncompressed text")
        return data, inner
    if named is not None and found != named:
        tally.repair(
            "misnamed_compression", where, f"not a {_FORMAT[named]} file but {_FORMAT[found]}; read as such"
        )
    if found == ".gz":
        out, bad = _stream(lambda: zlib.decompressobj(wbits=47), data)
    elif found == ".bz2":
        out, bad = _stream(bz2.BZ2Decompressor, data)
    elif found == ".xz":
        out, bad = _stream(lzma.LZMADecompressor, data)
    else:
        out, bad = _unzstd(data)
    if bad:
        tally.skip(
            "truncated_file",
            where,
            f"{_FORMAT[found]} data ends early or is corrupt; kept the first {len(out)} bytes",
        )
    return out, inner


def looks_binary(data: bytes) -> bool:
    """True for payloads that are not text: many NULs (without a UTF-16/32 BOM), or the magic
    bytes of an image, PDF or zip followed by bytes that are not UTF-8."""
    head = data[:4096]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8)):
        return False
    # Magic bytes alone do not make a file binary: a text file may start with "%PDF".
    if head.startswith((b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"%PDF", b"PK\x03\x04", b"RIFF")):
        return not mostly_utf8(head)
    return bool(head) and head.count(0) > len(head) // 10


def decode_text(
    data: bytes, where: str, tally: Tally, declared: str | None = None, html: bool = False
) -> str:
    """Decode the bytes of a file or record: a BOM first (it is part of the bytes, so it
    overrides a label), then a `declared` charset (an HTTP header's), then for `html` a meta
    charset tag, then detection (stages/collect/charset.py).

    Bytes the charset cannot decode become U+FFFD, counted as a repair; a charset other than
    UTF-8 is counted in the source's `charsets`; the text is then sanitised (`sanitize`).
    """
    name = charset_from_bom(data) or declared or (charset_from_meta(data) if html else None) or detect(data)
    if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        name = "utf-8-sig"
    try:
        text = data.decode(name)
    except UnicodeDecodeError as e:
        # cp1252 leaves five bytes undefined; Latin-1, which it extends, reads them as controls.
        if name == "cp1252":
            name = "latin-1"
        text = data.decode(name, errors="replace")
        bad = text.count("\ufffd") - (data.count(b"\xef\xbf\xbd") if name.startswith("utf-8") else 0)
        if bad > 0:
            tally.repair(
                "invalid_bytes",
                where,
                f"not valid {name} ({e.reason} at byte {e.start}); {bad} replaced with U+FFFD",
                characters=bad,
            )
    if not name.startswith(("utf-8", "utf-16", "utf-32")):
        tally.charsets[name] += 1
    return sanitize(text, where, tally)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Removed wherever they are: NUL ends strings in C readers downstream, and a BOM inside a
# text is an invisible character that no writer meant as text.
_STRIPPED = {"\x00": "nul", "\ufeff": "bom"}


def sanitize(text: str, where: str, tally: Tally) -> str:
    """`text` without lone UTF-16 surrogates (replaced with U+FFFD), NUL or BOM characters
    (removed); each kind is counted as a repair of `where`.

    A leading BOM is a signature, not text: it is removed without counting.
    """
    text = text.removeprefix("\ufeff")
    if text.isascii() and "\x00" not in text:
        return text
    if _LONE_SURROGATE.search(text):
        text, n = _LONE_SURROGATE.subn("\ufffd", text)
        tally.repair(
            "lone_surrogate", where, f"{n} lone UTF-16 surrogates replaced with U+FFFD", characters=n
        )
    for char, reason in _STRIPPED.items():
        if char in text:
            n = text.count(char)
            text = text.replace(char, "")
            tally.repair(reason, where, f"{n} {reason.upper()} characters removed", characters=n)
    return text
