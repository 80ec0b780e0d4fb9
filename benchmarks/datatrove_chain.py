"""datatrove's Gopher, C4 and PII steps over a JSONL file of texts, for clean_throughput.py.

    PYTHON benchmarks/datatrove_chain.py DOCS.jsonl REPEATS > result.json

Runs in a separate venv that has datatrove (0.10.1 was measured) so that it cannot
disturb the project's pins; it imports nothing from this repository. The chain is
GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter -> PIIFormatter, each
with datatrove's defaults, in one process (rank 0 of 1). Its English word tokenizer is
`spacy.blank("en")`, so the venv needs spacy as well as datatrove (datatrove's
"processing" extra also pulls fasttext, trafilatura and more that these steps never
import). Prints JSON: CPU seconds per repeat, documents in and kept, UTF-8 bytes in, version.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version


def main() -> None:
    from loguru import logger

    logger.remove()  # per-step banners would dominate the output
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.formatters import PIIFormatter

    path, repeats = sys.argv[1], int(sys.argv[2])
    with open(path, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    seconds, kept = [], 0
    for _ in range(repeats):
        steps = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), PIIFormatter()]
        data = (Document(text=t, id=str(i)) for i, t in enumerate(texts))
        start = time.process_time()
        for step in steps:
            data = step.run(data, rank=0, world_size=1)
        kept = sum(1 for _ in data)
        seconds.append(time.process_time() - start)
    json.dump(
        {
            "seconds": seconds,
            "docs_in": len(texts),
            "docs_kept": kept,
            "bytes_in": sum(len(t.encode("utf-8")) for t in texts),
            "version": version("datatrove"),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
