"""Gait events (foot strike, foot off) per foot, from forces or from kinematics, and matching.

Three pieces:

* :func:`detect_from_force`: contact phases from the vertical ground reaction force of ONE foot
  (measured force plates or the twin's contact forces). A foot is in contact from the first frame
  where Fz rises above ``threshold_n`` until the first frame where it falls below
  ``threshold_n - hysteresis_n``; contact and swing phases shorter than ``min_contact_s`` /
  ``min_swing_s`` are removed (noise, double-touch). A foot strike is reported at the first
  frame of contact, a foot off at the first frame after contact, each refined to the sub-frame
  time where Fz crosses the threshold by linear interpolation (so a clean signal is located to
  better than one frame). A phase that is already under way at the first or last frame yields no
  event there (its start or end is unknown).
* :func:`detect_from_kinematics` / :func:`detect_from_foot_positions`: the coordinate-based
  method of Zeni, Richards & Higginson 2008 (Gait Posture 27:710): with ``heel`` and ``toe``
  the model's foot points (sites ``heel_r``/``toe_r`` ...) and ``pelvis`` the pelvis origin, all
  projected on the direction of progression, a foot strike is a maximum of ``heel - pelvis`` (the
  heel furthest in front of the pelvis) and a foot off a minimum of ``toe - pelvis`` (the toe
  furthest behind). Extrema are located to sub-frame precision (parabola through the peak frame
  and its neighbours); extrema at the first or last frame are not events. The method needs no
  floor and works on a treadmill; its published accuracy on healthy overground walking is about
  one or two frames at 120 Hz; measured on ``sample_walk()`` (100 Hz) it finds toe off 19 ms
  late and heel strike 23 ms EARLY, because that generated gait keeps the heel furthest forward
  in late swing, before the nominal heel strike.
* :func:`match_events` / :func:`gait_event_error_ms`: pair the events of two sources (same foot,
  same kind, nearest in time within ``max_dt_s``) and summarise the timing differences.

Times are seconds; sides are ``"r"`` and ``"l"``; kinds are ``"foot_strike"`` and ``"foot_off"``.
Positions are in OpenSim ground (X forward, Y up, Z right), metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..motion.filtering import true_runs

SIDES = ("r", "l")
KINDS = ("foot_strike", "foot_off")
DEFAULT_THRESHOLD_N = 20.0
#: the foot and pelvis positions of :func:`detect_from_foot_positions` are low-passed at this
#: cutoff first (zero-lag Butterworth; the twin's own reference cutoff): noisy kinematics (a video
#: capture) move the extrema. Measured (``bench/kinematic_events_noise.py``): the generated walk
#: with 2 deg of joint-angle and 5 mm of pelvis noise, 20.7 -> 13.0 ms from its clean events at 30
#: Hz, 25.2 -> 8.3 at 60 Hz; clean, 0.0 -> 1.0 ms; subject01 against its plates, 16.6 -> 16.0 ms
KINEMATIC_EVENTS_LOWPASS_HZ = 6.0


@dataclass
class GaitEvents:
    """Event times (s) per side and kind, sorted: ``times["r"]["foot_strike"]`` -> (k,) array.

    ``source`` says where they come from (``"force"``, ``"kinematics (Zeni 2008)"``, ...);
    ``t_start``/``t_stop`` the time span that was searched (events only exist inside it).
    """

    times: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    source: str = ""
    t_start: float = float("nan")
    t_stop: float = float("nan")

    def get(self, side: str, kind: str) -> np.ndarray:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        return np.asarray(self.times.get(side, {}).get(kind, np.zeros(0)), float)

    @property
    def sides(self) -> tuple[str, ...]:
        return tuple(s for s in SIDES if s in self.times)

    def count(self) -> int:
        return int(sum(len(self.get(s, k)) for s in self.sides for k in KINDS))

    def table(self) -> list[tuple[float, str, str]]:
        """All events as (time_s, side, kind), in time order."""
        rows = [(float(t), s, k) for s in self.sides for k in KINDS for t in self.get(s, k)]
        return sorted(rows)

    def to_dict(self) -> dict:
        """JSON-ready: ``{"source":..., "r": {"foot_strike": [...], "foot_off": [...]}, ...}``."""
        out: dict = {"source": self.source, "t_start": self.t_start, "t_stop": self.t_stop}
        for s in self.sides:
            out[s] = {k: [round(float(t), 5) for t in self.get(s, k)] for k in KINDS}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "GaitEvents":
        times = {s: {k: np.asarray(d[s].get(k, []), float) for k in KINDS} for s in SIDES if s in d}
        return cls(times=times, source=d.get("source", ""), t_start=d.get("t_start", float("nan")),
                   t_stop=d.get("t_stop", float("nan")))


# --- from force ----------------------------------------------------------------------------------
@dataclass
class ContactEvents:
    """One foot's events from force: strike/off times and the contact mask per frame."""

    foot_strike: np.ndarray
    foot_off: np.ndarray
    in_contact: np.ndarray  # (T,) bool after hysteresis and minimum durations


