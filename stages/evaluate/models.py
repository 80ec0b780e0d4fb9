"""Find, check and load saved models, with one clear sentence for every way they can be broken.

A model folder is usable only when it has `config.json` and its weights (single file or all
shards of an index). A checkpoint whose embedding table does not fit its tokenizer is refused
here, before it can produce a plausible-looking but meaningless number.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from stages.common.errors import DataError

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# Trainers often round the embedding table up to a multiple of 64 or 128 for speed; more
# spare rows than this means the checkpoint was trained with another tokenizer.
MAX_VOCAB_PADDING = 128

Objective = Literal["clm", "mlm"]


def check_model_dir(path: Path, stage: str) -> dict[str, Any]:
    """The parsed config.json of a complete saved model; DataError when missing or half-written."""
    rerun = f"run `dvc repro {stage}` to (re)build it"
    if not path.is_dir():
        raise DataError(f"{path}: model folder not found; {rerun}")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise DataError(f"{path}: no config.json, so the model is missing or half-written; {rerun}")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{config_file}: not valid JSON ({e}); the save was interrupted; {rerun}") from None
    if any((path / f).is_file() for f in WEIGHT_FILES):
        return config
    for name in WEIGHT_INDEXES:
        index = path / name
        if index.is_file():
            shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
            missing = sorted(s for s in shards if not (path / s).is_file())
            if missing or not shards:
                raise DataError(f"{index}: weight shard(s) {missing or 'all'} missing; {rerun}")
            return config
    raise DataError(
        f"{path}: config.json but no weights ({' or '.join(WEIGHT_FILES)}), so the save was "
        f"interrupted; {rerun}"
    )


def objective_of(config: dict[str, Any], path: Path) -> Objective:
    """'clm' for a causal decoder (Llama, MoE), 'mlm' for a masked-LM encoder (ModernBERT)."""
    from stages.common.init_from import objective_of as from_architectures

    return from_architectures(config.get("architectures") or [], path / "config.json")


def tokenizer_size(path: Path) -> int | None:
    """len(tokenizer) of the tokenizer saved beside a model, or None when none is saved."""
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        return None
    from transformers import AutoTokenizer

    try:
        return len(AutoTokenizer.from_pretrained(str(path)))
    except (OSError, ValueError) as e:
        raise DataError(
            f"{path}: the saved tokenizer does not load ({e}); rerun the stage that saved it"
        ) from None


def check_vocab(path: Path, model_vocab: int, tok_vocab: int | None, data_vocab: int | None) -> None:
    """Refuse a checkpoint whose embedding table does not match its tokenizer or token data."""
    for what, size in (("its tokenizer", tok_vocab), ("data/tokens/meta.json vocab_size", data_vocab)):
        if size is None:
            continue
        if model_vocab < size or model_vocab - size >= MAX_VOCAB_PADDING:
            raise DataError(
                f"{path}: the checkpoint's vocab_size is {model_vocab} but {what} has {size} tokens; "
                "the model was trained with another tokenizer. Run `dvc repro pretrain` so that the "
                "model and tokenizer come from the same run"
            )


# Loaded models by (folder, kind, device, the folder's file stamps): the families score the same
# few models (models/pretrain alone by four of them), so each is read once per evaluate run.
_LOADED: dict[tuple[Any, ...], Any] = {}


def _stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and mtime of each file in a model folder: a model saved again is loaded again."""
    return tuple(
        sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in path.iterdir() if f.is_file())
    )


def model_key(path: Path, kind: str, device: str) -> tuple[Any, ...]:
    """What identifies one loaded model: folder, kind, device and the folder's file stamps."""
    return (str(path.resolve()), kind, device, _stamp(path))


def load_model(path: Path, kind: str, device: str) -> Any:
    """Load a checked model folder with the transformers Auto class for `kind`, in eval mode.

    The same folder, kind and device give the same module, once per process: callers only
    read it (eval mode, no gradients)."""
    key = model_key(path, kind, device)
    if key not in _LOADED:
        _LOADED[key] = _load(path, kind, device)
    return _LOADED[key]


def _load(path: Path, kind: str, device: str) -> Any:
    import transformers

    auto = {
        "clm": transformers.AutoModelForCausalLM,
        "mlm": transformers.AutoModelForMaskedLM,
        "seq_cls": transformers.AutoModelForSequenceClassification,
        "token_cls": transformers.AutoModelForTokenClassification,
    }[kind]
    try:
        model = auto.from_pretrained(str(path), dtype="float32")
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise DataError(
            f"{path}: the saved model does not load ({e}); run `dvc repro` to rebuild it"
        ) from None
    return model.to(device).eval()
