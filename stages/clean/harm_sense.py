"""The learned sense of the harm step's ambiguous listed words (ass, bastard, cock, dick, prick,
whore, retarded, ...): a logistic regression over each plainly written such word's context,
fitted by `gold/harm/sense_model.py` on the labelled rows of gold/harm/ (never the test
split) and stored as its weights in `harm_sense.json` beside this file.

Features of a word: its family, its neighbours at each offset within 3 words and in a window of
6, whether a name is called before it (`_CALLED`) or it is a vocative, title case, the
document's older English and the rules' own reading (`harm._sense`). The model replaces the
rules' sense of the word (or, with scope "counted", only of a word the rules count): below
`threshold` it reads as innocent. A vocative ("you little
prick") always counts, whatever the model says. Scoring is a sum of the weights of the
features present, so the step needs no scikit-learn at run time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from stages.clean import harm as h

NEAR = 3  # neighbours at each offset -NEAR..NEAR
WINDOW = 6  # neighbours as a bag, each side
DEFAULT_PATH = Path(__file__).with_name("harm_sense.json")


def token_features(
    word: str,
    token: str,
    text: str,
    start: int,
    words: list[str],
    at: int,
    tagger: h._Tagger | None,
    old: bool = False,
    rule: str | None = "",
    context: bool = False,
) -> dict[str, float]:
    """The features of the listed `word` written as `token` at `text[start:]` (`words[at]`),
    with `harm._sense`'s arguments; `rule`: `harm._sense`'s reading when the caller has it;
    `context`: also `context_features`."""
    f = {"family=" + h._FAMILY[word]: 1.0, "title": float(token[:1].isupper()), "old": float(bool(old))}
    for k in range(-NEAR, NEAR + 1):
        if k and 0 <= at + k < len(words):
            f[f"w{k:+d}={words[at + k]}"] = 1.0
    for w in words[max(0, at - WINDOW) : at + WINDOW + 1]:
        f["near=" + w] = 1.0
    before = text[max(0, start - 40) : start]
    f["called"] = float(bool(h._CALLED.search(before)))
    f["vocative"] = float(bool(h._VOCATIVE.search(before)))
    if rule == "":
        rule = h._sense(word, token, text, start, words, at, tagger, old)
    f[f"rule={rule}"] = 1.0
    if context:
        f.update(context_features(token, text, start, words, at, tagger))
    return f


_LOWER_SPAN = 200  # characters each side that show a lower-cased text


def context_features(
    token: str, text: str, start: int, words: list[str], at: int, tagger: h._Tagger | None
) -> dict[str, float]:
    """What case cannot show in lower-cased text and what a verse line shows: the tagger's part
    of speech of the word and of the next token, a neighbour in faker's list of names
    (`harm.person_names`), a lower-cased stretch around the word, and the word's place in its
    line (first or last word: a play's verse)."""
    f: dict[str, float] = {}
    if tagger is not None and tagger.nlp is not None:
        lo = max(0, start - h._TAG_CHARS)
        pos, _, nxt = tagger.tags(text[lo : start + len(token) + h._TAG_CHARS], start - lo)
        f[f"pos={pos}"] = f[f"next_pos={nxt}"] = 1.0
    names = h.person_names()
    f["name_beside"] = float(any(0 <= at + k < len(words) and words[at + k] in names for k in (-1, 1)))
    span = text[max(0, start - _LOWER_SPAN) : start + _LOWER_SPAN]
    f["lower_text"] = float(span == span.lower())
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    f["line_first"] = float(not text[line_start:start].strip(" \t\"'("))
    f["line_last"] = float(
        not text[start + len(token) : None if line_end < 0 else line_end].strip(" \t.,;:!?\"')")
    )
    return f


@dataclass(frozen=True)
class SenseModel:
    """A fitted sense model: feature weights, bias, and the probability of the harmful sense
    below which a word reads as innocent."""

    weights: dict[str, float]
    bias: float
    threshold: float
    # "all": the model reads every such word; "counted": only those the rules count, so that
    # a sense the rules find (an animal, a trade, a name) stands.
    scope: str = "all"
    context: bool = False  # with `context_features`

    @classmethod
    def load(cls, path: str | Path) -> SenseModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            model = cls(
                dict(data["weights"]),
                float(data["bias"]),
                float(data["threshold"]),
                data.get("scope", "all"),
                bool(data.get("context_features", False)),
            )
            if model.scope not in ("all", "counted"):
                raise ValueError(f"scope {model.scope!r} is not 'all' or 'counted'")
            return model
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f"clean.harm.sense_model: cannot read {str(path)!r} ({type(e).__name__}: {e}); rebuild it "
                'with `python gold/harm/sense_model.py` or set sense_model to "" (the rules alone)'
            ) from None

    def prob(self, features: dict[str, float]) -> float:
        """The probability that the word is used as profanity or abuse."""
        z = self.bias + sum(self.weights.get(k, 0.0) * v for k, v in features.items())
        return 1.0 / (1.0 + math.exp(-z))

    def sense(
        self,
        word: str,
        token: str,
        text: str,
        start: int,
        words: list[str],
        at: int,
        tagger: h._Tagger | None,
        old: bool = False,
    ) -> str | None:
        """`harm._sense` with the model deciding each ambiguous word (within `scope`):
        "learned" when it reads as innocent."""
        rule = h._sense(word, token, text, start, words, at, tagger, old)
        if word not in h._FAMILY or h._VOCATIVE.search(text[max(0, start - 40) : start]):
            return rule
        if self.scope == "counted" and rule is not None:
            return rule
        f = token_features(word, token, text, start, words, at, tagger, old, rule, self.context)
        return "learned" if self.prob(f) < self.threshold else None
