"""The `evaluate:` section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stages.common.init_from import PypiGguf
from stages.common.params import require
from stages.common.pii import PhoneMethod, check_phone_params


@dataclass(frozen=True)
class LmParams:
    """Language-modelling evaluation on data/tokens/valid.bin."""

    max_batches: int
    context_length: int
    mask_prob: float

    def __post_init__(self) -> None:
        require(self.max_batches >= 1, "max_batches", "must be >= 1")
        require(self.context_length >= 0, "context_length", "must be >= 0 (0 = the model's own)")
        require(0.0 < self.mask_prob < 1.0, "mask_prob", "must be in (0, 1), e.g. 0.15")


@dataclass(frozen=True)
class ClassifyParams:
    """Classification evaluation on data/tasks/<task>/test.parquet."""

    max_length: int
    bootstrap: int
    ci: float
    tfidf_max_features: int
    tfidf_ngram_max: int
    logreg_c: float

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

    max_length: int
    bootstrap: int
    ci: float

    def __post_init__(self) -> None:
        require(self.max_length >= 8, "max_length", "must be >= 8")
        require(self.bootstrap >= 100, "bootstrap", "must be >= 100 for a meaningful interval")
        require(0.5 <= self.ci < 1.0, "ci", "must be in [0.5, 1), e.g. 0.95")


@dataclass(frozen=True)
class FewshotParams:
    """In-context classification of data/tasks/classify/test by the pretrained causal LM."""

    ks: tuple[int, ...]
    n_test: int
    template: str
    verbalizer: tuple[str, ...]
    separator: str
    reference: str | PypiGguf | None

    def __post_init__(self) -> None:
        require(
            not isinstance(self.reference, str) or bool(self.reference.strip()),
            "reference",
            "must be null, a causal LM folder or .gguf file, or {package, sha256, member} of a pinned PyPI gguf",
        )
        require(all(k >= 0 for k in self.ks), "ks", "must be >= 0 each, e.g. [0, 1, 4, 8]")
        require(len(set(self.ks)) == len(self.ks), "ks", f"{list(self.ks)} has duplicates")
        require(self.n_test >= 0, "n_test", "must be >= 0 (0 = the whole test split)")
        require("{text}" in self.template, "template", "must contain {text}, where the review goes")
        require(len(self.verbalizer) >= 2, "verbalizer", "needs one word per label (at least 2)")
        require(all(w.strip() for w in self.verbalizer), "verbalizer", "words must not be blank")


@dataclass(frozen=True)
class RobustParams:
    """Accuracy on perturbed text and a seeded black-box attack on the classifiers."""

    attack_budget: int
    n_attack: int
    kinds: tuple[str, ...]

    def __post_init__(self) -> None:
        require(self.attack_budget >= 0, "attack_budget", "must be >= 0 (0 = no attack)")
        require(self.n_attack >= 0, "n_attack", "must be >= 0 (0 = the whole test split)")
        require(len(self.kinds) >= 1, "kinds", "needs at least one perturbation kind")


@dataclass(frozen=True)
class PrivacyParams:
    """PII-shaped strings in text sampled from the pretrained model, and canary exposure."""

    enabled: bool
    n_samples: int
    max_new_tokens: int
    top_k: int
    temperature: float
    n_candidates: int
    batch_size: int
    phone_method: PhoneMethod
    phone_regions: tuple[str, ...]

    def __post_init__(self) -> None:
        require(self.n_samples >= 1, "n_samples", "must be >= 1")
        require(self.max_new_tokens >= 1, "max_new_tokens", "must be >= 1")
        require(self.top_k >= 0, "top_k", "must be >= 0 (0 = no top-k cut)")
        require(self.temperature > 0, "temperature", "must be > 0")
        require(self.n_candidates >= 1, "n_candidates", "must be >= 1")
        require(self.batch_size >= 1, "batch_size", "must be >= 1")
        check_phone_params(self.phone_method, self.phone_regions)


@dataclass(frozen=True)
class SamplesParams:
    """Prompted continuations of the pretrained causal LM, for the report (no metric)."""

    prompts: tuple[str, ...]
    max_new_tokens: int
    temperature: float
    top_k: int

    def __post_init__(self) -> None:
        require(all(p.strip() for p in self.prompts), "prompts", "must not be blank; [] turns samples off")
        require(self.max_new_tokens >= 1, "max_new_tokens", "must be >= 1")
        require(self.temperature >= 0, "temperature", "must be >= 0 (0 = greedy)")
        require(self.top_k >= 0, "top_k", "must be >= 0 (0 = no top-k cut)")


@dataclass(frozen=True)
class EvaluateParams:
    device: Literal["auto", "cpu", "cuda"]
    batch_size: int
    lm: LmParams
    classify: ClassifyParams
    ner: NerParams
    fewshot: FewshotParams
    robust: RobustParams
    privacy: PrivacyParams
    samples: SamplesParams

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "batch_size", "must be >= 1")
