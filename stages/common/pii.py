"""Rule-based PII detectors: regex candidates, then checksums and context to reject decoys.

Shared by clean, which redacts what they find, and evaluate, which counts what a model
emits with the same rules (DETECTORS, with PHONE by `find_phones_with` and the regions of
its own params). Each detector returns `(start, end, type)` spans over the text; `resolve` keeps
the non-overlapping ones and `redact` writes `<TYPE>` placeholders in their place. PHONE
in clean is `find_phones_with`: the rules below beside Google's libphonenumber, combined
by validation, context words and shape. What is deliberately NOT redacted, and why:
- versions: a dotted quad right after "version", "ver", "release", "build", "firmware"
  (or glued to a "v") is a version number, not an IPv4 address;
- dates (2024-01-15, 15/01/2024) and times (12:30:45): no pattern accepts their shapes,
  and times fail IPv6 validation;
- hashes (hex without separators), ISBNs and order/invoice/tracking numbers: numbers
  right after such a label are skipped, cards must pass Luhn *and* start with a card
  network's prefix (ISBN-13's 978/979 is none), IBANs must pass mod-97;
- MAC addresses (six hex pairs) fail IPv6 validation;
- digits that continue a code to their left (the tail of a 16-digit reference, of an
  IBAN with a bad check, of a hex hash) are neither phones nor cards nor IDs;
- a bare run of digits is an ID number only after an ID label ("SSN", "CPF", "BSN"), and
  a phone only when it is exactly a valid national number of 10 to 15 digits that fails
  the checks of the barcodes, ISBNs and cards of its length and is no Unix timestamp.

Measured by benchmarks/pii_quality.py on two sets: tests/pii_fixtures.py, written beside
these rules, and tests/pii_faker_fixtures.py, faker's values in 9 locales. Fixes the first
prompted: "00" international prefixes (0049 30 1234567), French five-pair numbers
(06 12 34 56 78) and a leading "1-" (1-800-555-0199) for phones; an IPv4 address may end
a sentence ("from 10.0.0.1."); cards must not touch a letter (19 digits inside an md5)
nor continue a code (see above), nor may phones. The second: JCB's and Maestro's ranges,
Corsica's NIR (2A, 2B), German hyphenated street names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal, get_args

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
    # +49 (30) 1234567, +49 (0)30 1234 5678, 0049 30 1234567, 0033 1 42 68 53 00 (after "00"
    # a separator: a bare 00-run is as often a zero-padded code, left to libphonenumber)
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?|\b00\d{1,3}[\s.-])(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{1,4}){1,4}(?![\w]|\.\d)"
    # North American: (202) 555-0143, 202-555-0143, 202.555.0143, 1-800-555-0199
    # and an extension: 429-839-4013x36628, (202) 555-0143 ext. 12
    r"|(?<![\w.+-])(?:1[-.\s])?(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.]\d{4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-]|\.\d)"
    # national trunk prefix: 020 7946 0958, (030) 1234 5678, 07700 900123; a bracketed
    # area code before one group: (01732) 31827, (0191)4960275
    r"|(?<![\w.+-])(?:\(0\d{1,4}\)|0\d{1,4})[\s-]\d{3,4}[\s-]?\d{3,4}(?![\w-]|\.\d)"
    r"|(?<![\w.+-])\(0\d{2,5}\)\s?\d{4,8}(?![\w-]|\.\d)"
    # Brazilian, a two-digit area code then 4-4 or 5-4: (11) 3456-7890, 21 98765-4321
    r"|(?<![\w.+-])(?:\(\d{2}\)\s?|\d{2}\s)(?!(?:1[89]|20)\d\d-(?:1[89]|20)\d\d\b)9?\d{4}-\d{4}(?![\w-]|\.\d)"
    # French style, five pairs: 06 12 34 56 78, 01.42.68.53.00
    r"|(?<![\w.+-])0[1-9](?:([\s.])\d{2})(?:\1\d{2}){3}(?![\w-]|\.\d)"
)
IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\w)"
)
IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)
CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){11,18}\d(?![\w-]|\.\d)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
# A number right after one of these labels is a reference, not a person's number.
_NUMBER_LABEL = re.compile(
    r"\b(?:order|invoice|isbn(?:-1[03])?|tracking|ref(?:erence)?|ticket|serial|part|sku|item|case|"
    r"issue|patent|doi|arxiv|pmid|ean|upc|gtin|barcode)\s*(?:no\.?|number|num\.?|id)?\s*[:#]?\s*$",
    re.IGNORECASE,
)
_VERSION_LABEL = re.compile(r"\b(?:version|ver\.?|release|build|firmware|v)\s*$", re.IGNORECASE)
# Issuer prefixes of the card networks: Visa, Mastercard, Amex, Discover, JCB (35, and the
# 15-digit 2131 and 1800), Diners, and Maestro (5018, 5020, 5038, 56-58, 6304, 6390, 6759,
# 6761-6763, 0604; 12 to 19 digits).
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9])|35|2131|1800|3(?:0[0-5]|[68])|"
    r"50(?:18|20|38)|5[6-8]|6(?:304|390|759|76[1-3])|0604"
)
_MAESTRO = re.compile(r"50(?:18|20|38)|5[6-8]|6(?:304|390|759|76[1-3])|0604")
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
        end = m.end()
        first = re.match(r"\d+", m.group()).group()
        if len(first) >= 12:
            end = m.start() + len(first)  # a compact card: what follows a space is the next token
        digits = re.sub(r"\D", "", text[m.start() : end])
        if (
            (13 <= len(digits) <= 19 or (len(digits) == 12 and _MAESTRO.match(digits)))
            and _CARD_PREFIX.match(digits)
            and luhn_ok(digits)
            and not _labelled(text, m.start(), _NUMBER_LABEL)
            and not _inside_code(text, m.start())
        ):
            out.append((m.start(), end, "CREDIT_CARD"))
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


# ---------------------------------------------------------------- phones via libphonenumber

# Words that announce a phone number, in the languages of the regions measured; "tel:" is the
# link scheme. A candidate right after one of them is a phone even when libphonenumber cannot
# validate it (a local number without its area code, a range it does not know).
_PHONE_CONTEXT = re.compile(
    r"(?:\b(?:tel|tél|phone|telephone|téléphone|fax|mobile|mob|cell|call|telefon|handy|telefono|"
    r"cellulare|teléfono|móvil|movil|telefone|celular|telefoon|mobiel|dial|whatsapp|sms)\b\.?|tel:"
    # "reach us on", "you can reach the office at": how a number is given without a phone word
    r"|\breach(?:\s+(?:me|us|him|her|them|(?:the|our|my|his|her|their)\s+[a-z]+))?\s+(?:on|at)\b)",
    re.IGNORECASE,
)
# A phone word after the number: "0690 106704 is the number", "..., my mobile number".
_PHONE_AFTER = re.compile(
    r"\s*,?\s*(?:is|was)\s+(?:the|my|our|his|her|their)\s+"
    r"(?:(?:phone|mobile|cell|direct|home|office|contact|main)\s+)?(?:number|line)\b",
    re.IGNORECASE,
)
# Dates and decimals have phone-like digit counts; libphonenumber's loosest leniency takes them.
_NOT_A_PHONE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d+\.\d+(?:\.\d+)+|\d+\.\d+"
    r"|(?:1[89]|20)\d\d\s?[-–/]\s?(?:1[89]|20)\d\d"  # a span of years, 1942-2009
)
PhoneMethod = Literal[
    "rules", "possible", "valid", "strict_grouping", "exact_grouping", "rules+valid", "combined"
]
PHONE_METHODS: tuple[str, ...] = get_args(PhoneMethod)


def check_phone_params(method: str, regions: Sequence[str]) -> None:
    """ParamsError (via `require`) when a phone method lacks usable regions; the params of clean's
    pii step and of evaluate's privacy counting both hold these keys."""
    from stages.common.params import require

    if method == "rules":
        return
    require(bool(regions), "phone_regions", f"is empty; phone_method {method} needs regions such as [US, GB]")
    import phonenumbers

    unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
    require(
        not unknown,
        "phone_regions",
        f"{unknown} are not libphonenumber regions; use ISO 3166 alpha-2 codes in capitals (US, GB, DE)",
    )


