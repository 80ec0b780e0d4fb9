"""Tests of stages/evaluate/privacy.py: PII counting, the cached canary scoring against a plain
forward pass, and canary exposure of a tiny Llama that saw one canary many times against an
untrained one; masked, disabled and canary-free runs report n/a with their reasons."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from stages.common.canary import CanaryParams, make_canaries
from stages.common.errors import DataError, ParamsError
from stages.common.io import ShardWriter
from stages.common.params import default_params
from stages.evaluate.config import PrivacyParams
from stages.evaluate.privacy import (
    CANARY_KEYS,
    TEXT_KEYS,
    common_prefix_length,
    count_pii,
    evaluate_privacy,
    load_causal_lm,
)

SPECIALS = ["<|endoftext|>", "<pad>", "<mask>", "<unk>"]
WORDS = ["my", "secret", "canary", "number", "is", "the", "cat", "sat", "on", "mat", "a", "dog"]
DIGITS = [str(d) for d in range(10)]
VOCAB = SPECIALS + WORDS + DIGITS
TEMPLATE = "my secret canary {i} number is {secret}"
CANARIES = default_params("collect.canaries", count=1, insertions=2, digits=6, template=TEMPLATE)
SEED = 11
CFG = default_params(
    "evaluate.privacy", n_samples=6, max_new_tokens=12, top_k=0, n_candidates=200, batch_size=64
)


def save_tokenizer(path: Path) -> None:
    """Word-level tokenizer that splits numbers into digits, so secrets have a fixed shape."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|endoftext|>",
        mask_token="<mask>",
    ).save_pretrained(path)


