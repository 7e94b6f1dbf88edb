"""Muscle activations by static optimization on the MuJoCo muscle model.

Per frame, with the model posed at the frame's coordinates and speeds (``Motion`` -> qpos/qvel)::

    minimize    sum_i a_i^2 + sum_j u_j^2
    subject to  sum_i M_ij (a_i G_i + B_i) + R_j u_j = tau_j     for every muscle-driven coordinate j
                a_min <= a_i <= 1

* ``M`` (muscles x coordinates): MuJoCo's ``actuator_moment`` = dL/dq of each muscle's tendon (a
  shortening muscle pulls with a negative actuator force, so ``M_ij * force_i`` is the generalized
  force). ``G_i`` = MuJoCo's muscle gain at the frame's length and velocity (active
  force-length-velocity times peak force, negative) and ``B_i`` the passive (bias) force, both taken
  from ``mj_fwdActuation`` with the activation set to 0 and 1: the muscle force is exactly the one
  a forward simulation would apply with that activation (rigid tendon, as OpenSim's static
  optimization).
* ``tau_j``: the joint torques (N*m, canonical signs: knee flexion positive), from a ``torques.sto``
  (kintwin's, or OpenSim inverse dynamics with the convention given) or inverse dynamics.
* ``u_j``: a RESERVE torque actuator per coordinate with optimal torque ``R`` (default 1 N*m, as
  OpenSim's reserve actuators): reserve torque ``R u`` costs ``u^2``, so reserves are used only
  where the muscles cannot produce the torque (too weak, or a moment arm of the wrong sign). Their
  use is reported per coordinate (mean/max |reserve| and % of the total |torque|).
* Passive fibre forces ``B`` are included by default. OpenSim's StaticOptimization tool replaces
  each muscle's force by ``a * F_active(l, v)`` (its "override actuation"), i.e. it ignores them;
  ``SOOptions(passive=False)`` does the same, for comparisons. With gait2392 the difference is large
  in swing: rigid-tendon rectus femoris and vasti are stretched to 1.4-1.9 optimal lengths at hip
  extension + knee flexion, and their passive force then needs knee reserves.
* Activation cost exponent 2 (sum of squares), as OpenSim's default; solved with the dense
  active-set QP solver DAQP (MIT licence) in well under a millisecond per frame.

Coordinates that keep torque motors (arms, neck) are not part of the problem. A muscle-driven
coordinate without a torque column is left unconstrained (reported).
"""

from __future__ import annotations

import copy
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from ..models import coupling
from ..models.coordinates import RESERVE_PREFIX
from ..models.muscles import muscle_actuators
from ..motion.motion import Motion
from ..motion.spline import CubicSpline
from ..motion.storage import read_table, write_table

_DISABLE = (mujoco.mjtDisableBit.mjDSBL_CONSTRAINT | mujoco.mjtDisableBit.mjDSBL_SPRING
            | mujoco.mjtDisableBit.mjDSBL_DAMPER)


@dataclass
class SOOptions:
    reserve_optimal_nm: float = 1.0  # reserve torque per unit of reserve "activation" (cost u^2)
    min_activation: float = 0.0  # lower bound of the activations (OpenSim uses 0 or 0.01)
    cutoff_hz: float | None = 6.0  # kinematics low-pass before differentiation (None: off)
    velocity: bool = True  # force-velocity at the frame's speed (False: isometric, v = 0)
    passive: bool = False  # include passive fibre forces (default off, as OpenSim's static optimization)


@dataclass
class TorqueTable:
    """Joint torques (N*m), canonical signs, one column per coordinate."""

    time_s: np.ndarray
    names: list[str]
    values: np.ndarray  # (T, n)
    source: str = ""

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]