_SENTENCE_END = re.compile(r"[.!?]\s")
# What may not follow a phone: a letter or digit (the number goes on), or a thousands or
# decimal separator and digits (the matcher cut "066,205 visitors", "9.84e-01" in two).
_GLUED_AFTER = re.compile(r"-?(?!x\d)[A-Za-z0-9]|[.,]\d")


def _phone_context(text: str, start: int, end: int) -> bool:
    """A phone word announces the number at `start`, in the same sentence ("phone service.
    card 3718 ..." is a card number's sentence after a phone word's), or names it right after
    its `end` ("... is the number")."""
    if _PHONE_AFTER.match(text, end):
        return True
    if not _announced(text, start, _PHONE_CONTEXT, 24):
        return False
    last = list(_PHONE_CONTEXT.finditer(text, max(0, start - 24), start))[-1]
    return not _SENTENCE_END.search(text, last.end(), start)


def _announced(text: str, start: int, label: re.Pattern, reach: int) -> bool:
    """A `label` match ends within `reach` characters before `start`, with no digit between
    them: the label is this number's, not that of a number before it."""
    ends = [m.end() for m in label.finditer(text, max(0, start - reach), start)]
    return bool(ends) and not any(c.isdigit() for c in text[ends[-1] : start])


# A number right after one of these is an account, user or process number, not a phone.
_NOT_PHONE_LABEL = re.compile(
    r"\b(?:account|acct|a/c|id|pid|uid|thread|process|user|customer|member|client)\s*"
    r"(?:no\.?|number|num\.?|id)?\s*[:#]?\s*$",
    re.IGNORECASE,
)
# A number hyphenated to a word is a model or part code (AD-2644, SKU-10442), not a phone.
_CODE_HYPHEN = re.compile(r"[A-Za-z]-$")


