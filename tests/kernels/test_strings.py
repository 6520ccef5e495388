"""``scan_ids``: per-string problem flags and 64-bit FNV-1a hashes (the Numba kernel and
its NumPy version, ``kernels/ids.py``), and ``all_distinct``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cib_detect.kernels import ids, sorting, strings

SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
MAX_BYTES = 16
ASCII_WS = b" \t\n\r\x0b\x0c"
Scan = Callable[[Any, Any, int], tuple[Any, Any]]
SCANS = pytest.mark.parametrize(
    "scan", [strings.scan_ids, ids.scan_ids_numpy], ids=["numba", "numpy"]
)


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


@SCANS
@SETTINGS
@given(values=st.lists(id_bytes, max_size=12))
def test_scan_ids_matches_reference(scan: Scan, values: list[bytes]) -> None:
    data, offsets = _buffers(values)
    flags, hashes = scan(data, offsets, MAX_BYTES)
    assert flags.tolist() == [ref_flags(v, MAX_BYTES) for v in values]
    # the hash of a too-long id (rejected) may cover only its first MAX_BYTES + 1 bytes
    for v, h in zip(values, hashes.tolist(), strict=True):
        assert h in (ref_fnv1a(v), ref_fnv1a(v[: MAX_BYTES + 1]))
        if len(v) <= MAX_BYTES:
            assert h == ref_fnv1a(v)


@SCANS
def test_scan_ids_named_cases(scan: Scan) -> None:
    values = [b"", b"   ", b"\t\r\n", b"acct1", b"a\x00", b"y" * (MAX_BYTES + 1), b" \x00 "]
    data, offsets = _buffers(values)
    flags, _ = scan(data, offsets, MAX_BYTES)
    assert flags.tolist() == [
        strings.EMPTY,
        strings.EMPTY,
        strings.EMPTY,
        0,
        strings.NUL,
        strings.TOO_LONG,
        strings.NUL,  # a NUL is not whitespace
    ]


@SCANS
def test_equal_strings_equal_hashes_wherever_they_sit(scan: Scan) -> None:
    values = [b"e1", b"acct0000001", b"e1", b"", b"acct0000001", b"e2", b"\xc3\xa9"]
    data, offsets = _buffers(values)
    _, h = scan(data, offsets, 512)
    assert h[0] == h[2] and h[1] == h[4]
    assert len({int(h[0]), int(h[1]), int(h[3]), int(h[5]), int(h[6])}) == 5
    # the same string alone in a buffer, or in a slice of a larger one, hashes the same
    d1, o1 = _buffers([b"acct0000001"])
    assert scan(d1, o1, 512)[1][0] == h[1]
    assert scan(data, offsets[4:6], 512)[1][0] == h[4]


@pytest.mark.parametrize("block", [1 << 15, 1000])
def test_numpy_scan_equals_the_kernel_on_a_large_mixed_column(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ids, "_BLOCK", block)  # the hash loop over one block, or many
    rng = np.random.default_rng(7)
    pool = [b"", b" ", b"\x00", b"e\x00x", b"\xc3\xa9t\xc3\xa9", b"z" * 600]
    values = [
        pool[i % len(pool)] if i % 97 == 0 else b"e%07d" % rng.integers(0, 10**7)
        for i in range(20_000)
    ]
    data, offsets = _buffers(values)
    f1, h1 = strings.scan_ids(data, offsets, 512)
    f2, h2 = ids.scan_ids_numpy(data, offsets, 512)
    assert np.array_equal(f1, f2)
    short = (f1 & ids.TOO_LONG) == 0
    assert (~short).sum() > 0 and np.array_equal(h1[short], h2[short])


def test_numpy_scan_with_a_limit_over_16_bits() -> None:
    values = [b"a" * 70_000, b"b", b"", b"a" * 70_000]
    data, offsets = _buffers(values)
    flags, hashes = ids.scan_ids_numpy(data, offsets, 100_000)
    assert flags.tolist() == [0, 0, ids.EMPTY, 0]
    assert hashes.tolist() == [ref_fnv1a(v) for v in values]


@pytest.mark.parametrize("n", [0, 1, 2, 1000])
def test_all_distinct_agrees(n: int) -> None:
    rng = np.random.default_rng(n)
    hashes = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
    assert ids.all_distinct_numpy(hashes) is True
    assert bool(sorting.all_distinct(hashes)) is True
    if n >= 2:
        hashes[n // 2] = hashes[0]
        assert ids.all_distinct_numpy(hashes) is False
        assert bool(sorting.all_distinct(hashes)) is False


def test_dispatch_uses_numpy_until_numba_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below NUMPY_MAX ids and without Numba, the NumPy versions run; the results agree."""
    data, offsets = _buffers([b"a", b"", b"a"])
    monkeypatch.setattr(ids, "numba_loaded", lambda: False)
    monkeypatch.setattr(strings, "scan_ids", None)  # would fail if called
    flags, hashes = ids.scan_ids(data, offsets, 512)
    assert flags.tolist() == [0, ids.EMPTY, 0] and hashes[0] == hashes[2]
    assert ids.all_distinct(hashes) is False
    monkeypatch.setattr(ids, "NUMPY_MAX", 1)  # more ids go to the kernel
    with pytest.raises(TypeError):
        ids.scan_ids(data, offsets, 512)
    monkeypatch.setattr(ids, "NUMPY_MAX", 3)
    assert ids.scan_ids(data, offsets, 512)[0].tolist() == [0, ids.EMPTY, 0]
    monkeypatch.setattr(ids, "NUMPY_MAX_BYTES", 1)  # so do more bytes
    with pytest.raises(TypeError):
        ids.scan_ids(data, offsets, 512)


def test_reading_and_ingest_imports_do_not_load_numba(tmp_path: Any) -> None:
    """``cib-detect ingest`` pays no Numba start-up: reading a file with event ids (the
    id scan and the duplicate check) and the store's modules stay in NumPy."""
    src = tmp_path / "events.csv"
    src.write_text(
        "event_id,account_id,action,target,timestamp\n"
        "e1,a,stream,t,1767225600\ne2,b,stream,t,1767225601\ne1,c,share,u,1767225602\n",
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "import cib_detect.cli, cib_detect.cli_store, cib_detect.store.ingest\n"
        "from cib_detect.io import read_events\n"
        f"ev, info = read_events({str(src)!r})\n"
        "assert (ev.n, info.duplicates) == (2, 1), (ev.n, info.duplicates)\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
