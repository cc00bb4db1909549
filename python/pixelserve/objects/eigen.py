"""vigra's symmetric eigensolver, compiled, for exact RegionAxes, RegionRadii and PrincipalAxes.

vigra (`include/vigra/eigensystem.hxx`, `symmetricEigensystem` at :1008) reduces the matrix
to tridiagonal form by Householder reflections and diagonalises it by implicit QL iterations
(the scheme of the public-domain JAMA library's tred2/tql2), then sorts the eigenpairs by
descending eigenvalue. The signs of the eigenvectors are whatever that sequence of floating
point operations produces, so `numpy.linalg.eigh` (LAPACK) gives other signs on a fraction of
objects; the operations below follow vigra's order one by one.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .components import JIT

_EPS = 2.0 ** -52


@numba.njit(**JIT)
def _tridiagonalise(a, d, e):
    """Householder reduction of symmetric `a` (n, n): d, e receive the diagonal and
    sub-diagonal, `a` the accumulated orthogonal transformation."""
    n = a.shape[0]
    for j in range(n):
        d[j] = a[n - 1, j]
    for i in range(n - 1, 0, -1):
        scale = 0.0
        h = 0.0
        for k in range(i):
            scale = scale + abs(d[k])
        if scale == 0.0:
            e[i] = d[i - 1]
            for j in range(i):
                d[j] = a[i - 1, j]
                a[i, j] = 0.0
                a[j, i] = 0.0
        else:
            for k in range(i):
                d[k] /= scale
                h += d[k] * d[k]
            f = d[i - 1]
            g = math.sqrt(h)
            if f > 0:
                g = -g
            e[i] = scale * g
            h -= f * g
            d[i - 1] = f - g
            for j in range(i):
                e[j] = 0.0
            for j in range(i):
                f = d[j]
                a[j, i] = f
                g = e[j] + a[j, j] * f
                for k in range(j + 1, i):
                    g += a[k, j] * d[k]
                    e[k] += a[k, j] * f
                e[j] = g
            f = 0.0
            for j in range(i):
                e[j] /= h
                f += e[j] * d[j]
            hh = f / (h + h)
            for j in range(i):
                e[j] -= hh * d[j]
            for j in range(i):
                f = d[j]
                g = e[j]
                for k in range(j, i):
                    a[k, j] -= (f * e[k] + g * d[k])
                d[j] = a[i - 1, j]
                a[i, j] = 0.0
        d[i] = h
    for i in range(n - 1):
        a[n - 1, i] = a[i, i]
        a[i, i] = 1.0
        h = d[i + 1]
        if h != 0.0:
            for k in range(i + 1):
                d[k] = a[k, i + 1] / h
            for j in range(i + 1):
                g = 0.0
                for k in range(i + 1):
                    g += a[k, i + 1] * a[k, j]
                for k in range(i + 1):
                    a[k, j] -= g * d[k]
        for k in range(i + 1):
            a[k, i + 1] = 0.0
    for j in range(n):
        d[j] = a[n - 1, j]
        a[n - 1, j] = 0.0
    a[n - 1, n - 1] = 1.0
    e[0] = 0.0


@numba.njit(**JIT)
def _diagonalise(d, e, z):
    """Implicit QL on the tridiagonal (d, e); z accumulates the eigenvectors (columns).
    Eigenpairs end sorted by descending eigenvalue. False if it did not converge."""
    n = d.shape[0]
    for i in range(1, n):
        e[i - 1] = e[i]
    e[n - 1] = 0.0
    f = 0.0
    tst1 = 0.0
    for l in range(n):  # noqa: E741 (the algorithm's name for the current row)
        tst1 = max(tst1, abs(d[l]) + abs(e[l]))
        m = l
        while m < n:
            if abs(e[m]) <= _EPS * tst1:
                break
            m += 1
        if m > l:
            iterations = 0
            while True:
                iterations += 1
                if iterations > 50:
                    return False
                g = d[l]
                p = (d[l + 1] - g) / (2.0 * e[l])
                r = math.hypot(p, 1.0)
                if p < 0:
                    r = -r
                d[l] = e[l] / (p + r)
                d[l + 1] = e[l] * (p + r)
                dl1 = d[l + 1]
                h = g - d[l]
                for i in range(l + 2, n):
                    d[i] -= h
                f = f + h
                p = d[m]
                c = 1.0
                c2 = c
                c3 = c
                el1 = e[l + 1]
                s = 0.0
                s2 = 0.0
                for i in range(m - 1, l - 1, -1):
                    c3 = c2
                    c2 = c
                    s2 = s
                    g = c * e[i]
                    h = c * p
                    r = math.hypot(p, e[i])
                    e[i + 1] = s * r
                    s = e[i] / r
                    c = p / r
                    p = c * d[i] - s * g
                    d[i + 1] = h + s * (c * g + s * d[i])
                    for k in range(n):
                        h = z[k, i + 1]
                        z[k, i + 1] = s * z[k, i] + c * h
                        z[k, i] = c * z[k, i] - s * h
                p = -s * s2 * c3 * el1 * e[l] / dl1
                e[l] = s * p
                d[l] = c * p
                if not abs(e[l]) > _EPS * tst1:
                    break
        d[l] = d[l] + f
        e[l] = 0.0
    for i in range(n - 1):
        k = i
        p = d[i]
        for j in range(i + 1, n):
            if p < d[j]:
                k = j
                p = d[j]
        if k != i:
            d[k], d[i] = d[i], d[k]
            for j in range(n):
                z[j, i], z[j, k] = z[j, k], z[j, i]
    return True


@numba.njit(**JIT)
def eigensystem_from_flat(flat, matrix, values, scratch):
    """Eigen-decompose the symmetric matrix whose upper triangle vigra stores flat
    (`FlatScatterMatrix`: for j, for i >= j: S[i, j]). `matrix` (n, n) receives the
    eigenvectors as columns, `values` (n,) the eigenvalues, descending; `scratch` is (n,)."""
    n = matrix.shape[0]
    k = 0
    for j in range(n):
        matrix[j, j] = flat[k]
        k += 1
        for i in range(j + 1, n):
            matrix[i, j] = flat[k]
            matrix[j, i] = flat[k]
            k += 1
    _tridiagonalise(matrix, values, scratch)
    return _diagonalise(values, scratch, matrix)


@numba.njit(**JIT)
def symmetric_eigensystem(matrix):
    """(eigenvalues descending, eigenvectors as columns) of a small symmetric matrix, as vigra
    computes them; `matrix` is left as it is."""
    n = matrix.shape[0]
    vectors = matrix.astype(np.float64)
    values = np.zeros(n)
    scratch = np.zeros(n)
    _tridiagonalise(vectors, values, scratch)
    _diagonalise(values, scratch, vectors)
    return values, vectors