def _phone_guards(text: str, start: int, end: int) -> bool:
    n_digits = sum(c.isdigit() for c in text[start:end])
    # libphonenumber cuts numbers out of longer tokens (the digits of a UUID or a hash)
    glued = (
        (start and (text[start - 1].isalnum() or text[start - 1] == "`"))  # "`" opens code
        or _GLUED_AFTER.match(text, end)
        or _CODE_HYPHEN.search(text, 0, start)
    )
    return (
        7 <= n_digits <= 15
        and not glued
        and not _labelled(text, start, _NUMBER_LABEL)
        and not _labelled(text, start, _NOT_PHONE_LABEL)
        and not _inside_code(text, start)
    )


def _grouped_like(raw: str, number) -> bool:
    """The digits of `raw` are written in the groups of the number's national or international
    format (202-555-0143, 0161 496 0066) or behind a "+": the shape people give a phone."""
    import phonenumbers

    if raw.lstrip("(").startswith("+"):
        return True
    groups = re.findall(r"\d+", raw)
    if len(groups) < 2:
        return False
    fmt = phonenumbers.PhoneNumberFormat
    return any(
        re.findall(r"\d+", phonenumbers.format_number(number, f))[-len(groups) :] == groups
        for f in (fmt.NATIONAL, fmt.INTERNATIONAL)
    )


def _bare_national(raw: str, number) -> bool:
    """`raw` is one run of digits that are exactly the number's national format, trunk
    prefix included (0432406301 for NL 043 240 6301, 2148212664 for US (214) 821-2664)."""
    import phonenumbers

    fmt = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return raw.isdigit() and re.sub(r"\D", "", fmt) == raw


# A run of digits and phone punctuation holding at least 7 digits: the only places the
# matcher can find a number the guards keep, so it reads these windows, not the whole text.
# After a space, a "(" goes on only as a bracketed area code, "(030)", not "(2029/01/10)".
_PHONE_RUN = re.compile(r"[+(]?\d(?:[\d().\-/]|[ \t](?=[\d+]|\(\d{1,5}\)))*\d(?:\s?x\d+)?")


