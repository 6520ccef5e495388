"""One-permutation MinHash signatures and LSH grouping of near-duplicate texts.

The engine uses 5-byte shingles, 2**6 = 64 bins, 20 bands of 3 rows and threshold 0.5
(``cib_detect.detect.objects.text_groups``); the tests use the same settings.
"""

from __future__ import annotations

import numpy as np
import pytest

from cib_detect.kernels import minhash

SHINGLE, BIN_BITS, BANDS, ROWS, THRESHOLD = 5, 6, 20, 3, 0.5


def _buffers(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    raw = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in raw], out=offsets[1:])
    data = np.frombuffer(b"".join(raw), dtype=np.uint8).copy()
    if data.size == 0:
        data = np.zeros(0, dtype=np.uint8)
    return data, offsets


def signatures(texts: list[str]) -> np.ndarray:
    data, offsets = _buffers(texts)
    return minhash.oph_signatures(data, offsets, SHINGLE, BIN_BITS)


def groups(texts: list[str]) -> np.ndarray:
    return minhash.lsh_groups(signatures(texts), BANDS, ROWS, THRESHOLD)


def shingles(text: str) -> set[bytes]:
    b = text.encode("utf-8")
    if len(b) <= SHINGLE:
        return {b}
    return {b[i : i + SHINGLE] for i in range(len(b) - SHINGLE + 1)}


def jaccard(x: str, y: str) -> float:
    a, b = shingles(x), shingles(y)
    return len(a & b) / len(a | b)


def estimated(sig: np.ndarray, i: int, j: int) -> float:
    return float(np.mean(sig[i] == sig[j]))


def _words(rng: np.random.Generator, n: int) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, int(rng.integers(3, 9)))) for _ in range(n)]


def _sentence(rng: np.random.Generator, n_words: int = 20) -> list[str]:
    return _words(rng, n_words)


def _edit(rng: np.random.Generator, words: list[str], n_edits: int) -> list[str]:
    out = list(words)
    for _ in range(n_edits):
        op = int(rng.integers(0, 3))
        pos = int(rng.integers(0, len(out)))
        if op == 0:
            out[pos] = _words(rng, 1)[0]
        elif op == 1:
            out.insert(pos, _words(rng, 1)[0])
        else:
            del out[pos]
    return out


def test_signature_shape_and_determinism() -> None:
    texts = ["the quick brown fox jumps over the lazy dog", "", "abc", "x" * 300]
    sig = signatures(texts)
    assert sig.shape == (4, 1 << BIN_BITS)
    assert sig.dtype == np.uint32
    assert np.array_equal(sig, signatures(texts))
    # densification fills every bin of a non-empty text
    assert not np.any(sig[[0, 2, 3]] == np.uint32(0xFFFFFFFF))
    # a text's signature does not depend on its neighbours in the buffer
    assert np.array_equal(signatures([texts[0]])[0], sig[0])
    assert np.array_equal(signatures(["zzz", texts[0]])[1], sig[0])


def test_identical_texts_share_signature_and_group() -> None:
    rng = np.random.default_rng(1)
    a = " ".join(_sentence(rng))
    b = " ".join(_sentence(rng))
    texts = [a, b, a, b, a]
    sig = signatures(texts)
    assert np.array_equal(sig[0], sig[2]) and np.array_equal(sig[0], sig[4])
    labels = groups(texts)
    assert labels.tolist() == [0, 1, 0, 1, 0]  # label = smallest index in the group


@pytest.mark.parametrize("n_edits", [1, 2])
def test_small_edits_are_grouped(n_edits: int) -> None:
    rng = np.random.default_rng(100 + n_edits)
    originals = [_sentence(rng) for _ in range(12)]
    texts: list[str] = []
    for words in originals:
        texts.append(" ".join(words))
        texts.append(" ".join(_edit(rng, words, n_edits)))
    labels = groups(texts)
    for k in range(len(originals)):
        assert labels[2 * k] == labels[2 * k + 1] == 2 * k, (k, texts[2 * k : 2 * k + 2])
    # and the 12 sentences stay 12 groups
    assert len(set(labels.tolist())) == len(originals)


def test_unrelated_texts_are_not_grouped() -> None:
    rng = np.random.default_rng(7)
    texts = [" ".join(_sentence(rng)) for _ in range(60)]
    labels = groups(texts)
    assert labels.tolist() == list(range(60))


def test_estimated_jaccard_close_to_exact() -> None:
    rng = np.random.default_rng(3)
    base = _sentence(rng, 24)
    samples = [base]
    for n_edits in (1, 2, 3, 5, 8, 12):
        samples.append(_edit(rng, base, n_edits))
    samples.append(_sentence(rng, 24))  # unrelated: J ~ 0
    texts = [" ".join(w) for w in samples]
    sig = signatures(texts)
    exact = [jaccard(texts[0], t) for t in texts[1:]]
    est = [estimated(sig, 0, i) for i in range(1, len(texts))]
    assert min(exact) < 0.1 and max(exact) > 0.7  # the samples span the range
    for e, x in zip(est, exact, strict=True):
        assert abs(e - x) <= 0.15, (est, exact)


def test_group_threshold_separates_far_edits() -> None:
    """Texts sharing under half their shingles (estimated) are not grouped together."""
    rng = np.random.default_rng(11)
    base = _sentence(rng, 20)
    far = _edit(rng, base, 14)
    texts = [" ".join(base), " ".join(far)]
    sig = signatures(texts)
    assert estimated(sig, 0, 1) < THRESHOLD
    assert groups(texts).tolist() == [0, 1]
