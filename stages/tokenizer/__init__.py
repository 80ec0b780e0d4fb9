"""Train a byte-level BPE tokenizer on the deduplicated corpus and pack it into token files."""
