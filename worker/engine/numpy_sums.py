"""numpy's summation orders, compiled: compiled loops that must give numpy's numbers bit for
bit add in the order numpy adds.

* ``pairwise_sum``: ``np.sum`` / ``np.add.reduce`` of a contiguous float64 array: blocks of
  up to 128 values summed with 8 accumulators, larger spans halved (at a multiple of 8) and
  the halves' sums added.
* ``leaf_sums3`` and ``leaf_totals3``: ``pairwise_sums3`` of a power of two values, its
  leaves taken part by part.
* ``tree_spans`` and ``tree_total``: the same sum with its spans of a few thousand values
  summed apart (each as soon as its values are written) and added up the tree afterwards.
* ``reduceat_sum``: one segment of ``np.add.reduceat``: its first value plus the pairwise
  sum of the rest.
* ``dot_sum``: ``np.einsum("i,i->", a, b)`` with numpy's baseline (x86-64-v2, two lanes)
  kernel: four two-lane products added per step into one two-lane accumulator, the tail
  two values at a time, then the two lanes added.

Kernels only (numba): ``tests/engine/test_numpy_sums.py`` checks each against numpy.
"""

from __future__ import annotations

import numpy as np

from worker.engine.jit import kernel
from worker.engine.market import F64, I64

#: numpy's PW_BLOCKSIZE: spans up to this many values are summed with 8 accumulators.
PAIRWISE_BLOCK = 128
#: Values per einsum call of the nditer's buffer (numpy's default buffer size).
EINSUM_CHUNK = 8192


@kernel(
    "float64(float64[::1], int64, int64)",
    error_model="numpy",
)
def _leaf(a: F64, lo: int, n: int) -> float:
    """numpy's sum of the 8 to 128 values from ``lo``: 8 accumulators, then the rest one
    by one. (Unsigned indices: numba then drops its negative-index checks and the loop
    runs at numpy's speed.)"""
    b = np.uint64(lo)
    r0, r1, r2, r3 = a[b], a[b + np.uint64(1)], a[b + np.uint64(2)], a[b + np.uint64(3)]
    r4, r5, r6, r7 = (
        a[b + np.uint64(4)],
        a[b + np.uint64(5)],
        a[b + np.uint64(6)],
        a[b + np.uint64(7)],
    )
    end = n - n % 8
    for j in range(1, end // 8):
        i = b + np.uint64(8 * j)
        r0 += a[i]
        r1 += a[i + np.uint64(1)]
        r2 += a[i + np.uint64(2)]
        r3 += a[i + np.uint64(3)]
        r4 += a[i + np.uint64(4)]
        r5 += a[i + np.uint64(5)]
        r6 += a[i + np.uint64(6)]
        r7 += a[i + np.uint64(7)]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for j in range(end, n):
        res += a[b + np.uint64(j)]
    return float(res)


@kernel(
    "float64(float64[::1], int64, int64)",
    error_model="numpy",
)
def _pairwise(a: F64, lo: int, n: int) -> float:
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= PAIRWISE_BLOCK:
        return _leaf(a, lo, n)
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, lo, n2) + _pairwise(a, lo + n2, n - n2)


@kernel("int64(int64, int64, int64, int64[::1], int64[::1], int64)")
def tree_spans(lo: int, n: int, span: int, los: I64, ns: I64, k: int) -> int:
    """Write from slot ``k`` the first and the length of each span of at most ``span``
    (>= ``PAIRWISE_BLOCK``) values that ``_pairwise(a, lo, n)`` splits its range into, in
    order; returns the slot after the last (``los`` and ``ns`` need
    ``n // (span // 2 - 8) + 2`` slots)."""
    if n <= span:
        los[k] = lo
        ns[k] = n
        return k + 1
    n2 = n // 2
    n2 -= n2 % 8
    k = tree_spans(lo, n2, span, los, ns, k)
    return tree_spans(lo + n2, n - n2, span, los, ns, k)


@kernel("Tuple((float64, int64))(int64, int64, float64[::1], int64)", error_model="numpy")
def tree_total(n: int, span: int, sums: F64, k: int) -> tuple[float, int]:
    """``_pairwise(a, lo, n)`` from ``sums``, the ``_pairwise`` of each of its
    ``tree_spans`` from slot ``k``; (the sum, the slot after its last span)."""
    if n <= span:
        return sums[k], k + 1
    n2 = n // 2
    n2 -= n2 % 8
    left, k = tree_total(n2, span, sums, k)
    right, k = tree_total(n - n2, span, sums, k)
    return left + right, k


@kernel("float64(float64[::1])", error_model="numpy")
def pairwise_sum(a: F64) -> float:
    """``np.sum(a)``."""
    return 0.0 + _pairwise(a, 0, a.shape[0]) if a.shape[0] else 0.0


@kernel(
    "float64(float64[::1], int64, int64)",
    error_model="numpy",
)
def span_sum(a: F64, lo: int, hi: int) -> float:
    """``np.sum(a[lo:hi])``."""
    return 0.0 + _pairwise(a, lo, hi - lo) if hi > lo else 0.0


@kernel(
    "float64(float64[::1], int64, int64)",
    error_model="numpy",
)
def reduceat_sum(a: F64, lo: int, hi: int) -> float:
    """``np.add.reduceat(a, [.., lo, hi, ..])`` at ``lo`` (``lo < hi``)."""
    return float(a[lo] + _pairwise(a, lo + 1, hi - lo - 1) if hi - lo > 1 else a[lo])


