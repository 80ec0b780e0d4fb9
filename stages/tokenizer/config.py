"""Params of the tokenizer stage (`tokenizer:` in params.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stages.common.params import require

# The document separator: it doubles as bos/eos, and byte-level BPE needs no unk token.
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<pad>"
MASK_TOKEN = "<mask>"


@dataclass(frozen=True)
class TokenizerParams:
    vocab_size: int
    min_frequency: int
    special_tokens: tuple[str, ...]
    lowercase: bool
    nfc: bool
    valid_fraction: float
    batch_docs: int
    train_sample_bytes: int
    engine: Literal["local", "ray"]
    num_proc: int

    def __post_init__(self) -> None:
        # 256 byte symbols plus the special tokens are the floor of a byte-level BPE.
        floor = 256 + len(self.special_tokens)
        require(self.vocab_size > floor, "vocab_size", f"must exceed {floor} (256 bytes + special tokens)")
        require(self.vocab_size <= 2**32 - 1, "vocab_size", "must fit in uint32")
        require(self.min_frequency >= 1, "min_frequency", "must be at least 1")
        for tok in (EOS_TOKEN, PAD_TOKEN, MASK_TOKEN):
            require(tok in self.special_tokens, "special_tokens", f"must include {tok!r}")
        require(
            len(set(self.special_tokens)) == len(self.special_tokens),
            "special_tokens",
            "must not repeat a token",
        )
        require(0.0 < self.valid_fraction < 1.0, "valid_fraction", "must be between 0 and 1 (exclusive)")
        require(self.batch_docs >= 1, "batch_docs", "must be at least 1")
        require(self.train_sample_bytes >= 0, "train_sample_bytes", "must be >= 0 (0 = every train document)")
        require(self.num_proc >= 1, "num_proc", "must be at least 1")
