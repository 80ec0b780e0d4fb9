"""Build a transformers model from params alone: Llama (clm), Qwen3-MoE (clm + experts), ModernBERT (mlm).

Special-token ids come from data/tokens/meta.json, so the model and the tokenizer agree
(ModernBERT's defaults, 50281/50282, would fall outside a small vocabulary).
"""

from __future__ import annotations

from typing import Any

from stages.common.errors import DataError, PipelineError
from stages.pretrain.config import ModelParams


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


def build_config(m: ModelParams, meta: dict[str, Any], device: str):
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
        impl = m.moe.impl
        # `auto` means transformers' own MoE until the megablocks path exists.
        if impl == "megablocks":
            raise PipelineError(
                "pretrain.model.moe.impl: megablocks kernels are not wired into this stage; "
                "set it to hf (or auto) to use transformers' own MoE layers"
            )
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


def build_model(m: ModelParams, meta: dict[str, Any], device: str):
    """A freshly initialised model (seed torch first) with SDPA attention."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    config = build_config(m, meta, device)
    auto = AutoModelForMaskedLM if m.objective == "mlm" else AutoModelForCausalLM
    return auto.from_config(config, attn_implementation="sdpa")


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
