"""Signal conditioning for motion data: zero-lag low-pass, spline resampling and derivatives.

Arrays are sampled along ``axis`` (default 0, time first); units pass through unchanged (a
derivative of metres over seconds is m/s). All functions reject NaN/inf input: fill marker gaps
first.

The low-pass is the Butterworth design and forward-backward filter of ``scipy.signal.butter`` +
``sosfiltfilt`` (odd padding, steady-state initial conditions), written with numpy: importing
``scipy.signal`` takes ~0.3-0.4 s (it imports scipy.stats, scipy.optimize, ...), more than the
whole work of ``kintwin id`` on a walking trial (~0.1 s). It agrees with scipy to ~1e-11 relative,
not bit for bit (``tests/test_startup_and_model_out.py``).
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


def butter_lowpass_sos(order: int, wn: float) -> np.ndarray:
    """Second-order sections (rows ``b0 b1 b2 1 a1 a2``) of the digital Butterworth low-pass of
    cutoff ``wn`` (fraction of the Nyquist frequency): the analog prototype's poles at the
    pre-warped cutoff, mapped by the bilinear transform; all zeros at z = -1; unit gain at 0 Hz.
    The same filter as ``scipy.signal.butter(order, wn, output="sos")`` (sections in another
    order and layout for odd orders)."""
    warped = 4.0 * np.tan(np.pi * wn / 2.0)  # analog cutoff (rad/s) for a sampling rate of 2
    m = np.arange(-order + 1, order, 2)
    analog = -warped * np.exp(1j * np.pi * m / (2 * order))
    poles = (4.0 + analog) / (4.0 - analog)  # bilinear transform
    upper = sorted(poles[poles.imag > 0], key=abs)  # one pole of each conjugate pair
    sections = [[1.0, 2.0, 1.0, 1.0, -2.0 * p.real, abs(p) ** 2] for p in upper]
    if order % 2:  # the real pole
        sections.insert(0, [1.0, 1.0, 0.0, 1.0, -poles[order // 2].real, 0.0])
    sos = np.array(sections)
    sos[0, :3] *= np.prod(sos[:, 3:].sum(axis=1)) / np.prod(sos[:, :3].sum(axis=1))
    return sos


def _state_space(sos: np.ndarray):
    """(A, B, C, D) of the cascade of sections, each in transposed direct form II (two states:
    ``y = b0 u + z1; z1' = b1 u - a1 y + z2; z2' = b2 u - a2 y``)."""
    n = 2 * len(sos)
    A, B = np.zeros((n, n)), np.zeros(n)
    C, D = np.zeros(n), 1.0  # the input u of the first section is x
    for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
        i = slice(2 * s, 2 * s + 2)
        b = np.array([b1 - a1 * b0, b2 - a2 * b0])
        A[i] += np.outer(b, C)  # u = C z + D x
        A[i, i] += [[-a1, 1.0], [-a2, 0.0]]
        B[i] = b * D
        C, D = b0 * C, b0 * D  # this section's output y = z1 + b0 u
        C[2 * s] += 1.0
    return A, B, C, D


def _run_filter(A, B, C, D, x: np.ndarray, z: np.ndarray, block: int = 128) -> np.ndarray:
    """Outputs of the state-space filter for x (T, k) from the states z (n, k). Within a block of
    L samples the outputs are a fixed linear map of the block's first state and its inputs, so
    the recursion runs T / L matrix products instead of T small steps."""
    L = min(block, len(x))
    powers = [np.eye(len(B))]  # A^0 .. A^L
    for _ in range(L):
        powers.append(A @ powers[-1])
    state_out = np.array([C @ P for P in powers[:L]])  # (L, n): C A^j
    h = np.array([D] + [C @ P @ B for P in powers[:L - 1]])  # impulse response
    lag = np.subtract.outer(np.arange(L), np.arange(L))
    input_out = np.where(lag >= 0, h[np.maximum(lag, 0)], 0.0)  # (L, L): h[j - i], j >= i
    input_state = np.stack([P @ B for P in powers[L - 1::-1]], axis=1)  # (n, L): A^(L-1-i) B
    y = np.empty_like(x)
    for start in range(0, len(x), L):
        xb = x[start:start + L]
        m = len(xb)
        y[start:start + m] = state_out[:m] @ z + input_out[:m, :m] @ xb
        z = powers[m] @ z + input_state[:, L - m:] @ xb
    return y


def _step_state(sos: np.ndarray) -> np.ndarray:
    """The cascade's states at rest under a constant unit input (``scipy.signal.sosfilt_zi``),
    section by section: solving for all the states at once is ill-conditioned at low cutoffs."""
    z, level = [], 1.0
    for b0, b1, b2, _, a1, a2 in sos:
        gain = (b0 + b1 + b2) / (1.0 + a1 + a2)  # the section's gain at 0 Hz
        z += [level * (b1 + b2 - (a1 + a2) * gain), level * (b2 - a2 * gain)]
        level *= gain
    return np.array(z)


def _filtfilt(sos: np.ndarray, x: np.ndarray, padlen: int) -> np.ndarray:
    """Forward-backward filter along axis 0 of x (T, k), as ``scipy.signal.sosfiltfilt`` with
    ``padtype="odd"``: odd extension by ``padlen`` samples at each end, each pass started from the
    steady state of a constant input equal to its first sample."""
    ext = np.concatenate([2 * x[0] - x[padlen:0:-1], x, 2 * x[-1] - x[-2:-padlen - 2:-1]])
    A, B, C, D = _state_space(sos)
    z_step = _step_state(sos)
    y = _run_filter(A, B, C, D, ext, np.outer(z_step, ext[0]))
    y = _run_filter(A, B, C, D, y[::-1], np.outer(z_step, y[-1]))[::-1]
    return y[padlen:len(y) - padlen]


def lowpass(x, rate_hz: float, cutoff_hz: float, order: int = 4, axis: int = 0) -> np.ndarray:
    """Zero-lag Butterworth low-pass (as ``scipy.signal.butter`` + ``sosfiltfilt``).

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
    sos = butter_lowpass_sos(order, cutoff_hz / nyquist)
    n = x.shape[axis]
    minimum = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    if n <= minimum:
        raise ValueError(f"signal too short to filter: {n} samples, need more than "
                         f"{minimum} for an order-{order} filter")
    # scipy's default padding (3 * filter taps) is shorter than the filter's transient at low
    # cutoffs; pad with ~3 cutoff periods (at most the signal length) so the ends settle.
    padlen = min(n - 1, max(minimum, int(np.ceil(3 * rate_hz / cutoff_hz))))
    xt = np.moveaxis(x, axis, 0)
    y = _filtfilt(sos, xt.reshape(n, -1), padlen)
    return np.moveaxis(y.reshape(xt.shape), 0, axis)


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
