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
class EvaluateParams:
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = 16
    lm: LmParams = LmParams()
    classify: ClassifyParams = ClassifyParams()

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "batch_size", "must be >= 1")
