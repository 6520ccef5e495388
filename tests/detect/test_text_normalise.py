"""The text signal's normalisation: the ASCII byte kernel agrees with the Unicode regex."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from cib_detect.detect.objects import normalise_texts


def _by_regex(values: list[str | None]) -> list[str | None]:
    arr = pc.utf8_lower(pa.array(values, pa.string()))
    out = pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"[^\p{L}\p{N}]+", " "))
    return out.to_pylist()


def test_examples() -> None:
    values = ["Hi, YOU!", "  --a  b--  ", "", "   ", None, "Ünïcode Straße 12", "x\ty\nz", "ok"]
    got = normalise_texts(pa.array(values, pa.string())).to_pylist()
    assert got == ["hi you", "a b", "", "", None, "ünïcode straße 12", "x y z", "ok"]
    assert got == _by_regex(values)


def test_chunked_and_large_string_inputs() -> None:
    values = ["A-b", None, "Ça va?"]
    chunked = pa.chunked_array([pa.array(values[:2]), pa.array(values[2:])])
    assert normalise_texts(chunked).to_pylist() == _by_regex(values)
    large = pa.array(values, pa.large_string())
    assert normalise_texts(large).to_pylist() == _by_regex(values)


_ALPHABET = st.sampled_from([*"aZ09 ,.!-_\t\n'@#", "é", "ß", "١", "中", "\u00a0", "Σ"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | st.text(_ALPHABET, max_size=20), max_size=30))
def test_same_as_the_unicode_regex(values: list[str | None]) -> None:
    assert normalise_texts(pa.array(values, pa.string())).to_pylist() == _by_regex(values)
