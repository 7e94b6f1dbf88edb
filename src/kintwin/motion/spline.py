"""Not-a-knot cubic spline through samples: values and 1st-3rd derivatives at any time.

The spline of ``scipy.interpolate.CubicSpline(x, y, axis=0)`` (default not-a-knot ends; the tests
compare the two), written out here because importing ``scipy.interpolate`` costs ~0.3 s, half of a
whole ``kintwin id`` process. Outside the knots each end piece's polynomial is extended, as
scipy's does. Units pass through: the derivative of metres over seconds is m/s.
"""

from __future__ import annotations

import numpy as np


def _tridiagonal_solve(lower, diag, upper, rhs) -> np.ndarray:
    """Solve the tridiagonal system (``lower[i]`` at (i, i-1), ``upper[i]`` at (i, i+1)) for
    right-hand sides ``rhs`` (n, ...) by forward elimination and back substitution."""
    n = len(diag)
    d, r = diag.astype(float).copy(), rhs.astype(float).copy()
    for i in range(1, n):
        w = lower[i] / d[i - 1]
        d[i] -= w * upper[i - 1]
        r[i] -= w * r[i - 1]
    s = np.empty_like(r)
    s[-1] = r[-1] / d[-1]
    for i in range(n - 2, -1, -1):
        s[i] = (r[i] - upper[i] * s[i + 1]) / d[i]
    return s


class CubicSpline:
    """Not-a-knot cubic spline of ``y`` (n, ...) sampled at strictly increasing ``x`` (n)."""

    def __init__(self, x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        if x.ndim != 1 or len(x) < 2 or len(y) != len(x) or np.any(np.diff(x) <= 0):
            raise ValueError("a spline needs >= 2 strictly increasing times and one sample each")
        dx = np.diff(x).reshape((-1,) + (1,) * (y.ndim - 1))
        slope = np.diff(y, axis=0) / dx
        n = len(x)
        if n == 2:  # a straight line
            s = np.concatenate([slope, slope])
        elif n == 3:  # not-a-knot on 3 points: the parabola through them
            h0, h1 = dx[0], dx[1]
            s = _tridiagonal_solve(np.array([0.0, h1.item(), 1.0]),
                                   np.array([1.0, 2 * (h0 + h1).item(), 1.0]),
                                   np.array([1.0, h0.item(), 0.0]),
                                   np.stack([2 * slope[0], 3 * (h0 * slope[1] + h1 * slope[0]),
                                             2 * slope[1]]))
        else:
            h = dx.reshape(-1)
            lower, diag, upper = np.zeros(n), np.zeros(n), np.zeros(n)
            diag[1:-1] = 2 * (h[:-1] + h[1:])
            lower[1:-1], upper[1:-1] = h[1:], h[:-1]
            rhs = np.empty((n,) + y.shape[1:])
            rhs[1:-1] = 3 * (dx[1:] * slope[:-1] + dx[:-1] * slope[1:])
            # not-a-knot: the third derivative is continuous across the second and last-but-one knots
            d0, d1 = h[0] + h[1], h[-1] + h[-2]
            diag[0], upper[0] = h[1], d0
            rhs[0] = ((h[0] + 2 * d0) * h[1] * slope[0] + h[0] ** 2 * slope[1]) / d0
            lower[-1], diag[-1] = d1, h[-2]
            rhs[-1] = (h[-1] ** 2 * slope[-2] + (2 * d1 + h[-1]) * h[-2] * slope[-1]) / d1
            s = _tridiagonal_solve(lower, diag, upper, rhs)
        t = (s[:-1] + s[1:] - 2 * slope) / dx
        # piece i: c3 (x - x_i)^3 + c2 (x - x_i)^2 + c1 (x - x_i) + y_i
        self.x, self._c3, self._c2, self._c1, self._c0 = x, t / dx, (slope - s[:-1]) / dx - t, \
            s[:-1], y[:-1]

    def __call__(self, x_new, nu: int = 0) -> np.ndarray:
        """Values (``nu`` = 0) or ``nu``-th derivative (1-3) at ``x_new`` (any shape (m,))."""
        x_new = np.asarray(x_new, float)
        i = np.clip(np.searchsorted(self.x, x_new, side="right") - 1, 0, len(self.x) - 2)
        h = (x_new - self.x[i]).reshape((-1,) + (1,) * (self._c0.ndim - 1))
        c3, c2, c1, c0 = self._c3[i], self._c2[i], self._c1[i], self._c0[i]
        if nu == 0:
            return ((c3 * h + c2) * h + c1) * h + c0
        if nu == 1:
            return (3 * c3 * h + 2 * c2) * h + c1
        if nu == 2:
            return 6 * c3 * h + 2 * c2
        if nu == 3:
            return 6 * c3 + 0 * h
        raise ValueError(f"derivative order must be 0-3 for a cubic spline, not {nu}")
