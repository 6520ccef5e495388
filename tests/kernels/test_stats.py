"""Null-model kernels and Benjamini-Hochberg against plain-Python references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cib_detect.detect.significance import bh_threshold
from cib_detect.kernels import stats

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


# --------------------------------------------------------------------------- expected


def _layout(
    objs: list[dict[int, int]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-account {object: count} -> (acc_ptr, acc_obj sorted per account, acc_cnt)."""
    ptr = [0]
    obj: list[int] = []
    cnt: list[int] = []
    for d in objs:
        for o in sorted(d):
            obj.append(o)
            cnt.append(d[o])
        ptr.append(len(obj))
    return (
        np.array(ptr, dtype=np.int64),
        np.array(obj, dtype=np.int32),
        np.array(cnt, dtype=np.int32),
    )


@SETTINGS
@given(data=st.data())
def test_expected_coactions_matches_set_intersection(data: st.DataObject) -> None:
    n_obj = data.draw(st.integers(1, 12))
    n_acc = data.draw(st.integers(2, 6))
    n_w = data.draw(st.integers(1, 3))
    per_acc = [
        data.draw(st.dictionaries(st.integers(0, n_obj - 1), st.integers(1, 5), max_size=n_obj))
        for _ in range(n_acc)
    ]
    q_vals = st.one_of(
        st.sampled_from([0.0, 1.0, 1e-12, 0.5]),
        st.floats(0.0, 1.0, allow_nan=False),
    )
    q = np.array(
        data.draw(st.lists(q_vals, min_size=n_obj * n_w, max_size=n_obj * n_w)),
        dtype=np.float64,
    ).reshape(n_obj, n_w)
    pairs = [(a, b) for a in range(n_acc) for b in range(a + 1, n_acc)]
    # pairs come sorted by a from the engine; any order must give the same values
    pairs = data.draw(st.sampled_from([pairs, pairs[::-1], sorted(pairs, key=lambda p: p[1])]))
    cand_a = np.array([a for a, _ in pairs], dtype=np.int32)
    cand_b = np.array([b for _, b in pairs], dtype=np.int32)
    acc_ptr, acc_obj, acc_cnt = _layout(per_acc)

    lam, shared = stats.expected_coactions(cand_a, cand_b, acc_ptr, acc_obj, acc_cnt, q)

    assert lam.shape == (len(pairs), n_w)
    for p, (a, b) in enumerate(pairs):
        common = set(per_acc[a]) & set(per_acc[b])
        assert shared[p] == len(common)
        for w in range(n_w):
            ref = math.fsum(
                1.0 - (1.0 - q[o, w]) ** (per_acc[a][o] * per_acc[b][o]) for o in common
            )
            assert lam[p, w] == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_expected_coactions_tiny_q_keeps_precision() -> None:
    """1 - (1 - q)^n for q ~ 1e-12 must not cancel to 0 (expm1/log1p path)."""
    acc_ptr, acc_obj, acc_cnt = _layout([{0: 3}, {0: 4}])
    q = np.array([[1e-13]])
    lam, _ = stats.expected_coactions(
        np.array([0], np.int32), np.array([1], np.int32), acc_ptr, acc_obj, acc_cnt, q
    )
    assert lam[0, 0] == pytest.approx(12e-13, rel=1e-6)


# --------------------------------------------------------------------------- poisson


def ref_log10_sf(k: int, lam: float) -> float:
    """log10 P(X >= k), X ~ Poisson(lam): the pmf summed upward from k in log space."""
    if k <= 0:
        return 0.0
    log_lam = math.log(lam)

    def logpmf(i: int) -> float:
        return -lam + i * log_lam - math.lgamma(i + 1.0)

    hi = max(k, int(lam + 40.0 * math.sqrt(lam) + 60.0)) + 60
    terms = [logpmf(i) for i in range(k, hi + 1)]
    top = max(terms)
    total = math.fsum(math.exp(t - top) for t in terms)
    return min(0.0, (top + math.log(total)) / math.log(10.0))


KS = [0, 1, 2, 3, 4, 5, 7, 10, 20, 30, 50, 100, 150, 250, 299, 300, 301, 400, 500]
LAMS = [1e-9, 1e-6, 1e-3, 0.01, 0.1, 0.5, 1.0, 2.5, 9.99, 10.0, 50.0, 100.0, 250.0, 299.9, 300.0]


