"""``scan_ids``: per-string problem flags and 64-bit FNV-1a hashes."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cib_detect.kernels import strings

SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
MAX_BYTES = 16
ASCII_WS = b" \t\n\r\x0b\x0c"


def _buffers(values: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum([len(v) for v in values], out=offsets[1:])
    data = np.frombuffer(b"".join(values), dtype=np.uint8).copy()
    return data, offsets


def ref_flags(v: bytes, max_bytes: int) -> int:
    f = 0
    if all(c in ASCII_WS for c in v):  # also true for b""
        f |= strings.EMPTY
    if 0 in v:
        f |= strings.NUL
    if len(v) > max_bytes:
        f |= strings.TOO_LONG
    return f


def ref_fnv1a(v: bytes) -> int:
    h = 0xCBF29CE484222325
    for c in v:
        h ^= c
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


id_bytes = st.one_of(
    st.binary(max_size=24),
    st.text(alphabet=" \t\n\r\x0b\x0c", max_size=5).map(str.encode),
    st.text(max_size=10).map(lambda s: s.encode("utf-8")),
    st.sampled_from([b"", b" ", b"\x00", b"a\x00b", b"x" * MAX_BYTES, b"x" * (MAX_BYTES + 1)]),
)


@SETTINGS
@given(values=st.lists(id_bytes, max_size=12))
def test_scan_ids_matches_reference(values: list[bytes]) -> None:
    data, offsets = _buffers(values)
    flags, hashes = strings.scan_ids(data, offsets, MAX_BYTES)
    assert flags.tolist() == [ref_flags(v, MAX_BYTES) for v in values]
    assert [int(h) for h in hashes] == [ref_fnv1a(v) for v in values]


def test_scan_ids_named_cases() -> None:
    values = [b"", b"   ", b"\t\r\n", b"acct1", b"a\x00", b"y" * (MAX_BYTES + 1), b" \x00 "]
    data, offsets = _buffers(values)
    flags, _ = strings.scan_ids(data, offsets, MAX_BYTES)
    assert flags.tolist() == [
        strings.EMPTY,
        strings.EMPTY,
        strings.EMPTY,
        0,
        strings.NUL,
        strings.TOO_LONG,
        strings.NUL,  # a NUL is not whitespace
    ]


def test_equal_strings_equal_hashes_wherever_they_sit() -> None:
    values = [b"e1", b"acct0000001", b"e1", b"", b"acct0000001", b"e2", b"\xc3\xa9"]
    data, offsets = _buffers(values)
    _, h = strings.scan_ids(data, offsets, 512)
    assert h[0] == h[2] and h[1] == h[4]
    assert len({int(h[0]), int(h[1]), int(h[3]), int(h[5]), int(h[6])}) == 5
    # the same string alone in a buffer hashes the same
    d1, o1 = _buffers([b"acct0000001"])
    assert strings.scan_ids(d1, o1, 512)[1][0] == h[1]
