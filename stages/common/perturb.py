"""Seeded, label-preserving text perturbations: the attack behind the adversarial task.

Each kind changes how a text is written, never what it says, so a sentiment label stays
true (the tasks stage builds `adversarial/` with them; evaluate attacks a model with them):

- typo:       one letter of a word becomes a QWERTY-keyboard neighbour ("good" -> "giod")
- swap:       two adjacent letters inside a word trade places ("movie" -> "mvoie")
- insert:     a keyboard-neighbour letter is slipped into a word ("great" -> "grewat")
- homoglyph:  a Latin letter becomes a Cyrillic/Greek look-alike; the length is unchanged
- case:       a whole word flips case ("boring" -> "BORING", "NOT" -> "not")
- distractor: a real near-neutral sentence (from `distractors`) is appended

Word-level kinds touch `rate` of the words (at least one); typo and insert need words of 3
letters or more, swap 4 or more. Only letters change, so digits
and punctuation stay, and the spelling edits (typo, swap, insert) never touch a negation
("not", "never", "don't"), whose misspelling could read as another word. Everything random
comes from the caller's `random.Random`, so a given rng state gives the same output.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

# The near-neutral sentences the tasks stage drew for the distractor kind, stored beside
# data/tasks/adversarial/ so that evaluate's attack draws from the same real pool.
DISTRACTORS_FILE = "distractors.json"
KINDS = ("typo", "swap", "insert", "homoglyph", "case", "distractor")
DEFAULT_RATE = 0.15

# Runs of letters (any script), with inner apostrophes: "don't" is one word.
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
# A misspelt negation can read as another word ("not" -> "nor", "never" -> "fever") and
# flip the sentiment: spelling edits leave these alone.
NEGATIONS = frozenset(
    [
        "no",
        "not",
        "nor",
        "never",
        "none",
        "nothing",
        "nobody",
        "nowhere",
        "neither",
        "without",
        "cannot",
        "ain't",
    ]
)

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Letters next to each letter on a QWERTY keyboard (same row, and the rows around)."""
    pos = {c: (r, i) for r, row in enumerate(_KEYBOARD_ROWS) for i, c in enumerate(row)}
    # Each row sits half a key right of the one above: above are keys i and i+1, below i-1 and i.
    near = {-1: (0, 1), 0: (-1, 1), 1: (-1, 0)}
    return {
        c: "".join(d for d, (r2, i2) in pos.items() if r2 - r in near and i2 - i in near[r2 - r])
        for c, (r, i) in pos.items()
    }


NEIGHBOURS = _keyboard_neighbours()

# Latin -> Cyrillic (and a few Greek) letters that render the same in common fonts.
HOMOGLYPHS = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "i": "\u0456", "j": "\u0458", "o": "\u043e",
    "p": "\u0440", "s": "\u0455", "x": "\u0445", "y": "\u0443", "v": "\u03bd",
    "A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415", "H": "\u041d", "I": "\u0406",
    "J": "\u0408", "K": "\u041a", "M": "\u041c", "N": "\u039d", "O": "\u041e", "P": "\u0420",
    "S": "\u0405", "T": "\u0422", "X": "\u0425", "Y": "\u03a5", "Z": "\u0396",
}  # fmt: skip


def _same_case(new: str, like: str) -> str:
    return new.upper() if like.isupper() else new


def _typo(word: str, rng: random.Random) -> str | None:
    if len(word) < 3:  # "I" -> "J", "a" -> "q" would read as other words
        return None
    spots = [i for i, c in enumerate(word) if c.lower() in NEIGHBOURS]
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + _same_case(rng.choice(NEIGHBOURS[word[i].lower()]), word[i]) + word[i + 1 :]