def _matcher_spans(
    text: str,
    regions: Sequence[str],
    leniency: str,
    windows: bool = False,
    taken: Sequence[tuple[int, int]] = (),
) -> dict[tuple[int, int], tuple[bool, bool, bool]]:
    """libphonenumber's matches in every region: (start, end) -> (valid in some region,
    valid and grouped like a phone in that region). With `windows`, the matcher reads each
    phone-like run of the text (with a character either side) instead of the whole text,
    skipping runs the guards of `find_phones_with` would refuse whole (glued to a word, a
    date or decimal, after an order label, over 20 digits) or inside a `taken` span; a run that opens with "+" is read in one region,
    as its country code says where it belongs."""
    import phonenumbers

    level = getattr(phonenumbers.Leniency, leniency.upper())
    if windows:
        pieces = [
            (max(0, m.start() - 1), text[max(0, m.start() - 1) : m.end() + 1])
            for m in _PHONE_RUN.finditer(text)
            if 7 <= sum(c.isdigit() for c in m.group()) <= 20
            and not (m.start() and text[m.start() - 1].isalnum())
            and not _NOT_A_PHONE.fullmatch(m.group())
            and not _labelled(text, m.start(), _NUMBER_LABEL)
            and not any(s <= m.start() and m.end() <= e for s, e in taken)
        ]
    else:
        pieces = [(0, text)]
    out: dict[tuple[int, int], tuple[bool, bool]] = {}
    for offset, piece in pieces:
        for region in regions[:1] if windows and piece.lstrip("( ").startswith("+") else regions:
            for m in phonenumbers.PhoneNumberMatcher(piece, region, leniency=level):
                valid = phonenumbers.is_valid_number(m.number)
                shaped = valid and _grouped_like(m.raw_string, m.number)
                bare = valid and _bare_national(m.raw_string, m.number)
                key = (offset + m.start, offset + m.end)
                was = out.get(key, (False, False, False))
                out[key] = (was[0] or valid, was[1] or shaped, was[2] or bare)
    return out


def gtin_ok(digits: str) -> bool:
    """GS1 check digit (EAN-8, UPC-A, EAN-13, GTIN-14, ISBN-13): weights 3, 1, 3 ... from the right."""
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _isbn10_ok(digits: str) -> bool:
    return sum((10 - i) * int(c) for i, c in enumerate(digits)) % 11 == 0


def code_checksum_ok(digits: str) -> bool:
    """True when a bare digit run passes the check of a code of its length that is not a
    phone: ISBN-10 (mod 11), EAN-8/UPC-A/EAN-13/GTIN-14 (GS1 mod 10), a card (Luhn, 12 to 19
    digits). A printed barcode passes its check; a phone number does so only by chance
    (about one in ten), so a run that passes is left to be a code."""
    n = len(digits)
    return (
        (n == 10 and _isbn10_ok(digits))
        or (n in (8, 12, 13, 14) and gtin_ok(digits))
        or (12 <= n <= 19 and luhn_ok(digits))
    )


def _bare_phone(raw: str) -> bool:
    """A run of 10 to 15 digits with no separator (0432406301) that fails the checks of the
    codes of its length and is no Unix timestamp of this century (ten digits from 1): with no
    grouping or "+" to give its shape, the checksums decide. Shorter runs are left out: dates
    (20240115), postal codes, EAN-8s, 9-digit IDs (SSN, BSN) and evaluate's canary secrets
    are written so."""
    if not (raw.isdigit() and 10 <= len(raw) <= 15) or (len(raw) == 10 and raw[0] == "1"):
        return False
    return not code_checksum_ok(raw)


