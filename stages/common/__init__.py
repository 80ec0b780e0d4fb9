"""What every stage shares: params, atomic I/O, fetching, seeding, devices, progress.

Keep imports here light: heavy libraries (torch, spacy, nltk) are imported inside the
stages that need them.
"""
