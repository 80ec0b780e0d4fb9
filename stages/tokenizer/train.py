"""Train a byte-level BPE with `tokenizers` and save it as a transformers tokenizer.

The saved folder loads with `AutoTokenizer.from_pretrained(dir)`, with eos/bos set to the
document separator and pad/mask set, so later stages never rebuild it by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stages.tokenizer.config import EOS_TOKEN, MASK_TOKEN, PAD_TOKEN, TokenizerParams


def build_tokenizer(cfg: TokenizerParams):
    """An untrained byte-level BPE `tokenizers.Tokenizer` with the normalisation in `cfg`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.BPE())
    steps = ([normalizers.NFC()] if cfg.nfc else []) + ([normalizers.Lowercase()] if cfg.lowercase else [])
    if steps:
        tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(texts: Iterable[str], cfg: TokenizerParams, length: int | None = None):
    """Train on a stream of texts; returns the trained `tokenizers.Tokenizer`."""
    from tokenizers import pre_tokenizers, trainers

    tok = build_tokenizer(cfg)
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=list(cfg.special_tokens),
        # Every byte is in the vocabulary, so no text is ever unknown.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=length)
    return tok


def to_transformers(tok):
    """Wrap a trained tokenizer as a transformers fast tokenizer with its special tokens."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        mask_token=MASK_TOKEN,
    )


def save_tokenizer(tok, out_dir: Path) -> None:
    """Write the tokenizer so that AutoTokenizer.from_pretrained(out_dir) loads it."""
    to_transformers(tok).save_pretrained(str(out_dir))
