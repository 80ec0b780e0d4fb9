"""MoE backends: transformers' own Qwen3-MoE experts (`hf`), or megablocks' dropless MoE on CUDA.

`impl: megablocks` keeps transformers' router (so its router logits, and the balance loss
that transformers computes from them, are unchanged) and swaps each block's experts for
megablocks' dropless computation (`ParallelDroplessMLP`: sort tokens by expert, gather,
grouped GEMMs, scatter back weighted) run on the very same parameters
(`gate_up_proj` [E, 2F, H], `down_proj` [E, H, F]). The state dict keeps transformers'
names and shapes, so a model trained with either backend saves to the same folder format
and loads with AutoModelForCausalLM without megablocks.

megablocks needs CUDA, torch 2.7.0 and grouped_gemm (requirements-gpu.txt); `auto` uses it
when all of that is there and falls back to `hf` otherwise.
"""

from __future__ import annotations

import functools
import logging

from stages.common.errors import PipelineError

log = logging.getLogger(__name__)


def megablocks_missing() -> str | None:
    """Why megablocks cannot run in this environment (None when it can), checked without CUDA."""
    try:
        import grouped_gemm  # noqa: F401
        import megablocks.layers.dmoe  # noqa: F401
    except ImportError as e:  # megablocks also raises it when its compiled ops are absent
        return f"megablocks is not importable ({e}); install it with pip install -r requirements-gpu.txt"
    return None


def resolve_impl(impl: str, device: str, n_experts: int) -> str:
    """'hf' or 'megablocks' for this run; an error when megablocks is asked for and cannot run."""
    if n_experts == 0:
        return "hf"  # a dense model has no experts to swap
    if impl == "hf":
        return "hf"
    why = (
        "this run is on the CPU (megablocks' kernels are CUDA only)"
        if device != "cuda"
        else megablocks_missing()
    )
    if why is None:
        return "megablocks"
    if impl == "megablocks":
        raise PipelineError(
            f"pretrain.model.moe.impl: megablocks cannot run: {why}. "
            "Set impl to hf (transformers' MoE, any device) or auto (megablocks where it works)"
        )
    log.info("moe.impl auto: using hf, since %s", why)
    return "hf"


def use_megablocks(model, precision: str) -> int:
    """Swap the experts of every Qwen3-MoE block for megablocks' kernels in place; returns how many."""
    from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeSparseMoeBlock

    if precision != "bf16":
        raise PipelineError(
            f"pretrain.train.precision is {precision}: megablocks' grouped GEMMs run in bf16 only; "
            "set precision to auto or bf16, or moe.impl to hf"
        )
    blocks = [m for m in model.modules() if isinstance(m, Qwen3MoeSparseMoeBlock)]
    if not blocks:
        raise PipelineError(
            f"pretrain.model.moe.impl: megablocks replaces Qwen3-MoE experts, and {type(model).__name__} "
            "has none; set impl to hf"
        )
    for block in blocks:
        block.experts = MegablocksExperts(block.experts, block.gate.top_k)
    return len(blocks)


@functools.cache
def _experts_class():
    """Build the class lazily: it subclasses torch.nn.Module, and torch is imported only when training."""
    import torch

    class _MegablocksExperts(torch.nn.Module):
        """Qwen3MoeExperts' forward on megablocks' dropless MoE, sharing its parameters (not copies)."""

        def __init__(self, hf_experts, top_k: int):
            super().__init__()
            from megablocks.layers.arguments import Arguments
            from megablocks.layers.dmoe import ParallelDroplessMLP

            self.gate_up_proj = hf_experts.gate_up_proj  # the same Parameters: same state dict keys
            self.down_proj = hf_experts.down_proj
            self.act_fn = hf_experts.act_fn
            n_experts, two_ffn, hidden = self.gate_up_proj.shape
            args = Arguments(
                hidden_size=hidden,
                ffn_hidden_size=two_ffn // 2,
                moe_num_experts=n_experts,
                moe_top_k=top_k,
                mlp_type="glu",
                mlp_impl="grouped",  # 'sparse' refuses triton >= 3.2, which torch 2.7 ships
                bias=False,
                moe_loss_weight=0.0,  # transformers computes the balance loss from its router
                activation_fn=self.act_fn,
                fp16=False,
                bf16=True,
                device="meta",  # megablocks' own expert weights are replaced below: allocate nothing
            )
            dropless = ParallelDroplessMLP(args)
            del dropless.mlp  # a plain callable instead of a module: it adds no parameters
            dropless.mlp = self._grouped_glu
            self.dropless = dropless

        def _grouped_glu(self, x, tokens_per_expert):
            """megablocks' GroupedGLU on transformers' layout: [gate; up] stacked, down as [H, F]."""
            import grouped_gemm

            gmm = grouped_gemm.ops.gmm
            batch_sizes = tokens_per_expert.cpu().to(torch.long)
            gate_up = gmm(x, self.gate_up_proj.to(x.dtype), batch_sizes, trans_b=True)
            gate, up = gate_up.chunk(2, dim=-1)
            return gmm(self.act_fn(gate) * up, self.down_proj.to(x.dtype), batch_sizes, trans_b=True)

        def forward(self, hidden_states, top_k_index, top_k_weights):
            x = hidden_states.to(torch.bfloat16)  # fp32 master weights; the kernels take bf16
            out = self.dropless(x, None, top_k_weights.to(x.dtype), top_k_index)
            return out.to(hidden_states.dtype)

    return _MegablocksExperts


def MegablocksExperts(hf_experts, top_k: int):  # noqa: N802 - constructs a module
    """A module that runs `hf_experts`' parameters through megablocks' dropless MoE (CUDA only)."""
    return _experts_class()(hf_experts, top_k)
