"""Zero-lag low-pass, spline resampling and spline derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from kintwin.motion.filtering import derivative, lowpass, resample


def test_lowpass_removes_30hz_keeps_1hz():
    rate = 200.0
    t = np.arange(0, 4, 1 / rate)  # whole number of 1 Hz cycles
    slow, fast = np.sin(2 * np.pi * 1 * t), 0.5 * np.sin(2 * np.pi * 30 * t)
    out = lowpass(np.column_stack([slow + fast, 2 * slow]), rate, cutoff_hz=6.0, order=4)
    inner = slice(int(0.5 * rate), int(3.5 * rate))
    # 1 Hz kept within 1 %: away from the ends (0.5 s) for the noisy signal, everywhere for the
    # clean one (odd padding; a noisy end sample perturbs the first/last ~1/cutoff s)
    assert np.abs(out[inner, 0] - slow[inner]).max() < 0.01
    assert np.abs(out[:, 1] - 2 * slow).max() < 0.01 * 2
    err = out[inner, 0] - slow[inner]  # 3 s: whole cycles of both sines
    residual_30hz = np.abs(np.fft.rfft(err))[30 * 3] / (len(err) / 2)
    assert residual_30hz < 1e-5  # amplitude 0.5 -> ~1.3e-6 (|H(30 Hz)|^2 of filtfilt)
    # zero lag: the peak of the filtered 1 Hz stays at 0.25 s
    assert t[np.argmax(out[: int(rate), 1])] == pytest.approx(0.25, abs=1 / rate)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("cutoff_hz, rate_hz", [(6.0, 100.0), (15.0, 250.0), (0.5, 100.0),
                                                (40.0, 100.0)])
def test_lowpass_equals_scipy_sosfiltfilt(order, cutoff_hz, rate_hz):
    # scipy.signal is the oracle (kintwin does not import it for filtering: slow to import)
    from scipy.signal import butter, freqz_sos, sosfiltfilt

    from kintwin.motion.filtering import butterworth_sos

    sos = butterworth_sos(order, cutoff_hz, rate_hz)
    ref = butter(order, cutoff_hz / (rate_hz / 2), output="sos")
    _, h = freqz_sos(sos, worN=64)
    _, h_ref = freqz_sos(ref, worN=64)  # same response (sections may come in another order)
    np.testing.assert_allclose(np.abs(h), np.abs(h_ref), atol=1e-12)
    x = np.random.default_rng(order).normal(size=(400, 3)).cumsum(axis=0)
    pad = min(399, max(3 * (2 * len(ref) + 1 - order % 2), int(np.ceil(3 * rate_hz / cutoff_hz))))
    expected = sosfiltfilt(ref, x, axis=0, padtype="odd", padlen=pad)
    np.testing.assert_allclose(lowpass(x, rate_hz, cutoff_hz, order=order), expected,
                               rtol=0, atol=1e-11 * np.abs(expected).max())


def test_lowpass_axis_and_errors():
    x = np.random.default_rng(0).normal(size=(3, 300))
    np.testing.assert_allclose(lowpass(x, 100, 10, axis=1), lowpass(x.T, 100, 10).T)
    with pytest.raises(ValueError, match="Nyquist"):
        lowpass(x.T, 100, 50)
    with pytest.raises(ValueError, match="too short"):
        lowpass(np.zeros(15), 100, 10)
    bad = x.T.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN/inf"):
        lowpass(bad, 100, 10)


def test_derivative_of_sin_is_cos_nonuniform():
    rng = np.random.default_rng(2)
    t = np.sort(np.concatenate([[0.0, 2.0], rng.uniform(0, 2, 398)]))
    x = np.column_stack([np.sin(2 * np.pi * t), t**2])
    d1 = derivative(t, x)
    inner = (t > 0.1) & (t < 1.9)
    np.testing.assert_allclose(d1[inner, 0], 2 * np.pi * np.cos(2 * np.pi * t[inner]),
                               atol=2e-3)  # relative to amplitude 2*pi: < 0.05 %
    np.testing.assert_allclose(d1[:, 1], 2 * t, atol=1e-9)  # exact for polynomials
    d2 = derivative(t, x, order=2)
    np.testing.assert_allclose(d2[inner, 0], -(2 * np.pi) ** 2 * np.sin(2 * np.pi * t[inner]),
                               atol=0.1)  # amplitude 39.5


def test_derivative_uniform_tight():
    t = np.linspace(0, 1, 101)
    np.testing.assert_allclose(derivative(t, np.sin(t)), np.cos(t), atol=1e-6)


@pytest.mark.parametrize("n", [2, 3, 4, 9, 200])
def test_spline_equals_scipy_cubic_spline(n):
    # scipy's CubicSpline is the oracle (kintwin writes it out: scipy.interpolate is slow to import)
    from scipy.interpolate import CubicSpline as Reference

    from kintwin.motion.spline import CubicSpline

    rng = np.random.default_rng(n)
    t = np.cumsum(rng.uniform(0.005, 0.02, n))  # non-uniform
    x = rng.normal(size=(n, 2, 3)).cumsum(axis=0)
    at = np.concatenate([t, rng.uniform(t[0] - 0.01, t[-1] + 0.01, 40)])  # knots, between, beyond
    ours, ref = CubicSpline(t, x), Reference(t, x, axis=0)
    scale = 1.0
    for nu in range(4):  # rounding relative to the largest derivative so far (a parabola's 3rd is 0)
        expected = ref(at, nu)
        scale = max(scale, np.abs(expected).max())
        np.testing.assert_allclose(ours(at, nu), expected, rtol=0, atol=1e-12 * scale)


def test_resample_cubic():
    t = np.linspace(0, 1, 21)
    new = np.linspace(0, 1, 7)
    np.testing.assert_allclose(resample(t, t**3, new), new**3, atol=1e-12)
    np.testing.assert_allclose(resample(t, np.sin(2 * np.pi * t), new),
                               np.sin(2 * np.pi * new), atol=1e-3)
    with pytest.raises(ValueError, match="no extrapolation"):
        resample(t, t, [1.5])
    with pytest.raises(ValueError, match="strictly increasing"):
        resample(t[::-1], t, new)
    with pytest.raises(ValueError, match="NaN"):
        derivative(t, np.where(t > 0.5, np.nan, t))
