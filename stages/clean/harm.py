"""The harm step: score documents for profanity and abuse; drop or flag them (a param).

Two signals, either can trip:
- alt-profanity-check's bundled linear model (`predict_prob`) on the first
  `max_chars` characters; it runs once per batch, as its per-call overhead dominates;
- the share of words found in an embedded word list, matched whole-token so that
  "Scunthorpe", "assessment", "class" or "cocktail" never match.

Obfuscated spellings are undone before both: a token is read through leetspeak
("sh1t", "a$$hole", "w@nker"), masks ("f*ck", "f**k"), stretched letters ("fuuuck")
and spaced or dotted letters ("f u c k", "s.h.i.t"), and it counts, and is shown to the
classifier in its plain spelling, only when that spelling is a listed word. Words with
a common innocent sense (Dick, Cock, Pussy as names, places or titles) do not count when
written title-case. Measured on tests/data/harm_labelled.jsonl by
benchmarks/harm_quality.py. The scores go into meta (`clean.harm`) whether or not the
document is kept.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from functools import lru_cache

from stages.clean.base import Outcome, Step, drop, keep
from stages.clean.config import HarmParams

# Common English profanity and abuse, with the inflections and the chat spellings that
# occur; lower case.
_WORD_TEXT = (
    "ahole arse arsehole ass asses asshole assholes bastard bastards biatch bitch bitches bitching "
    "bitchy bollocks bullshit cock cocks cocksucker crap cunt cunts damn dick dickhead dicks dildo "
    "dipshit douche douchebag fag fags faggot faggots fck fcking fkn fking fuck fucked fucker "
    "fuckers fuckin fucking fucks fuk fuking fukin fvck goddamn horseshit jackass jerkoff kys "
    "motherfucker motherfuckers motherfucking nigga nigger niggers phuck phuk phuking phucking piss "
    "pissed prick pricks pussy retard retarded shit shits shitty shithead slut sluts stfu twat "
    "wank wanker wankers whore whores"
)
WORDS = frozenset(_WORD_TEXT.split())
# Listed words that are also names, places or titles ("Dick Cheney", "Moby-Dick").
AMBIGUOUS = frozenset(["cock", "cocks", "dick", "dicks", "prick", "pricks", "pussy"])
_LEET = {"0": "o", "1": "il", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
_BY_LENGTH: dict[int, tuple[str, ...]] = {
    n: tuple(sorted(w for w in WORDS if len(w) == n)) for n in {len(w) for w in WORDS}
}
# A token: letters, digits, leet symbols and masks, with at least one letter.
_TOKEN = re.compile(r"[\w@$!*'-]*[A-Za-z][\w@$!*'-]*")
# Three or more single letters split by a space, dot, dash or underscore: "f u c k", "s.h.i.t".
_SPACED = re.compile(r"(?<![\w*])(?:[A-Za-z][ ._-]){2,}[A-Za-z](?![\w*])")
_SPACED_SEP = re.compile(r"[ ._-]")
_PLAIN = re.compile(r"[a-z]+")
_RUN = re.compile(r"(.)\1{2,}")
_WORD = re.compile(r"\w+")


def _spellings(token: str) -> list[str]:
    """Plain spellings an obfuscated token may stand for (lower case, '*' kept as a mask)."""
    options = [_LEET.get(c, c) for c in token.replace("-", "").replace("'", "")]
    if sum(len(o) > 1 for o in options) > 4:  # a long number, not a word
        return []
    forms = {"".join(p) for p in itertools.product(*options)}
    # Stretched letters: "fuuuck" -> "fuck", "FUCKKK" -> "fuckk" and "fuck".
    forms |= {_RUN.sub(r"\1", f) for f in forms} | {_RUN.sub(r"\1\1", f) for f in forms}
    return sorted(forms)


@lru_cache(maxsize=65536)
def listed_word(token: str) -> str | None:
    """The listed word `token` spells, once de-obfuscated; None for ordinary words."""
    core = token.strip("'-!")
    if core.startswith("*") and core.endswith("*"):
        core = core.strip("*")  # markdown *emphasis*, not a mask
    lower = core.lower()
    if lower in WORDS:
        return None if lower in AMBIGUOUS and core.istitle() else lower
    if _PLAIN.fullmatch(lower) and not _RUN.search(lower):
        return None
    if "-" in lower and not any(c in lower for c in "*@$!0134579"):
        # "a-hole" counts joined, "fuck-up" by its parts, "Moby-Dick" by neither
        if lower.replace("-", "") in WORDS:
            return lower.replace("-", "")
        parts = [listed_word(p) for p in core.split("-") if p]
        return next((p for p in parts if p), None)
    for form in _spellings(lower):
        if "*" not in form:
            if form in WORDS:
                return form
        elif form.strip("*"):
            mask = re.compile(form.replace("*", "[a-z]"))
            hit = next((w for w in _BY_LENGTH.get(len(form), ()) if mask.fullmatch(w)), None)
            if hit:
                return hit
    return None


def deobfuscate(text: str) -> tuple[str, int]:
    """`text` with every obfuscated listed word in its plain spelling, and the number of
    listed words in it."""
    hits = 0

    def join_spaced(m: re.Match) -> str:
        joined = _SPACED_SEP.sub("", m.group())
        return joined if listed_word(joined) else m.group()

    def plain(m: re.Match) -> str:
        nonlocal hits
        word = listed_word(m.group())
        if word is None:
            return m.group()
        hits += 1
        return word if word != m.group().lower() else m.group()

    text = _SPACED.sub(join_spaced, text)
    return _TOKEN.sub(plain, text), hits


def wordlist_hits(text: str) -> int:
    return deobfuscate(text)[1]


def wordlist_fraction(text: str) -> tuple[str, float]:
    """The de-obfuscated text (what the classifier reads) and its share of listed words."""
    plain, hits = deobfuscate(text)
    return plain, hits / (len(_WORD.findall(plain)) or 1)


class Harm(Step):
    name = "harm"

    def __init__(self, cfg: HarmParams):
        from profanity_check import predict_prob

        self.cfg = cfg
        self.predict_prob = predict_prob

    def apply_batch(self, texts: Sequence[str]) -> list[Outcome]:
        if not texts:
            return []
        heads = [wordlist_fraction(t[: self.cfg.max_chars]) for t in texts]
        probs = self.predict_prob([h for h, _ in heads])
        outcomes = []
        for text, (_, frac), prob in zip(texts, heads, probs):
            info = {"classifier_prob": round(float(prob), 4), "wordlist_fraction": round(frac, 4)}
            reason = None
            if prob > self.cfg.max_classifier_prob:
                reason = "classifier"
            elif frac > self.cfg.max_wordlist_fraction:
                reason = "wordlist"
            if reason and self.cfg.action == "drop":
                outcomes.append(drop(text, reason, **info))
            else:
                out = keep(text, **info, flagged=reason)
                out.counts = {f"flagged_{reason}": 1} if reason else {}
                outcomes.append(out)
        return outcomes

    def apply(self, text: str) -> Outcome:
        return self.apply_batch([text])[0]