@pytest.mark.parametrize("lam", LAMS)
def test_poisson_log10_sf_grid(lam: float) -> None:
    got = [stats.poisson_log10_sf(k, lam) for k in KS]
    for k, g in zip(KS, got, strict=True):
        assert not math.isnan(g), (k, lam)
        assert math.isfinite(g), (k, lam)
        assert g <= 0.0
        ref = ref_log10_sf(k, lam)
        assert g == pytest.approx(ref, rel=1e-7, abs=1e-9), (k, lam, g, ref)
    # a tail can only shrink as k grows
    for k0, k1, g0, g1 in zip(KS, KS[1:], got, got[1:], strict=False):
        assert g1 <= g0, (lam, k0, k1, g0, g1)


def test_poisson_log10_sf_monotone_in_k_every_step() -> None:
    for lam in (1e-9, 0.3, 7.0, 123.4, 299.5):
        vals = [stats.poisson_log10_sf(k, lam) for k in range(0, 501)]
        assert all(b <= a for a, b in itertools.pairwise(vals)), lam
        assert vals[0] == 0.0


def test_poisson_log10_sf_monotone_in_lam() -> None:
    lams = np.geomspace(1e-9, 300.0, 60)
    for k in (1, 3, 30, 300, 500):
        vals = [stats.poisson_log10_sf(k, float(x)) for x in lams]
        assert all(b >= a for a, b in itertools.pairwise(vals)), k


def test_poisson_log10_sf_many_matches_scalar() -> None:
    k = np.array([1, 5, 50, 500, 3], dtype=np.int64)
    lam = np.array([1e-9, 2.0, 300.0, 0.5, 3.0])
    many = stats.poisson_log10_sf_many(k, lam)
    assert many.tolist() == [
        stats.poisson_log10_sf(int(a), float(b)) for a, b in zip(k, lam, strict=True)
    ]


# --------------------------------------------------------------------------- BH


def ref_bh_rejections(p: np.ndarray, m: int, alpha: float) -> np.ndarray:
    """Classic Benjamini-Hochberg step-up on linear p-values: the rejected mask."""
    order = np.argsort(p, kind="stable")
    rejected = np.zeros(p.size, dtype=bool)
    k_max = 0
    for i, idx in enumerate(order, start=1):
        if p[idx] <= alpha * i / m:
            k_max = i
    rejected[order[:k_max]] = True
    return rejected


def _check_bh(p: np.ndarray, m: int, alpha: float) -> None:
    with np.errstate(divide="ignore"):
        lp = np.log10(p)
    thr = bh_threshold(lp, m, alpha)
    ref = ref_bh_rejections(p, m, alpha)
    got = lp <= thr
    assert np.array_equal(got, ref), (thr, p[ref].max() if ref.any() else None)
    if not ref.any():
        assert thr == -math.inf
    else:
        assert 10.0**thr == pytest.approx(p[ref].max(), rel=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_bh_threshold_matches_reference_random(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    n_signal = int(rng.integers(0, n + 1))
    p = rng.uniform(0.0, 1.0, n)
    # a share of true signals with tiny p-values, down to 1e-300
    p[:n_signal] = 10.0 ** -rng.uniform(1.0, 300.0, n_signal)
    m = n + int(rng.integers(0, 3 * n))  # untested hypotheses count in m
    alpha = float(rng.choice([0.01, 0.05, 0.1, 0.2]))
    _check_bh(p, m, alpha)


@SETTINGS
@given(
    p=st.lists(st.floats(1e-300, 1.0, allow_nan=False), min_size=1, max_size=60),
    extra=st.integers(0, 100),
    alpha=st.sampled_from([0.01, 0.05, 0.25]),
)
def test_bh_threshold_matches_reference_hypothesis(
    p: list[float], extra: int, alpha: float
) -> None:
    _check_bh(np.array(p, dtype=np.float64), len(p) + extra, alpha)


def test_bh_threshold_step_up_and_edges() -> None:
    # step-up: p_(3) = 0.03 <= 0.05 * 3 / 4 rejects all three although p_(2) fails alone
    p = np.array([0.001, 0.03, 0.026, 0.9])
    assert bh_threshold(np.log10(p), 4, 0.05) == pytest.approx(math.log10(0.03))
    assert bh_threshold(np.zeros(0), 10, 0.05) == -math.inf
    assert bh_threshold(np.log10(np.array([0.5, 0.9])), 2, 0.05) == -math.inf
    # counting more hypotheses (m) than p-values makes it stricter
    assert bh_threshold(np.log10(np.array([0.01])), 1, 0.05) == pytest.approx(-2.0)
    assert bh_threshold(np.log10(np.array([0.01])), 10, 0.05) == -math.inf