def find_phones_with(text: str, regions: Sequence[str] = (), method: str = "rules") -> list[Span]:
    """PHONE spans by one of PHONE_METHODS (benchmarks/pii_quality.py measures each):
    rules = the patterns above; possible/valid/strict_grouping/exact_grouping =
    libphonenumber's matcher alone at that leniency; rules+valid = the union of rules and
    VALID; combined = rule matches, plus libphonenumber's POSSIBLE matches that pass the
    guards (label, code, digit count, not a date or decimal) and are either announced by a
    context word ("tel", "call", "fax", "tel:", "reach us on", "... is the number") or valid in a region and written in its
    grouping (a bare valid digit run is as often an order or account number)."""
    if method == "rules":
        return find_phones(text)
    if not any(c.isdigit() for c in text):
        return []
    if method in ("possible", "valid", "strict_grouping", "exact_grouping"):
        return [(s, e, "PHONE") for s, e in _matcher_spans(text, regions, method)]
    rules = {(s, e) for s, e, _ in find_phones(text)}
    if method == "rules+valid":
        return [(s, e, "PHONE") for s, e in rules | set(_matcher_spans(text, regions, "valid"))]
    if method != "combined":
        raise ValueError(f"phone method {method!r}: use one of {', '.join(PHONE_METHODS)}")
    out = [(s, e, "PHONE") for s, e in rules]
    found = _matcher_spans(text, regions, "possible", True, sorted(rules))
    valid_end: dict[int, int] = {}  # start -> end of the shortest valid reading there
    for (s, e), (valid, _, _) in found.items():
        if valid:
            valid_end[s] = min(e, valid_end.get(s, e))
    for (s, e), (valid, shaped, bare) in found.items():
        if (s, e) in rules or not _phone_guards(text, s, e) or _NOT_A_PHONE.fullmatch(text[s:e]):
            continue
        if _phone_context(text, s, e):
            # an invalid reading that runs on past a valid one from the same start has taken
            # in the next number's digits ("Tel: 0555767529 066,205 visitors")
            if valid or valid_end.get(s, e) >= e:
                out.append((s, e, "PHONE"))
        elif (shaped or (bare and _bare_phone(text[s:e]))) and not _announced(text, s, _ID_CONTEXT, 40):
            out.append((s, e, "PHONE"))
    return out


# ---------------------------------------------------------------- national ID numbers


def _insee(d: str) -> bool:
    """French NIR: a key of 97 minus the remainder of the first 13 digits mod 97 (Corsica's
    departments 2A and 2B count as 19 and 18)."""
    d = d[:5] + {"2A": "19", "2B": "18"}.get(d[5:7], d[5:7]) + d[7:]
    return len(d) == 15 and d.isdigit() and d[0] in "12378" and 97 - int(d[:13]) % 97 == int(d[13:])


def _cpf(d: str) -> bool:
    """Brazilian CPF: two mod-11 check digits; eleven equal digits are not issued."""
    if len(d) != 11 or len(set(d)) == 1:
        return False
    for n in (9, 10):
        total = sum(int(c) * w for c, w in zip(d[:n], range(n + 1, 1, -1)))
        if (total * 10 % 11) % 10 != int(d[n]):
            return False
    return True


def _bsn(d: str) -> bool:
    """Dutch BSN: the 11-proof (weights 9..2, the last digit weighs -1)."""
    total = sum(int(c) * w for c, w in zip(d[:8], range(9, 1, -1))) - int(d[8])
    return len(d) == 9 and d != "000000000" and total % 11 == 0


_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]  # fmt: skip
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]  # fmt: skip


def _aadhaar(d: str) -> bool:
    """Indian Aadhaar: 12 digits, not starting 0 or 1, Verhoeff check digit."""
    if len(d) != 12 or d[0] in "01":
        return False
    c = 0
    for i, ch in enumerate(reversed(d)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def _ssn(d: str) -> bool:
    """US SSN: no check digit, only the never-issued areas, groups and serials to rule out."""
    return len(d) == 9 and d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


_NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_CF_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8,
    12, 14, 16, 10, 22, 25, 24, 23,
)))  # fmt: skip


def _nif(s: str) -> bool:
    """Spanish DNI (8 digits) or NIE (X/Y/Z and 7 digits) and the mod-23 letter."""
    body = s[:-1]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    return body.isdigit() and _NIF_LETTERS[int(body) % 23] == s[-1]


