"""One gait cycle of the sample walk, made consistent with the floor and with a pendular centre of mass.

The textbook joint angles of ``sample.gait_angles_deg`` are a prior, not yet a walk: put on the
built-in model with the pelvis simply resting on the lower foot, the right heel is 37 mm above the
floor at its own heel strike, the toe sphere carries mid-stance, there is almost no double support,
and with the stance foot held still the forward speed of the centre of mass swings 0.8-1.7 m/s
within a step. :func:`consistent_cycle` corrects them over one cycle, every frame at once (Gauss-Newton
least squares over the whole cycle, periodic):

* **feet**: each contact sphere, within its stance window (phase of its own foot; heel 0-42 %,
  metatarsals 8-59 %, toe 40-62 %; ramps of 3 % of the cycle), sits on the floor and rolls without
  slipping: its centre's forward position minus radius x pitch stays at one point of the floor
  (the window's mean); no sphere goes below the floor at any time; in the last 10 % of swing the
  heel comes down along a parabola (20 mm to 0) so that it lands at phase 0;
* **centre of mass**: its height follows the step-frequency harmonic of the height the feet's
  geometry gives (a pendular path; amplitude and phase from that geometry), its forward speed
  trades with that height as an inverted pendulum's does (kinetic for potential energy:
  v = v_mean - g (z - z_mean) / v_mean, fastest when lowest, in double support); sideways it
  sways 40 mm peak to peak, furthest over the stance foot at 31 % of that foot's cycle (adult
  walking at about 1 m/s: Orendurff et al. 2004, J Rehabil Res Dev 41(6A):829);
* **corrections** (pelvis position; per leg hip flexion and adduction, knee, ankle, subtalar and
  mtp angles) stay near the prior and smooth. Each term is a least-squares residual in units of
  its tolerance; these cost the same: 0.5 mm of contact error, 0.05 rad of correction (mtp
  0.3 rad), 0.9 rad/s^2 of a correction's angular acceleration, 0.3 m/s^2 of the pelvis's,
  1 mm of the centre of mass off its forward or sideways path, 3 mm off its height.

Measured on the 1.75 m / 70 kg sample (``bench/sample_walk_consistency.py``): see BENCHMARKS.md,
"Sample walk".
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from ..models.build import GRAVITY
from ..sim.floor import contact_spheres, sphere_bottoms
from ..sim.reference import centre_of_mass

N_CYCLE = 100  #: frames per solved cycle
#: stance windows (phase of the sphere's own foot, 0 = its heel strike) per sphere kind
STANCE_WINDOWS = {"heel": (0.0, 0.42), "meta": (0.08, 0.59), "toe": (0.40, 0.61)}
RAMP = 0.03  #: width of a window's ramp in and out (cycles)
APPROACH_CYCLES, APPROACH_M, APPROACH_WEIGHT = 0.10, 0.020, 5.0  #: heel landing parabola
SWAY_M, SWAY_PHASE = 0.040, 0.31  #: lateral sway of the centre of mass (peak to peak), its phase
#: tolerances (module doc): contact, joint correction (mtp), correction angular acceleration,
#: pelvis acceleration, centre of mass forward / sideways / height
CONTACT_TOL_M = 0.0005
PRIOR_RAD, MTP_PRIOR_RAD = 0.05, 0.30
SMOOTH_RADPS2 = 0.9
PELVIS_ACC_MPS2 = 0.3
COM_FORWARD_TOL_M, COM_SWAY_TOL_M, COM_HEIGHT_TOL_M = 0.001, 0.001, 0.003
CORRECTED = ("hip_flexion", "knee_angle", "ankle_angle", "subtalar_angle", "mtp_angle", "hip_adduction")


def _ramp(p, a, b):
    return np.clip((p - a) / RAMP + 0.5, 0, 1) * np.clip((b - p) / RAMP + 0.5, 0, 1)


def _step_harmonic(x: np.ndarray) -> np.ndarray:
    """Mean plus the component at two cycles per cycle (the step frequency) of a periodic signal."""
    spec = np.fft.rfft(x)
    keep = np.zeros_like(spec)
    keep[[0, 2]] = spec[[0, 2]]
    return np.fft.irfft(keep, n=len(x))


@dataclass
class _Cycle:
    """The model, the windows and the Jacobian bookkeeping of one cycle's solve."""

    model: mujoco.MjModel
    n: int  # frames per cycle
    cycle_s: float

    def __post_init__(self):
        m = self.model
        self.data = mujoco.MjData(m)
        self.t = np.arange(self.n) * self.cycle_s / self.n
        geoms, names, side = contact_spheres(m)
        self.geoms = list(geoms)
        self.kind = ["meta" if n.startswith("meta") else n.split("_")[0] for n in names]
        self.side = [0.5 * s for s in side]  # phase offset of that foot (left: half a cycle)
        jid = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"{c}_{s}") for s in "rl" for c in CORRECTED]
        self.qadr = np.array([0, 1, 2] + [m.jnt_qposadr[j] for j in jid])
        self.vadr = np.array([0, 1, 2] + [m.jnt_dofadr[j] for j in jid])
        n, s = self.n, len(self.geoms)
        self.w = np.zeros((n, s))  # stance weight
        self.t_stance = np.zeros((n, s))  # time of the frame within the stance it belongs to (unwrapped)
        self.w_land = np.zeros((n, s))
        self.z_land = np.zeros((n, s))
        for i in range(s):
            p = (self.t / self.cycle_s + self.side[i]) % 1.0
            a, b = STANCE_WINDOWS[self.kind[i]]
            self.w[:, i] = np.max([_ramp(p + d, a, b) for d in (-1, 0, 1)], axis=0)
            t0 = (-self.side[i] % 1.0) * self.cycle_s  # this foot's heel strike
            self.t_stance[:, i] = (self.t - t0 + 0.2 * self.cycle_s) % self.cycle_s + t0 - 0.2 * self.cycle_s
            if self.kind[i] == "heel":
                togo = (a - p) % 1.0
                near = togo < APPROACH_CYCLES
                self.w_land[near, i] = APPROACH_WEIGHT * (1 - togo[near] / APPROACH_CYCLES)
                self.z_land[near, i] = APPROACH_M * (togo[near] / APPROACH_CYCLES) ** 2

    def _set(self, q):
        self.data.qpos[:] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)

    def rolling_point(self, g):
        """The sphere's no-slip point (centre x - radius x pitch, bottom y, bottom z) and its Jacobian
        (3, nv): constant while the sphere rolls on the floor without slipping."""
        m, d = self.model, self.data
        body, r = m.geom_bodyid[g], m.geom_size[g, 0]
        rot = d.xmat[body].reshape(3, 3)
        pitch = np.arctan2(-rot[2, 0], rot[0, 0])
        jp, jr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        mujoco.mj_jac(m, d, jp, jr, d.geom_xpos[g], body)
        pos = d.geom_xpos[g] - (r * pitch, 0.0, r)
        jp[0] -= r * jr[1]
        return pos, jp

    def rolling_points(self, q):
        out = np.zeros((self.n, len(self.geoms), 3))
        for k in range(self.n):
            self._set(q[k])
            for i, g in enumerate(self.geoms):
                out[k, i] = self.rolling_point(g)[0]
        return out

    def anchors(self, q, speed):
        """(S, 3) each sphere's floor point: the stance-weighted mean of its rolling point, in the
        world of the frame's own stance (forward progression ``speed`` m/s)."""
        pts = self.rolling_points(q)
        x = pts[:, :, 0] + speed * (self.t_stance - self.t[:, None])
        w = self.w + 1e-12
        return np.stack([(w * x).sum(0) / w.sum(0), (w * pts[:, :, 1]).sum(0) / w.sum(0),
                         np.zeros(len(self.geoms))], axis=1)

    def solve(self, q_base, corr, iterations, anchors_speed=None, com_target=None):
        """Gauss-Newton on the corrections ``corr`` (N, V) of ``q_base`` at ``qadr``. Without
        ``anchors_speed`` the stance spheres are only held at floor height."""
        n, nv_c = self.n, len(self.qadr)
        rate = self.n / self.cycle_s
        lap = (np.roll(np.eye(n), 1, 1) - 2 * np.eye(n) + np.roll(np.eye(n), -1, 1)) * rate ** 2
        prior_w = np.full(nv_c, 1 / PRIOR_RAD)
        prior_w[:3] = 1e-3
        prior_w[3:][np.tile(np.array(CORRECTED) == "mtp_angle", 2)] = 1 / MTP_PRIOR_RAD
        smooth_w = np.full(nv_c, 1 / SMOOTH_RADPS2)  # per rad/s^2 (joints), per m/s^2 (pelvis)
        smooth_w[:3] = 1 / PELVIS_ACC_MPS2
        reg = np.kron(np.eye(n), np.diag(prior_w ** 2))
        ls = np.kron(lap, np.diag(smooth_w))
        reg += ls.T @ ls
        com_w = 1 / np.array([COM_FORWARD_TOL_M, COM_SWAY_TOL_M, COM_HEIGHT_TOL_M])
        for _ in range(iterations):
            q = q_base.copy()
            q[:, self.qadr] += corr
            anchors = None if anchors_speed is None else self.anchors(q, anchors_speed)
            hess = reg.copy()
            grad = reg @ corr.reshape(-1)
            for k in range(n):
                self._set(q[k])
                rows, jacs = self._frame_residuals(k, anchors, anchors_speed, com_target, com_w)
                sl = slice(k * nv_c, (k + 1) * nv_c)
                hess[sl, sl] += jacs.T @ jacs
                grad[sl] += jacs.T @ rows
            corr = corr - np.linalg.solve(hess, grad).reshape(n, nv_c)
        return corr

    def _frame_residuals(self, k, anchors, speed, com_target, com_w):
        m, d = self.model, self.data
        rows, jacs = [], []
        jp = np.zeros((3, m.nv))
        for i, g in enumerate(self.geoms):
            w = self.w[k, i]
            z = d.geom_xpos[g, 2] - m.geom_size[g, 0]
            if w > 0:
                pos, jac = self.rolling_point(g)
                if anchors is None:
                    rows.append([w * z / CONTACT_TOL_M])
                    jacs.append(w * jac[2:3] / CONTACT_TOL_M)
                else:
                    target = anchors[i] - (speed * (self.t_stance[k, i] - self.t[k]), 0.0, 0.0)
                    rows.append(w * (pos - target) / CONTACT_TOL_M)
                    jacs.append(w * jac / CONTACT_TOL_M)
            if (w < 0.99 and z < 0) or (self.w_land[k, i] > 0 and w <= 0.5):
                mujoco.mj_jac(m, d, jp, None, d.geom_xpos[g], m.geom_bodyid[g])
                if w < 0.99 and z < 0:  # never below the floor
                    rows.append([z / CONTACT_TOL_M])
                    jacs.append(jp[2:3] / CONTACT_TOL_M)
                if self.w_land[k, i] > 0 and w <= 0.5:  # the heel comes down to land
                    wl = self.w_land[k, i]
                    rows.append([wl * (z - self.z_land[k, i]) / CONTACT_TOL_M])
                    jacs.append(wl * jp[2:3] / CONTACT_TOL_M)
        if com_target is not None:
            mujoco.mj_jacSubtreeCom(m, d, jp, 0)
            rows.append(com_w * (d.subtree_com[0] - com_target[k]))
            jacs.append(com_w[:, None] * jp)
        if not rows:
            return np.zeros(0), np.zeros((0, len(self.vadr)))
        return np.concatenate([np.atleast_1d(r) for r in rows]), np.vstack(jacs)[:, self.vadr]