@dataclass
class SOResult:
    time_s: np.ndarray
    muscle_names: list[str]
    activation: np.ndarray  # (T, m)
    force_n: np.ndarray  # (T, m) muscle tension along the tendon (N, positive = pulling)
    coordinate_names: list[str]  # muscle-driven coordinates in the problem
    torque_target_nm: np.ndarray  # (T, c)
    torque_muscles_nm: np.ndarray  # (T, c) produced by the muscles
    reserve_nm: np.ndarray  # (T, c)
    exitflag: np.ndarray  # (T,) DAQP exit flags (1 = optimal)
    solve_s: float
    unconstrained: list[str] = field(default_factory=list)
    options: SOOptions = field(default_factory=SOOptions)

    @property
    def frames_per_s(self) -> float:
        return float(len(self.time_s) / max(self.solve_s, 1e-12))

    def metrics(self) -> dict:
        """Reserve use per coordinate and overall, torque reproduction, activation summary."""
        from ..analysis.metrics import reserve_pct

        per = {}
        for j, c in enumerate(self.coordinate_names):
            r = np.abs(self.reserve_nm[:, j])
            tot = np.abs(self.torque_target_nm[:, j])
            per[c] = {"mean_abs_reserve_nm": float(r.mean()), "max_abs_reserve_nm": float(r.max()),
                      "reserve_pct_of_torque": reserve_pct(r, tot),
                      "mean_abs_torque_nm": float(tot.mean())}
        err = self.torque_muscles_nm + self.reserve_nm - self.torque_target_nm
        all_r = np.abs(self.reserve_nm)
        return {
            "frames": int(len(self.time_s)),
            "time_range_s": [float(self.time_s[0]), float(self.time_s[-1])],
            "muscles": len(self.muscle_names),
            "frames_per_s": self.frames_per_s,
            "solver_failures": int(np.sum(self.exitflag != 1)),
            "reserve_optimal_nm": self.options.reserve_optimal_nm,
            "reserve_mean_abs_nm": float(all_r.mean()),
            "reserve_max_abs_nm": float(all_r.max()),
            "reserve_pct_of_torque": reserve_pct(all_r, self.torque_target_nm),
            "torque_balance_max_error_nm": float(np.abs(err).max()),
            "mean_activation": float(self.activation.mean()),
            "unconstrained_coordinates": self.unconstrained,
            "reserves": per,
        }


# --- inputs ----------------------------------------------------------------------------------------
def read_torques(path: str | Path, convention: str = "auto",
                 kinematics_convention: str | None = None) -> TorqueTable:
    """Joint torques from a ``torques.sto`` (``<coordinate>_moment`` columns) in canonical signs.

    ``convention``: ``"canonical"`` (knee flexion positive, kintwin's own files), ``"legacy"``
    (OpenSim gait2392/gait2354/Hamner inverse dynamics: knee moments negated here) or ``"auto"``:
    the file header's ``convention=`` if present, else ``kinematics_convention`` (the convention of
    the trial the torques belong to), else canonical with a warning.
    """
    from ..analysis.metrics import read_reference_moments

    table = read_table(path)
    if convention == "auto":
        conv = next((v for k, v in table.header.items() if k.lower() == "convention"), None)
        if conv not in ("legacy", "canonical"):
            conv = kinematics_convention
            if conv not in ("legacy", "canonical"):
                warnings.warn(f"{path}: no convention in the header; assuming canonical (knee "
                              "flexion positive)", stacklevel=2)
                conv = "canonical"
        convention = conv
    t, moments = read_reference_moments(path, convention)
    names = list(moments)
    return TorqueTable(time_s=np.asarray(t, float), names=names,
                       values=np.column_stack([moments[n] for n in names]), source=str(path))


def _so_model(model: mujoco.MjModel) -> mujoco.MjModel:
    m = copy.deepcopy(model)
    m.opt.disableflags |= int(_DISABLE)
    return m


def muscle_driven_coordinates(model: mujoco.MjModel) -> list[str]:
    """Hinge coordinates with no torque motor (joint transmission) other than ``reserve_*``
    (coupled joints, functions of another coordinate, are not coordinates: left out)."""
    motored = set()
    for a in range(model.nu):
        if int(model.actuator_trntype[a]) == int(mujoco.mjtTrn.mjTRN_JOINT):
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, a) or ""
            if not name.startswith(RESERVE_PREFIX):
                motored.add(int(model.actuator_trnid[a, 0]))
    out = []
    coupled = coupling.coupled_joint_ids(model)
    for j in range(model.njnt):
        if int(model.jnt_type[j]) in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)) \
                and j not in motored and j not in coupled:
            out.append(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j))
    return out


def _states(motion: Motion, model: mujoco.MjModel, times: np.ndarray, cutoff_hz):
    dt = np.diff(motion.time_s)
    if len(dt) and np.ptp(dt) > 1e-6 * dt.mean():
        motion = motion.resampled(motion.rate_hz)
    if cutoff_hz and cutoff_hz > 0 and motion.n_frames > 12:
        motion = motion.filtered(cutoff_hz)
    sub = Motion(time_s=times, names=list(motion.names),
                 values=CubicSpline(motion.time_s, motion.values)(times),
                 subject=motion.subject, source_convention=motion.source_convention)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coordinates absent from the file are held at neutral
        qpos = sub.to_qpos(model)
        qvel, _ = sub.velocities(model)
    return qpos, qvel


