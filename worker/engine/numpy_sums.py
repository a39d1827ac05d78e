"""numpy's summation orders, compiled: compiled loops that must give numpy's numbers bit for
bit add in the order numpy adds.

* ``pairwise_sum``: ``np.sum`` / ``np.add.reduce`` of a contiguous float64 array: blocks of
  up to 128 values summed with 8 accumulators, larger spans halved (at a multiple of 8) and
  the halves' sums added.
* ``reduceat_sum``: one segment of ``np.add.reduceat``: its first value plus the pairwise
  sum of the rest.
* ``dot_sum``: ``np.einsum("i,i->", a, b)`` with numpy's baseline (x86-64-v2, two lanes)
  kernel: four two-lane products added per step into one two-lane accumulator, the tail
  two values at a time, then the two lanes added.

Kernels only (numba): ``tests/engine/test_numpy_sums.py`` checks each against numpy.
"""

from __future__ import annotations

from worker.engine.jit import kernel

#: numpy's PW_BLOCKSIZE: spans up to this many values are summed with 8 accumulators.
PAIRWISE_BLOCK = 128
#: Values per einsum call of the nditer's buffer (numpy's default buffer size).
EINSUM_CHUNK = 8192


@kernel(
    "float64(float64[::1], int64, int64)", "float64(float64[:], int64, int64)", error_model="numpy"
)
def _pairwise(a, lo, n):  # type: ignore[no-untyped-def]
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= PAIRWISE_BLOCK:
        r0 = a[lo]
        r1 = a[lo + 1]
        r2 = a[lo + 2]
        r3 = a[lo + 3]
        r4 = a[lo + 4]
        r5 = a[lo + 5]
        r6 = a[lo + 6]
        r7 = a[lo + 7]
        i = 8
        end = n - n % 8
        while i < end:
            j = lo + i
            r0 += a[j]
            r1 += a[j + 1]
            r2 += a[j + 2]
            r3 += a[j + 3]
            r4 += a[j + 4]
            r5 += a[j + 5]
            r6 += a[j + 6]
            r7 += a[j + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, lo, n2) + _pairwise(a, lo + n2, n - n2)


@kernel("float64(float64[::1])", "float64(float64[:])", error_model="numpy")
def pairwise_sum(a):  # type: ignore[no-untyped-def]
    """``np.sum(a)``."""
    return 0.0 + _pairwise(a, 0, a.shape[0]) if a.shape[0] else 0.0


@kernel(
    "float64(float64[::1], int64, int64)", "float64(float64[:], int64, int64)", error_model="numpy"
)
def span_sum(a, lo, hi):  # type: ignore[no-untyped-def]
    """``np.sum(a[lo:hi])``."""
    return 0.0 + _pairwise(a, lo, hi - lo) if hi > lo else 0.0


@kernel(
    "float64(float64[::1], int64, int64)", "float64(float64[:], int64, int64)", error_model="numpy"
)
def reduceat_sum(a, lo, hi):  # type: ignore[no-untyped-def]
    """``np.add.reduceat(a, [.., lo, hi, ..])`` at ``lo`` (``lo < hi``)."""
    return a[lo] + _pairwise(a, lo + 1, hi - lo - 1) if hi - lo > 1 else a[lo]


@kernel(
    "float64(float64[::1], float64[::1], int64, int64)",
    "float64(float64[:], float64[:], int64, int64)",
    error_model="numpy",
)
def _dot_chunk(a, b, lo, n):  # type: ignore[no-untyped-def]
    v0 = 0.0
    v1 = 0.0
    i = lo
    end = lo + n - n % 8
    while i < end:
        v0 = a[i + 6] * b[i + 6] + v0
        v1 = a[i + 7] * b[i + 7] + v1
        v0 = a[i + 4] * b[i + 4] + v0
        v1 = a[i + 5] * b[i + 5] + v1
        v0 = a[i + 2] * b[i + 2] + v0
        v1 = a[i + 3] * b[i + 3] + v1
        v0 = a[i] * b[i] + v0
        v1 = a[i + 1] * b[i + 1] + v1
        i += 8
    stop = lo + n
    while i < stop:
        v0 = a[i] * b[i] + v0
        if i + 1 < stop:
            v1 = a[i + 1] * b[i + 1] + v1
        else:
            v1 = 0.0 * 0.0 + v1
        i += 2
    return v0 + v1


@kernel(
    "float64(float64[::1], float64[::1])", "float64(float64[:], float64[:])", error_model="numpy"
)
def dot_sum(a, b):  # type: ignore[no-untyped-def]
    """``np.einsum("i,i->", a, b)`` (same length)."""
    out = 0.0
    n = a.shape[0]
    for lo in range(0, n, EINSUM_CHUNK):
        out = out + _dot_chunk(a, b, lo, min(EINSUM_CHUNK, n - lo))
    return out