def consistent_cycle(model: mujoco.MjModel, q_prior: np.ndarray, cycle_s: float) -> tuple[np.ndarray, float]:
    """(qpos (N, nq), forward speed m/s): one cycle of ``q_prior`` (N evenly spaced frames of a
    periodic walk, right heel strike at frame 0, pelvis translations ignored) corrected as the
    module doc says; the pelvis advances ``speed * t`` (t = frame x cycle_s / N) along world x."""
    q0 = np.array(q_prior, float)
    q0[:, 0:3] = 0.0
    cyc = _Cycle(model, len(q0), cycle_s)
    q0[:, 2] = -sphere_bottoms(model, q0, cyc.geoms)[:, :, 2].min(axis=1).mean()  # feet about on the floor
    # 1. the feet's geometry: stance spheres at floor height; the pelvis carried by the stance points
    corr = cyc.solve(q0, np.zeros((cyc.n, len(cyc.qadr))), iterations=4)
    qg = q0.copy()
    qg[:, cyc.qadr] += corr
    pts = cyc.rolling_points(qg)[:, :, :2]
    w = cyc.w + 1e-9
    step = -(w[:, :, None] * (np.roll(pts, -1, axis=0) - pts)).sum(1) / w.sum(1)[:, None]
    speed = float(step[:, 0].sum() / cycle_s)
    qg[:, 0:2] = np.vstack([[0.0, 0.0], np.cumsum(step, axis=0)[:-1]])
    com = centre_of_mass(model, qg)
    # 2. the centre of mass on its pendular path, the stance spheres rolling on their floor points
    target = np.zeros((cyc.n, 3))
    target[:, 2] = _step_harmonic(com[:, 2])
    forward_speed = speed - GRAVITY * (target[:, 2] - target[:, 2].mean()) / speed
    target[:, 0] = np.cumsum(forward_speed) * cycle_s / cyc.n
    target[:, 0] += np.mean(com[:, 0] - target[:, 0])
    target[:, 1] = com[:, 1].mean() - 0.5 * SWAY_M * np.cos(2 * np.pi * (cyc.t / cycle_s - SWAY_PHASE))
    q_base = q0.copy()
    q_base[:, 0] = speed * cyc.t
    corr = cyc.solve(q_base, qg[:, cyc.qadr] - q_base[:, cyc.qadr], iterations=10, anchors_speed=speed,
                     com_target=target)
    q = q_base
    q[:, cyc.qadr] += corr
    return q, speed