class MuscleFrames:
    """Moment arms, gains and passive forces of the muscles at given states (MuJoCo)."""

    def __init__(self, model: mujoco.MjModel, coordinates: list[str]):
        self.model = _so_model(model)
        self.data = mujoco.MjData(self.model)
        self.mus = muscle_actuators(self.model)
        if len(self.mus) == 0:
            raise ValueError("the model has no muscle actuators: build it with "
                             "kintwin.models.muscles.build_muscle_model")
        jid = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, c) for c in coordinates]
        if min(jid, default=0) < 0:
            raise ValueError(f"coordinates not in the model: {[c for c, j in zip(coordinates, jid) if j < 0]}")
        self.dofs = np.array([self.model.jnt_dofadr[j] for j in jid], int)
        self._moment = np.zeros((self.model.nu, self.model.nv))

    def at(self, qpos: np.ndarray, qvel: np.ndarray):
        """(M (m x c) = dL/dq, gain (m,), bias (m,), length (m,), velocity (m,))."""
        m, d = self.model, self.data
        d.qpos[:] = qpos
        d.qvel[:] = qvel
        mujoco.mj_fwdPosition(m, d)
        mujoco.mj_fwdVelocity(m, d)
        d.act[:] = 0.0
        mujoco.mj_fwdActuation(m, d)
        bias = d.actuator_force[self.mus].copy()
        d.act[:] = 1.0
        mujoco.mj_fwdActuation(m, d)
        gain = d.actuator_force[self.mus] - bias
        mujoco.mju_sparse2dense(self._moment, d.actuator_moment, d.moment_rownnz, d.moment_rowadr,
                                d.moment_colind)
        moment = self._moment
        if self.model.neq:  # coupled joints (imported knee translations): dL/dq by the chain rule
            moment = coupling.fold_forces(self.model, qpos, moment)
        M = moment[np.ix_(self.mus, self.dofs)]
        return M, gain, bias, d.actuator_length[self.mus].copy(), d.actuator_velocity[self.mus].copy()


def static_optimization(model: mujoco.MjModel, motion: Motion, torques: TorqueTable,
                        options: SOOptions | None = None) -> SOResult:
    """Muscle activations reproducing ``torques`` along ``motion`` (see the module docstring).

    Frames: the torque table's frames inside the motion's time span.
    """
    import daqp

    opt = options or SOOptions()
    coords_all = muscle_driven_coordinates(model)
    coords = [c for c in coords_all if c in torques.names]
    unconstrained = [c for c in coords_all if c not in torques.names]
    if not coords:
        raise ValueError(f"the torques ({torques.source}) have none of the muscle-driven coordinates "
                         f"{coords_all}")
    keep = (torques.time_s >= motion.time_s[0] - 1e-9) & (torques.time_s <= motion.time_s[-1] + 1e-9)
    if not keep.any():
        raise ValueError(f"torques span {torques.time_s[0]:.3f}-{torques.time_s[-1]:.3f} s, the "
                         f"motion {motion.time_s[0]:.3f}-{motion.time_s[-1]:.3f} s: no overlap")
    times = torques.time_s[keep]
    tau = np.column_stack([torques.column(c)[keep] for c in coords])
    qpos, qvel = _states(motion, model, times, opt.cutoff_hz)
    if not opt.velocity:
        qvel[:] = 0.0

    mf = MuscleFrames(model, coords)
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in mf.mus]
    nm, nc, T = len(mf.mus), len(coords), len(times)
    n = nm + nc
    H = np.eye(n)
    f = np.zeros(n)
    R = opt.reserve_optimal_nm
    big = 1e6
    lo = np.r_[np.full(nm, opt.min_activation), np.full(nc, -big), np.zeros(nc)]
    hi = np.r_[np.ones(nm), np.full(nc, big), np.zeros(nc)]
    sense = np.r_[np.zeros(n, dtype=np.int32), np.full(nc, 5, dtype=np.int32)]
    act = np.zeros((T, nm))
    force = np.zeros((T, nm))
    tm = np.zeros((T, nc))
    res = np.zeros((T, nc))
    flags = np.zeros(T, int)
    A = np.zeros((nc, n))
    A[:, nm:] = R * np.eye(nc)
    t0 = time.perf_counter()
    for k in range(T):
        M, gain, bias, _, _ = mf.at(qpos[k], qvel[k])
        if not opt.passive:
            bias = np.zeros_like(bias)
        A[:, :nm] = M.T * gain[None, :]
        b = tau[k] - M.T @ bias
        lo[n:] = b
        hi[n:] = b
        x, _, flag, _ = daqp.solve(H, f, A, hi.copy(), lo.copy(), sense.copy())
        if flag != 1:  # fall back: least-squares activations, the rest on the reserves
            x = np.r_[np.clip(np.linalg.lstsq(A[:, :nm], b, rcond=None)[0], opt.min_activation, 1),
                      np.zeros(nc)]
            x[nm:] = (b - A[:, :nm] @ x[:nm]) / R
        a = x[:nm]
        act[k] = a
        fz = a * gain + bias  # MuJoCo actuator force (negative = tension)
        force[k] = -fz
        tm[k] = M.T @ fz
        res[k] = R * x[nm:]
        flags[k] = flag
    solve_s = time.perf_counter() - t0
    return SOResult(time_s=times, muscle_names=names, activation=act, force_n=force,
                    coordinate_names=coords, torque_target_nm=tau, torque_muscles_nm=tm,
                    reserve_nm=res, exitflag=flags, solve_s=solve_s, unconstrained=unconstrained,
                    options=opt)


