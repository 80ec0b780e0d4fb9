"""Build a transformers model from params: Llama (clm), Qwen3-MoE (clm + experts), ModernBERT (mlm).

Or load it from pretrain.init_from, checked against the params and data/tokenizer.

Special-token ids come from data/tokens/meta.json, so the model and the tokenizer agree
(ModernBERT's defaults, 50281/50282, would fall outside a small vocabulary).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.common.errors import DataError, ParamsError
from stages.common.init_from import SCRATCH, PypiGguf, describe, load_init_model
from stages.pretrain.config import ModelParams, PretrainParams


def _special_ids(meta: dict[str, Any], objective: str) -> dict[str, int]:
    eos, pad, mask = meta.get("eos_id"), meta.get("pad_id"), meta.get("mask_id")
    if eos is None or pad is None:
        raise DataError("data/tokens/meta.json: eos_id and pad_id are required; rerun the tokenizer stage")
    if objective == "mlm" and mask is None:
        raise DataError(
            "data/tokens/meta.json: mask_id is missing but pretrain.model.objective is mlm; "
            "add <mask> to tokenizer.special_tokens and rerun the tokenizer stage"
        )
    return {"eos": int(eos), "pad": int(pad), "mask": -1 if mask is None else int(mask)}


def build_config(m: ModelParams, meta: dict[str, Any]):
    """The transformers config for `m`, with the vocabulary and special ids from `meta`."""
    ids = _special_ids(meta, m.objective)
    vocab = int(meta["vocab_size"])
    common = dict(
        vocab_size=vocab,
        hidden_size=m.hidden_size,
        intermediate_size=m.ffn_size,
        num_hidden_layers=m.n_layers,
        num_attention_heads=m.n_heads,
        max_position_embeddings=m.context_length,
        attention_dropout=m.dropout,
        tie_word_embeddings=m.tie_embeddings,
        pad_token_id=ids["pad"],
        bos_token_id=ids["eos"],
        eos_token_id=ids["eos"],
    )
    if m.objective == "mlm":
        from transformers import ModernBertConfig

        return ModernBertConfig(
            **common,
            cls_token_id=ids["eos"],
            sep_token_id=ids["eos"],
            mask_token_id=ids["mask"],
            mlp_dropout=m.dropout,
            embedding_dropout=m.dropout,
            # Sliding-window layers look this far; it must not exceed the context.
            local_attention=min(128, m.context_length - m.context_length % 2),
        )
    head_dim = m.hidden_size // m.n_heads
    if m.moe.n_experts > 0:
        # Both MoE backends train this architecture: megablocks runs its experts (stages/pretrain/moe.py).
        from transformers import Qwen3MoeConfig

        return Qwen3MoeConfig(
            **common,
            num_key_value_heads=m.n_kv_heads,
            head_dim=head_dim,
            num_experts=m.moe.n_experts,
            num_experts_per_tok=m.moe.top_k,
            moe_intermediate_size=m.ffn_size,
            decoder_sparse_step=1,
            mlp_only_layers=[],
            norm_topk_prob=True,
            output_router_logits=True,
            router_aux_loss_coef=m.moe.aux_loss_weight,
        )
    from transformers import LlamaConfig

    return LlamaConfig(**common, num_key_value_heads=m.n_kv_heads, head_dim=head_dim)


def build_model(m: ModelParams, meta: dict[str, Any]):
    """A freshly initialised model (seed torch first) with SDPA attention."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    config = build_config(m, meta)
    auto = AutoModelForMaskedLM if m.objective == "mlm" else AutoModelForCausalLM
    return auto.from_config(config, attn_implementation="sdpa")


def compiled(model, t):
    """What training calls: torch.compile's wrapper when `train.compile` is on, else the model.
    Checkpoints and save_pretrained always use the module itself."""
    if not t.compile:
        return model
    import torch

    return torch.compile(model)


