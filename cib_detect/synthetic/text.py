"""Post texts: a fixed pseudo-word vocabulary, organic posts and near-copies of a template."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cib_detect.synthetic.events import F64

SHORT_TEXT_SHARE = 0.10
COMMON_PHRASES = (
    "love this",
    "so good",
    "🔥🔥🔥",
    "on repeat",
    "this slaps",
    "obsessed",
    "no skips",
    "vibes",
    "can't stop listening",
    "yes!!",
    "goosebumps",
    "😍😍",
    "banger",
    "classic",
    "need more of this",
    "💯",
    "wow",
    "this is everything",
    "play it loud",
    "perfect",
)
EMOJI = ("🔥", "😍", "💯", "🙌", "✨", "🎶", "👏", "❤️", "😭", "🚀")
VOCAB_SIZE = 3000
VOCAB_SEED = 20_260_101  # the "language" is the same in every world


@dataclass(frozen=True)
class Vocabulary:
    """The words, as a list and an Arrow array, and their Zipf (exponent 1) cumulative weights."""

    words: list[str]
    arrow: pa.Array
    cum: F64


def vocabulary() -> Vocabulary:
    words = _words()
    cum = np.cumsum(np.arange(1, len(words) + 1, dtype=np.float64) ** -1.0)
    return Vocabulary(words, pa.array(words, type=pa.string()), cum)


def _words() -> list[str]:
    """A few thousand pronounceable pseudo-words from random syllables (fixed seed)."""
    rng = np.random.default_rng(VOCAB_SEED)
    onsets = [*"bcdfghjklmnprstvwz", "br", "ch", "dr", "fl", "gr", "kr", "pl", "sh", "st", "tr"]
    vowels = [*"aeiou", "ai", "ea", "oo", "ou", "y"]
    codas = ["", "", "", "n", "r", "s", "t", "l", "m", "ng", "ck", "x"]
    words: dict[str, None] = {}
    while len(words) < VOCAB_SIZE:
        m = 4096
        n_syl = rng.choice(np.array([1, 2, 3]), size=m, p=[0.35, 0.45, 0.20])
        on = rng.integers(0, len(onsets), (m, 3))
        vo = rng.integers(0, len(vowels), (m, 3))
        co = rng.integers(0, len(codas), m)
        for i in range(m):
            w = "".join(onsets[on[i, j]] + vowels[vo[i, j]] for j in range(int(n_syl[i])))
            words.setdefault(w + codas[co[i]], None)
            if len(words) >= VOCAB_SIZE:
                break
    return list(words)


def edit_copy(rng: np.random.Generator, template: list[str], vocab: list[str]) -> str:
    """The template with one or two word edits and, sometimes, an emoji or hashtag."""
    words = list(template)
    for _ in range(int(rng.integers(1, 3))):
        op = int(rng.integers(0, 3))
        if op == 0:  # substitute
            words[int(rng.integers(0, len(words)))] = vocab[int(rng.integers(0, len(vocab)))]
        elif op == 1:  # insert
            words.insert(
                int(rng.integers(0, len(words) + 1)), vocab[int(rng.integers(0, len(vocab)))]
            )
        elif len(words) > 3:  # delete
            del words[int(rng.integers(0, len(words)))]
    text = " ".join(words)
    r = rng.random()
    if r < 0.3:
        text += " " + EMOJI[int(rng.integers(0, len(EMOJI)))]
    elif r < 0.5:
        text += " #" + vocab[int(rng.integers(0, len(vocab)))]
    return text


def organic_texts(rng: np.random.Generator, m: int, vocab: Vocabulary) -> pa.Array:
    """``m`` organic posts: Zipf-drawn words (8-25, some with an emoji) or a common phrase."""
    short = rng.random(m) < SHORT_TEXT_SHARE
    n_long = int(m - np.count_nonzero(short))
    n_words = rng.integers(8, 26, n_long)
    words = np.searchsorted(vocab.cum, rng.random(int(n_words.sum())) * vocab.cum[-1], side="right")
    words = np.minimum(words, len(vocab.arrow) - 1)
    offsets = np.concatenate([[0], np.cumsum(n_words)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), pc.take(vocab.arrow, pa.array(words)))
    long_texts = pc.binary_join(lists, " ")
    emoji = np.array(["", *[" " + e for e in EMOJI]], dtype=object)
    suffix_idx = np.where(rng.random(n_long) < 0.15, rng.integers(1, len(emoji), n_long), 0)
    long_texts = pc.binary_join_element_wise(
        long_texts, pc.take(pa.array(list(emoji), type=pa.string()), pa.array(suffix_idx)), ""
    )
    idx = np.empty(m, dtype=np.int64)
    idx[~short] = np.arange(n_long)
    idx[short] = n_long + rng.integers(0, len(COMMON_PHRASES), m - n_long)
    pool = pa.concat_arrays([long_texts, pa.array(list(COMMON_PHRASES), type=pa.string())])
    return pc.take(pool, pa.array(idx))
