"""What each NER lever gives on the gold set, and what it costs in fine-tuning time.

    python benchmarks/ner_levers.py prepare            # teacher pass over all silver, once
    python benchmarks/ner_levers.py run NAME [NAME ...]  # one fine-tune + gold score per setting
    python benchmarks/ner_levers.py table              # the settings run so far

`prepare` builds the NER task with the stage's own `build` from the wikipedia, wsj and brown
sources at `tasks.ner.empty_keep: 1` and `min_confidence: 0` (every silver sentence) into `--work`, and scores the teacher's confidence
in each train sentence with `teacher_confidence` (its seconds are printed: the extra teacher
time a confidence filter costs the tasks stage). `run` filters the train split the way the
stage does (`drop_unsure`, then `thin_empty`, same seeds, so the rows are those the stage
would write; a setting that changes what the silver is made of, `sources` or `source_caps`,
builds its task afresh with the stage's `build` instead), fine-tunes with finetune's own `run` on params.yaml's `finetune.ner` plus the
setting's overrides (the model and its metrics go to `<work>/<setting>/models` and
`/metrics`, so settings can run side by side), and scores the tagger on the gold set with evaluate's own
functions: F1 with its bootstrap interval, ORG F1, F1 per genre. It records the stage's wall
seconds and the process's CPU seconds: on a shared machine compare settings by CPU seconds and
by the tokens the forward passes see (train_tokens), not by wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common.params import load_section, load_seed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
THREE = {"sources": ("wikipedia", "wsj", "brown"), "source_caps": {}}
# name -> (tasks.ner overrides, finetune.ner overrides)
SETTINGS: dict[str, tuple[dict, dict]] = {
    "three-sources": ({"empty_keep": 0.1}, {}),
    "all-silver": ({"empty_keep": 1.0}, {}),
    "all-silver-2ep": ({"empty_keep": 1.0}, {"epochs": 2}),
    "conf0.5-keep0.1": ({"empty_keep": 0.1, "min_confidence": 0.5}, {}),
    "conf0.5-keep1": ({"empty_keep": 1.0, "min_confidence": 0.5}, {}),
    "conf0.8-keep1": ({"empty_keep": 1.0, "min_confidence": 0.8}, {}),
    "conf0.5-keep1-2ep": ({"empty_keep": 1.0, "min_confidence": 0.5}, {"epochs": 2}),
    "lr2e-3": ({"empty_keep": 0.1}, {"lr": 2.0e-3}),
    # ORG-rich silver: SpamAssassin ham prose and NYT editorials in place of part of Brown and
    # Wikipedia, about the committed sentence count (built afresh: the silver itself differs)
    "org-silver": (
        {
            "empty_keep": 0.1,
            "sources": ("wikipedia", "wsj", "brown", "mail", "nyt"),
            "source_caps": {"wikipedia": 1700, "brown": 2700, "mail": 1600, "nyt": 1800},
        },
        {},
    ),
}
# the committed silver (org-silver) with a fourth epoch: the lr decays over 4 epochs' steps
SETTINGS["org-silver-4ep"] = (SETTINGS["org-silver"][0], {"epochs": 4})
# tasks.ner keys that `run` applies to the prepared silver; any other key builds the task afresh
FILTERS = {"empty_keep", "min_confidence"}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def prepare(work: Path) -> None:
    from stages.tasks import ner

    # the filter settings are measured on the silver of the first three sources alone
    cfg = dataclasses.replace(load_section("tasks").ner, empty_keep=1.0, min_confidence=0.0, **THREE)
    m = ner.build(cfg, load_seed(), work / "all")
    nlp, _ = ner.load_teacher(cfg.teacher)
    texts = [r["text"] for r in read_rows(work / "all" / "train.parquet")]
    t, c = time.perf_counter(), cpu_seconds()
    sure = ner.teacher_confidence(nlp, texts, cfg.label_map, cfg.beam_width)
    secs = {"wall_s": round(time.perf_counter() - t, 1), "cpu_s": round(cpu_seconds() - c, 1)}
    (work / "all" / "confidence.json").write_text(json.dumps(sure))
    print(f"silver: {m['splits']['train']['rows']} train, {m['splits']['valid']['rows']} valid; "
          f"confidence of {len(texts)} train sentences (beam {cfg.beam_width}): {secs}")  # fmt: skip
    for x in (0.5, 0.8, 0.9):
        print(f"  confidence >= {x}: {sum(s >= x for s in sure) / len(sure):.1%} of train sentences")


def read_rows(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def gold_scores(model_dir: Path, task_dir: Path, ecfg, seed: int) -> dict:
    """The tagger in `model_dir` on the gold set (`task_dir`/test.parquet), with evaluate's
    functions: F1 with its bootstrap interval, precision, recall, F1 per type and per genre."""
    from stages.evaluate import ner as ev

    gold = ev.read_sentences(task_dir / "test.parquet")
    tags, _ = ev.model_tag(model_dir, gold, ecfg.ner.max_length, ecfg.batch_size, "cpu")
    values, per_type = ev.score(gold.tags, tags, ecfg.ner, seed)
    genres = ev.genre_scores(gold, {"model": tags}, ecfg.ner, seed)
    return {
        "f1": round(values["f1"], 4),
        "f1_ci": [round(values["f1_ci_low"], 3), round(values["f1_ci_high"], 3)],
        "precision": round(values["precision"], 4),
        "recall": round(values["recall"], 4),
        "types": {k: round(v["f1"], 4) for k, v in per_type.items()},
        "genres": {g: round(e["systems"]["model"]["f1"], 4) for g, e in genres.items()},
    }


def run(name: str, work: Path) -> dict:
    from stages.finetune import ner as ft
    from stages.finetune import paths as ft_paths
    from stages.tasks import ner

    task_over, ft_over = SETTINGS[name]
    seed = load_seed()
    tcfg = dataclasses.replace(load_section("tasks").ner, **(THREE | task_over))
    src, task_dir = work / "all", work / name / "ner"
    task_dir.mkdir(parents=True, exist_ok=True)
    built = {}
    if set(task_over) - FILTERS:
        built = ner.build(tcfg, seed, task_dir)
        rows, dropped = read_rows(task_dir / "train.parquet"), Counter(built["dropped"])
    else:
        rows, dropped = read_rows(src / "train.parquet"), Counter()
        if tcfg.min_confidence > 0:
            sure = json.loads((src / "confidence.json").read_text())
            rows = ner.drop_unsure(rows, sure, tcfg.min_confidence, dropped)
        rows = ner.thin_empty(rows, tcfg.empty_keep, seed + 2, dropped)  # build's seed for it
        ner.write_split(task_dir / "train.parquet", rows)
        for f in ("valid.parquet", "test.parquet", "labels.json", "label_map.json", "teacher.json"):
            shutil.copy(src / f, task_dir / f)
    print(f"{name}: {len(rows)} train sentences, {sum(len(r['tokens']) for r in rows)} words, "
          f"sources {dict(Counter(r['source'] for r in rows))}, dropped {dict(dropped)}", flush=True)  # fmt: skip
    if os.environ.get("NER_LEVERS_BUILD_ONLY"):
        return {}

    cfg = load_section("finetune")
    cfg = dataclasses.replace(cfg, ner=dataclasses.replace(cfg.ner, **ft_over))
    ecfg = load_section("evaluate")
    # finetune saves under the working directory: each setting in its own, so runs can overlap
    os.chdir(work / name)
    t, c = time.perf_counter(), cpu_seconds()
    m = ft.run("ner", cfg, seed, pretrain_dir=ROOT / ft_paths.PRETRAIN_DIR, tasks_dir=work / name)
    wall, cpu = time.perf_counter() - t, cpu_seconds() - c

    out = {
        "setting": name,
        "tasks.ner": {k: list(v) if isinstance(v, tuple) else v for k, v in task_over.items()},
        "read": built.get("read", {}),
        "train_sources": dict(Counter(r["source"] for r in rows)),
        "finetune.ner": ft_over,
        "train_sentences": len(rows),
        "dropped": dict(dropped),
        "train_tokens": m["train_tokens"],
        "epochs_run": m["epochs_run"],
        "best_epoch": m["best_epoch"],
        "valid_f1": m["best_valid"],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        **gold_scores(ft_paths.MODELS_DIR / "ner", task_dir, ecfg, seed),
    }
    (work / name / "result.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out))
    return out


def table(work: Path) -> None:
    print("| setting | train sentences | train tokens | epochs (best) | CPU s | wall s | valid F1 | gold F1 "
          "[95% CI] | ORG | PER | LOC | MISC | per genre |")  # fmt: skip
    print("|" + "---|" * 13)
    for name in SETTINGS:
        f = work / name / "result.json"
        if not f.is_file():
            continue
        r = json.loads(f.read_text())
        ty, genres = r["types"], ", ".join(f"{g} {v:.3f}" for g, v in r["genres"].items())
        print(f"| {name} | {r['train_sentences']:,} | {r['train_tokens']:,} | {r['epochs_run']} ({r['best_epoch']}) "
              f"| {r['cpu_s']:.0f} | {r['wall_s']:.0f} | {r['valid_f1']:.3f} | {r['f1']:.3f} "
              f"[{r['f1_ci'][0]:.3f}, {r['f1_ci'][1]:.3f}] | {ty['ORG']:.3f} | {ty['PER']:.3f} "
              f"| {ty['LOC']:.3f} | {ty['MISC']:.3f} | {genres} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("prepare", "run", "table"))
    ap.add_argument("names", nargs="*", help=f"settings to run: {', '.join(SETTINGS)}")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ner_levers"), help="silver and runs go here")
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in SETTINGS]
    if unknown:
        ap.error(f"unknown setting(s) {unknown}; pick from {list(SETTINGS)}")
    if args.what == "prepare":
        prepare(args.work)
    elif args.what == "run":
        for name in args.names:
            run(name, args.work)
    else:
        table(args.work)


if __name__ == "__main__":
    main()