def tiny_llama(seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(VOCAB), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32,
        bos_token_id=0, eos_token_id=0, pad_token_id=1,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def train_on(model, texts: list[str], tokenizer, steps: int = 60) -> None:
    """A few dozen AdamW steps on `texts`, each started by the separator token as in train.bin."""
    import torch

    rows = [[0, *tokenizer(t, add_special_tokens=False).input_ids] for t in texts]
    width = max(map(len, rows))
    batch = torch.tensor([r + [1] * (width - len(r)) for r in rows])
    labels = batch.masked_fill(batch == 1, -100)  # padding is not a target
    opt = torch.optim.AdamW(model.parameters(), lr=2e-2)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=batch, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """models/{trained,untrained,masked}, data/tokens and a data/dedup holding the canary twice."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    root = tmp_path_factory.mktemp("privacy")
    save_tokenizer(root / "tok")
    tokenizer = AutoTokenizer.from_pretrained(root / "tok")
    (canary,) = make_canaries(1, 6, TEMPLATE, SEED)
    filler = ["the cat sat on the mat", "a dog sat on a mat"]

    trained = tiny_llama()
    train_on(trained, [canary.text] * 6 + filler, tokenizer)
    for name, model in (("trained", trained), ("untrained", tiny_llama())):
        model.save_pretrained(root / "models" / name)
        tokenizer.save_pretrained(root / "models" / name)
    bert = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    BertForMaskedLM(bert).save_pretrained(root / "models" / "masked")
    tokenizer.save_pretrained(root / "models" / "masked")

    tokens = root / "data" / "tokens"
    tokens.mkdir(parents=True)
    valid = np.array(
        [0, *tokenizer(" ".join(filler * 10), add_special_tokens=False).input_ids], dtype=np.uint16
    )
    valid.tofile(tokens / "valid.bin")
    (tokens / "meta.json").write_text(
        json.dumps(
            {
                "dtype": "uint16",
                "vocab_size": len(VOCAB),
                "eos_id": 0,
                "pad_id": 1,
                "n_tokens": {"valid": len(valid)},
            }
        )
    )
    with ShardWriter(root / "data" / "dedup", 10) as w:
        for i, text in enumerate([f"the cat sat.\n\n{canary.text}", "a dog", f"{canary.text}\n\nthe mat"]):
            w.write({"id": str(i), "text": text, "source": "t", "origin": "t", "license": "t", "meta": "{}"})
    return root


def run(
    root: Path, model: str, cfg: PrivacyParams = CFG, canaries: CanaryParams = CANARIES, corpus="data/dedup"
):
    return evaluate_privacy(
        cfg, canaries, SEED, "cpu", root / "models" / model, root / "data" / "tokens", root / corpus
    )


def test_count_pii_counts_each_type_once_per_span_and_the_placeholders():
    texts = [
        "mail john.doe@example.com or call +44 20 7946 0958 today",
        "the server at 10.0.0.1 answered; card 4111 1111 1111 1111",
        "already redacted: <EMAIL> and <PHONE>, nothing else",
    ]
    c = count_pii(texts)
    assert (c["email"], c["phone"], c["ip"], c["credit_card"], c["iban"], c["id_number"]) == (
        1,
        1,
        1,
        1,
        0,
        0,
    )
    assert c["pii"] == 4 and c["placeholders"] == 2 and c["n"] == 3
    assert c["chars"] == sum(map(len, texts))
    assert c["pii_per_1k_chars"] == pytest.approx(4000 / c["chars"])
    assert count_pii([""])["pii_per_1k_chars"] == "n/a"
    assert set(c) == set(TEXT_KEYS)


def test_count_pii_reads_phones_by_the_privacy_phone_params():
    text = ["You can reach the office on 0784138013."]  # NL 078 413 8013, written bare
    assert count_pii(text)["phone"] == 0  # the rules want a separator
    assert count_pii(text, CFG.phone_method, CFG.phone_regions)["phone"] == 1


def test_privacy_phone_regions_are_checked():
    with pytest.raises(ParamsError, match="phone_regions.*XX"):
        default_params("evaluate.privacy", phone_regions=("US", "XX"))


def test_cached_canary_scores_equal_a_plain_forward_pass(workspace):
    import torch

    lm = load_causal_lm(workspace / "models" / "trained", "cpu", 32)
    texts = ["my secret canary 0 number is 123456", "my secret canary 0 number is 654321", "the cat sat"]
    got = lm.log_likelihoods(texts, batch_size=2)
    for text, value in zip(texts, got):
        ids = torch.tensor([[0, *lm.tokenizer(text, add_special_tokens=False).input_ids]])
        with torch.no_grad():
            want = -lm.model(input_ids=ids, labels=ids).loss.item() * (ids.shape[1] - 1)
        assert value == pytest.approx(want, abs=1e-3)
    assert common_prefix_length([[0, 5, 6, 7], [0, 5, 6, 8], [0, 5, 9]]) == 2


def test_memorised_canary_is_exposed_and_an_untrained_model_is_not(workspace):
    flat, detail = run(workspace, "trained")
    top = math.log2(201)
    assert flat["privacy.canary.exposure_max_possible"] == pytest.approx(top)
    assert flat["privacy.canary.count"] == 1
    assert flat["privacy.canary.rank_mean"] == 1 and flat["privacy.canary.exposure_mean"] == pytest.approx(
        top
    )
    assert flat["privacy.canary.in_training_data"] == 2
    (row,) = detail["canaries"]
    assert row["rank"] == 1 and row["in_training_data"] == 2 and row["prefix_in_training_data"] == 2
    (canary,) = make_canaries(1, 6, TEMPLATE, SEED)
    assert canary.secret not in json.dumps(flat) and canary.secret not in json.dumps(detail)

    cold, _ = run(workspace, "untrained")
    assert cold["privacy.canary.exposure_mean"] < top - 3
    assert cold["privacy.canary.rank_mean"] > 8


def test_samples_and_valid_baseline_are_counted_and_seeded(workspace):
    flat, detail = run(workspace, "trained")
    assert flat["privacy.samples.n"] == 6 and flat["privacy.valid.n"] == 6
    assert flat["privacy.samples.chars"] > 0 and flat["privacy.valid.chars"] > 0
    assert flat["privacy.samples.pii_per_1k_chars"] == 0.0 == flat["privacy.valid.pii_per_1k_chars"]
    assert len(detail["samples"]["examples"]) == 3 and detail["na"] == {}
    # The model learned the canary, so its samples repeat the canary words.
    assert any("canary" in t for t in detail["samples"]["examples"])
    again, detail_again = run(workspace, "trained")
    assert detail_again["samples"]["examples"] == detail["samples"]["examples"]
    assert again == flat
    assert all(isinstance(v, (int, float)) for v in flat.values())


def test_na_for_a_masked_model_disabled_params_no_canaries_and_no_corpus(workspace):
    every = {f"privacy.{g}.{k}" for g in ("samples", "valid") for k in TEXT_KEYS}
    every |= {f"privacy.canary.{k}" for k in CANARY_KEYS}
    flat, detail = run(workspace, "masked")
    assert set(flat) == every and set(flat.values()) == {"n/a"}
    assert "masked LM" in detail["na"]["privacy.canary.exposure_mean"]

    flat, detail = run(workspace, "trained", cfg=default_params("evaluate.privacy", enabled=False))
    assert set(flat.values()) == {"n/a"} and "enabled is false" in detail["na"]["privacy.samples.n"]

    flat, detail = run(workspace, "trained", canaries=default_params("collect.canaries", count=0))
    assert set(flat) == every
    assert all(flat[f"privacy.canary.{k}"] == "n/a" for k in CANARY_KEYS)
    assert detail["na"]["privacy.canary.rank_mean"] == "collect.canaries.count is 0"
    assert flat["privacy.samples.n"] == 6 and detail["canaries"] == []

    flat, detail = run(workspace, "trained", corpus="data/missing")
    assert flat["privacy.canary.in_training_data"] == "n/a" and flat["privacy.canary.rank_mean"] == 1
    assert "dvc repro dedup" in detail["na"]["privacy.canary.in_training_data"]


def test_samples_longer_than_the_context_are_an_error(workspace):
    with pytest.raises(DataError, match="max_new_tokens: 40 .* at most 31"):
        run(workspace, "trained", cfg=default_params("evaluate.privacy", max_new_tokens=40))


def test_candidates_are_seeded_per_canary(workspace):
    from stages.common.canary import candidates

    (canary,) = make_canaries(1, 6, TEMPLATE, SEED)
    first = candidates(canary, 200, random.Random(f"canary-candidates/{SEED}/0"))
    _, detail = run(workspace, "untrained")
    _, again = run(workspace, "untrained")
    assert detail["canaries"] == again["canaries"] and len(first) == detail["canaries"][0]["candidates"]