def initial_model(cfg: PretrainParams, meta: dict[str, Any], tokenizer_dir: Path, out_dir: Path):
    """The model training starts from: built from params (scratch) or loaded from init_from and checked."""
    if cfg.init_from == SCRATCH:
        return build_model(cfg.model, meta)
    what = describe(cfg.init_from)
    if not isinstance(cfg.init_from, PypiGguf) and Path(cfg.init_from).resolve() == out_dir.resolve():
        raise ParamsError(
            f"pretrain.init_from: {what} is this stage's own output, which DVC deletes before the stage "
            f"runs; copy it first (cp -r {out_dir} {out_dir}_init) and set init_from to the copy"
        )
    model, tok = load_init_model(cfg.init_from, cfg.model.objective)
    check_same_tokenizer(tok, tokenizer_dir, what)
    check_same_shape(cfg.model, meta, model.config, what)
    return model


def check_same_tokenizer(tok, tokenizer_dir: Path, what: str) -> None:
    """The token files were made with data/tokenizer: a model with another vocabulary cannot read them."""
    from transformers import AutoTokenizer

    ours = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    if tok is None:
        raise DataError(
            f"pretrain.init_from {what}: has no tokenizer files, so it cannot be checked against "
            f"{tokenizer_dir}; if it was trained with that tokenizer, copy the tokenizer files into it"
        )
    if tok.get_vocab() != ours.get_vocab():
        raise DataError(
            f"pretrain.init_from {what}: its tokenizer ({len(tok)} tokens) is not {tokenizer_dir} "
            f"({len(ours)} tokens), which made the token files in data/tokens. Pre-train from scratch, "
            "continue from a model trained with data/tokenizer (such as a copy of models/pretrain), "
            "or use this model where it brings its own tokenizer (finetune's init_from)"
        )


# params key -> the transformers config attribute it sets (see build_config)
_SHAPE_KEYS = (
    ("n_layers", "num_hidden_layers"),
    ("n_heads", "num_attention_heads"),
    ("n_kv_heads", "num_key_value_heads"),
    ("hidden_size", "hidden_size"),
    ("dropout", "attention_dropout"),
    ("tie_embeddings", "tie_word_embeddings"),
    ("moe.n_experts", "num_experts"),
    ("moe.top_k", "num_experts_per_tok"),
)


def check_same_shape(m: ModelParams, meta: dict[str, Any], loaded, what: str) -> None:
    """pretrain.model must describe the loaded model; the error names every key that does not."""
    want = build_config(m, meta)
    # An MoE model's experts are moe_intermediate_size wide; its intermediate_size is unused here.
    ffn = ("ffn_size", "moe_intermediate_size" if m.moe.n_experts else "intermediate_size")
    bad = []
    for key, attr in (*_SHAPE_KEYS, ffn):
        mine, theirs = getattr(want, attr, None), getattr(loaded, attr, None)
        if mine != theirs:
            bad.append(f"{key}: {mine} in params, {theirs} in the model ({attr})")
    max_pos = getattr(loaded, "max_position_embeddings", None)
    if max_pos is not None and m.context_length > max_pos:
        bad.append(f"context_length: {m.context_length} in params, at most {max_pos} in the model")
    if int(meta["vocab_size"]) > loaded.vocab_size:
        bad.append(f"vocab: data/tokens uses {meta['vocab_size']} ids, the model has {loaded.vocab_size}")
    if bad:
        raise ParamsError(
            f"pretrain.model does not match init_from {what} ({loaded.model_type}): "
            + "; ".join(bad)
            + ". Set these pretrain.model keys to the model's values"
        )


def count_params(model) -> dict[str, int]:
    """Total parameters, and those outside the embeddings (the ones that cost FLOPs per token)."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight.numel()
    return {"total": total, "non_embedding": total - emb}


def matmul_params(model, m: ModelParams) -> int:
    """Weights one token multiplies through: the blocks (top_k experts only) and the output head."""
    n = count_params(model)["non_embedding"]  # holds the head when it is untied
    if m.tie_embeddings:
        n += model.get_input_embeddings().weight.numel()
    if m.moe.n_experts > 0:
        # Qwen3-MoE experts are gated MLPs of 3 matrices; a token visits top_k of them.
        n -= m.n_layers * (m.moe.n_experts - m.moe.top_k) * 3 * m.hidden_size * m.ffn_size
    return n