def _codice_fiscale(s: str) -> bool:
    """Italian codice fiscale: odd positions by a table, even ones by value, mod 26 -> letter."""
    total = 0
    for i, ch in enumerate(s[:15]):
        total += _CF_ODD[ch] if i % 2 == 0 else (int(ch) if ch.isdigit() else ord(ch) - 65)
    return chr(65 + total % 26) == s[15]


# Labels that announce an ID number; a layout without separators (a bare run of digits, as
# common as order numbers) counts only after one of them.
_ID_CONTEXT = re.compile(
    r"\b(?:ssn|social security|social insurance|national (?:id|insurance)|id (?:no|number)|identity|"
    r"tax (?:id|number)|taxpayer|bsn|burgerservicenummer|sofi|cpf|aadhaa?r|uid|insee|nir|"
    r"sécurité sociale|securite sociale|numéro de sécu|dni|nie|nif|codice fiscale|personal number|"
    r"personalausweis|steuer-?id)\b",
    re.IGNORECASE,
)
_SEP = r"[ .-]?"
# (regex over the text, check over the value with separators removed, needs a label when compact)
_ID_LAYOUTS = (
    # US SSN: 123-45-6789 (the shape alone), 123 45 6789 and 123456789 (after a label)
    (re.compile(r"(?<![\w.+-])\d{3}-\d{2}-\d{4}(?![\w-]|\.\d)"), _ssn, False),
    (re.compile(r"(?<![\w.+-])\d{3}(?: \d{2} |\d{2})\d{4}(?![\w-]|\.\d)"), lambda d: len(d) == 9 and _ssn(d), True),
    # French NIR: 1 75 09 17 300 379 64, 175091730037964
    (re.compile(r"(?<![\w.+-])[12378] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?![\w-]|\.\d)"), _insee, None),
    # Brazilian CPF: 253.660.082-39, 253 660 082 39, 25366008239
    (re.compile(r"(?<![\w.+-])\d{3}([ .-]?)\d{3}\1\d{3}[ .-]?\d{2}(?![\w-]|\.\d)"), _cpf, None),
    # Dutch BSN: 3827.49.066, 382 749 066, 382749066
    (re.compile(r"(?<![\w.+-])(?:\d{4}\.\d{2}\.\d{3}|\d{3}([ .-]?)\d{3}\1\d{3})(?![\w-]|\.\d)"), _bsn, None),
    # Indian Aadhaar: 8982 5979 1900, 8982-5979-1900, 898259791900
    (re.compile(r"(?<![\w.+-])[2-9]\d{3}([ -]?)\d{4}\1\d{4}(?![\w-]|\.\d)"), _aadhaar, None),
)  # fmt: skip
# Spanish DNI/NIE: 78440207H, 78440207-H, 78.440.207-H, X5094203W
_NIF = re.compile(r"(?<![\w.-])(?:\d{2}\.?\d{3}\.?\d{3}|[XYZ][ -]?\d{7})[ -]?[A-Z](?!\w)")
# Italian codice fiscale: 6 letters, 2 digits, month letter, 2 digits, letter, 3 digits, check
_CF = re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPRST]\d{2}[A-Z]\d{3}[A-Z]\b")
_UK_NINO = re.compile(
    r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)


