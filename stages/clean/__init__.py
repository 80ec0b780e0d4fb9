"""The clean stage: normalize, language ID, quality rules, PII redaction and harm scoring.

`data/raw` -> `data/clean` (+ `data/clean/rejected/`) and `metrics/clean.json`.
"""
