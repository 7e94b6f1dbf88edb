"""Marker-based inverse kinematics and segment scaling by weighted least squares.

Per frame, IK minimises ``sum_i w_i |p_i(q) - x_i|^2`` over the generalized coordinates ``q`` (the
pelvis free joint and every hinge), where ``p_i`` are the MuJoCo marker sites and ``x_i`` the
measured markers; markers missing in a frame (NaN) get weight 0. The solver is a projected
Levenberg-Marquardt: the Jacobian is analytic (``mujoco.mj_jacSite``, re-linearised at every
iterate so it is exact), steps are taken in MuJoCo's tangent space (``mj_integratePos``), joint
limits are bounds (a coordinate whose step crosses its limit is clamped to it and the other
coordinates are re-solved with it held there), and each frame is warm-started from the previous
one. Coordinates that move no marker (e.g. the toes when the toe markers are on the calcaneus, the
wrists without hand markers) are held at 0.

Scaling (``fit_scales``) solves jointly for the poses of one or more frames and the segment-group
scale factors. Marker positions are affine in the scale factors for a fixed pose (every offset of
a body scales with exactly one factor), so the Jacobian columns of the factors are exact finite
differences with unit steps. Weak priors keep the factors near ``height / 1.80`` and, for a
static trial, the joint angles near the neutral standing pose where the markers do not decide.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import mujoco
import numpy as np

from ..models import coupling
from ..models.coordinates import ARM_PREFIXES
from .model import MarkerModel, ScaleGeometry


@dataclass
class IKOptions:
    max_iter: int = 25  # per warm-started frame
    first_max_iter: int = 300  # first frame (from a rigid fit of the neutral pose)
    xtol: float = 1e-5  # step size (rad or m) below which a frame is converged
    ftol: float = 1e-6  # relative cost decrease below which a frame is converged
    lambda0: float = 1e-4
    reinit_rmse_m: float = 0.04  # try a fresh start when a warm-started frame ends above this
    max_step: float = 0.25  # largest change of one coordinate per iteration (rad or m)


@dataclass
class FrameInfo:
    iterations: int
    cost: float
    rmse_m: float


def kabsch(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted rigid transform (R, t) minimising sum w |R a + t - b|^2."""
    w = w / w.sum()
    ca, cb = w @ a, w @ b
    h = (a - ca).T @ ((b - cb) * w[:, None])
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, cb - r @ ca


def _quat_mul(a, b):
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, a, b)
    return out