def find_id_numbers(text: str) -> list[Span]:
    """National ID numbers: US SSN, UK NINO, French NIR, Spanish DNI/NIE, Italian codice
    fiscale, Dutch BSN, Brazilian CPF, Indian Aadhaar, in their layouts with dashes, dots,
    spaces or none. Each is checked where the ID has a check (all but SSN and NINO); a run of
    bare digits also needs an ID label before it (`_ID_CONTEXT`), a separated SSN too."""
    out = []
    if any(c.isdigit() for c in text):
        for pattern, check, label in _ID_LAYOUTS:
            for m in pattern.finditer(text):
                raw = m.group()
                digits = re.sub(r"[ .-]", "", raw)
                compact = raw.isalnum()
                after = text[m.end() : m.end() + 2]
                if len(after) == 2 and after[0] in raw and after[1].isdigit():
                    continue  # the same grouping goes on: part of a longer number (a card)
                needs_label = label if label is not None else compact
                if (
                    not check(digits)
                    or _labelled(text, m.start(), _NUMBER_LABEL)
                    or _inside_code(text, m.start())
                ):
                    continue
                if needs_label and not _announced(text, m.start(), _ID_CONTEXT, 40):
                    continue
                out.append((m.start(), m.end(), "ID_NUMBER"))
        out += [
            (m.start(), m.end(), "ID_NUMBER")
            for m in _NIF.finditer(text)
            if _nif(re.sub(r"[ .-]", "", m.group()))
        ]
    out += [(m.start(), m.end(), "ID_NUMBER") for m in _CF.finditer(text) if _codice_fiscale(m.group())]
    out += [
        (m.start(), m.end(), "ID_NUMBER")
        for m in _UK_NINO.finditer(text)
        if not _labelled(text, m.start(), _NUMBER_LABEL)
    ]
    return out


# ---------------------------------------------------------------- street addresses

# Street types, English (USPS suffixes in common use) and the words that open a street's name
# in French, Spanish, Italian and Portuguese, or end it in German and Dutch compounds.
_EN_STREET = (
    r"street|st|avenue|ave|road|rd|lane|ln|drive|dr|way|court|ct|place|pl|boulevard|blvd|square|sq|"
    r"terrace|crescent|close|parkway|pkwy|highway|hwy|circle|cir|trail|trl|row|walk|grove|gardens|"
    r"hill|heights|park|mews|green|rise|view|vista|crossing|xing|extension|ext|pike|plaza|port|"
    r"ridge|run|loop|pass|path|point|ports?|skyway|springs?|station|summit|turnpike|valley|ville|"
    r"villages?|wells?|manor|meadows?|mill|mission|motorway|oval|orchard|junction|knolls?|lakes?|"
    r"landing|light|lodge|isle|islands?|harbor|haven|forest|fork|fields?|falls|expressway|estates?|"
    r"divide|dale|creek|crest|cove|corners?|common|cliffs?|centers?|causeway|canyon|camp|burgs?|"
    r"brooks?|branch|bridge|bypass|bluffs?|bend|beach|alley|via|shoals?|shore|stream|throughway|"
    r"tunnel|underpass|union|glen|gateway|freeway|flats?|ferry|ford|fort|garden|key|keys|neck|"
    r"parks|prairie|ramp|ranch|rapids?|rest|route|shoal|spur|squares|stravenue|track|trafficway|"
    r"unions|viaduct|views|walks|wall|ways|fall|plains?|malls?|junctions?|marg"
)
_ROMANCE_STREET = (
    r"rue|avenue|av\.?|chemin|boulevard|bd|place|allée|impasse|quai|route|cours|square|"
    r"calle|c/|avenida|avda\.?|paseo|plaza|camino|ronda|carrer|carretera|callejón|pasaje|glorieta|"
    r"cuesta|travesía|urbanización|"
    r"via|viale|piazza|piazzale|corso|largo|vicolo|rotonda|contrada|borgo|strada|stretto|canale|"
    r"rua|alameda|travessa|praça|rodovia|estrada|vila|ladeira|setor|quadra"
)
_GERMANIC_END = (
    r"straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|ufer|steig|pfad|chaussee|"
    r"straat|laan|plein|gracht|singel|kade|dijk|dreef|hof|markt|pad|steeg|baan|boulevard"
)
_NAME = r"[A-ZÀ-Ý][\w'’.-]*"
_PARTICLE = r"(?:de|del|della|delle|dei|di|da|do|dos|das|du|des|la|le|les|los|las|d'|l')"
ADDRESS = re.compile(
    # 415 Buckley Skyway, 12B Main St., 0499 Holland Extension Apt. 3
    rf"(?<![\w.,/-])\d{{1,5}}(?:/\d{{1,5}})?[A-Za-z]?,?\s+(?:{_NAME}\s+){{0,3}}(?=[A-Z])(?i:{_EN_STREET})\.?(?!\w)"
    rf"(?:,?\s+(?:Apt\.|Suite|Unit|Flat)\s*\w+)?"
    # 95, chemin de Fernandez; Avenida de Valentín Verdugo 3; Rotonda Stein, 77; Rua X, 79
    # (French writes the street word in lower case after the number; elsewhere it is capitalised)
    rf"|(?<!\w)(?:\d{{1,5}},?\s+(?i:{_ROMANCE_STREET})|(?=[A-ZÀ-Ý])(?i:{_ROMANCE_STREET}))\s+(?:{_PARTICLE}\s+)*"
    rf"{_NAME}(?:\s+(?:{_PARTICLE}\s+)?{_NAME}){{0,3}}(?:,?\s+(?:n\.?\s*)?\d{{1,5}}[a-zA-Z]?(?!\w))?"
    # Seifertplatz 183, Deansingel 812, Lange Straße 4a
    rf"|(?<!\w)(?:{_NAME}\s+)?[A-ZÄÖÜ][\w-]*?-?(?i:{_GERMANIC_END})\s+\d{{1,4}}(?:[-/]\d{{1,4}})?[a-zA-Z]?(?!\w)"
)
# A following postcode and town extends the span: ", 88368 Roding", ", North Kaylee, ND 72372"
_ADDRESS_TAIL = re.compile(
    r"(?:,?\s+(?:\d{4,5}(?:[ -]?\d{3})?|\d{4}\s?[A-Z]{2}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\s+[A-ZÀ-Ý][\w'-]*"
    r"|,\s+[A-ZÀ-Ý][\w'-]*(?:\s+[A-ZÀ-Ý][\w'-]*){0,2},\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)"
)


