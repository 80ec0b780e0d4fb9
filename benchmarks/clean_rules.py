"""Which quality rule drops how much of each source, under the web rules and under each kind's.

    python benchmarks/clean_rules.py [RAW_DIR] [--params params.yaml] [--json OUT]

Reads the collected documents in RAW_DIR (default data/raw), runs the clean stage's
normalize and language steps as the chain does, then judges every document that survives
them by the quality rules of every kind in `clean.quality.kinds`. Prints:

1. per source, the documents and characters kept under the web rules (C4 and Gopher as
   written, for every source) and under the source's own kind (`clean.quality.source_kinds`);
2. per source, the share of its documents each rule drops under its own kind (the first
   rule a document fails, as metrics/clean.json counts them);
3. per source and kind, the documents that kind keeps but the web rules drop, by the web
   rule that drops them: the check that a kind relaxes only what it is meant to (code must
   not let through what web catches for reasons other than code);
4. every kind's kept share on every source, so a kind's rules can be read on text they were
   not made for (the e-mails, the one source with HTML and spam, are the web boilerplate).

Deterministic: no timings, the same data and params give the same table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.clean.config import CleanParams  # noqa: E402
from stages.clean.lang import Language  # noqa: E402
from stages.clean.normalize import Normalize  # noqa: E402
from stages.clean.quality import Quality  # noqa: E402
from stages.common.io import iter_docs  # noqa: E402
from stages.common.params import REPO_PARAMS, load_section  # noqa: E402

WEB = "web"


def prepared(raw: Path, cfg: CleanParams) -> tuple[list[tuple[str, str]], Counter]:
    """(source, text) of the documents that pass normalize and language; documents in per source."""
    norm, lang = Normalize(cfg.normalize), Language(cfg.language)
    docs, n_in = [], Counter()
    for d in iter_docs(raw):
        n_in[d["source"]] += 1
        out = norm.apply(d["text"])
        if out.drop is None and lang.apply(out.text).drop is None:
            docs.append((d["source"], out.text))
    return docs, n_in


def judge_all(docs: list[tuple[str, str]], quality: Quality) -> dict[str, list[tuple[str | None, int]]]:
    """kind -> [(drop reason or None, characters kept)] in document order."""
    out = {}
    for kind, rules in quality.rules.items():
        stop = quality.stop_words[kind]
        res = []
        for _, text in docs:
            o = quality.judge(text, rules, stop)
            res.append((o.drop, 0 if o.drop else len(o.text)))
        out[kind] = res
    return out


def pct(num: float, den: float) -> str:
    return f"{100 * num / den:.1f}%" if den else "-"


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("raw", nargs="?", default="data/raw", type=Path)
    ap.add_argument("--params", default=REPO_PARAMS, type=Path)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if not any(args.raw.glob("*.parquet")):
        sys.exit(
            f"{args.raw}: no parquet shards; run collect, or pass the folder that holds data/raw's shards"
        )
    cfg: CleanParams = load_section("clean", args.params)
    quality = Quality(cfg.quality)
    docs, n_in = prepared(args.raw, cfg)
    by_kind = judge_all(docs, quality)
    sources = sorted(n_in)
    idx: dict[str, list[int]] = defaultdict(list)
    for i, (s, _) in enumerate(docs):
        idx[s].append(i)
    chars = {s: sum(len(docs[i][1]) for i in idx[s]) for s in sources}

    def kept(kind: str, s: str) -> tuple[int, int]:
        res = [by_kind[kind][i] for i in idx[s]]
        return sum(r is None for r, _ in res), sum(c for _, c in res)

    figures: dict[str, dict] = {}
    rows = []
    for s in sources:
        kind = cfg.quality.kind_of(s)
        (wd, wc), (kd, kc) = kept(WEB, s), kept(kind, s)
        n = len(idx[s])
        rows.append([s, kind, str(n), pct(wd, n), pct(kd, n), pct(wc, chars[s]), pct(kc, chars[s])])
        figures[s] = {"kind": kind, "docs": n, "kept_web": wd, "kept_kind": kd, "chars": chars[s]}
        figures[s] |= {"chars_kept_web": wc, "chars_kept_kind": kc}
    print(f"{args.raw}: {sum(n_in.values())} documents, {len(docs)} after normalize and language\n")
    print("1. Kept by the quality step (share of the documents that reach it)\n")
    table(
        ["source", "kind", "docs", "kept, web rules", "kept, own kind", "chars kept, web", "chars kept, own"],
        rows,
    )

    print("2. Drop share per rule, each source under its own kind (first rule failed)\n")
    rows = []
    for s in sources:
        reasons = Counter(by_kind[cfg.quality.kind_of(s)][i][0] for i in idx[s])
        reasons.pop(None, None)
        n = len(idx[s])
        cells = ", ".join(f"{r} {pct(c, n)}" for r, c in reasons.most_common()) or "none"
        rows.append([s, cells])
        figures[s]["drops_kind"] = dict(reasons)
        web = Counter(by_kind[WEB][i][0] for i in idx[s])
        web.pop(None, None)
        figures[s]["drops_web"] = dict(web)
    table(["source", "rule: share of documents dropped"], rows)

    print("3. Kept by the kind but dropped by the web rules, by web rule (all sources)\n")
    rows = []
    for kind in by_kind:
        if kind == WEB:
            continue
        rescued = Counter(by_kind[WEB][i][0] for i in range(len(docs)) if by_kind[kind][i][0] is None)
        rescued.pop(None, None)
        cells = ", ".join(f"{r} {c}" for r, c in rescued.most_common()) or "none"
        rows.append([kind, str(sum(rescued.values())), cells])
    table(["kind", "documents", "web rule that drops them"], rows)

    print("4. Documents kept by each kind's rules, on every source\n")
    rows = []
    for s in sources:
        n = len(idx[s])
        rows.append([s, *(pct(kept(k, s)[0], n) for k in by_kind)])
    table(["source", *by_kind], rows)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
