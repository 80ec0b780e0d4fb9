"""The harm step: score documents for profanity and abuse; drop or flag them (a param).

Two signals, either can trip:
- alt-profanity-check's bundled linear model (`predict_prob`) on the first
  `max_chars` characters; it runs once per batch, as its per-call overhead dominates;
- the share of words found in an embedded word list, matched on word boundaries so that
  "Scunthorpe", "assessment", "class" or "cocktail" never match.
The scores go into meta (`clean.harm`) whether or not the document is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stages.clean.base import Outcome, Step, drop, keep
from stages.clean.config import HarmParams

# Common English profanity and abuse, with the inflections that occur; lower case.
_WORD_TEXT = (
    "arse arsehole ass asses asshole assholes bastard bastards bitch bitches bitching bitchy "
    "bollocks bullshit cock cocks cocksucker crap cunt cunts damn dick dickhead dicks dildo dipshit "
    "douche douchebag fag fags faggot faggots fuck fucked fucker fuckers fuckin fucking fucks "
    "goddamn horseshit jackass jerkoff motherfucker motherfuckers motherfucking nigga nigger niggers "
    "piss pissed prick pricks pussy retard retarded shit shits shitty shithead slut sluts twat "
    "wank wanker wankers whore whores"
)
WORDS = tuple(_WORD_TEXT.split())
_WORDS = re.compile(r"\b(?:" + "|".join(sorted(WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_WORD = re.compile(r"\w+")


def wordlist_hits(text: str) -> int:
    return len(_WORDS.findall(text))


class Harm(Step):
    name = "harm"

    def __init__(self, cfg: HarmParams):
        from profanity_check import predict_prob

        self.cfg = cfg
        self.predict_prob = predict_prob

    def apply_batch(self, texts: Sequence[str]) -> list[Outcome]:
        if not texts:
            return []
        heads = [t[: self.cfg.max_chars] for t in texts]
        probs = self.predict_prob(heads)
        outcomes = []
        for text, head, prob in zip(texts, heads, probs):
            n_words = len(_WORD.findall(head)) or 1
            frac = wordlist_hits(head) / n_words
            info = {"classifier_prob": round(float(prob), 4), "wordlist_fraction": round(frac, 4)}
            reason = None
            if prob > self.cfg.max_classifier_prob:
                reason = "classifier"
            elif frac > self.cfg.max_wordlist_fraction:
                reason = "wordlist"
            if reason and self.cfg.action == "drop":
                outcomes.append(drop(text, reason, **info))
            else:
                out = keep(text, **info, flagged=reason)
                out.counts = {f"flagged_{reason}": 1} if reason else {}
                outcomes.append(out)
        return outcomes

    def apply(self, text: str) -> Outcome:
        return self.apply_batch([text])[0]
