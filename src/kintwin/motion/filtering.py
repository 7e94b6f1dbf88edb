"""Signal conditioning for motion data: zero-lag low-pass, spline resampling and derivatives.

Arrays are sampled along ``axis`` (default 0, time first); units pass through unchanged (a
derivative of metres over seconds is m/s). All functions reject NaN/inf input: fill marker gaps
first.
"""

from __future__ import annotations

import numpy as np


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


def lowpass(x, rate_hz: float, cutoff_hz: float, order: int = 4, axis: int = 0) -> np.ndarray:
    """Zero-lag Butterworth low-pass (``butter`` + ``sosfiltfilt``).

    ``order`` is the design order of one pass; the forward-backward filter has twice that order
    and a gain of 0.5 (-6 dB) at ``cutoff_hz``, with no phase lag. Requires uniform sampling at
    ``rate_hz``, ``0 < cutoff_hz < rate_hz / 2`` and more samples than the filter taps need.
    The ends are padded by odd reflection over ~3 cutoff periods; a noisy end sample still
    disturbs the first/last ~1/cutoff seconds, so trim or record extra frames when they matter.
    """
    x = _finite(x, "signal")
    nyquist = 0.5 * rate_hz
    if not 0 < cutoff_hz < nyquist:
        raise ValueError(f"cutoff {cutoff_hz} Hz must be above 0 and below the Nyquist "
                         f"frequency {nyquist} Hz (rate {rate_hz} Hz)")
    from scipy.signal import butter, sosfiltfilt  # ~0.3 s to import: only where it filters

    sos = butter(order, cutoff_hz / nyquist, btype="low", output="sos")
    n = x.shape[axis]
    minimum = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    if n <= minimum:
        raise ValueError(f"signal too short to filter: {n} samples, need more than "
                         f"{minimum} for an order-{order} filter")
    # scipy's default padding (3 * filter taps) is shorter than the filter's transient at low
    # cutoffs; pad with ~3 cutoff periods (at most the signal length) so the ends settle.
    padlen = min(n - 1, max(minimum, int(np.ceil(3 * rate_hz / cutoff_hz))))
    return sosfiltfilt(sos, x, axis=axis, padtype="odd", padlen=padlen)


def resample(time_s, x, new_time_s, axis: int = 0) -> np.ndarray:
    """Cubic-spline (not-a-knot) values of ``x`` at ``new_time_s`` (inside the time span)."""
    from scipy.interpolate import CubicSpline

    x = _finite(x, "signal")
    t = _times(time_s, x.shape[axis])
    new_t = _finite(new_time_s, "new_time_s")
    tol = 1e-9 * max(1.0, abs(t[-1]))
    if new_t.size and (new_t.min() < t[0] - tol or new_t.max() > t[-1] + tol):
        raise ValueError(f"new times [{new_t.min()}, {new_t.max()}] s fall outside the data "
                         f"[{t[0]}, {t[-1]}] s: no extrapolation")
    return CubicSpline(t, x, axis=axis)(np.clip(new_t, t[0], t[-1]))


def derivative(time_s, x, order: int = 1, axis: int = 0) -> np.ndarray:
    """``order``-th time derivative of ``x`` at ``time_s`` from a cubic spline (any sampling)."""
    from scipy.interpolate import CubicSpline

    if order not in (1, 2, 3):
        raise ValueError(f"derivative order must be 1, 2 or 3 for a cubic spline, not {order}")
    x = _finite(x, "signal")
    t = _times(time_s, x.shape[axis])
    return CubicSpline(t, x, axis=axis).derivative(order)(t)
