"""The LASSO path by LARS on a Gram matrix, compiled: scikit-learn's ``lars_path_gram(method="lasso")`` step for
step (same pivots, Cholesky updates and deletions, rounding of the correlations, stopping rules), without its
Python-level loop, which is most of LEAR's cost (a few hundred steps per path, 48 paths per window and day).

scikit-learn stays the reference: tests compare every knot of both paths, and the rare steps this port does not
reproduce (several coefficients crossing zero at exactly the same step) hand the whole path back to it."""
from __future__ import annotations

import numpy as np
from numba import njit
from sklearn.linear_model import lars_path_gram

_TINY32 = float(np.finfo(np.float32).tiny)
_EQUALITY = float(np.finfo(np.float32).eps)
_ROUND = 10.0 ** np.finfo(np.float64).precision  # scikit-learn rounds correlations to the dtype's precision
_DBL_MAX = float(np.finfo(np.float64).max)


@njit(cache=True)
def _min_pos(values):
    best = _DBL_MAX
    for v in values:
        if 0.0 < v < best:
            best = v
    return best


@njit(cache=True)
def _forward(chol, k, rhs):
    """Solve chol[:k, :k] x = rhs (lower triangular) in place."""
    for i in range(k):
        acc = rhs[i]
        for j in range(i):
            acc -= chol[i, j] * rhs[j]
        rhs[i] = acc / chol[i, i]


@njit(cache=True)
def _cholesky_solve(chol, k, rhs):
    """Solve chol chol' x = rhs for the lower-triangular chol[:k, :k] (LAPACK potrs)."""
    x = rhs.copy()
    _forward(chol, k, x)
    for i in range(k - 1, -1, -1):  # chol' x = y by columns of chol', i.e. rows of chol (C-ordered)
        x[i] /= chol[i, i]
        weight = x[i]
        for j in range(i):
            x[j] -= chol[i, j] * weight
    return x


@njit(cache=True)
def _rotg(a, b):
    """BLAS drotg: (r, c, s) of the Givens rotation zeroing b."""
    roe = a if abs(a) > abs(b) else b
    scale = abs(a) + abs(b)
    if scale == 0.0:
        return 0.0, 1.0, 0.0
    r = scale * np.sqrt((a / scale) ** 2 + (b / scale) ** 2)
    if roe < 0:
        r = -r
    return r, a / r, b / r


@njit(cache=True)
def _cholesky_delete(chol, n, out):
    """scikit-learn's arrayfuncs.cholesky_delete on chol[:n, :n]: drop row and column ``out``."""
    for i in range(out, n - 1):
        for j in range(i + 2):
            chol[i, j] = chol[i + 1, j]
    for i in range(out, n - 1):
        r, c, s = _rotg(chol[i, i], chol[i, i + 1])
        chol[i, i] = r
        if chol[i, i] < 0:
            chol[i, i] = abs(chol[i, i])
            c, s = -c, -s
        chol[i, i + 1] = 0.0
        for k in range(i + 1, n - 1):  # rows of the smaller factor only: row n - 1 is now left over
            x, y = chol[k, i], chol[k, i + 1]
            chol[k, i] = c * x + s * y
            chol[k, i + 1] = c * y - s * x


@njit(cache=True)
def _swap_gram(gram, a, b):
    for k in range(gram.shape[0]):
        gram[a, k], gram[b, k] = gram[b, k], gram[a, k]
    for k in range(gram.shape[0]):
        gram[k, a], gram[k, b] = gram[k, b], gram[k, a]