def _swap(word: str, rng: random.Random) -> str | None:
    # Only inside the word: with the first and last letters in place readers still
    # recognise it (so words under 4 letters are left alone); never across an apostrophe.
    spots = [
        i
        for i in range(1, len(word) - 2)
        if word[i] != word[i + 1] and word[i].isalpha() and word[i + 1].isalpha()
    ]
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _insert(word: str, rng: random.Random) -> str | None:
    if len(word) < 3:
        return None
    # After a letter (never before the first one, never after an apostrophe).
    i = rng.choice([k for k in range(1, len(word) + 1) if word[k - 1].isalpha()])
    prev = word[i - 1]
    new = rng.choice(NEIGHBOURS[prev.lower()]) if prev.lower() in NEIGHBOURS else prev
    return word[:i] + _same_case(new, prev) + word[i:]


def _homoglyph(word: str, rng: random.Random) -> str | None:
    spots = [i for i, c in enumerate(word) if c in HOMOGLYPHS]
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + HOMOGLYPHS[word[i]] + word[i + 1 :]


def _case(word: str, rng: random.Random) -> str | None:
    new = word.lower() if word.isupper() else word.upper()
    return new if new != word else None


_WORD_EDITS: dict[str, Callable[[str, random.Random], str | None]] = {
    "typo": _typo,
    "swap": _swap,
    "insert": _insert,
    "homoglyph": _homoglyph,
    "case": _case,
}


def perturb(
    text: str,
    kind: str,
    rng: random.Random,
    rate: float = DEFAULT_RATE,
    distractors: Sequence[str] = (),
) -> str:
    """`text` with one kind of perturbation; unchanged when no word admits that kind."""
    if kind == "distractor":
        if not distractors:
            raise ValueError("perturb: kind 'distractor' needs a non-empty `distractors` list")
        text = text.rstrip()
        # End an unpunctuated text with a period so the distractor reads as its own sentence.
        return f"{text}{'.' if text[-1:].isalnum() else ''} {rng.choice(distractors)}"
    if kind not in _WORD_EDITS:
        raise ValueError(f"perturb: unknown kind {kind!r}; known kinds are {list(KINDS)}")
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"perturb: rate {rate} must be in (0, 1]")
    edit = _WORD_EDITS[kind]
    words = list(_WORD.finditer(text))
    protected = kind in ("typo", "swap", "insert")
    # Draw candidate words in a seeded order and edit the first `k` that admit the kind.
    k = max(1, round(rate * len(words)))
    edits: dict[int, str] = {}
    for i in rng.sample(range(len(words)), len(words)):
        word = words[i].group()
        if protected and (word.casefold() in NEGATIONS or word.casefold().endswith(("n't", "n\u2019t"))):
            continue
        new = edit(word, rng)
        if new is not None:
            edits[i] = new
            if len(edits) == k:
                break
    out, last = [], 0
    for i in sorted(edits):
        m = words[i]
        out += [text[last : m.start()], edits[i]]
        last = m.end()
    return "".join(out) + text[last:]


def attack(
    text: str,
    rng: random.Random,
    kinds: Sequence[str],
    rate: float = DEFAULT_RATE,
    distractors: Sequence[str] = (),
    n_kinds: int = 1,
) -> tuple[str, str]:
    """Apply `n_kinds` different kinds drawn from `kinds`: ("+"-joined kinds, new text).

    A kind that cannot change this text (say, homoglyph on a text without look-alike
    letters) is passed over for the next one drawn; ("", text) when none can.
    """
    usable = [k for k in kinds if k != "distractor" or distractors]
    if not usable:
        raise ValueError(f"attack: none of the kinds {list(kinds)} is usable (distractor needs distractors)")
    applied: list[str] = []
    for kind in rng.sample(usable, len(usable)):
        new = perturb(text, kind, rng, rate, distractors)
        if new != text:
            applied.append(kind)
            text = new
            if len(applied) == n_kinds:
                break
    return "+".join(applied), text


def attack_variants(
    text: str,
    rng: random.Random,
    n: int,
    kinds: Sequence[str],
    distractors: Sequence[str] = (),
    rate: float = DEFAULT_RATE,
) -> list[tuple[str, str]]:
    """`n` perturbed candidates of `text` as (kind, text), each with one kind drawn seeded.

    Fewer (none) only when no kind can change the text at all.
    """
    out = []
    for _ in range(n):
        kind, new = attack(text, rng, kinds, rate, distractors)
        if not kind:
            break
        out.append((kind, new))
    return out