def _crossing(t: np.ndarray, y: np.ndarray, k: int, level: float) -> float:
    """Time where y crosses ``level`` between frames k-1 and k (linear)."""
    y0, y1 = y[k - 1], y[k]
    if y1 == y0:
        return float(t[k])
    a = np.clip((level - y0) / (y1 - y0), 0.0, 1.0)
    return float(t[k - 1] + a * (t[k] - t[k - 1]))


def detect_from_force(time_s, fz_n, threshold_n: float = DEFAULT_THRESHOLD_N,
                      hysteresis_n: float | None = None, min_contact_s: float = 0.05,
                      min_swing_s: float = 0.05) -> ContactEvents:
    """Foot strikes and foot offs of ONE foot from its vertical ground reaction force (N).

    Contact starts when ``fz_n`` rises above ``threshold_n`` and ends when it falls below
    ``threshold_n - hysteresis_n`` (default hysteresis: half the threshold). Swing gaps shorter
    than ``min_swing_s`` are bridged, then contacts shorter than ``min_contact_s`` are dropped.
    Event times are interpolated to where the force crosses the threshold (strike) or the lower
    threshold (off). Typical thresholds: 20 N for force plates, 2-5 % of body weight for noisy
    or simulated contact forces. Events at the edges of the record are not reported.
    """
    t = np.asarray(time_s, float)
    f = np.asarray(fz_n, float)
    if t.shape != f.shape or t.ndim != 1:
        raise ValueError(f"time_s {t.shape} and fz_n {f.shape} must be equal 1-D arrays")
    if len(t) < 3:
        return ContactEvents(np.zeros(0), np.zeros(0), np.zeros(len(t), bool))
    f = np.where(np.isfinite(f), f, 0.0)
    hyst = 0.5 * threshold_n if hysteresis_n is None else float(hysteresis_n)
    lo = threshold_n - hyst
    # Schmitt trigger
    state = np.zeros(len(t), bool)
    on = f[0] > threshold_n
    for k in range(len(t)):
        if on and f[k] < lo:
            on = False
        elif not on and f[k] > threshold_n:
            on = True
        state[k] = on
    # bridge short swings (not at the edges), then drop short contacts
    for a, b in true_runs(~state):
        if a > 0 and b < len(t) and t[b] - t[a] < min_swing_s:
            state[a:b] = True
    for a, b in true_runs(state):
        if a > 0 and b < len(t) and t[b - 1] - t[a] < min_contact_s:
            state[a:b] = False
    strikes, offs = [], []
    for a, b in true_runs(state):
        if a > 0:
            strikes.append(_crossing(t, f, a, threshold_n))
        if b < len(t):
            offs.append(_crossing(t, f, b, lo))
    return ContactEvents(np.asarray(strikes), np.asarray(offs), state)


def events_from_forces(time_s, fz_by_side: dict[str, np.ndarray], threshold_n=DEFAULT_THRESHOLD_N,
                       source: str = "force", **kwargs) -> GaitEvents:
    """:func:`detect_from_force` for each side of ``{"r": fz, "l": fz}``, as ``GaitEvents``."""
    t = np.asarray(time_s, float)
    times = {}
    for s, fz in fz_by_side.items():
        ev = detect_from_force(t, fz, threshold_n, **kwargs)
        times[s] = {"foot_strike": ev.foot_strike, "foot_off": ev.foot_off}
    return GaitEvents(times=times, source=source, t_start=float(t[0]), t_stop=float(t[-1]))


def events_from_grf(grf, threshold_n: float = DEFAULT_THRESHOLD_N, source: str = "force",
                    **kwargs) -> GaitEvents:
    """Events from a ``kintwin.motion.grf.GroundReactions`` (vertical = OpenSim Y)."""
    return events_from_forces(grf.time_s, {s: grf.vertical_n(s) for s in grf.sides}, threshold_n,
                              source=source, **kwargs)


# --- from kinematics -----------------------------------------------------------------------------
@dataclass
class FootPoints:
    """Model points over time in OpenSim ground (X forward, Y up, Z right), metres.

    ``heel``/``toe``: dicts per side of (T, 3); ``pelvis``: (T, 3) pelvis origin;
    ``pelvis_forward``: (T, 3) the pelvis' anterior axis.
    """

    time_s: np.ndarray
    heel: dict[str, np.ndarray]
    toe: dict[str, np.ndarray]
    pelvis: np.ndarray
    pelvis_forward: np.ndarray | None = None


