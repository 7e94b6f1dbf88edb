"""Signal conditioning for motion data: zero-lag low-pass, spline resampling and derivatives,
and the stretches where a boolean signal holds (``true_runs``).

Arrays are sampled along ``axis`` (default 0, time first); units pass through unchanged (a
derivative of metres over seconds is m/s). All functions reject NaN/inf input: fill marker gaps
first.
"""

from __future__ import annotations

import numpy as np

from .spline import CubicSpline


def true_runs(mask, min_len: int = 1) -> list[tuple[int, int]]:
    """[start, stop) index ranges where the 1-D boolean ``mask`` is True, at least ``min_len``
    samples long."""
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(mask, np.int8), 0]))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_len]


def _finite(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(x)):
        n = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{what} has {n} NaN/inf value(s): fill gaps or trim before filtering")
    return x


def _times(time_s, n: int) -> np.ndarray:
    t = _finite(time_s, "time_s").reshape(-1)
    if len(t) != n:
        raise ValueError(f"time_s has {len(t)} samples but x has {n} along the time axis")
    if len(t) < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("time_s must have at least 2 strictly increasing samples")
    return t


def butterworth_sos(order: int, cutoff_hz: float, rate_hz: float) -> np.ndarray:
    """Digital Butterworth low-pass as second-order sections (rows ``b0 b1 b2 1 a1 a2``).

    The analog prototype's poles, pre-warped to ``cutoff_hz`` and mapped by the bilinear
    transform; the design of ``scipy.signal.butter(order, cutoff, output="sos")`` (the tests
    compare the two), written out here because importing ``scipy.signal`` costs 0.3-0.5 s, over
    a third of a whole ``kintwin id`` process. Unit DC gain; the gain sits in the first section.
    """
    warped = 4.0 * np.tan(np.pi * cutoff_hz / rate_hz)  # analog cutoff, bilinear fs = 2
    m = np.arange(-order + 1, order, 2)
    analog = -np.exp(1j * np.pi * m / (2 * order)) * warped
    poles = (4.0 + analog) / (4.0 - analog)  # bilinear transform; all zeros at z = -1
    upper = poles[poles.imag > 1e-12 * np.abs(poles)]  # one of each conjugate pair
    sections = [[1.0, 2.0, 1.0, 1.0, -2.0 * p.real, abs(p) ** 2] for p in upper]
    if order % 2:
        real = poles[np.abs(poles.imag) <= 1e-12 * np.abs(poles)][0].real
        sections.insert(0, [1.0, 1.0, 0.0, 1.0, -real, 0.0])
    sos = np.array(sections)
    sos[0, :3] *= np.prod(sos[:, 3:].sum(axis=1) / sos[:, :3].sum(axis=1))  # DC gain 1
    return sos


def _filter_from_rest(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Run the sections along axis 0 as if the input had stood at ``x[0]`` forever (the filter
    starts in its steady state, as ``sosfilt`` with ``sosfilt_zi * x[0]``)."""
    y = x.copy()
    level = x[0].copy()  # the steady value of the current section's input
    for b0, b1, b2, _, a1, a2 in sos:
        gain = (b0 + b1 + b2) / (1.0 + a1 + a2)
        x1 = x2 = level
        y1 = y2 = level * gain
        for i in range(len(y)):
            xi = y[i].copy()
            yi = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            y[i] = yi
            x1, x2, y1, y2 = xi, x1, yi, y1
        level = level * gain
    return y


def lowpass(x, rate_hz: float, cutoff_hz: float, order: int = 4, axis: int = 0) -> np.ndarray:
    """Zero-lag Butterworth low-pass (forward-backward second-order sections).

    ``order`` is the design order of one pass; the forward-backward filter has twice that order
    and a gain of 0.5 (-6 dB) at ``cutoff_hz``, with no phase lag. Requires uniform sampling at
    ``rate_hz``, ``0 < cutoff_hz < rate_hz / 2`` and more samples than the filter taps need.
    The ends are padded by odd reflection over ~3 cutoff periods and each pass starts from rest
    at its first sample (as ``scipy.signal.sosfiltfilt(..., padtype="odd")``, which the tests
    check it equals); a noisy end sample still disturbs the first/last ~1/cutoff seconds, so
    trim or record extra frames when they matter.
    """
    x = _finite(x, "signal")
    nyquist = 0.5 * rate_hz
    if not 0 < cutoff_hz < nyquist:
        raise ValueError(f"cutoff {cutoff_hz} Hz must be above 0 and below the Nyquist "
                         f"frequency {nyquist} Hz (rate {rate_hz} Hz)")
    sos = butterworth_sos(order, cutoff_hz, rate_hz)
    n = x.shape[axis]
    minimum = 3 * (2 * len(sos) + 1 - int(order % 2))  # scipy's 3 x filter taps
    if n <= minimum:
        raise ValueError(f"signal too short to filter: {n} samples, need more than "
                         f"{minimum} for an order-{order} filter")
    # the usual padding (3 x taps) is shorter than the filter's transient at low cutoffs; pad
    # with ~3 cutoff periods (at most the signal length) so the ends settle.
    pad = min(n - 1, max(minimum, int(np.ceil(3 * rate_hz / cutoff_hz))))
    v = np.moveaxis(x, axis, 0)
    padded = np.concatenate([2 * v[0] - v[pad:0:-1], v, 2 * v[-1] - v[-2:-pad - 2:-1]])
    forward = _filter_from_rest(sos, padded)
    both = _filter_from_rest(sos, forward[::-1])[::-1]
    return np.moveaxis(both[pad:pad + n], 0, axis)


def resample(time_s, x, new_time_s, axis: int = 0) -> np.ndarray:
    """Cubic-spline (not-a-knot) values of ``x`` at the times ``new_time_s`` (1-D, inside the
    time span)."""
    x = _finite(x, "signal")
    t = _times(time_s, x.shape[axis])
    new_t = _finite(new_time_s, "new_time_s")
    tol = 1e-9 * max(1.0, abs(t[-1]))
    if new_t.size and (new_t.min() < t[0] - tol or new_t.max() > t[-1] + tol):
        raise ValueError(f"new times [{new_t.min()}, {new_t.max()}] s fall outside the data "
                         f"[{t[0]}, {t[-1]}] s: no extrapolation")
    new_t = new_t.reshape(-1)
    return np.moveaxis(CubicSpline(t, np.moveaxis(x, axis, 0))(np.clip(new_t, t[0], t[-1])), 0,
                       axis)


def derivative(time_s, x, order: int = 1, axis: int = 0) -> np.ndarray:
    """``order``-th time derivative of ``x`` at ``time_s`` from a cubic spline (any sampling)."""
    if order not in (1, 2, 3):
        raise ValueError(f"derivative order must be 1, 2 or 3 for a cubic spline, not {order}")
    x = _finite(x, "signal")
    t = _times(time_s, x.shape[axis])
    return np.moveaxis(CubicSpline(t, np.moveaxis(x, axis, 0))(t, order), 0, axis)