@njit(cache=True)
def _lasso_path(xy, gram0, n_samples, max_iter, alpha_min, eps):
    """(alphas, coefs n_knots × p, ok); ok False: a step this port does not follow (see the module)."""
    p = xy.shape[0]
    max_features = min(max_iter, p)
    gram = gram0.copy()
    cov = xy.copy()  # cov[n_active:] is scikit-learn's shortened Cov
    indices = np.arange(p)
    active = np.empty(p, dtype=np.int64)
    sign = np.zeros(max_features)
    chol = np.zeros((max_features, max_features))
    rows = max_features + 1
    alphas = np.zeros(rows)
    coefs = np.zeros((rows, p))
    n_iter = 0
    n_active = 0
    drop = False
    while True:
        n_cov = p - n_active
        c_idx = 0
        c_val = 0.0
        if n_cov > 0:
            best = -1.0
            for j in range(n_cov):
                v = abs(cov[n_active + j])
                if v > best:
                    best, c_idx = v, j
            c_val = cov[n_active + c_idx]
        big_c = abs(c_val)
        alpha = big_c / n_samples
        alphas[n_iter] = alpha
        prev_alpha = alphas[n_iter - 1] if n_iter > 0 else alphas[rows - 1]
        if alpha <= alpha_min + _EQUALITY:
            if abs(alpha - alpha_min) > _EQUALITY:
                if n_iter > 0:
                    ss = (prev_alpha - alpha_min) / (prev_alpha - alpha)
                    for k in range(p):
                        coefs[n_iter, k] = coefs[n_iter - 1, k] + ss * (coefs[n_iter, k] - coefs[n_iter - 1, k])
                alphas[n_iter] = alpha_min
            break
        if n_iter >= max_iter or n_active >= p:
            break
        if not drop:
            sign[n_active] = 1.0 if c_val > 0 else (-1.0 if c_val < 0 else 0.0)
            m, n = n_active, c_idx + n_active
            cov[n], cov[m] = cov[m], cov[n]
            indices[n], indices[m] = indices[m], indices[n]
            _swap_gram(gram, m, n)
            c = gram[n_active, n_active]
            for j in range(n_active):
                chol[n_active, j] = gram[n_active, j]
            if n_active:
                row = chol[n_active, :n_active].copy()
                _forward(chol, n_active, row)
                chol[n_active, :n_active] = row
            v = 0.0
            for j in range(n_active):
                v += chol[n_active, j] * chol[n_active, j]
            diag = max(np.sqrt(abs(c - v)), eps)
            chol[n_active, n_active] = diag
            if diag < 1e-7:
                # scikit-learn: the regressor is degenerate; its correlation is zeroed and the swap of Cov
                # undone, Gram and the indices left swapped (reproduced as it is).
                cov[m] = 0.0
                cov[n], cov[m] = cov[m], cov[n]
                continue
            active[n_active] = indices[n_active]
            n_active += 1
        if n_iter > 0 and prev_alpha < alpha:
            break
        ls = _cholesky_solve(chol, n_active, sign[:n_active])
        if ls.size == 1 and ls[0] == 0:
            ls[0] = 1.0
            aa = 1.0
        else:
            total = 0.0
            for j in range(n_active):
                total += ls[j] * sign[j]
            aa = 1.0 / np.sqrt(total)
            if not np.isfinite(aa):
                i = 0
                jitter = chol[:n_active, :n_active].copy()
                while not np.isfinite(aa):
                    for j in range(n_active):
                        jitter[j, j] += (2.0 ** i) * eps
                    ls = _cholesky_solve(jitter, n_active, sign[:n_active])
                    total = 0.0
                    for j in range(n_active):
                        total += ls[j] * sign[j]
                    aa = 1.0 / np.sqrt(max(total, eps))
                    i += 1
            for j in range(n_active):
                ls[j] *= aa
        n_rest = p - n_active
        corr = np.zeros(n_rest)
        for i in range(n_active):  # row by row: the Gram matrix is C-ordered
            weight = ls[i]
            for j in range(n_rest):
                corr[j] += gram[i, n_active + j] * weight
        for j in range(n_rest):
            corr[j] = np.rint(corr[j] * _ROUND) / _ROUND
        g1 = _DBL_MAX
        g2 = _DBL_MAX
        for j in range(n_rest):
            a = (big_c - cov[n_active + j]) / (aa - corr[j] + _TINY32)
            if 0.0 < a < g1:
                g1 = a
            b = (big_c + cov[n_active + j]) / (aa + corr[j] + _TINY32)
            if 0.0 < b < g2:
                g2 = b
        gamma = min(g1, g2, big_c / aa)
        drop = False
        z = np.empty(n_active)
        for j in range(n_active):
            z[j] = -coefs[n_iter, active[j]] / (ls[j] + _TINY32)
        z_pos = _min_pos(z)
        out = -1
        if z_pos < gamma:
            ties = 0
            for j in range(n_active):
                if z[j] == z_pos:
                    ties += 1
                    out = j
            if ties > 1:
                return alphas[:0], coefs[:0], False
            gamma = z_pos
            drop = True
        n_iter += 1
        if n_iter >= rows:
            grown = max(1, max_features - n_active) * 2
            alphas = np.concatenate((alphas, np.zeros(grown)))
            coefs = np.concatenate((coefs, np.zeros((grown, p))))
            rows += grown
        for j in range(n_active):
            coefs[n_iter, active[j]] = coefs[n_iter - 1, active[j]] + gamma * ls[j]
        for j in range(n_rest):
            cov[n_active + j] -= gamma * corr[j]
        if drop:
            _cholesky_delete(chol, n_active, out)
            n_active -= 1
            dropped = active[out]
            for j in range(out, n_active):
                active[j] = active[j + 1]
            for i in range(out, n_active):
                indices[i], indices[i + 1] = indices[i + 1], indices[i]
                _swap_gram(gram, i, i + 1)
            temp = xy[dropped]
            for k in range(p):
                temp -= gram0[dropped, k] * coefs[n_iter, k]
            cov[n_active] = temp
            for j in range(out, max_features - 1):
                sign[j] = sign[j + 1]
            sign[max_features - 1] = 0.0
    return alphas[: n_iter + 1], coefs[: n_iter + 1], True


def lasso_path_gram(xy: np.ndarray, gram: np.ndarray, n_samples: int, max_iter: int = 500,
                    alpha_min: float = 0.0, eps: float = float(np.finfo(float).eps)) -> tuple[np.ndarray, np.ndarray]:
    """(alphas, coefs p × knots) as ``lars_path_gram(xy, gram, n_samples=..., method="lasso")`` returns them."""
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    gram = np.ascontiguousarray(gram, dtype=np.float64)
    alphas, coefs, ok = _lasso_path(xy, gram, float(n_samples), int(max_iter), float(alpha_min), float(eps))
    if not ok:
        alphas, _, path = lars_path_gram(xy, gram, n_samples=n_samples, max_iter=max_iter, alpha_min=alpha_min,
                                         method="lasso", eps=eps, copy_Gram=True)
        return alphas, path
    return alphas, coefs.T