def model_for(motion, model=None):
    """The MuJoCo model to evaluate ``motion`` on: ``model`` or the default skeleton scaled to
    the motion's subject (1.75 m / 75 kg when the subject is unknown)."""
    if model is not None:
        return model
    from ..models.anthropometry import default_skeleton
    from ..models.build import build_model

    h = motion.subject.height_m or 1.75
    m = motion.subject.mass_kg or 75.0
    return build_model(default_skeleton(h, m))


def foot_points(motion, model=None) -> FootPoints:
    """Heel, toe and pelvis positions by MuJoCo forward kinematics of ``motion``.

    Uses the sites ``heel_r/l``, ``toe_r/l`` and ``pelvis_origin`` of ``model`` (default: the
    built-in skeleton scaled to the motion's subject). Returned in OpenSim ground.
    """
    import mujoco

    from ..motion.frames import mujoco_to_osim_vec

    model = model_for(motion, model)
    data = mujoco.MjData(model)
    names = [f"heel_{s}" for s in SIDES] + [f"toe_{s}" for s in SIDES] + ["pelvis_origin"]
    ids = []
    for n in names:
        i = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, n)
        if i < 0:
            raise ValueError(f"model has no site {n!r}: cannot locate the feet")
        ids.append(i)
    qpos = motion.to_qpos(model, warn=False)
    pts = np.zeros((motion.n_frames, len(ids), 3))
    fwd = np.zeros((motion.n_frames, 3))
    for k in range(motion.n_frames):
        data.qpos[:] = qpos[k]
        mujoco.mj_kinematics(model, data)
        pts[k] = data.site_xpos[ids]
        # pelvis anterior axis: OpenSim segment x axis, expressed in the MuJoCo world
        fwd[k] = data.site_xmat[ids[-1]].reshape(3, 3)[:, 0]
    pts = mujoco_to_osim_vec(pts)
    return FootPoints(time_s=motion.time_s.copy(),
                      heel={"r": pts[:, 0], "l": pts[:, 1]}, toe={"r": pts[:, 2], "l": pts[:, 3]},
                      pelvis=pts[:, 4], pelvis_forward=mujoco_to_osim_vec(fwd))


def progression_direction(pelvis: np.ndarray, pelvis_forward: np.ndarray | None = None,
                          min_travel_m: float = 0.3) -> np.ndarray:
    """Unit horizontal (X-Z plane of OpenSim ground) direction of progression.

    The pelvis displacement from first to last frame when it travels at least ``min_travel_m``
    (overground); otherwise (treadmill, walking on the spot) the mean pelvis anterior axis; else +X.
    """
    d = np.asarray(pelvis[-1] - pelvis[0], float).copy()
    d[1] = 0.0
    if np.linalg.norm(d) >= min_travel_m:
        return d / np.linalg.norm(d)
    if pelvis_forward is not None:
        d = np.asarray(pelvis_forward, float).mean(axis=0)
        d[1] = 0.0
        if np.linalg.norm(d) > 1e-6:
            return d / np.linalg.norm(d)
    return np.array([1.0, 0.0, 0.0])


def _extrema(t: np.ndarray, y: np.ndarray, kind: str, min_separation_s: float,
             min_prominence: float) -> np.ndarray:
    """Interior maxima (``kind="max"``) of y, sub-frame by parabolic interpolation."""
    from scipy.signal import find_peaks

    z = y if kind == "max" else -y
    dt = float(np.median(np.diff(t)))
    peaks, _ = find_peaks(z, distance=max(1, int(round(min_separation_s / dt))),
                          prominence=min_prominence)
    out = []
    for p in peaks:
        if p <= 0 or p >= len(t) - 1:
            continue
        a, b, c = z[p - 1], z[p], z[p + 1]
        den = a - 2 * b + c
        off = 0.5 * (a - c) / den if den != 0 else 0.0
        off = float(np.clip(off, -0.5, 0.5))
        out.append(t[p] + off * (t[p + 1] - t[p - 1]) / 2)
    return np.asarray(out)