class MarkerIK:
    """Weighted least-squares IK of one ``MarkerModel`` against marker trajectories."""

    def __init__(self, mm: MarkerModel, weights: np.ndarray, options: IKOptions | None = None,
                 fixed_dofs: np.ndarray | None = None):
        self.mm = mm
        self.m, self.d = mm.model, mm.data
        self.M = len(mm.marker_names)
        self.w = np.asarray(weights, float)
        if self.w.shape != (self.M,):
            raise ValueError(f"{self.w.shape[0]} weights for {self.M} markers")
        self.opt = options or IKOptions()
        nv = self.m.nv
        self.active = np.ones(nv, bool) if fixed_dofs is None else ~np.asarray(fixed_dofs, bool)
        self._J = np.zeros((self.M, 3, nv))
        h = mm.hinge
        self._hq, self._hd, self._lo, self._hi = h.qadr, h.dadr, h.lower, h.upper
        self._dof_to_hinge = -np.ones(nv, int)
        self._dof_to_hinge[h.dadr] = np.arange(len(h.dadr))
        # prior (Tikhonov) on hinge coordinates: weight per dof and reference values
        self.prior_w = np.zeros(nv)
        self.prior_ref = np.zeros(nv)
        self._lock_q = np.zeros(0, int)
        self._lock_v = np.zeros(0)
        # coupled joints (imported knee translations): not variables, they follow their master
        self._couplings = coupling.couplings(self.m)
        for c in self._couplings:
            self.active[c.dadr] = False

    def lock(self, values: dict[str, float]) -> None:
        """Hold these hinge coordinates at the given values (rad), as OpenSim's locked coordinates."""
        names = self.mm.hinge.names
        unknown = [n for n in values if n not in names]
        if unknown:
            raise ValueError(f"cannot lock {unknown}: not coordinates of the model ({names[:6]} ...)")
        k = np.array([names.index(n) for n in values], int)
        self._lock_q = self._hq[k]
        self._lock_v = np.array(list(values.values()), float)
        self.active[self._hd[k]] = False

    def _apply_locks(self, q):
        q[self._lock_q] = self._lock_v
        return self._couple(q)

    def _couple(self, q):
        for c in self._couplings:
            q[c.qadr] = c.value(q[c.master_qadr])
        return q

    # --- residuals ---------------------------------------------------------------------------
    def evaluate(self, q: np.ndarray, tgt: np.ndarray, sw: np.ndarray, jac: bool = True):
        """Weighted residuals (3M,) and Jacobian (3M, nv) at q. ``tgt`` has no NaN (sw = 0 there)."""
        m, d = self.m, self.d
        d.qpos[:] = q
        mujoco.mj_kinematics(m, d)
        pos = d.site_xpos[self.mm.site_ids]
        r = ((pos - tgt) * sw[:, None]).ravel()
        if not jac:
            return r, None
        mujoco.mj_comPos(m, d)
        J = self._J
        for i in np.flatnonzero(sw > 0):
            mujoco.mj_jacSite(m, d, J[i], None, int(self.mm.site_ids[i]))
        if self._couplings:  # master columns carry the coupled joints' motion (chain rule)
            coupling.fold_jacobian(m, q, J, self._couplings)
        return r, (J * sw[:, None, None]).reshape(3 * self.M, m.nv)

    def _prior(self, q):
        """Prior residuals on hinge dofs with weight > 0: (indices into dofs, residuals, sqrt w)."""
        idx = np.flatnonzero(self.prior_w > 0)
        if len(idx) == 0:
            return idx, np.zeros(0), np.zeros(0)
        sw = np.sqrt(self.prior_w[idx])
        hq = self._hq[self._dof_to_hinge[idx]]
        return idx, sw * (q[hq] - self.prior_ref[idx]), sw

    def _cost(self, r, q):
        _, rp, _ = self._prior(q)
        return float(r @ r + rp @ rp)

    # --- one frame ---------------------------------------------------------------------------
    def step(self, q, v):
        """q (+) v in the tangent space, hinges clamped to their limits."""
        qn = q.copy()
        mujoco.mj_integratePos(self.m, qn, v, 1.0)
        qn[self._hq] = np.clip(qn[self._hq], self._lo, self._hi)
        return self._couple(qn)

    def _solve_step(self, A, g, q, active, lam):
        """LM step with bounds: coordinates that would leave their range stop at the limit."""
        nv = self.m.nv
        v = np.zeros(nv)
        clamped = np.zeros(nv, bool)
        diag = np.diag(A).copy()
        for _ in range(5):
            free = active & ~clamped
            f = np.flatnonzero(free)
            rhs = -g[f]
            c = np.flatnonzero(clamped)
            if len(c):
                rhs = rhs - A[np.ix_(f, c)] @ v[c]
            Aff = A[np.ix_(f, f)] + lam * np.diag(diag[f] + 1e-9)
            try:
                v[f] = np.linalg.solve(Aff, rhs)
            except np.linalg.LinAlgError:
                v[f] = np.linalg.lstsq(Aff, rhs, rcond=None)[0]
            hd = self._hd
            qh = q[self._hq]
            new = qh + v[hd]
            over = free[hd] & ((new < self._lo - 1e-12) | (new > self._hi + 1e-12))
            if not over.any():
                break
            k = np.flatnonzero(over)
            v[hd[k]] = np.clip(new[k], self._lo[k], self._hi[k]) - qh[k]
            clamped[hd[k]] = True
        return v

    def solve_frame(self, q0: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None,
                    max_iter: int | None = None, active: np.ndarray | None = None
                    ) -> tuple[np.ndarray, FrameInfo]:
        """Fit one frame: ``targets`` (M, 3) world positions, NaN = missing."""
        w = self.w if weights is None else weights
        valid = np.all(np.isfinite(targets), axis=1) & (w > 0)
        sw = np.where(valid, np.sqrt(np.where(valid, w, 0.0)), 0.0)
        tgt = np.where(valid[:, None], targets, 0.0)
        q = self._apply_locks(q0.copy())
        q[self._hq] = np.clip(q[self._hq], self._lo, self._hi)
        active = self.active if active is None else active & self.active
        lam = self.opt.lambda0
        r, J = self.evaluate(q, tgt, sw)
        cost = self._cost(r, q)
        it = 0
        for it in range(1, (max_iter or self.opt.max_iter) + 1):
            A = J.T @ J
            g = J.T @ r
            pidx, rp, psw = self._prior(q)
            if len(pidx):
                A[pidx, pidx] += psw ** 2
                g[pidx] += psw * rp
            done = False
            while True:
                v = self._solve_step(A, g, q, active, lam)
                big = np.max(np.abs(v)) / self.opt.max_step
                if big > 1.0:  # trust region: weakly observed coordinates must not jump
                    v /= big
                qn = self.step(q, v)
                rn, _ = self.evaluate(qn, tgt, sw, jac=False)
                cn = self._cost(rn, qn)
                if cn <= cost:
                    small = np.max(np.abs(v)) < self.opt.xtol or cost - cn <= self.opt.ftol * max(cost, 1e-30)
                    q, cost = qn, cn
                    lam = max(lam * 0.2, 1e-12)
                    done = small
                    break
                lam *= 10.0
                if lam > 1e10:
                    done = True
                    break
            if done:
                break
            r, J = self.evaluate(q, tgt, sw)
        n = max(int(valid.sum()), 1)
        pos = self.mm.site_positions(q)
        err = np.linalg.norm(pos - tgt, axis=1)[valid]
        return q, FrameInfo(it, cost, float(np.sqrt(np.sum(err ** 2) / n)))

    def rigid_start(self, targets: np.ndarray, q_neutral: np.ndarray | None = None) -> np.ndarray:
        """The neutral pose moved rigidly (root only) onto the markers of one frame."""
        q = self._apply_locks(self.mm.neutral_qpos() if q_neutral is None else q_neutral.copy())
        q[:3] = 0.0
        valid = np.all(np.isfinite(targets), axis=1) & (self.w > 0)
        if valid.sum() == 0:
            return q
        p = self.mm.site_positions(q)
        if valid.sum() < 3:
            q[:3] = np.mean(targets[valid] - p[valid], axis=0)
            return q
        R, t = kabsch(p[valid], targets[valid], self.w[valid])
        rq = np.zeros(4)
        mujoco.mju_mat2Quat(rq, R.ravel())
        q[3:7] = _quat_mul(rq, q[3:7])
        q[:3] = t  # root origin was at 0, so it goes to R @ 0 + t
        return q

    def solve_first(self, targets: np.ndarray) -> tuple[np.ndarray, FrameInfo]:
        """A frame without a previous solution: rigid fit of the neutral pose, LM on the root, legs
        and trunk with the arms held, then LM on everything; from a few starting postures of the
        elbows (flexed or straight) and knees. The best fit wins."""
        best = None
        names = self.mm.hinge.names
        body = np.ones(self.m.nv, bool)
        for k, n in enumerate(names):
            if n.startswith(ARM_PREFIXES):
                body[self._hd[k]] = False
        for elbow, knee in ((0.0, 0.0), (1.6, 0.0), (0.0, 0.8), (1.6, 0.8)):
            q0 = self.mm.neutral_qpos()
            for k, n in enumerate(names):
                if not self.active[self._hd[k]]:
                    continue  # held (no marker moves it, or locked): stays at its neutral value
                if n.startswith("elbow_flex"):
                    q0[self._hq[k]] = elbow
                elif n.startswith("knee_angle"):
                    q0[self._hq[k]] = knee
            q, _ = self.solve_frame(self.rigid_start(targets, q0), targets,
                                    max_iter=self.opt.first_max_iter, active=body)
            q, info = self.solve_frame(q, targets, max_iter=self.opt.first_max_iter)
            if best is None or info.cost < best[1].cost:
                best = (q, info)
        return best

    # --- trajectories --------------------------------------------------------------------------
    def solve_trajectory(self, targets: np.ndarray, progress=None) -> tuple[np.ndarray, np.ndarray, dict]:
        """Fit every frame of ``targets`` (T, M, 3). Returns qpos (T, nq), errors (T, M) m, info."""
        T = targets.shape[0]
        qpos = np.zeros((T, self.m.nq))
        errors = np.full((T, self.M), np.nan)
        iters = np.zeros(T, int)
        q = None
        prev_rmse = 0.0
        t0 = time.perf_counter()
        for t in range(T):
            x = targets[t]
            valid = np.all(np.isfinite(x), axis=1) & (self.w > 0)
            if q is None:
                if valid.sum() < 3:
                    qpos[t] = self.mm.neutral_qpos()
                    continue
                q, info = self.solve_first(x)
            else:
                q, info = self.solve_frame(q, x)
                # a jump in error (not a model that fits this subject badly everywhere): the warm
                # start may have led into a wrong basin, so try fresh starts too
                if (info.rmse_m > self.opt.reinit_rmse_m and info.rmse_m > 1.5 * prev_rmse
                        and valid.sum() >= 3):
                    q2, info2 = self.solve_first(x)
                    if info2.cost < info.cost:
                        q, info = q2, info2
            iters[t] = info.iterations
            prev_rmse = info.rmse_m
            qpos[t] = q
            pos = self.mm.site_positions(q)
            errors[t, valid] = np.linalg.norm(pos[valid] - x[valid], axis=1)
            if progress is not None:
                progress(t)
        # frames before the first solvable frame take its pose
        first = np.flatnonzero(iters > 0)
        if len(first):
            qpos[: first[0]] = qpos[first[0]]
        elapsed = time.perf_counter() - t0
        return qpos, errors, {"seconds": elapsed, "frames_per_s": T / max(elapsed, 1e-9),
                              "mean_iterations": float(iters.mean()) if T else 0.0}