def find_addresses(text: str) -> list[Span]:
    """Street addresses by rule (benchmarks/pii_quality.py compares pyap and usaddress): a
    house number with an English street type, a Romance street word with a name and number,
    or a German/Dutch compound street name with its number; a postcode and town that follow
    are included."""
    out = []
    for m in ADDRESS.finditer(text):
        if not any(c.isdigit() for c in m.group()):
            continue  # "Rue de la Paix" alone names a street, not a person's address
        end = m.end()
        tail = _ADDRESS_TAIL.match(text, end)
        out.append((m.start(), tail.end() if tail else end, "ADDRESS"))
    return out


DETECTORS = {
    "EMAIL": find_emails,
    "PHONE": find_phones,
    "IP": find_ips,
    "CREDIT_CARD": find_cards,
    "IBAN": find_ibans,
    "ID_NUMBER": find_id_numbers,
}
# Types a caller asks for by name (clean.pii.types); evaluate counts DETECTORS only.
OPTIONAL_DETECTORS = {"ADDRESS": find_addresses}
# Types whose spans passed a check (a checksum, or an ID label) win over any overlapping span
# of another type: "BSN (481 723 651)" also reads as a phone, one character longer.
_CHECKED = ("ID_NUMBER", "IBAN", "CREDIT_CARD")


def detectors(
    types: Sequence[str], phone_method: str = "rules", phone_regions: Sequence[str] = ()
) -> list[Callable[[str], list[Span]]]:
    """The detector of each type in `types` (PERSON, spaCy's, excepted), PHONE by `phone_method`
    in `phone_regions`: what clean's pii step and evaluate's privacy counting both run."""
    table = {**DETECTORS, **OPTIONAL_DETECTORS}
    return [
        partial(find_phones_with, regions=tuple(phone_regions), method=phone_method)
        if t == "PHONE"
        else table[t]
        for t in types
        if t != "PERSON"
    ]


def resolve(spans: Sequence[Span], person: Sequence[Span] = ()) -> list[Span]:
    """Non-overlapping spans: checked types first, then the longest, rule spans before PERSON spans."""
    ranked = sorted(spans, key=lambda s: (s[2] not in _CHECKED, s[0] - s[1], s[0])) + sorted(
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
