"""Flights of a reference made ballistic (``sim/flight.py``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kintwin.control.wholebody import default_config
from kintwin.models.anthropometry import default_skeleton
from kintwin.motion.filtering import lowpass
from kintwin.motion.sample import sample_walk
from kintwin.motion.sample_moves import countermovement_jump, step_up
import kintwin.sim.flight as flight_module
from kintwin.sim.flight import ballistic_offset
from kintwin.sim.reference import centre_of_mass
from kintwin.twin.controlled import prepare

G = 9.81


def _hops(rate_hz: float = 500.0, stance_s: float = 0.2, flight_s: float = 0.1, hops: int = 4):
    """Centre-of-mass height (m) of running-like hops and the flight frames: flights falling at g
    between stances whose push (a half sine) gives back the take-off speed."""
    dt = 1.0 / rate_hz
    push = G * np.pi * (stance_s + flight_s) / (2 * stance_s)  # peak push, m/s^2
    acc, flight = [], []
    for _ in range(hops):
        n = int(round(flight_s * rate_hz))
        acc += [-G] * n
        flight += [True] * n
        n = int(round(stance_s * rate_hz))
        acc += list(-G + push * np.sin(np.pi * (np.arange(n) + 0.5) / n))
        flight += [False] * n
    v = 0.5 * G * flight_s + np.cumsum(acc) * dt  # take-off speed of the first flight
    return 0.95 + np.cumsum(v) * dt, np.array(flight)


def test_a_low_passed_flight_is_put_back_on_its_parabola():
    """The 6 Hz low-pass spreads the stances' push into the flights (the filtered path no longer
    falls at g there); the offset puts every inner flight back on a parabola falling at g, which
    is the hops' true path within a fifth of the filter's error in height and a tenth in speed."""
    rate = 500.0
    raw, flight = _hops(rate)
    z = lowpass(raw, rate, 6.0)
    inner = flight.copy()
    inner[: int(0.1 * rate)] = False  # the trial starts in the air: no take-off in it
    both = inner[:-2] & inner[1:-1] & inner[2:]  # second differences wholly inside a flight
    assert np.abs(np.diff(raw, 2)[both] * rate ** 2 + G).max() < 1e-6  # the hops fall at g
    assert np.abs(np.diff(z, 2)[both] * rate ** 2 + G).max() > 2.0  # the low-passed ones do not
    d = ballistic_offset(z, inner, rate)
    assert np.diff(z + d, 2)[both] * rate ** 2 == pytest.approx(-G, abs=1e-6)
    assert 0.5e-3 < np.abs(d).max() < 2e-3
    speed = lambda x: np.gradient(x, 1.0 / rate)
    assert np.abs(z + d - raw)[inner].max() < 0.3 * np.abs(z - raw)[inner].max()  # 1.0 -> 0.2 mm
    assert (np.abs(speed(z + d) - speed(raw))[inner].max()
            < 0.2 * np.abs(speed(z) - speed(raw))[inner].max())  # 0.048 -> 0.005 m/s


def _prepared(motion):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare(default_skeleton(1.75, 70.0), motion, default_config())


def test_the_controller_twin_gets_a_ballistic_jump_and_no_flight_where_there_is_none(monkeypatch):
    """The generated countermovement jump's flight is made to fall at g (a few mm); the walk has
    no flight and is untouched; the step-up, where a support misfit leaves both feet a few mm
    above the support for 0.18 s while the body is carried, is not taken for a flight."""
    model, _, ref, info = _prepared(countermovement_jump())
    flights = info["ballistic_flights"]
    assert len(flights["flights_s"]) == 1  # take-off at 1.2 s, landing at 1.485 s
    assert flights["flights_s"][0] == pytest.approx([1.2, 1.485], abs=0.02)
    assert 0.5 < flights["offset_max_mm"] < 10.0
    z = centre_of_mass(model, ref.qpos)[:, 2]
    t = np.arange(len(z)) * model.opt.timestep
    acc = np.gradient(np.gradient(z, t), t)
    assert acc[(t > 1.25) & (t < 1.43)] == pytest.approx(-G, abs=0.05)
    info = _prepared(sample_walk())[3]
    assert info["ballistic_flights"] == {"flights_s": [], "offset_max_mm": 0.0}
    assert _prepared(step_up())[3]["ballistic_flights"]["flights_s"] == []
    monkeypatch.setattr(flight_module, "MAX_FLIGHT_SUPPORT_BW", 10.0)  # the feet alone decide
    assert _prepared(step_up())[3]["ballistic_flights"]["flights_s"]
