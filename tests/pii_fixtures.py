"""A seeded PII test set: real sentences with planted PII at known offsets, plus decoys.

The carrier text is 120 real sentences (tests/data/pii_sentences.txt, NYT editorial and
Amazon review snippets from vaderSentiment's sdist). Each document joins a few of them
with 1-2 planted PII values and 1-3 decoys, each inside a short phrase that gives it the
context it would have in the wild ("call", "card ending", "IBAN"). Planted values come in
many real formats: international and national phones, plain and obfuscated emails, IPv4
and IPv6, Luhn-valid cards of six networks (grouped by spaces, dashes or not at all),
mod-97-valid IBANs of ten countries (printed in groups of four and compact). Decoys are
what a careless rule redacts: versions, dates, times, hashes, ISBNs, order numbers,
Luhn-invalid card-like numbers, IBANs with a wrong check, floats, prices and UUIDs.

`span_scores` is the metric of benchmarks/pii_quality.py and tests/test_clean_pii_quality.py:
span level, a detected span is a true positive when it overlaps a planted span of the
same type.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

SENTENCES = Path(__file__).parent / "data" / "pii_sentences.txt"
TYPES = ("EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "ID_NUMBER")

Span = tuple[int, int, str]


@dataclass(frozen=True)
class PiiDoc:
    text: str
    spans: tuple[Span, ...]  # planted PII: (start, end, type)
    decoys: tuple[tuple[int, int, str], ...]  # (start, end, kind): must not be redacted


def sentences() -> list[str]:
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()
    return [s for s in lines if s and not s.startswith("#")]


# ---------------------------------------------------------------- checksums (independent of the rules)


def _luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these positions get doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _iban(country: str, bban: str) -> str:
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    return f"{country}{check:02d}{bban}"


# ---------------------------------------------------------------- PII generators

FIRST = ("maria", "john", "li", "ahmed", "olga", "pierre", "yuki", "sam", "priya", "kofi")
LAST = ("gomez", "doe", "wei", "hassan", "ivanova", "martin", "tanaka", "lee", "sharma", "mensah")
DOMAINS = ("example.com", "mail.example.org", "uni-example.ac.uk", "example.co.jp", "corp.example.io")


def _local(rng: random.Random) -> str:
    f, la = rng.choice(FIRST), rng.choice(LAST)
    return rng.choice(
        (f"{f}.{la}", f"{f}_{la}{rng.randrange(10, 99)}", f"{f[0]}{la}", f"{f}+news", la.upper())
    )


def email(rng: random.Random) -> str:
    local, domain = _local(rng), rng.choice(DOMAINS)
    name, _, tld = domain.rpartition(".")
    return rng.choice(
        (
            f"{local}@{domain}",
            f"{local}@{domain}",
            f"{local} [at] {name.replace('.', ' [dot] ')} [dot] {tld}",
            f"{local}(at){name}(dot){tld}",
            f"{local} at {name.replace('.', ' dot ')} dot {tld}",
            f"{local} AT {name.replace('.', ' DOT ')} DOT {tld}",
            f"{local} {{at}} {domain}",
            f"{local}<at>{domain}",
        )
    )


def _d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def phone(rng: random.Random) -> str:
    return rng.choice(
        (
            f"+44 20 {_d(rng, 4)} {_d(rng, 4)}",
            f"+44 7700 {_d(rng, 6)}",
            f"+1-{rng.randint(201, 989)}-555-{_d(rng, 4)}",
            f"+1 ({rng.randint(201, 989)}) 555-{_d(rng, 4)}",
            f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{_d(rng, 4)}",
            f"{rng.randint(201, 989)}-{rng.randint(200, 999)}-{_d(rng, 4)}",
            f"{rng.randint(201, 989)}.{rng.randint(200, 999)}.{_d(rng, 4)}",
            f"1-800-{rng.randint(200, 999)}-{_d(rng, 4)}",
            f"+49 30 {_d(rng, 7)}",
            f"+49 (0)30 {_d(rng, 4)} {_d(rng, 4)}",
            f"0049 30 {_d(rng, 7)}",
            f"0033 1 {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)}",
            f"+33 1 {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)}",
            f"06 {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)}",
            f"020 {_d(rng, 4)} {_d(rng, 4)}",
            f"(030) {_d(rng, 4)} {_d(rng, 4)}",
            f"07700 {_d(rng, 6)}",
            f"+81 3-{_d(rng, 4)}-{_d(rng, 4)}",
            f"+91 98{_d(rng, 3)} {_d(rng, 5)}",
            f"+61 2 {_d(rng, 4)} {_d(rng, 4)}",
            f"+353 1 {_d(rng, 3)} {_d(rng, 4)}",
        )
    )


def ip(rng: random.Random) -> str:
    o = [rng.randint(1, 254) for _ in range(4)]
    h = [f"{rng.randrange(1, 0x10000):x}" for _ in range(8)]
    return rng.choice(
        (
            f"{o[0]}.{o[1]}.{o[2]}.{o[3]}",
            f"192.168.{o[2]}.{o[3]}",
            f"10.{o[1]}.{o[2]}.{o[3]}",
            f"{o[0]}.{o[1]}.{o[2]}.{o[3]}",
            ":".join(h),
            f"2001:db8:{h[2]}::{h[3]}:{h[4]}",
            f"fe80::{h[5]}:{h[6]}:{h[7]}",
            f"2001:0db8:0000:0000:{h[0]:0>4}:{h[1]:0>4}:{h[2]:0>4}:{h[3]:0>4}",
            f"::ffff:{o[0]}.{o[1]}.{o[2]}.{o[3]}",
        )
    )


# (prefix, length, grouping)
CARD_BRANDS = (
    ("4", 16, (4, 4, 4, 4)),  # Visa
    ("4", 13, (4, 4, 5)),  # Visa, old 13-digit
    ("51", 16, (4, 4, 4, 4)),  # Mastercard
    ("2221", 16, (4, 4, 4, 4)),  # Mastercard 2-series
    ("34", 15, (4, 6, 5)),  # Amex
    ("37", 15, (4, 6, 5)),  # Amex
    ("6011", 16, (4, 4, 4, 4)),  # Discover
    ("65", 16, (4, 4, 4, 4)),  # Discover
    ("3530", 16, (4, 4, 4, 4)),  # JCB
    ("36", 14, (4, 6, 4)),  # Diners Club
)


def _card_digits(rng: random.Random, valid: bool) -> tuple[str, tuple[int, ...]]:
    prefix, length, groups = rng.choice(CARD_BRANDS)
    body = prefix + _d(rng, length - len(prefix) - 1)
    check = _luhn_check_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    return body + check, groups


def _group(digits: str, groups: Iterable[int], sep: str) -> str:
    parts, pos = [], 0
    for g in groups:
        parts.append(digits[pos : pos + g])
        pos += g
    return sep.join(parts)


def card(rng: random.Random, valid: bool = True) -> str:
    digits, groups = _card_digits(rng, valid)
    return _group(digits, groups, rng.choice((" ", " ", "-", "")))


def _bban(rng: random.Random, country: str) -> str:
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
    return {
        "DE": _d(rng, 18),
        "GB": letters + _d(rng, 14),
        "FR": _d(rng, 23),
        "ES": _d(rng, 20),
        "IT": letters[0] + _d(rng, 22),
        "NL": letters + _d(rng, 10),
        "CH": _d(rng, 17),
        "BE": _d(rng, 12),
        "AT": _d(rng, 16),
        "PL": _d(rng, 24),
    }[country]


IBAN_COUNTRIES = ("DE", "GB", "FR", "ES", "IT", "NL", "CH", "BE", "AT", "PL")


def iban(rng: random.Random, valid: bool = True) -> str:
    country = rng.choice(IBAN_COUNTRIES)
    value = _iban(country, _bban(rng, country))
    if not valid:
        value = value[:2] + f"{(int(value[2:4]) + rng.randint(1, 90)) % 97 + 2:02d}" + value[4:]
    if rng.random() < 0.5:
        return value
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def id_number(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    first, second = rng.choice("ACEHJLMPRSTWXY"), rng.choice("ABCEHJKLMPRSTWXYZ")
    sep = rng.choice((" ", ""))
    return sep.join((first + second, _d(rng, 2), _d(rng, 2), _d(rng, 2), rng.choice("ABCD")))


# Phrases that carry each planted value, as text around "{}".
PII_KINDS: dict[str, tuple[Callable[[random.Random], str], tuple[str, ...]]] = {
    "EMAIL": (
        email,
        ("Write to {}.", "Questions can go to {} at any time.", "(contact: {})", "Email me at {}, please."),
    ),
    "PHONE": (
        phone,
        (
            "Call {} for details.",
            "Tel. {}",
            "You can reach the office on {}.",
            "(phone: {})",
            "Ring {} after 6 pm.",
        ),
    ),
    "IP": (
        ip,
        ("The requests came from {}.", "Connect to {} and log in.", "host {} was blocked", "Server: {}"),
    ),
    "CREDIT_CARD": (
        card,
        ("She paid with card {}.", "Card number: {}", "charged to {} last week", "my Visa {} was declined"),
    ),
    "IBAN": (iban, ("Transfer the deposit to IBAN {}.", "Account {} (Sparkasse)", "Pay into {} by Friday.")),
    "ID_NUMBER": (id_number, ("His social security number is {}.", "NI number {} on file.")),
}


# ---------------------------------------------------------------- decoys


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


DECOYS: dict[str, Callable[[random.Random], str]] = {
    "version": lambda r: r.choice(
        (
            f"Python {r.randint(2, 3)}.{r.randint(0, 12)}.{r.randint(0, 20)} is required.",
            f"Upgrade to version {r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 99)} first.",
            f"The v{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)} release fixed it.",
            f"Build 10.0.{r.randint(10000, 22000)}.{r.randint(1, 3000)} shipped today.",
            f"firmware {r.randint(1, 5)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
        ),
    ),
    "date": lambda r: r.choice(
        (
            f"on {r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
            f"dated {r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(1990, 2030)}",
            f"by {r.randint(1, 12):02d}/{r.randint(1, 28):02d}/{r.randint(1990, 2030)}",
            f"({r.randint(1990, 2030)}/{r.randint(1, 12):02d}/{r.randint(1, 28):02d})",
        ),
    ),
    "time": lambda r: r.choice(
        (
            f"at {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
            f"from {r.randint(0, 23):02d}:{r.randint(0, 59):02d} to {r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
            f"timestamp {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{_d(r, 3)}",
        ),
    ),
    "hash": lambda r: r.choice(
        (f"commit {_hex(r, 7)}", f"sha1 {_hex(r, 40)}", f"checksum {_hex(r, 64)}", f"md5 {_hex(r, 32)}"),
    ),
    "isbn": lambda r: r.choice(
        (
            "ISBN 978-3-16-148410-0",
            "ISBN-13: 978-0-306-40615-7",
            "ISBN 0-306-40615-2",
            f"ISBN {'978' + _d(r, 10)}",
        ),
    ),
    "order": lambda r: r.choice(
        (
            f"order #{_d(r, 3)}-{_d(r, 7)}-{_d(r, 7)}",
            f"order no. {_d(r, 10)}",
            f"invoice number {_d(r, 12)}",
            f"tracking number 1Z{_d(r, 3)}AA{_d(r, 11)}",
            f"reference {_d(r, 4)} {_d(r, 4)} {_d(r, 4)} {_d(r, 4)}",
        ),
    ),
    "card_invalid": lambda r: f"card {card(r, valid=False)} was rejected as invalid",
    "iban_invalid": lambda r: f"IBAN {iban(r, valid=False)} has a typo",
    "float": lambda r: r.choice(
        (
            f"pi is {r.uniform(3, 4):.10f}",
            f"a reading of {r.uniform(-300, 300):.3f}",
            f"{r.uniform(0, 1):.2e} per unit",
            f"at {r.uniform(-90, 90):.4f}, {r.uniform(-180, 180):.4f}",
            f"${r.randint(1, 999)},{_d(r, 3)}.{_d(r, 2)} in total",
        ),
    ),
    "number": lambda r: r.choice(
        (
            f"a population of {r.randint(1, 99)},{_d(r, 3)},{_d(r, 3)}",
            f"the score was {r.randint(0, 9)}-{r.randint(0, 9)}",
            f"in {r.randint(1900, 1999)}-{r.randint(2000, 2024)}",
            f"room {r.randint(100, 999)}",
            f"uuid {_hex(r, 8)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 12)}",
            f"model AD-{r.randint(1000, 9999)}",
        ),
    ),
}


# ---------------------------------------------------------------- the set


def assemble(pieces: list[tuple[str, str | None, str | None]], rng: random.Random) -> PiiDoc:
    """One document from its pieces: (phrase with "{}", type, value) plants a value; (text, None,
    kind) is a carrier sentence (kind None) or a decoy. The first piece stays first; the rest
    are shuffled with `rng`."""
    head, rest = pieces[0], pieces[1:]
    rng.shuffle(rest)
    text, spans, decoys = "", [], []
    for i, (phrase, kind, value) in enumerate([head, *rest]):
        if i:
            text += " "
        if kind is not None:
            before, after = phrase.split("{}")
            start = len(text) + len(before)
            spans.append((start, start + len(value), kind))
            text += before + value + after
        else:
            if value is not None:
                decoys.append((len(text), len(text) + len(phrase), value))
            text += phrase
    return PiiDoc(text, tuple(spans), tuple(decoys))


def pii_docs(n_docs: int = 400, seed: int = 1337) -> list[PiiDoc]:
    """`n_docs` documents of 2-3 real sentences, 1-2 planted values and 1-3 decoys each."""
    rng = random.Random(seed)
    carrier = sentences()
    docs = []
    for _ in range(n_docs):
        pieces: list[tuple[str, str | None, str | None]] = [(s, None, None) for s in rng.sample(carrier, 3)]
        for kind in rng.sample(TYPES, rng.randint(1, 2)):
            gen, phrases = PII_KINDS[kind]
            pieces.append((rng.choice(phrases), kind, gen(rng)))
        for kind in rng.sample(sorted(DECOYS), rng.randint(1, 3)):
            pieces.append((DECOYS[kind](rng), None, kind))
        docs.append(assemble(pieces, rng))
    return docs


@dataclass(frozen=True)
class Score:
    planted: int
    found: int
    recall: float
    precision: float

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] == b[2]


def span_scores(
    docs: list[PiiDoc], predicted: list[list[Span]], types: Iterable[str] = TYPES
) -> dict[str, Score]:
    """Per type: recall = planted spans overlapped by a same-type detection; precision =
    detections overlapping a same-type planted span."""
    out = {}
    for t in types:
        planted = hit = found = correct = 0
        for doc, pred in zip(docs, predicted, strict=True):
            truth = [s for s in doc.spans if s[2] == t]
            mine = [s for s in pred if s[2] == t]
            planted += len(truth)
            found += len(mine)
            hit += sum(any(_overlaps(s, p) for p in mine) for s in truth)
            correct += sum(any(_overlaps(p, s) for s in truth) for p in mine)
        out[t] = Score(planted, found, hit / planted if planted else 1.0, correct / found if found else 1.0)
    return out


def misses_and_false_alarms(
    docs: list[PiiDoc], predicted: list[list[Span]], limit: int = 10
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Examples for an error message: planted values missed, and detections that hit no planted value."""
    missed, false = [], []
    for doc, pred in zip(docs, predicted, strict=True):
        missed += [
            (doc.text[s:e], t) for s, e, t in doc.spans if not any(_overlaps((s, e, t), p) for p in pred)
        ]
        false += [
            (doc.text[s:e], t) for s, e, t in pred if not any(_overlaps((s, e, t), p) for p in doc.spans)
        ]
    return missed[:limit], false[:limit]
