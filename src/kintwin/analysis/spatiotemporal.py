"""Spatiotemporal gait parameters from gait events (and heel positions for distances).

Definitions (s = a side, o = the other side; FS = foot strike, FO = foot off; means are over all
complete cycles found; a value is ``None`` when the events do not allow it):

* stride time (s, per side) = t(FS_s, k+1) - t(FS_s, k): consecutive strikes of one foot.
* step time (s, per side) = t(FS_s) - t(previous FS_o): from the other foot's strike to this one's.
* cadence (steps/min) = 120 / (mean stride time of both sides pooled); with no complete stride,
  60 / mean step time.
* stance % (per side) = 100 * (t(FO_s) - t(FS_s)) / stride time, over strides of side s that
  contain exactly one FO_s; swing % = 100 - stance %.
* double support % (per side) = 100 * time both feet are in contact during a stride of side s /
  stride time (initial + terminal double support), over strides in which side o has exactly one
  FS and one FO; ``double_support_pct`` is the mean over both sides' strides.
* Distances are along the horizontal direction of progression d. Two cases, chosen from the
  pelvis speed (``treadmill=None``: treadmill when the pelvis speed is below 0.2 m/s):

  - overground (as in Vicon Nexus): step length (per side) = heel_s(FS_s) - heel_o(previous
    FS_o), each heel at its own strike; stride length (per side) = heel_s(FS_s, k+1) -
    heel_s(FS_s, k). Insensitive to a constant bias of the event times in steady gait.
  - treadmill: step length (per side) = (heel_s - heel_o) at FS_s, the distance between the two
    heels when foot s strikes; stride length = step length r + step length l. Sensitive to
    event timing (the swinging heel moves at about the belt speed).

  ``stride_length_m`` is the mean over both sides.
* speed (m/s) = mean stride length / mean stride time (2 x mean step time when no complete
  stride): walking speed over the floor, or the belt speed estimated from the steps on a treadmill.
* pelvis speed (m/s) = pelvis displacement along d between the first and last foot strike of
  the side with the longest span of whole strides (else the first and last event) / that time:
  the speed over the floor (about 0 on a treadmill).

Positions are OpenSim ground (X forward, Y up, Z right), metres; d is horizontal.
"""

from __future__ import annotations

import numpy as np

from .gait_events import SIDES, FootPoints, GaitEvents, progression_direction

OTHER = {"r": "l", "l": "r"}


def _strides(events: GaitEvents, s: str) -> list[tuple[float, float]]:
    fs = np.sort(events.get(s, "foot_strike"))
    return list(zip(fs[:-1], fs[1:]))


