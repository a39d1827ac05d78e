"""The compiled sums equal numpy's bit for bit (numpy_sums.py), at every length around
numpy's block sizes (8-way unrolling, 128-value leaves, einsum's 8192-value buffers)."""

from __future__ import annotations

import numpy as np
import pytest

from worker.engine import numpy_sums as ns

EDGES = [8, 16, 128, 256, 1024, 8192, 16384, 65536]
LENGTHS = sorted(
    {n for edge in EDGES for n in range(max(edge - 9, 0), edge + 10)}
    | set(range(0, 40))
    | {100_003, 262_144, 1_000_001}
)


def vectors(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal(n),
        rng.standard_normal(n) * 1e6 + 1e9,  # large magnitudes: rounding in every add
        rng.standard_normal(n) * 1e-4,  # returns-sized values
        np.where(rng.random(n) < 0.5, -0.0, 0.0) + rng.integers(-3, 4, n) * 0.1,
    ]


@pytest.mark.parametrize("n", LENGTHS)
def test_pairwise_sum_is_np_sum(n: int) -> None:
    for a in vectors(n, n):
        assert ns.pairwise_sum(a) == np.sum(a)
        assert ns.pairwise_sums3(a, a[::-1].copy(), a * a, n) == (
            np.sum(a),
            np.sum(a[::-1]),
            np.sum(a * a),
        )
        lo = n // 3
        assert ns.span_sum(a, lo, n) == a[lo:].sum()
        assert ns.span_sum(a, 0, lo) == a[:lo].sum()


@pytest.mark.parametrize("n", [n for n in LENGTHS if n > 0])
@pytest.mark.parametrize("span", [128, 4096])
def test_tree_spans_summed_apart_are_np_sum(n: int, span: int) -> None:
    slots = n // (span // 2 - 8) + 2
    los, ns_ = np.empty(slots, np.int64), np.empty(slots, np.int64)
    count = ns.tree_spans(0, n, span, los, ns_, 0)
    assert los[0] == 0 and (los[1:count] == (los + ns_)[: count - 1]).all()
    assert los[count - 1] + ns_[count - 1] == n and (ns_[:count] <= span).all()
    for a in vectors(n, n):
        spans = zip(los[:count], ns_[:count], strict=True)
        sums = np.array([ns.span_sum(a, lo, lo + m) for lo, m in spans])
        total, used = ns.tree_total(n, span, sums, 0)
        assert used == count and repr(0.0 + total) == repr(float(np.sum(a)))


@pytest.mark.parametrize("n", [128, 256, 4096, 65536])
def test_leaf_sums_taken_by_parts_are_np_sum(n: int) -> None:
    for a in vectors(n, n):
        b, c = a[::-1].copy(), a * a
        leaves = n // ns.PAIRWISE_BLOCK
        la, lb, lc = np.empty(leaves), np.empty(leaves), np.empty(leaves)
        part = min(n, 1024)
        for at in range(0, n, part):
            j = at // ns.PAIRWISE_BLOCK
            ns.leaf_sums3(a[at:], b[at:], c[at:], part, la[j:], lb[j:], lc[j:])
        got = ns.leaf_totals3(la, lb, lc, leaves)
        assert repr(got) == repr(tuple(float(np.sum(v)) for v in (a, b, c)))


@pytest.mark.parametrize("n", LENGTHS)
def test_reduceat_sum_is_np_add_reduceat(n: int) -> None:
    if n == 0:
        return
    for a in vectors(n, n + 1):
        starts = np.unique(np.array([0, n // 5, n // 2, n - 1]))
        expected = np.add.reduceat(a, starts)
        ends = [*starts[1:].tolist(), n]
        got = [ns.reduceat_sum(a, lo, hi) for lo, hi in zip(starts.tolist(), ends, strict=True)]
        assert got == expected.tolist()


@pytest.mark.parametrize("n", LENGTHS)
def test_dot_pair_is_einsum(n: int) -> None:
    for a in vectors(n, n + 2):
        r = np.random.default_rng(n).standard_normal(n)
        got = ns.dot_pair(a, r, n)
        assert got == (float(np.einsum("i,i->", a, r)), float(np.einsum("i,i->", a, a)))
        assert ns.dot_sum(a, r) == float(np.einsum("i,i->", a, r))
