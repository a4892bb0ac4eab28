"""The compiled LASSO path (engine.forecast.lars) against scikit-learn's lars_path_gram, knot for knot: more
samples than features, fewer (the 56-day LEAR windows), coefficients leaving the active set (the LASSO's drops),
a degenerate (duplicated) column, and stopping at a given λ."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import lars_path_gram

from engine.forecast.lars import lasso_path_gram

EPS = float(np.finfo(float).eps)


def _problem(n: int, p: int, seed: int, duplicate: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 6))
    x = base @ rng.normal(size=(6, p)) + 0.3 * rng.normal(size=(n, p))  # correlated columns: paths with drops
    y = x[:, :4] @ np.array([2.0, -1.0, 0.5, 1.5]) + rng.normal(size=n)
    x -= x.mean(axis=0)
    if duplicate:  # unit-norm columns (as LEAR's criterion sees them), one twice: its Cholesky pivot is ~1e-8
        x /= np.linalg.norm(x, axis=0)
        x[:, 5] = x[:, 3]
    y -= y.mean()
    return x.T @ y, x.T @ x, n


def _reference(xy, gram, n, alpha_min=0.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns on degenerate regressors; the port follows it there
        alphas, _, coefs = lars_path_gram(xy, gram, n_samples=n, max_iter=2500, alpha_min=alpha_min,
                                          method="lasso", eps=EPS, copy_Gram=True)
    return alphas, coefs


@pytest.mark.parametrize(("n", "p", "seed", "duplicate"), [
    (300, 40, 0, False), (300, 40, 1, False), (49, 120, 2, False), (77, 120, 3, False), (200, 30, 4, True)])
def test_every_knot_equals_scikit_learns(n, p, seed, duplicate):
    xy, gram, n = _problem(n, p, seed, duplicate)
    expected_alphas, expected = _reference(xy, gram, n)
    alphas, coefs = lasso_path_gram(xy, gram, n, 2500, 0.0, EPS)
    assert alphas.shape == expected_alphas.shape and coefs.shape == expected.shape
    np.testing.assert_allclose(alphas, expected_alphas, rtol=1e-9, atol=1e-12 * expected_alphas[0])
    np.testing.assert_allclose(coefs, expected, atol=1e-8 * np.abs(expected).max())


def test_the_duplicated_column_takes_scikit_learns_degenerate_branch():
    xy, gram, n = _problem(200, 30, 4, duplicate=True)
    with pytest.warns(Warning, match="degenerate"):
        lars_path_gram(xy, gram, n_samples=n, max_iter=2500, method="lasso", eps=EPS, copy_Gram=True)


def test_the_paths_compared_include_lasso_drops():
    """A drop is a knot where a coefficient that was non-zero becomes zero again; without one the comparison
    above would not reach the port's deletion from the Cholesky factor."""
    drops = 0
    for n, p, seed in [(300, 40, 0), (300, 40, 1), (49, 120, 2), (77, 120, 3)]:
        alphas, coefs = lasso_path_gram(*_problem(n, p, seed), 2500, 0.0, EPS)
        nonzero = np.abs(coefs) > 0
        drops += int(np.sum(nonzero[:, :-1] & ~nonzero[:, 1:]))
    assert drops > 0


def test_stopping_at_a_given_lambda_interpolates_as_scikit_learn():
    xy, gram, n = _problem(300, 40, 5)
    full, _ = _reference(xy, gram, n)
    alpha_min = float(0.37 * full[3] + 0.63 * full[4])  # between two knots
    expected_alphas, expected = _reference(xy, gram, n, alpha_min)
    alphas, coefs = lasso_path_gram(xy, gram, n, 2500, alpha_min, EPS)
    assert alphas[-1] == alpha_min
    np.testing.assert_allclose(alphas, expected_alphas, rtol=1e-12)
    np.testing.assert_allclose(coefs, expected, atol=1e-10 * np.abs(expected).max())


def test_inputs_are_left_unchanged():
    xy, gram, n = _problem(100, 20, 6)
    kept = xy.copy(), gram.copy()
    lasso_path_gram(xy, gram, n)
    np.testing.assert_array_equal(xy, kept[0])
    np.testing.assert_array_equal(gram, kept[1])