@kernel(
    "UniTuple(float64, 3)(float64[::1], float64[::1], float64[::1], int64, int64)",
    error_model="numpy",
)
def _pairwise3(a, b, c, lo, n):  # type: ignore[no-untyped-def]
    if n < 8:
        x = y = z = -0.0
        for i in range(lo, lo + n):
            x += a[i]
            y += b[i]
            z += c[i]
        return x, y, z
    if n <= PAIRWISE_BLOCK:
        a0, a1, a2, a3, a4, a5, a6, a7 = (
            a[lo + 0],
            a[lo + 1],
            a[lo + 2],
            a[lo + 3],
            a[lo + 4],
            a[lo + 5],
            a[lo + 6],
            a[lo + 7],
        )
        b0, b1, b2, b3, b4, b5, b6, b7 = (
            b[lo + 0],
            b[lo + 1],
            b[lo + 2],
            b[lo + 3],
            b[lo + 4],
            b[lo + 5],
            b[lo + 6],
            b[lo + 7],
        )
        c0, c1, c2, c3, c4, c5, c6, c7 = (
            c[lo + 0],
            c[lo + 1],
            c[lo + 2],
            c[lo + 3],
            c[lo + 4],
            c[lo + 5],
            c[lo + 6],
            c[lo + 7],
        )
        i = 8
        end = n - n % 8
        while i < end:
            j = lo + i
            a0 += a[j + 0]
            a1 += a[j + 1]
            a2 += a[j + 2]
            a3 += a[j + 3]
            a4 += a[j + 4]
            a5 += a[j + 5]
            a6 += a[j + 6]
            a7 += a[j + 7]
            b0 += b[j + 0]
            b1 += b[j + 1]
            b2 += b[j + 2]
            b3 += b[j + 3]
            b4 += b[j + 4]
            b5 += b[j + 5]
            b6 += b[j + 6]
            b7 += b[j + 7]
            c0 += c[j + 0]
            c1 += c[j + 1]
            c2 += c[j + 2]
            c3 += c[j + 3]
            c4 += c[j + 4]
            c5 += c[j + 5]
            c6 += c[j + 6]
            c7 += c[j + 7]
            i += 8
        x = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
        y = ((b0 + b1) + (b2 + b3)) + ((b4 + b5) + (b6 + b7))
        z = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7))
        while i < n:
            x += a[lo + i]
            y += b[lo + i]
            z += c[lo + i]
            i += 1
        return x, y, z

    n2 = n // 2
    n2 -= n2 % 8
    x1, y1, z1 = _pairwise3(a, b, c, lo, n2)
    x2, y2, z2 = _pairwise3(a, b, c, lo + n2, n - n2)
    return x1 + x2, y1 + y2, z1 + z2


@kernel(
    "UniTuple(float64, 3)(float64[::1], float64[::1], float64[::1], int64)",
    error_model="numpy",
)
def pairwise_sums3(a, b, c, n):  # type: ignore[no-untyped-def]
    """``np.sum`` of ``a[:n]``, ``b[:n]`` and ``c[:n]`` in one pass (the same tree)."""
    if n == 0:
        return 0.0, 0.0, 0.0
    x, y, z = _pairwise3(a, b, c, 0, n)
    return 0.0 + x, 0.0 + y, 0.0 + z


@kernel("UniTuple(float64, 2)(float64[::1], float64[::1], int64)", error_model="numpy")
def dot_pair(q, r, n):  # type: ignore[no-untyped-def]
    """``np.einsum("i,i->", q[:n], r[:n])`` and ``np.einsum("i,i->", q[:n], q[:n])`` in one
    pass."""
    out_r = 0.0
    out_q = 0.0
    for lo in range(0, n, EINSUM_CHUNK):
        count = min(EINSUM_CHUNK, n - lo)
        r0 = r1 = q0 = q1 = 0.0
        i = lo
        end = lo + count - count % 8
        while i < end:
            for h in (6, 4, 2, 0):
                r0 = q[i + h] * r[i + h] + r0
                r1 = q[i + h + 1] * r[i + h + 1] + r1
                q0 = q[i + h] * q[i + h] + q0
                q1 = q[i + h + 1] * q[i + h + 1] + q1
            i += 8
        stop = lo + count
        while i < stop:
            r0 = q[i] * r[i] + r0
            q0 = q[i] * q[i] + q0
            if i + 1 < stop:
                r1 = q[i + 1] * r[i + 1] + r1
                q1 = q[i + 1] * q[i + 1] + q1
            else:
                r1 = 0.0 * 0.0 + r1
                q1 = 0.0 * 0.0 + q1
            i += 2
        out_r = out_r + (r0 + r1)
        out_q = out_q + (q0 + q1)
    return out_r, out_q
