"""Secret canaries, as in Carlini et al., "The Secret Sharer" (USENIX Security 2019).

collect plants each canary sentence ("my secret canary 3 number is 281265017") in a few
real documents; evaluate recomputes the same canaries from the same params and seed, and
measures how much more likely the pretrained model finds the true secret than random
secrets of the same shape: exposure = log2(candidates + 1) - log2(rank of the true one).
The canaries live in stages/common because both stages must draw exactly the same ones.
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass

from stages.common.errors import ParamsError
from stages.common.params import require

FIELDS = {"i", "secret"}


def template_fields(template: str) -> list[str]:
    """The replacement fields of a str.format template, in order ({i}, {secret})."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as e:
        raise ValueError(f"template {template!r} is not a valid format string ({e})") from None


_CUT = "\x00"  # stands in for the secret to find where the prefix ends (never in a template)


def _fill(template: str, i: int, secret: str) -> str:
    return template.format(i=i, secret=secret)


@dataclass(frozen=True)
class CanaryParams:
    """The `collect.canaries:` section: secret sentences planted in the training corpus."""

    count: int
    insertions: int
    digits: int
    template: str

    def __post_init__(self) -> None:
        require(self.count >= 0, "count", "must be >= 0 (0 = no canaries)")
        require(self.insertions >= 1, "insertions", "must be >= 1 document per canary")
        require(1 <= self.digits <= 18, "digits", "must be between 1 and 18")
        try:
            names = template_fields(self.template)
            unknown = sorted(set(names) - FIELDS)
            require(not unknown, "template", f"unknown field(s) {unknown}; use only {{i}} and {{secret}}")
            prefix = _fill(self.template, 0, _CUT).split(_CUT, 1)[0]
        except (ValueError, IndexError) as e:
            raise ParamsError(
                f"template: {e}; write the fields as {{i}} and {{secret}}, literal braces as {{{{ }}}}"
            ) from None
        require(names.count("secret") == 1, "template", "must contain {secret} exactly once")
        require(
            bool(prefix.strip()), "template", "needs words before {secret}: the model completes that prefix"
        )
        require(
            self.count <= 1 or "i" in names,
            "template",
            "must contain {i} when count > 1, so that each canary has its own prefix",
        )
        require(
            self.count < 10**self.digits,
            "count",
            f"{self.count} canaries need more distinct secrets than {self.digits} digits give",
        )


@dataclass(frozen=True)
class Canary:
    prefix: str  # the template up to the secret, with {i} filled in
    secret: str  # `digits` decimal digits, leading zeros kept
    text: str  # the whole sentence as planted


def make_canaries(count: int, digits: int, template: str, seed: int) -> list[Canary]:
    """`count` canaries with distinct secrets; the same arguments give the same canaries."""
    rng = random.Random(f"canaries/{seed}")
    secrets = rng.sample(range(10**digits), count)
    out = []
    for i, value in enumerate(secrets):
        secret = str(value).zfill(digits)
        text = _fill(template, i, secret)
        prefix = _fill(template, i, _CUT).split(_CUT, 1)[0]
        out.append(Canary(prefix=prefix, secret=secret, text=text))
    return out


def candidates(canary: Canary, n: int, rng: random.Random) -> list[str]:
    """`n` distinct random secrets of the canary's shape, never the true secret."""
    digits = len(canary.secret)
    space = 10**digits - 1  # every secret of that length but the true one
    if n > space:
        raise ValueError(f"{n} candidates asked for, but only {space} other {digits}-digit secrets exist")
    true = int(canary.secret)
    drawn = [v for v in rng.sample(range(10**digits), n + 1) if v != true][:n]
    return [str(v).zfill(digits) for v in drawn]


def exposure(rank: int, n_candidates: int) -> float:
    """Bits of exposure of a secret ranked `rank` (1 = most likely) among itself and n candidates."""
    if not 1 <= rank <= n_candidates + 1:
        raise ValueError(f"rank {rank} is outside 1..{n_candidates + 1}")
    return math.log2(n_candidates + 1) - math.log2(rank)