def _inside(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return x[(x >= a) & (x < b)]


def _overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _contact_intervals(events: GaitEvents, s: str, a: float, b: float):
    """Contact intervals of side s clipped to [a, b], or None if the events there are ambiguous.

    Needs exactly one FS and one FO of s in [a, b) (the usual case for the other foot during a
    stride); the foot is in contact from its FS to [b], and from [a] to its FO.
    """
    fs, fo = _inside(events.get(s, "foot_strike"), a, b), _inside(events.get(s, "foot_off"), a, b)
    if len(fs) != 1 or len(fo) != 1:
        return None
    fs, fo = float(fs[0]), float(fo[0])
    if fo < fs:  # in contact at a, off at fo, strike at fs, in contact until b
        return [(a, fo), (fs, b)]
    return [(fs, fo)]  # swing at a (unusual: overlapping steps), contact fs..fo


def _mean(x) -> float | None:
    x = [v for v in x if v is not None and np.isfinite(v)]
    return float(np.mean(x)) if x else None


def _sd(x) -> float | None:
    x = [v for v in x if v is not None and np.isfinite(v)]
    return float(np.std(x, ddof=1)) if len(x) > 1 else None


def compute(events: GaitEvents, points: FootPoints | None = None, direction=None,
            treadmill: bool | None = None, treadmill_speed_m_s: float = 0.2) -> dict:
    """Spatiotemporal parameters (see the module docstring) as a JSON-ready dict.

    ``points`` (heel positions, pelvis; from ``gait_events.foot_points``) are needed for step
    length, stride length, speed and pelvis speed; without them those are ``None``.
    ``treadmill``: which distance definitions to use (default: from the pelvis speed).
    Keys: ``cadence_steps_per_min``, ``stride_time_s``, ``step_time_s``, ``stance_pct``,
    ``swing_pct``, ``double_support_pct``, ``step_length_m`` (per side dicts ``{"r": x, "l": x}``),
    ``double_support_pct_mean``, ``stride_length_m``, ``speed_m_s``, ``pelvis_speed_m_s``,
    ``distances`` (``"overground"``/``"treadmill"``/None), ``n_strides`` and ``n_steps`` (per
    side), ``sd`` (standard deviations of the per-side values, where 2+ cycles),
    ``events_source``.
    """
    stride, step, stance, ds = ({s: [] for s in SIDES} for _ in range(4))
    for s in events.sides:
        o = OTHER[s]
        fo_all = events.get(s, "foot_off")
        for a, b in _strides(events, s):
            stride[s].append(b - a)
            fo = _inside(fo_all, a, b)
            if len(fo) == 1:
                stance[s].append(100.0 * (fo[0] - a) / (b - a))
                if o in events.times:
                    other = _contact_intervals(events, o, a, b)
                    if other is not None:
                        both = sum(_overlap(a, float(fo[0]), c0, c1) for c0, c1 in other)
                        ds[s].append(100.0 * both / (b - a))
        for t, prev in _steps(events, s):
            step[s].append(t - prev)

    all_strides = stride["r"] + stride["l"]
    all_steps = step["r"] + step["l"]
    if all_strides:
        cadence = 120.0 / float(np.mean(all_strides))
    elif all_steps:
        cadence = 60.0 / float(np.mean(all_steps))
    else:
        cadence = None
    per = lambda d: {s: _mean(d[s]) for s in SIDES}  # noqa: E731
    stance_m = per(stance)
    mean_stride = _mean(all_strides)

    step_len, stride_len = {s: [] for s in SIDES}, {s: [] for s in SIDES}
    pelvis_speed, kind, stride_length = None, None, None
    if points is not None:
        if direction is None:
            direction = progression_direction(points.pelvis, points.pelvis_forward)
        u = np.asarray(direction, float)
        u = u / np.linalg.norm(u)
        # over whole strides when there are any (the pelvis speed varies within a stride)
        spans = [(events.get(s, "foot_strike").min(), events.get(s, "foot_strike").max())
                 for s in events.sides if len(events.get(s, "foot_strike")) >= 2]
        ev = [t for t, _, _ in events.table()]
        t0, t1 = max(spans, key=lambda ab: ab[1] - ab[0]) if spans else (
            (ev[0], ev[-1]) if len(ev) >= 2 else (0.0, 0.0))
        if t1 > t0:
            p0, p1 = _at(points.time_s, points.pelvis, t0), _at(points.time_s, points.pelvis, t1)
            if p0 is not None and p1 is not None:
                pelvis_speed = float((p1 - p0) @ u / (t1 - t0))
        if treadmill is None:
            treadmill = pelvis_speed is None or abs(pelvis_speed) < treadmill_speed_m_s
        kind = "treadmill" if treadmill else "overground"
        heel = lambda s, t: _at(points.time_s, points.heel[s], t)  # noqa: E731
        for s in events.sides:
            o = OTHER[s]
            if treadmill:
                for t in events.get(s, "foot_strike"):
                    hs, ho = heel(s, t), heel(o, t)
                    if hs is not None and ho is not None:
                        step_len[s].append(float((hs - ho) @ u))
            else:
                for t, prev in _steps(events, s):
                    hs, ho = heel(s, t), heel(o, prev)
                    if hs is not None and ho is not None:
                        step_len[s].append(float((hs - ho) @ u))
                for a, b in _strides(events, s):
                    ha, hb = heel(s, a), heel(s, b)
                    if ha is not None and hb is not None:
                        stride_len[s].append(float((hb - ha) @ u))
        if treadmill:
            if step_len["r"] and step_len["l"]:
                stride_length = _mean(step_len["r"]) + _mean(step_len["l"])
        else:
            stride_length = _mean(stride_len["r"] + stride_len["l"])
    cycle = mean_stride if mean_stride else (2 * _mean(all_steps) if all_steps else None)
    speed = stride_length / cycle if stride_length is not None and cycle else None
    return {
        "cadence_steps_per_min": cadence,
        "stride_time_s": per(stride),
        "step_time_s": per(step),
        "stance_pct": stance_m,
        "swing_pct": {s: (100.0 - v if v is not None else None) for s, v in stance_m.items()},
        "double_support_pct": per(ds),
        "double_support_pct_mean": _mean(ds["r"] + ds["l"]),
        "step_length_m": per(step_len),
        "stride_length_m": stride_length,
        "speed_m_s": speed,
        "pelvis_speed_m_s": pelvis_speed,
        "distances": kind,
        "n_strides": {s: len(stride[s]) for s in SIDES},
        "n_steps": {s: len(step[s]) for s in SIDES},
        "sd": {"stride_time_s": {s: _sd(stride[s]) for s in SIDES},
               "step_time_s": {s: _sd(step[s]) for s in SIDES},
               "stance_pct": {s: _sd(stance[s]) for s in SIDES},
               "step_length_m": {s: _sd(step_len[s]) for s in SIDES}},
        "events_source": events.source,
    }


def _steps(events: GaitEvents, s: str) -> list[tuple[float, float]]:
    """(FS_s, previous FS_o) pairs with no other FS_s in between."""
    fs_s = np.sort(events.get(s, "foot_strike"))
    fs_o = np.sort(events.get(OTHER[s], "foot_strike"))
    out = []
    for t in fs_s:
        prev = fs_o[fs_o < t]
        if len(prev) and not np.any((fs_s > prev[-1]) & (fs_s < t)):
            out.append((float(t), float(prev[-1])))
    return out


def _at(t: np.ndarray, x: np.ndarray, ti: float):
    """x (T, 3) linearly interpolated at ti, or None outside the record."""
    if ti < t[0] - 1e-9 or ti > t[-1] + 1e-9:
        return None
    return np.array([np.interp(ti, t, x[:, k]) for k in range(x.shape[1])])


def compute_for_motion(motion, events: GaitEvents | None = None, model=None) -> dict:
    """:func:`compute` for a ``Motion``: foot points by forward kinematics; events from the
    kinematics (Zeni 2008) unless given."""
    from .gait_events import detect_from_foot_positions, foot_points

    fp = foot_points(motion, model)
    if events is None:
        events = detect_from_foot_positions(fp.time_s, fp.heel, fp.toe, fp.pelvis,
                                            pelvis_forward=fp.pelvis_forward)
    return compute(events, fp)


#: Rows of the clinician's table: (key, label, unit, decimals).
TABLE_ROWS = (
    ("cadence_steps_per_min", "Cadence", "steps/min", 1),
    ("speed_m_s", "Walking speed", "m/s", 2),
    ("stride_time_s", "Stride time", "s", 3),
    ("step_time_s", "Step time", "s", 3),
    ("stance_pct", "Stance", "% of cycle", 1),
    ("swing_pct", "Swing", "% of cycle", 1),
    ("double_support_pct", "Double support", "% of cycle", 1),
    ("step_length_m", "Step length", "m", 3),
    ("stride_length_m", "Stride length", "m", 3),
)


def table_rows(st: dict) -> list[tuple[str, str, str, str, str]]:
    """(label, unit, left, right, both) strings for a table; '-' where unknown."""
    def fmt(v, dec):
        return "-" if v is None else f"{v:.{dec}f}"

    rows = []
    for key, label, unit, dec in TABLE_ROWS:
        v = st.get(key)
        if isinstance(v, dict):
            both = _mean([v.get("r"), v.get("l")])
            rows.append((label, unit, fmt(v.get("l"), dec), fmt(v.get("r"), dec), fmt(both, dec)))
        else:
            rows.append((label, unit, "", "", fmt(v, dec)))
    return rows
