"""Evidence kernels: pick example co-actions and collect the events behind edges."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def pick_examples(pair_ptr, row_mask, row_obj, row_ea, row_eb, q, ts, pairs, windows, k):
    """Up to ``k`` example rows for each (pair, window) ref: rarest object first
    (smallest null chance ``q``), then smallest ``|dt|``, then event order.

    ``ts`` is indexed by ``row_ea``/``row_eb``. Returns row indices ``[n_refs, k]``,
    padded with -1.
    """
    n = pairs.shape[0]
    out = np.full((n, k), -1, dtype=np.int64)
    for i in range(n):
        p = pairs[i]
        w = windows[i]
        bit = np.uint8(1 << w)
        s = pair_ptr[p]
        e = pair_ptr[p + 1]
        c = 0
        for r in range(s, e):
            if row_mask[r] & bit:
                c += 1
        cand = np.empty(c, dtype=np.int64)
        rar = np.empty(c, dtype=np.float64)
        dts = np.empty(c, dtype=np.int64)
        c = 0
        for r in range(s, e):
            if row_mask[r] & bit:
                cand[c] = r
                rar[c] = q[row_obj[r], w]
                dts[c] = abs(ts[row_eb[r]] - ts[row_ea[r]])
                c += 1
        # selection of the k best by (rarity, dt, row) with a simple partial sort
        for j in range(min(k, c)):
            best = j
            for t in range(j + 1, c):
                if (rar[t] < rar[best]) or (
                    rar[t] == rar[best]
                    and (dts[t] < dts[best] or (dts[t] == dts[best] and cand[t] < cand[best]))
                ):
                    best = t
            cand[j], cand[best] = cand[best], cand[j]
            rar[j], rar[best] = rar[best], rar[j]
            dts[j], dts[best] = dts[best], dts[j]
            out[i, j] = cand[j]
    return out


@njit(cache=True, nogil=True)
def ref_rows(pair_ptr, row_mask, pairs, windows):
    """All rows behind the given (pair, window) refs, concatenated."""
    total = 0
    for i in range(pairs.shape[0]):
        bit = np.uint8(1 << windows[i])
        for r in range(pair_ptr[pairs[i]], pair_ptr[pairs[i] + 1]):
            if row_mask[r] & bit:
                total += 1
    out = np.empty(total, dtype=np.int64)
    c = 0
    for i in range(pairs.shape[0]):
        bit = np.uint8(1 << windows[i])
        for r in range(pair_ptr[pairs[i]], pair_ptr[pairs[i] + 1]):
            if row_mask[r] & bit:
                out[c] = r
                c += 1
    return out
