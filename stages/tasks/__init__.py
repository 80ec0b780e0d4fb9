"""The tasks stage: labelled fine-tuning and evaluation sets built from real text."""