# ------------------------------------------------------------------------------------------------
# Scaling
# ------------------------------------------------------------------------------------------------

@dataclass
class ScaleFit:
    scales: np.ndarray  # per group
    qpos: np.ndarray  # (F, nq) fitted poses
    rmse_m: float  # marker RMSE over the frames used (unweighted)
    per_marker_rmse_m: np.ndarray  # (M,)
    fitted_groups: list[str] = field(default_factory=list)
    iterations: int = 0


def fit_scales(ik: MarkerIK, geom: ScaleGeometry, targets: np.ndarray, scale_weights: np.ndarray,
               s_init: np.ndarray, q_init: np.ndarray, fit_groups: np.ndarray,
               neutral_prior_w: float | np.ndarray = 0.0, scale_prior_w: float = 0.0,
               s_bounds: tuple[float, float] = (0.5, 1.8), max_iter: int = 100) -> ScaleFit:
    """Joint LS of poses (F frames) and group scale factors.

    ``targets`` (F, M, 3); ``scale_weights`` (M,) marker weights for this fit; ``fit_groups`` (G,)
    bool: factors that are free (others stay at ``s_init``). Priors: ``neutral_prior_w`` (scalar or
    one per hinge) on the hinge angles (towards 0) and ``scale_prior_w`` on ``(s - s_init) / s_init``.
    """
    m = ik.m
    F, M = targets.shape[:2]
    nv = m.nv
    w = np.asarray(scale_weights, float)
    valid = np.all(np.isfinite(targets), axis=2) & (w > 0)[None, :]
    sw = np.where(valid, np.sqrt(np.broadcast_to(w, (F, M))), 0.0)
    tgt = np.where(valid[..., None], targets, 0.0)
    gfree = np.flatnonzero(fit_groups)
    nsf = len(gfree)
    lo, hi = s_bounds[0] * s_init, s_bounds[1] * s_init
    act = np.flatnonzero(ik.active)
    na = len(act)
    hq = ik._hq
    hd_act = np.isin(ik._hd, act)
    p_sw = np.sqrt(np.broadcast_to(np.asarray(neutral_prior_w, float), (len(hq),)))[hd_act]
    use_prior = bool(np.any(p_sw > 0))
    s_sw = np.sqrt(scale_prior_w)

    def residuals(qs, s, jac):
        geom.apply(s)
        rs, Js, Jss = [], [], []
        for f in range(F):
            r, J = ik.evaluate(qs[f], tgt[f], sw[f], jac=jac)
            rp = p_sw * qs[f][hq][hd_act] if use_prior else np.zeros(0)
            rs.append(np.concatenate([r, rp]))
            if jac:
                Js.append(J[:, act])
        rsc = s_sw * (s[gfree] - s_init[gfree]) / s_init[gfree] if s_sw > 0 else np.zeros(0)
        if jac:
            # d(site positions)/ds_k: exact unit finite differences (positions are affine in s)
            base = np.stack([ik.evaluate(qs[f], tgt[f], sw[f], jac=False)[0] for f in range(F)])
            for k, g in enumerate(gfree):
                s2 = s.copy()
                s2[g] += 1.0
                geom.apply(s2)
                col = np.stack([ik.evaluate(qs[f], tgt[f], sw[f], jac=False)[0] for f in range(F)])
                Jss.append(col - base)
            geom.apply(s)
        return rs, rsc, Js, (np.stack(Jss, axis=-1) if Jss else np.zeros((F, 3 * M, 0)))

    def total(rs, rsc):
        return float(sum(r @ r for r in rs) + rsc @ rsc)

    qs = [q.copy() for q in q_init]
    s = s_init.copy()
    rs, rsc, Js, Jss = residuals(qs, s, True)
    cost = total(rs, rsc)
    lam = 1e-3
    n = F * na + nsf
    it = 0
    # hinge positions among active dofs, for the prior's Jacobian
    prior_cols = np.array([np.flatnonzero(act == d)[0] for d in ik._hd[hd_act]], int)
    for it in range(1, max_iter + 1):
        A = np.zeros((n, n))
        g = np.zeros(n)
        for f in range(F):
            sl = slice(f * na, (f + 1) * na)
            J, Jsf = Js[f], Jss[f]
            r = rs[f][: 3 * M]
            A[sl, sl] = J.T @ J
            g[sl] = J.T @ r
            if use_prior:
                A[sl, sl][prior_cols, prior_cols] += p_sw ** 2
                g[sl][prior_cols] += p_sw * rs[f][3 * M:]
            if nsf:
                A[sl, F * na:] = J.T @ Jsf
                A[F * na:, sl] = A[sl, F * na:].T
                A[F * na:, F * na:] += Jsf.T @ Jsf
                g[F * na:] += Jsf.T @ r
        if nsf and s_sw > 0:
            ds = s_sw / s_init[gfree]
            A[F * na:, F * na:][np.arange(nsf), np.arange(nsf)] += ds ** 2
            g[F * na:] += ds * rsc
        diag = np.diag(A).copy() + 1e-9
        accepted = False
        while lam < 1e10:
            x = np.linalg.solve(A + lam * np.diag(diag), -g)
            qn = []
            for f in range(F):
                v = np.zeros(nv)
                v[act] = x[f * na:(f + 1) * na]
                qn.append(ik.step(qs[f], v))
            sn = s.copy()
            sn[gfree] = np.clip(s[gfree] + x[F * na:], lo[gfree], hi[gfree])
            rn, rscn, _, _ = residuals(qn, sn, False)
            cn = total(rn, rscn)
            if cn <= cost:
                small = np.max(np.abs(x)) < 1e-8 or cost - cn <= 1e-12 * cost
                qs, s, cost = qn, sn, cn
                lam = max(lam * 0.2, 1e-12)
                accepted = True
                break
            lam *= 10.0
        if not accepted or small:
            break
        rs, rsc, Js, Jss = residuals(qs, s, True)
    geom.apply(s)
    errs = []
    for f in range(F):
        pos = ik.mm.site_positions(qs[f])
        e = np.linalg.norm(pos - tgt[f], axis=1)
        errs.append(np.where(valid[f], e, np.nan))
    errs = np.array(errs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # markers absent from every frame: NaN
        per_marker = np.sqrt(np.nanmean(errs ** 2, axis=0)) if F else np.zeros(M)
    return ScaleFit(scales=s, qpos=np.array(qs), rmse_m=float(np.sqrt(np.nanmean(errs ** 2))),
                    per_marker_rmse_m=per_marker,
                    fitted_groups=[geom.group_names[g] for g in gfree], iterations=it)