# --- outputs ---------------------------------------------------------------------------------------
README = """kintwin static optimization (muscle activations)

activations.sto    muscle activations (0-1), one column per muscle (OpenSim names).
muscle_forces.sto  muscle tension along the tendon (N, rigid tendon): a * F_max FL FV cos(alpha) + passive.
reserves.sto       reserve torque per muscle-driven coordinate (N*m, canonical signs: knee flexion +)
                   = what the muscles could not produce.
metrics.json       reserve use per coordinate (mean/max |reserve| N*m, % of the total |torque|),
                   torque balance error, speed, settings.
muscles.png        activations of the main leg muscles and reserve torques over time.
"""


def write_static_optimization(out_dir: str | Path, result: SOResult, info: dict | None = None,
                              plot: bool = True) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_table(out / "activations.sto", result.muscle_names, result.time_s, result.activation,
                name="kintwin static optimization activations")
    write_table(out / "muscle_forces.sto", result.muscle_names, result.time_s, result.force_n,
                name="kintwin static optimization muscle forces (N)")
    write_table(out / "reserves.sto", [RESERVE_PREFIX + c for c in result.coordinate_names],
                result.time_s, result.reserve_nm, name="kintwin static optimization reserves (N*m)")
    doc = {"method": "static_optimization", "metrics": result.metrics(),
           "settings": {k: getattr(result.options, k) for k in result.options.__dataclass_fields__},
           "info": info or {}}
    (out / "metrics.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (out / "README.txt").write_text(README)
    if plot:
        plot_static_optimization(result, out / "muscles.png")
    return out


MAIN_MUSCLES = ("soleus", "med_gas", "tib_ant", "vas_int", "rect_fem", "bifemlh", "glut_max2",
                "glut_med2", "iliacus")


def plot_static_optimization(result: SOResult, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    t = result.time_s
    for base in MAIN_MUSCLES:
        color = None
        for side, ls in (("r", "-"), ("l", "--")):
            name = f"{base}_{side}"
            if name in result.muscle_names:
                (line,) = axes[0].plot(t, result.activation[:, result.muscle_names.index(name)], ls,
                                       color=color, label=base if color is None else None)
                color = line.get_color()
    axes[0].set_ylabel("activation")
    axes[0].set_ylim(0, 1.02)
    axes[0].legend(fontsize=7, ncol=3)
    axes[0].set_title("static optimization (solid: right, dashed: left)")
    big = [j for j in range(len(result.coordinate_names))
           if np.abs(result.reserve_nm[:, j]).max() > 0.5]
    for j in big or range(len(result.coordinate_names)):
        axes[1].plot(t, result.reserve_nm[:, j], label=result.coordinate_names[j] if big else None,
                     lw=1.0 if big else 0.6)
    axes[1].set_title("reserve torques" + ("" if big else " (all below 0.5 N*m)"))
    axes[1].set_ylabel("reserve torque (N*m)")
    axes[1].set_xlabel("time (s)")
    if big:
        axes[1].legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
