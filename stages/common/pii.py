"""Rule-based PII detectors: regex candidates, then checksums and context to reject decoys.

Shared by clean, which redacts what they find, and evaluate, which counts what a model
emits with the same rules. Each detector returns `(start, end, type)` spans over the text;
`resolve` keeps the non-overlapping ones and `redact` writes `<TYPE>` placeholders in their
place. What is deliberately NOT redacted, and why:
- versions: a dotted quad right after "version", "ver", "release", "build", "firmware"
  (or glued to a "v") is a version number, not an IPv4 address;
- dates (2024-01-15, 15/01/2024) and times (12:30:45): no pattern accepts their shapes,
  and times fail IPv6 validation;
- hashes (hex without separators), ISBNs and order/invoice/tracking numbers: numbers
  right after such a label are skipped, cards must pass Luhn *and* start with a card
  network's prefix (ISBN-13's 978/979 is none), IBANs must pass mod-97;
- MAC addresses (six hex pairs) fail IPv6 validation;
- digits that continue a code to their left (the tail of a 16-digit reference, of an
  IBAN with a bad check, of a hex hash) are neither phones nor cards.

Measured on the seeded set of tests/pii_fixtures.py by benchmarks/pii_quality.py. Fixes it
prompted: "00" international prefixes (0049 30 1234567), French five-pair numbers
(06 12 34 56 78) and a leading "1-" (1-800-555-0199) for phones; an IPv4 address may end
a sentence ("from 10.0.0.1."); cards must not touch a letter (19 digits inside an md5)
nor continue a code (see above), nor may phones.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

Span = tuple[int, int, str]

_TLD = r"[A-Za-z]{2,6}"
_LOCAL = r"[A-Za-z0-9][A-Za-z0-9._%+-]*"
_BR_AT = r"\s*[\[\(\{<]\s*(?:at|AT|@)\s*[\]\)\}>]\s*"
_BR_DOT = r"\s*[\[\(\{<]\s*(?:dot|DOT|\.)\s*[\]\)\}>]\s*"
_WORD_AT = r"\s+(?:at|AT)\s+"
_WORD_DOT = r"\s+(?:dot|DOT)\s+"
EMAIL = re.compile(rf"(?<![\w.+-]){_LOCAL}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.{_TLD}\b")
# "john[at]example[.]com", "john (at) example.com"
EMAIL_BR_AT = re.compile(
    rf"(?<![\w.+-]){_LOCAL}{_BR_AT}[A-Za-z0-9-]+(?:(?:{_BR_DOT}|\.)[A-Za-z0-9-]+)*(?:{_BR_DOT}|\.){_TLD}\b"
)
# "john at example dot com": a plain " at " needs a spelled-out dot, else "look at x.com" matches
EMAIL_WORD_AT = re.compile(
    rf"(?<![\w.+-]){_LOCAL}{_WORD_AT}[A-Za-z0-9-]+(?:(?:{_WORD_DOT}|{_BR_DOT})[A-Za-z0-9-]+)*(?:{_WORD_DOT}|{_BR_DOT}){_TLD}\b"
)
# Cheap tests that rule the obfuscated patterns out for most documents.
_HAS_BR_AT = re.compile(r"[\[\(\{<]\s*(?:at|AT|@)\s*[\]\)\}>]")
_HAS_OBF_DOT = re.compile(rf"{_WORD_DOT}|{_BR_DOT}")

PHONE = re.compile(
    # international, "+" or "00" then the country code: +44 20 7946 0958, +1-202-555-0143,
    # +49 (30) 1234567, +49 (0)30 1234 5678, 0049 30 1234567, 0033 1 42 68 53 00
    r"(?<![\w+])(?:\+|\b00)\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{1,4}){1,4}(?![\w])"
    # North American: (202) 555-0143, 202-555-0143, 202.555.0143, 1-800-555-0199
    r"|(?<![\w.+-])(?:1[-.\s])?(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.]\d{4}(?![\w-]|\.\d)"
    # national trunk prefix: 020 7946 0958, (030) 1234 5678, 07700 900123
    r"|(?<![\w.+-])(?:\(0\d{1,4}\)|0\d{1,4})[\s-]\d{3,4}[\s-]?\d{3,4}(?![\w-]|\.\d)"
    # French style, five pairs: 06 12 34 56 78, 01.42.68.53.00
    r"|(?<![\w.+-])0[1-9](?:([\s.])\d{2})(?:\1\d{2}){3}(?![\w-]|\.\d)"
)
IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\w)"
)
IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)
CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-]|\.\d)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
ID_NUMBER = re.compile(
    # US social security number, excluding never-issued areas/groups/serials
    r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"
    # UK national insurance number
    r"|\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)
# A number right after one of these labels is a reference, not a person's number.
_NUMBER_LABEL = re.compile(
    r"\b(?:order|invoice|isbn(?:-1[03])?|tracking|ref(?:erence)?|ticket|serial|part|sku|item|case|"
    r"issue|patent|doi|arxiv|pmid)\s*(?:no\.?|number|num\.?|id)?\s*[:#]?\s*$",
    re.IGNORECASE,
)
_VERSION_LABEL = re.compile(r"\b(?:version|ver\.?|release|build|firmware|v)\s*$", re.IGNORECASE)
# Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners).
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9])|35(?:2[89]|[3-8])|3(?:0[0-5]|[68])"
)
_IBAN_LENGTH = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}  # fmt: skip


# A token holding a digit right before a candidate, one separator away: the candidate is the
# tail of a longer code (a 16-digit reference, an IBAN with a bad check, a hash), not a number.
_CODE_BEFORE = re.compile(r"[A-Za-z0-9]*\d[A-Za-z0-9]*[ .-]$")


def _labelled(text: str, start: int, label: re.Pattern) -> bool:
    return bool(label.search(text, max(0, start - 24), start))


def _inside_code(text: str, start: int) -> bool:
    """True when the number at `start` continues a code to its left: a digit-bearing token
    one separator away, or an IBAN-shaped string (its checksum may fail: a mistyped IBAN
    is still an account number's digits, not a phone or a card)."""
    if _CODE_BEFORE.search(text, max(0, start - 40), start):
        return True
    return any(m.start() < start < m.end() for m in IBAN.finditer(text, max(0, start - 40), start + 40))


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    """Mod-97 check (ISO 13616); the length must fit the country where we know it."""
    want = _IBAN_LENGTH.get(compact[:2])
    if (want and len(compact) != want) or not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def find_emails(text: str) -> list[Span]:
    patterns = [EMAIL] if "@" in text else []
    if _HAS_BR_AT.search(text):
        patterns.append(EMAIL_BR_AT)
    if _HAS_OBF_DOT.search(text):
        patterns.append(EMAIL_WORD_AT)
    return [(m.start(), m.end(), "EMAIL") for p in patterns for m in p.finditer(text)]


def find_phones(text: str) -> list[Span]:
    out = []
    for m in PHONE.finditer(text):
        n_digits = sum(c.isdigit() for c in m.group())
        if (
            7 <= n_digits <= 15
            and not _labelled(text, m.start(), _NUMBER_LABEL)
            and not _inside_code(text, m.start())
        ):
            out.append((m.start(), m.end(), "PHONE"))
    return out


def find_ips(text: str) -> list[Span]:
    out = [
        (m.start(), m.end(), "IP")
        for m in IPV4.finditer(text)
        if not _labelled(text, m.start(), _VERSION_LABEL)
    ]
    if ":" in text:
        for m in IPV6.finditer(text):
            cand = m.group()
            if sum(1 for g in cand.split(":") if g) < 2:
                continue  # "::", "::1"-like slices in code are not addresses worth a span
            try:
                ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            out.append((m.start(), m.end(), "IP"))
    return out


def find_cards(text: str) -> list[Span]:
    out = []
    for m in CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if (
            13 <= len(digits) <= 19
            and _CARD_PREFIX.match(digits)
            and luhn_ok(digits)
            and not _labelled(text, m.start(), _NUMBER_LABEL)
            and not _inside_code(text, m.start())
        ):
            out.append((m.start(), m.end(), "CREDIT_CARD"))
    return out


def find_ibans(text: str) -> list[Span]:
    out = []
    for m in IBAN.finditer(text):
        # The greedy match may have swallowed a following capitalised word: try shorter ends.
        groups = m.group().split(" ")
        for k in range(len(groups), 0, -1):
            cand = " ".join(groups[:k])
            if iban_ok(cand.replace(" ", "")):
                out.append((m.start(), m.start() + len(cand), "IBAN"))
                break
    return out


def find_id_numbers(text: str) -> list[Span]:
    return [
        (m.start(), m.end(), "ID_NUMBER")
        for m in ID_NUMBER.finditer(text)
        if not _labelled(text, m.start(), _NUMBER_LABEL)
    ]


DETECTORS = {
    "EMAIL": find_emails,
    "PHONE": find_phones,
    "IP": find_ips,
    "CREDIT_CARD": find_cards,
    "IBAN": find_ibans,
    "ID_NUMBER": find_id_numbers,
}


def resolve(spans: Sequence[Span], person: Sequence[Span] = ()) -> list[Span]:
    """Non-overlapping spans, longest first, rule spans before PERSON spans."""
    ranked = sorted(spans, key=lambda s: (s[0] - s[1], s[0])) + sorted(
        person, key=lambda s: (s[0] - s[1], s[0])
    )
    taken: list[Span] = []
    for s in ranked:
        if all(s[1] <= t[0] or s[0] >= t[1] for t in taken):
            taken.append(s)
    return sorted(taken)


def redact(text: str, spans: list[Span]) -> str:
    """`text` with each span replaced by its `<TYPE>` placeholder; spans sorted, not overlapping."""
    parts, pos = [], 0
    for start, end, kind in spans:
        parts.append(text[pos:start])
        parts.append(f"<{kind}>")
        pos = end
    parts.append(text[pos:])
    return "".join(parts)
