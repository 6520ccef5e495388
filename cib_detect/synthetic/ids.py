"""Id strings: zero-padded, fixed-width account, target and event ids built as Arrow buffers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cib_detect.synthetic.events import I64, TAG, TRACK, URL

KIND_PREFIX = ("trk", "url", "tag")
KIND_MIN_DIGITS = (6, 5, 4)
ACCOUNT_PREFIX, ACCOUNT_MIN_DIGITS = "acct", 7
EVENT_PREFIX, EVENT_MIN_DIGITS = "e", 7


def _digits(n: int) -> int:
    return len(str(max(0, n - 1)))


def fixed_width_strings(prefix: str, numbers: I64, width: int) -> pa.Array:
    """``prefix + zero-padded number`` for every number, built as one Arrow buffer."""
    n = int(numbers.shape[0])
    head = prefix.encode("ascii")
    row = len(head) + width
    if n and int(numbers.max()) >= 10**width:
        raise ValueError(f"number too wide for {width} digits")
    buf = np.empty((n, row), dtype=np.uint8)
    buf[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    x = numbers.astype(np.int64, copy=True)
    for k in range(width - 1, -1, -1):
        buf[:, len(head) + k] = 48 + (x % 10)
        x //= 10
    if n * row >= 2**31:
        offsets64 = np.arange(n + 1, dtype=np.int64) * row
        return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets64), pa.py_buffer(buf)).cast(
            pa.string()
        )
    offsets = np.arange(n + 1, dtype=np.int32) * row
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def _ids(prefix: str, numbers: I64, min_digits: int) -> pa.Array:
    """Ids for a numbering of ``len(numbers)`` things: wide enough for the largest number."""
    width = max(min_digits, _digits(int(numbers.shape[0])))
    return fixed_width_strings(prefix, numbers, width)


def account_ids(rng: np.random.Generator, n_accounts: int) -> pa.Array:
    """Account index -> id, shuffled so planted accounts look like any other."""
    return _ids(ACCOUNT_PREFIX, rng.permutation(n_accounts).astype(np.int64), ACCOUNT_MIN_DIGITS)


def target_ids(rng: np.random.Generator, sizes: tuple[int, int, int]) -> pa.Array:
    """Target index -> id, shuffled within each kind (drawn after :func:`account_ids`)."""
    return pa.concat_arrays(
        [
            _ids(KIND_PREFIX[k], rng.permutation(sizes[k]).astype(np.int64), KIND_MIN_DIGITS[k])
            for k in (TRACK, URL, TAG)
        ]
    )


def event_ids(n: int) -> pa.Array:
    """``e0000000, e0000001, ...``: in order, so that ids sort like the events."""
    return _ids(EVENT_PREFIX, np.arange(n, dtype=np.int64), EVENT_MIN_DIGITS)