@kernel(
    "UniTuple(float64, 2)(float64[::1], float64[::1], int64, int64)",
    error_model="numpy",
)
def _dot_chunk(q: F64, r: F64, lo: int, n: int) -> tuple[float, float]:
    """One buffer of numpy's einsum: ``(Σ q·r, Σ q·q)`` over the n values from ``lo``."""
    b = np.uint64(lo)
    r0 = r1 = q0 = q1 = 0.0
    end = n - n % 8
    for j in range(end // 8):
        i = b + np.uint64(8 * j)
        for h in (6, 4, 2, 0):
            x, y = q[i + np.uint64(h)], q[i + np.uint64(h + 1)]
            r0 = x * r[i + np.uint64(h)] + r0
            r1 = y * r[i + np.uint64(h + 1)] + r1
            q0 = x * x + q0
            q1 = y * y + q1
    for j in range(end, n, 2):
        i = b + np.uint64(j)
        r0 = q[i] * r[i] + r0
        q0 = q[i] * q[i] + q0
        if j + 1 < n:
            r1 = q[i + np.uint64(1)] * r[i + np.uint64(1)] + r1
            q1 = q[i + np.uint64(1)] * q[i + np.uint64(1)] + q1
        else:  # the lane past the end is loaded as 0
            r1 = 0.0 * 0.0 + r1
            q1 = 0.0 * 0.0 + q1
    return r0 + r1, q0 + q1


@kernel(
    "UniTuple(float64, 2)(float64[::1], float64[::1], int64)",
    error_model="numpy",
)
def dot_pair(q: F64, r: F64, n: int) -> tuple[float, float]:
    """``np.einsum("i,i->", q[:n], r[:n])`` and ``np.einsum("i,i->", q[:n], q[:n])`` in one
    pass."""
    out_r = 0.0
    out_q = 0.0
    for lo in range(0, n, EINSUM_CHUNK):
        a, b = _dot_chunk(q, r, lo, min(EINSUM_CHUNK, n - lo))
        out_r = out_r + a
        out_q = out_q + b
    return out_r, out_q


def dot_sum(a: F64, b: F64) -> float:
    """``np.einsum("i,i->", a, b)`` (same length)."""
    x = np.ascontiguousarray(a, dtype=np.float64)
    return float(dot_pair(np.ascontiguousarray(b, dtype=np.float64), x, x.shape[0])[0])


@kernel("float64(float64[::1], int64, float64[::1])", error_model="numpy")
def _perfect(a: F64, n: int, sums: F64) -> float:
    """``_pairwise(a, 0, n)`` for n a power of two >= 128: the halves are then always
    exact halves, so the tree is the leaves of 128 in order, added pairwise level by level
    (no recursion; ``sums`` holds n // 128 values)."""
    leaves = n // PAIRWISE_BLOCK
    for k in range(leaves):
        base = k * PAIRWISE_BLOCK
        r0, r1, r2, r3 = a[base], a[base + 1], a[base + 2], a[base + 3]
        r4, r5, r6, r7 = a[base + 4], a[base + 5], a[base + 6], a[base + 7]
        for j in range(1, PAIRWISE_BLOCK // 8):
            i = base + 8 * j
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
        sums[k] = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while leaves > 1:
        leaves //= 2
        for k in range(leaves):
            sums[k] = sums[2 * k] + sums[2 * k + 1]
    return float(sums[0])


_V3 = "float64[::1], float64[::1], float64[::1]"


@kernel(f"void({_V3}, int64, {_V3})", error_model="numpy")
def leaf_sums3(a: F64, b: F64, c: F64, n: int, la: F64, lb: F64, lc: F64) -> None:
    """``_perfect``'s leaves of ``a[:n]``, ``b[:n]`` and ``c[:n]`` (n a multiple of
    ``PAIRWISE_BLOCK``) into ``la``, ``lb`` and ``lc``: a long sum's leaves can be taken
    a part at a time, each while the part is in cache."""
    for j in range(n // PAIRWISE_BLOCK):
        la[j] = _leaf(a, j * PAIRWISE_BLOCK, PAIRWISE_BLOCK)
        lb[j] = _leaf(b, j * PAIRWISE_BLOCK, PAIRWISE_BLOCK)
        lc[j] = _leaf(c, j * PAIRWISE_BLOCK, PAIRWISE_BLOCK)


@kernel(
    "UniTuple(float64, 3)(float64[::1], float64[::1], float64[::1], int64)",
    error_model="numpy",
)
def leaf_totals3(la: F64, lb: F64, lc: F64, leaves: int) -> tuple[float, float, float]:
    """``pairwise_sums3`` of a power of two (>= ``PAIRWISE_BLOCK``) values from their
    ``leaf_sums3`` (which it overwrites)."""
    m = leaves
    while m > 1:
        m //= 2
        for j in range(m):
            la[j] = la[2 * j] + la[2 * j + 1]
            lb[j] = lb[2 * j] + lb[2 * j + 1]
            lc[j] = lc[2 * j] + lc[2 * j + 1]
    return 0.0 + la[0], 0.0 + lb[0], 0.0 + lc[0]


@kernel(
    "UniTuple(float64, 3)(float64[::1], float64[::1], float64[::1], int64)",
    error_model="numpy",
)
def pairwise_sums3(a: F64, b: F64, c: F64, n: int) -> tuple[float, float, float]:
    """``np.sum`` of ``a[:n]``, ``b[:n]`` and ``c[:n]``."""
    if n == 0:
        return 0.0, 0.0, 0.0
    if n >= PAIRWISE_BLOCK and n & (n - 1) == 0:
        sums = np.empty(n // PAIRWISE_BLOCK)
        return 0.0 + _perfect(a, n, sums), 0.0 + _perfect(b, n, sums), 0.0 + _perfect(c, n, sums)
    return 0.0 + _pairwise(a, 0, n), 0.0 + _pairwise(b, 0, n), 0.0 + _pairwise(c, 0, n)
