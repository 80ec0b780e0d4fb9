"""The `evaluate:` section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stages.common.params import require


@dataclass(frozen=True)
class LmParams:
    """Language-modelling evaluation on data/tokens/valid.bin."""

    max_batches: int = 50  # bound on windows: max_batches * batch_size context-length windows
    context_length: int = 0  # 0 = the model's max_position_embeddings
    mask_prob: float = 0.15  # masked-LM models only: fraction of tokens masked

    def __post_init__(self) -> None:
        require(self.max_batches >= 1, "max_batches", "must be >= 1")
        require(self.context_length >= 0, "context_length", "must be >= 0 (0 = the model's own)")
        require(0.0 < self.mask_prob < 1.0, "mask_prob", "must be in (0, 1), e.g. 0.15")


@dataclass(frozen=True)
class ClassifyParams:
    """Classification evaluation on data/tasks/<task>/test.parquet."""

    max_length: int = 128  # tokens per text fed to the fine-tuned model
    bootstrap: int = 1000  # resamples for the confidence intervals
    ci: float = 0.95
    tfidf_max_features: int = 20000
    tfidf_ngram_max: int = 2
    logreg_c: float = 1.0

    def __post_init__(self) -> None:
        require(self.max_length >= 8, "max_length", "must be >= 8")
        require(self.bootstrap >= 100, "bootstrap", "must be >= 100 for a meaningful interval")
        require(0.5 <= self.ci < 1.0, "ci", "must be in [0.5, 1), e.g. 0.95")
        require(self.tfidf_max_features >= 1, "tfidf_max_features", "must be >= 1")
        require(self.tfidf_ngram_max >= 1, "tfidf_ngram_max", "must be >= 1")
        require(self.logreg_c > 0, "logreg_c", "must be > 0")


@dataclass(frozen=True)
class NerParams:
    """NER on the gold test set (data/tasks/ner/test.parquet)."""

    max_length: int = 256  # subword tokens per sentence fed to the tagger; words past it count as O
    bootstrap: int = 1000  # sentence resamples for the F1 interval
    ci: float = 0.95

    def __post_init__(self) -> None:
        require(self.max_length >= 8, "max_length", "must be >= 8")
        require(self.bootstrap >= 100, "bootstrap", "must be >= 100 for a meaningful interval")
        require(0.5 <= self.ci < 1.0, "ci", "must be in [0.5, 1), e.g. 0.95")


@dataclass(frozen=True)
class FewshotParams:
    """In-context classification of data/tasks/classify/test by the pretrained causal LM."""

    ks: tuple[int, ...] = (0, 1, 4, 8)  # demonstrations per prompt; [] turns few-shot off
    n_test: int = 300  # seeded subset of the test split (0 = all of it)
    template: str = "Review: {text}\nSentiment:"
    verbalizer: tuple[str, ...] = ("negative", "positive")  # one word per label, in labels.json order
    separator: str = "\n\n"  # between demonstrations and before the query

    def __post_init__(self) -> None:
        require(all(k >= 0 for k in self.ks), "ks", "must be >= 0 each, e.g. [0, 1, 4, 8]")
        require(len(set(self.ks)) == len(self.ks), "ks", f"{list(self.ks)} has duplicates")
        require(self.n_test >= 0, "n_test", "must be >= 0 (0 = the whole test split)")
        require("{text}" in self.template, "template", "must contain {text}, where the review goes")
        require(len(self.verbalizer) >= 2, "verbalizer", "needs one word per label (at least 2)")
        require(all(w.strip() for w in self.verbalizer), "verbalizer", "words must not be blank")


@dataclass(frozen=True)
class RobustParams:
    """Accuracy on perturbed text and a seeded black-box attack on the classifiers."""

    attack_budget: int = 20  # candidates tried per correctly classified test example; 0 = no attack
    n_attack: int = 400  # seeded subset of the clean test split attacked (0 = all of it)
    kinds: tuple[str, ...] = ("typo", "swap", "insert", "homoglyph", "case", "distractor")

    def __post_init__(self) -> None:
        require(self.attack_budget >= 0, "attack_budget", "must be >= 0 (0 = no attack)")
        require(self.n_attack >= 0, "n_attack", "must be >= 0 (0 = the whole test split)")
        require(len(self.kinds) >= 1, "kinds", "needs at least one perturbation kind")


@dataclass(frozen=True)
class PrivacyParams:
    """PII-shaped strings in text sampled from the pretrained model, and canary exposure."""

    enabled: bool = True
    n_samples: int = 64  # texts sampled from the pretrained model
    max_new_tokens: int = 128  # tokens per sample; also the size of each valid.bin baseline window
    top_k: int = 50  # sample from the k most likely tokens; 0 = from all of them
    temperature: float = 1.0
    n_candidates: int = 1000  # random secrets each canary's true secret is ranked against
    batch_size: int = 64  # samples generated / canary candidates scored per forward batch

    def __post_init__(self) -> None:
        require(self.n_samples >= 1, "n_samples", "must be >= 1")
        require(self.max_new_tokens >= 1, "max_new_tokens", "must be >= 1")
        require(self.top_k >= 0, "top_k", "must be >= 0 (0 = no top-k cut)")
        require(self.temperature > 0, "temperature", "must be > 0")
        require(self.n_candidates >= 1, "n_candidates", "must be >= 1")
        require(self.batch_size >= 1, "batch_size", "must be >= 1")


@dataclass(frozen=True)
class EvaluateParams:
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = 16
    lm: LmParams = LmParams()
    classify: ClassifyParams = ClassifyParams()
    ner: NerParams = NerParams()
    fewshot: FewshotParams = FewshotParams()
    robust: RobustParams = RobustParams()
    privacy: PrivacyParams = PrivacyParams()

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "batch_size", "must be >= 1")
