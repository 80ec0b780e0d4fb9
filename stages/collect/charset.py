"""Which charset a file's bytes are in: what the input declares first, detection last.

The order is the one browsers follow (WHATWG "encoding sniffing"): a byte order mark, which
is part of the bytes and so beats any label, then the HTTP `Content-Type` header, then (for
HTML) a `<meta charset>` or
`<meta http-equiv="Content-Type">` tag, then detection. Detection keeps UTF-8 for bytes that
are UTF-8 (with a few damaged sequences at most) and asks `charset-normalizer` about the
rest, so a cp1252 or ISO-8859-1 file is not read as UTF-8 full of U+FFFD.
"""

from __future__ import annotations

import codecs
import re

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)
# <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">
_META_CHARSET = re.compile(
    rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""",
    re.I | re.S,
)
# How far into an HTML page a meta charset is looked for (HTML's prescan reads 1,024 bytes;
# real pages put long scripts and styles first).
META_SCAN_BYTES = 8192

# Browsers read these labels as windows-1252, a superset whose 0x80-0x9F are the quotes and
# dashes that pages labelled Latin-1 really hold.
_AS_CP1252 = {"iso8859-1", "ascii"}
_ASCII = bytes(range(0x20, 0x7F))


def charset_from_header(content_type: str) -> str | None:
    """The charset parameter of a Content-Type value, when it names a known codec."""
    m = _HEADER_CHARSET.search(content_type or "")
    return known_codec(m.group(1)) if m else None


def charset_from_meta(html: bytes) -> str | None:
    """The charset an HTML page declares in a meta tag near its start, when it is a known codec."""
    m = _META_CHARSET.search(html[:META_SCAN_BYTES])
    return known_codec(m.group(1).decode("ascii", "replace")) if m else None


def charset_from_bom(data: bytes) -> str | None:
    return next((name for bom, name in BOMS if data.startswith(bom)), None)


def known_codec(label: str) -> str | None:
    """Python's codec name for a charset label, or None for a label no codec answers to.

    A declared UTF-16 or UTF-32 without its byte order is read as UTF-8: an HTML page that
    declares it in ASCII bytes cannot be in it, and HTML says the same.
    """
    try:
        name = codecs.lookup(label.strip()).name
    except (LookupError, ValueError):
        return None
    if name.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return "cp1252" if name in _AS_CP1252 else name


def mostly_utf8(data: bytes) -> bool:
    """True when `data` is UTF-8, or UTF-8 with fewer damaged sequences than sound
    multi-byte characters (a corrupted UTF-8 file, not a file in another charset)."""
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    damaged = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))  # in C, not a loop over characters
    sound = non_ascii - text.count("\ufffd")
    return sound > damaged


def detect(data: bytes) -> str:
    """The charset of undeclared bytes: UTF-8 when they are (mostly) UTF-8, else the best
    ASCII-compatible guess of charset-normalizer, else UTF-8 (damage replaced, counted).

    Where charset-normalizer scores several charsets alike (Western prose is as plausible
    in cp1250 as in cp1252 when it holds no letter on which they differ), windows-1252 is
    taken, as browsers do for unlabelled Western text.
    """
    if mostly_utf8(data):
        return "utf-8"
    import charset_normalizer

    matches = list(charset_normalizer.from_bytes(data))
    tied = [m for m in matches if (m.chaos, m.coherence) == (matches[0].chaos, matches[0].coherence)]
    if any("cp1252" in m.could_be_from_charset for m in tied):
        return "cp1252"
    for match in matches:
        name = known_codec(match.encoding)
        # A text file without a BOM in an ASCII-incompatible charset (UTF-16, EBCDIC) is far
        # rarer than damaged bytes that happen to decode as one.
        if name and _ASCII.decode(name, errors="replace") == _ASCII.decode("ascii"):
            return name
    return "utf-8"
