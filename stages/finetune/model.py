"""Load models/pretrain (any causal or masked LM saved by transformers) with a new
sequence- or token-classification head, and pick device and precision."""

from __future__ import annotations

import logging
from pathlib import Path

from stages.common.errors import DataError, PipelineError

log = logging.getLogger(__name__)


def load_tokenizer(model_dir: Path):
    """The pretrain tokenizer, with a pad token (falling back to eos, which causal LMs lack)."""
    from transformers import AutoTokenizer

    if not (model_dir / "config.json").is_file():
        raise DataError(f"{model_dir}: no config.json; run the pretrain stage first (dvc repro pretrain)")
    try:
        tok = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise DataError(f"{model_dir}: cannot load its tokenizer ({e}); rerun the pretrain stage") from None
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise DataError(
                f"{model_dir}: the tokenizer has neither a pad nor an eos token; add one in pretrain"
            )
        log.warning("%s: tokenizer has no pad token; padding with eos %r", model_dir, tok.eos_token)
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def check_head_labels(task: str, model_dir: Path, config, labels: list[str]) -> None:
    """Refuse a base checkpoint that already has a classification head for other labels.

    Fine-tuning from a folder that is itself a fine-tuned classifier (say models/finetune/<task>
    reused as the base) would silently re-map its classes if labels.json changed since."""
    archs = getattr(config, "architectures", None) or []
    if not any(a.endswith(("ForSequenceClassification", "ForTokenClassification")) for a in archs):
        return
    have = [config.id2label[i] for i in sorted(config.id2label)]
    if have != labels:
        raise DataError(
            f"task {task}: {model_dir} has a head for labels {have}, but "
            f"data/tasks/{task}/labels.json has {labels}; fine-tune from models/pretrain, or rerun "
            "the tasks stage so that the two agree"
        )


def load_classifier(
    task: str, model_dir: Path, labels: list[str], pad_token_id: int, per_token: bool = False
):
    """AutoModelFor{Sequence,Token}Classification over the pretrained body; the head starts fresh."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(model_dir)
    check_head_labels(task, model_dir, config, labels)
    extra = {}
    if config.model_type == "modernbert" and not per_token:
        # Our tokenizer may add no [CLS] in front, so pool over all tokens instead of token 0.
        extra["classifier_pooling"] = "mean"
    auto = AutoModelForTokenClassification if per_token else AutoModelForSequenceClassification
    try:
        model = auto.from_pretrained(
            model_dir,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
            pad_token_id=pad_token_id,
            **extra,
        )
    except (OSError, ValueError) as e:
        what = "token" if per_token else "sequence"
        raise PipelineError(
            f"task {task}: {model_dir}: cannot load a {config.model_type!r} model for {what} "
            f"classification ({e})"
        ) from None
    return model


def end_token(tok, start: bool = False) -> None:
    """Make `tok` append its eos token to every text (and prepend it with `start`).

    A decoder classifier pools the last token; a fixed end-of-text token there reads the whole
    text from the same position every time, as BERT's [CLS] does from the front. The document
    separator is the token pre-training put between texts, so it is not new to the model. The
    rule lives in the tokenizer's post-processor, so the saved tokenizer adds it at evaluation too.
    A tokenizer that already adds special tokens of its own (BERT's [CLS] ... [SEP]) keeps them.
    """
    from tokenizers.processors import TemplateProcessing

    if len(tok("a")["input_ids"]) != len(tok("a", add_special_tokens=False)["input_ids"]):
        log.info("the tokenizer adds its own special tokens around a text; text_boundary leaves them")
        return
    eos = tok.eos_token
    if eos is None:
        raise DataError("the tokenizer has no eos token to end a text with; add one in pretrain")
    front = f"{eos} " if start else ""
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{front}$A {eos}",
        pair=f"{front}$A {eos} $B:1 {eos}:1",
        special_tokens=[(eos, tok.eos_token_id)],
    )
