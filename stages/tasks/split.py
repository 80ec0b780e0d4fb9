"""Seeded, stratified sampling and train/valid/test splits (scikit-learn)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from stages.common.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def strata_fit(strata: Sequence[str], n_out: int) -> bool:
    """True when every stratum can put a member on each side of a cut of `n_out` rows."""
    counts = Counter(strata)
    return min(counts.values()) >= 2 and len(counts) <= min(n_out, len(strata) - n_out)


def pick_strata(options: Sequence[Sequence[str]], n_out: int) -> int:
    """Index of the finest stratification (first option) that every cut can honour."""
    for i, strata in enumerate(options):
        if strata_fit(strata, n_out):
            return i
    raise DataError(
        f"cannot stratify {len(options[-1])} examples into a cut of {n_out}: a label has too few "
        "examples; raise tasks.<task>.max_docs or lower neutral_band"
    )


def stratified_sample(strata: Sequence[str], n: int, seed: int) -> list[int]:
    """Indices of a seeded sample of `n` rows with the strata in their original proportions."""
    from sklearn.model_selection import train_test_split

    if n >= len(strata):
        return list(range(len(strata)))
    keep, _ = train_test_split(
        list(range(len(strata))), train_size=n, random_state=seed, stratify=list(strata)
    )
    return sorted(keep)


def split_indices(
    options: Sequence[Sequence[str]], valid_fraction: float, test_fraction: float, seed: int
) -> tuple[dict[str, list[int]], int]:
    """Cut row indices into train/valid/test, stratified by the finest option that fits.

    `options` are candidate strata per row, finest first (e.g. source+label, then label);
    returns the splits and the index of the option used.
    """
    from sklearn.model_selection import train_test_split

    n = len(options[0])
    n_test = max(1, round(n * test_fraction))
    n_valid = max(1, round(n * valid_fraction))
    # The finest option must fit both cuts; the second cut sees only the rows left by the first.
    choice = max(pick_strata(options, n_test), pick_strata(options, n_valid))
    strata = list(options[choice])
    idx = list(range(n))
    rest, test = train_test_split(idx, test_size=n_test, random_state=seed, stratify=strata)
    rest_strata = [strata[i] for i in rest]
    if not strata_fit(rest_strata, n_valid):
        raise DataError(
            f"too few examples ({n}) to cut a stratified valid split; raise tasks.<task>.max_docs"
        )
    train, valid = train_test_split(rest, test_size=n_valid, random_state=seed + 1, stratify=rest_strata)
    return {"train": sorted(train), "valid": sorted(valid), "test": sorted(test)}, choice