def detect_from_foot_positions(time_s, heel: dict[str, np.ndarray], toe: dict[str, np.ndarray],
                               pelvis: np.ndarray, direction=None, pelvis_forward=None,
                               min_separation_s: float = 0.4, min_prominence_m: float = 0.05,
                               lowpass_hz: float | None = KINEMATIC_EVENTS_LOWPASS_HZ) -> GaitEvents:
    """Zeni et al. 2008 events from heel/toe/pelvis positions (OpenSim ground, (T, 3) each).

    ``direction``: the horizontal direction of progression (default:
    :func:`progression_direction`). Foot strike: maxima of ``(heel - pelvis) . direction``; foot
    off: minima of ``(toe - pelvis) . direction``, both low-passed at ``lowpass_hz`` first (None:
    not; nor where the sampling is too slow or the trial too short for that filter); successive
    events of one kind at least ``min_separation_s`` apart and standing out by
    ``min_prominence_m``.
    """
    from ..motion.filtering import lowpass

    t = np.asarray(time_s, float)
    rate_hz = 1.0 / float(np.median(np.diff(t))) if len(t) > 1 else 0.0

    def smooth(y):
        if lowpass_hz is None or lowpass_hz >= rate_hz / 2 or len(y) <= 15:  # (the filter's minimum)
            return y
        return lowpass(y, rate_hz, lowpass_hz)

    pelvis = np.asarray(pelvis, float)
    if direction is None:
        direction = progression_direction(pelvis, pelvis_forward)
    u = np.asarray(direction, float)
    u = u / np.linalg.norm(u)
    times = {}
    for s in SIDES:
        if s not in heel or s not in toe:
            continue
        h = smooth((np.asarray(heel[s]) - pelvis) @ u)
        to = smooth((np.asarray(toe[s]) - pelvis) @ u)
        times[s] = {"foot_strike": _extrema(t, h, "max", min_separation_s, min_prominence_m),
                    "foot_off": _extrema(t, to, "min", min_separation_s, min_prominence_m)}
    return GaitEvents(times=times, source="kinematics (Zeni 2008)", t_start=float(t[0]),
                      t_stop=float(t[-1]))


def detect_from_kinematics(motion, model=None, direction=None, **kwargs) -> GaitEvents:
    """Zeni et al. 2008 events of a ``Motion``, on the model's foot sites (see module doc)."""
    fp = foot_points(motion, model)
    return detect_from_foot_positions(fp.time_s, fp.heel, fp.toe, fp.pelvis, direction=direction,
                                      pelvis_forward=fp.pelvis_forward, **kwargs)


# --- matching ------------------------------------------------------------------------------------
def match_events(a: np.ndarray, b: np.ndarray, max_dt_s: float = 0.15) -> list[tuple[float, float]]:
    """Pairs (t_a, t_b) of events of the same foot and kind, each used once.

    Greedy on the smallest |t_a - t_b| first, keeping only pairs closer than ``max_dt_s``.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return []
    d = np.abs(a[:, None] - b[None, :])
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(d, axis=None):
        i, j = np.unravel_index(flat, d.shape)
        if d[i, j] > max_dt_s:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pairs.append((float(a[i]), float(b[j])))
    return sorted(pairs)


def gait_event_error_ms(test: GaitEvents, reference: GaitEvents, max_dt_s: float = 0.15) -> dict:
    """Timing agreement of ``test`` events with ``reference`` events.

    Only reference events inside the test's searched span (``t_start``..``t_stop``) count as
    expected. Returns a JSON-ready dict:

    * ``gait_event_error_ms``: mean |t_test - t_ref| over all matched pairs (ms; None if none);
    * ``gait_event_bias_ms``: mean (t_test - t_ref) (ms; negative = test early);
    * ``gait_event_max_error_ms``;
    * ``n_matched``, ``n_reference`` (expected reference events), ``n_test``, ``n_missed``
      (reference events with no test event within ``max_dt_s``), ``n_extra`` (unmatched test
      events);
    * ``by_kind``: the same mean error and counts for each side/kind (``"r_foot_strike"``, ...).
    """
    lo = test.t_start if np.isfinite(test.t_start) else -np.inf
    hi = test.t_stop if np.isfinite(test.t_stop) else np.inf
    all_d, by_kind, n_ref, n_test = [], {}, 0, 0
    for s in SIDES:
        for k in KINDS:
            r = reference.get(s, k)
            r = r[(r >= lo) & (r <= hi)]
            x = test.get(s, k)
            pairs = match_events(x, r, max_dt_s)
            d = [p[0] - p[1] for p in pairs]
            all_d += d
            n_ref += len(r)
            n_test += len(x)
            if len(r) or len(x):
                by_kind[f"{s}_{k}"] = {
                    "error_ms": _ms(np.mean(np.abs(d))) if d else None,
                    "n_matched": len(d), "n_reference": len(r), "n_test": len(x)}
    d = np.asarray(all_d)
    return {
        "gait_event_error_ms": _ms(np.mean(np.abs(d))) if len(d) else None,
        "gait_event_bias_ms": _ms(np.mean(d)) if len(d) else None,
        "gait_event_max_error_ms": _ms(np.max(np.abs(d))) if len(d) else None,
        "n_matched": int(len(d)), "n_reference": int(n_ref), "n_test": int(n_test),
        "n_missed": int(n_ref - len(d)), "n_extra": int(n_test - len(d)),
        "by_kind": by_kind,
    }


def _ms(x) -> float:
    return round(float(x) * 1000.0, 3)
