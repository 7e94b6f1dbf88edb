"""The controller twin: the whole-body QP controller (``control/wholebody.py``) drives the model
through a trial in MuJoCo. No training, no policy: it works on every model kintwin builds.

Preparation, once per trial (module docs of each step):

1. the reference: the trial levelled where its capture frame is tilted, low-passed at
   ``WholeBodyConfig.cutoff_hz`` (6 Hz, as ``kintwin id``), at the physics rate, its floor
   aligned to z = 0 and a treadmill belt removed (``sim/reference.py``);
2. the support the feet stand on above the floor (stairs, boxes: ``sim/terrain.py``), as boxes
   in the model where the trial needs them;
3. sole calibration: the model's foot spheres moved so the reference's stance feet touch the
   floor, never below where the unfiltered trial's feet stand (``sim/floor.calibrate_soles``);
   the model is recompiled with them and foot sensors;
4. the kinematics-only contact estimate on that model (``dynamics/contact_estimation``), the
   controller's prior for the split of the load between the feet, and (for a distilled policy)
   its controls as the policy's feed-forward (``feedforward_ctrl``).

The muscle-driven twin (``MuscleDrive``): the same with the muscle model of ``models/muscles.py``
(legs and trunk muscle-driven, reserves, toes, arms and neck torque motors) at a 1 ms physics
step; the controller then plans muscle activations, and each output frame also records the
muscles' activations and tensions and the reserves' torques.

Then the simulation starts in the reference state at the first frame and steps the controller at
``control_rate_hz``; each output frame is the end of a control step (its state and the means
over its physics steps of the actuators' generalized force on each coordinate, the residual and
the foot contact forces). The run stops early when
tracking is lost (pelvis more than ``MAX_PELVIS_ERROR_M`` from the reference, below
``MIN_PELVIS_HEIGHT_FRAC`` of its reference height, or a non-finite state).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import mujoco
import numpy as np

from ..control.wholebody import ControlReference, WholeBodyConfig, WholeBodyController, default_config
from ..dynamics.contact_estimation import ContactOptions, solve_contact_forces
from ..errors import InputError
from ..models.build import GRAVITY, SimOptions, build_spec
from ..models.coordinates import RESERVE_PREFIX
from ..models.linear_paths import LinearPaths
from ..models.muscles import SHIPPED_MUSCLES, muscle_actuators, reserve_actuators
from ..models.skeleton import Skeleton
from ..motion.motion import Motion
from ..sim import floor
from ..sim.reference import trial_reference
from ..sim.terrain import detect_terrain
from ..sim.tracking import pose_error
from ..motion.checks import check_trial_span
from .recording import Recording

#: The controller twin's simulation: foot sensors, and a foot contact stiffer at equilibrium than
#: MuJoCo's default (dmax 0.99) and heavily damped (50 ms time constant). Measured on subject01 walking
#: (BENCHMARKS.md, issue 15) against MuJoCo's default contact (0.9, 0.95, 20 ms): total vertical
#: GRF RMSE 11 vs 22 %BW, residual 1.2 vs 2.0 %BW, per-foot vertical GRF RMSE 14.8 vs 14.4 %BW.
CONTROLLER_SIM_OPTIONS = SimOptions(foot_sensors=True, contact_timeconst_s=0.05, contact_dmin=0.95,
                                    contact_dmax=0.99)
#: How far a loaded foot contact of that simulation sinks into the floor (the sole calibration
#: places the reference's lowest sphere points this far below the floor): measured as the
#: force-weighted mean penetration of the foot contacts over a twin run, 3.4 mm on subject01 walking
#: and 4-5 mm on the sample walk for 50-100 kg subjects (``info["stance_penetration_mm"]``).
CONTACT_DEPTH_M = 0.003
MAX_PELVIS_ERROR_M = 0.25
MIN_PELVIS_HEIGHT_FRAC = 0.6
#: a twin whose joint angles are this far from the reference (RMS over its joint coordinates, rad:
#: 20 deg) is not tracking it, though standing: the shipped walking policy on walking2 once walked
#: the whole trial at 17 deg MAE (max 89) and was reported completed. Tracking twins stay within a
#: few degrees (the controller's MAE is 0.3-1.0 deg on every shared trial)
MAX_JOINT_RMS_ERROR_RAD = 0.35


@dataclass
class ControlledTwin:
    model: mujoco.MjModel  # calibrated soles, foot sensors (a muscle model: with its spatial paths)
    reference: Motion  # the trial (unfiltered, aligned) at the output frames, frame 0 first
    results: object  # analysis.results.Results
    completed: bool
    terminated_at_s: float | None
    info: dict


@dataclass(frozen=True)
class MuscleDrive:
    """Drive legs and trunk with the muscles of an OpenSim model (``models/muscles.py``): arms and
    neck keep torque motors, each muscle-driven coordinate gets a reserve motor (gear
    ``reserve_nm``, the controller's last resort before the pelvis residual).

    The toe joints (``torque_coordinates``) keep a torque motor beside their muscles: in the
    simulation the ground pushes on the toes, and the toe flexors that would resist it also
    plantarflex the ankle and invert the foot (measured on subject01: 5 N*m mean, 30 N*m peak mtp
    reserve and tibialis anterior co-contracting at full activation against them). The plantar
    fascia and the toe joint's passive structures carry that torque in a foot; OpenSim's gait
    models lock the joint."""

    source: str | Path = SHIPPED_MUSCLES  #: the ``.osim`` whose muscles are put on the skeleton
    #: reserve motor gear (N*m): the most a reserve can give (the controller used <= 33 N*m on
    #: subject01, at heel strike; its QP weighs reserves per N*m, so its figures are the same at
    #: 40 and 100). A distilled policy acts in gear units: at 500 its 1.7 % RMS action error was
    #: 8.5 N*m, at 100 its reserves were 2-4x the controller's (1.3-3.6 N*m RMS off them)
    reserves_nm: float = 40.0
    passive: bool = False  #: passive fibre forces (off, as OpenSim's static optimization: the
    #: rigid-tendon quadriceps are overstretched in swing)
    torque_coordinates: tuple[str, ...] = ("mtp_angle_r", "mtp_angle_l")
    #: physics step (s): a rigid-tendon muscle's force-velocity curve is a stiff damper on a light
    #: segment, which MuJoCo integrates explicitly; at 2 ms it rang on the feet (ankle reserves
    #: alternating +-2-9 N*m from step to step, 5.2 / 7.0 % of the ankle moment on subject01),
    #: at 1 ms 2.9 / 4.8 % (0.5 ms: 2.8 / 5.3 %)
    timestep_s: float = 0.001

    def spec(self, skeleton: Skeleton, options: SimOptions) -> tuple[mujoco.MjSpec, object]:
        from ..models.muscles import MuscleOptions, build_muscle_spec

        spec, info = build_muscle_spec(skeleton, self.source, MuscleOptions(reserves_nm=self.reserves_nm),
                                       sim_options=replace(options, timestep=self.timestep_s))
        for c in self.torque_coordinates:  # the reserve becomes the joint's torque motor
            if c in info.muscle_coordinates:
                spec.actuator(RESERVE_PREFIX + c).name = c
        if not self.passive:
            for name in info.muscle_names:
                spec.actuator(name).biastype = mujoco.mjtBias.mjBIAS_NONE  # no passive force
        return spec, info


def prepare(skeleton: Skeleton, motion: Motion, config: WholeBodyConfig,
            options: SimOptions | None = None, muscles: MuscleDrive | None = None,
            feedforward: bool = False):
    """(calibrated model, ControlReference, reference TrialReference, info) for a trial;
    ``feedforward``: with the reference's ``feedforward_ctrl`` (what a distilled policy needs).
    A muscle model comes with fixed tendons (``models/linear_paths.py``), which ``simulate`` and
    every other stepping loop refresh through ``ControlReference.refresh_paths``."""
    opts = options or CONTROLLER_SIM_OPTIONS
    if muscles is None:
        spec, muscle_info = build_spec(skeleton, opts), None
    else:
        spec, muscle_info = muscles.spec(skeleton, opts)
    model0 = spec.compile()
    rate = 1.0 / model0.opt.timestep
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coordinates the trial lacks are held at neutral
        ref = trial_reference(model0, motion, rate_hz=rate, filter_hz=config.cutoff_hz, site_names=(),
                              toes_set_floor=False)
    substeps = int(round(rate / config.control_rate_hz))
    frames = np.arange(0, len(ref.qpos), substeps)
    options = ContactOptions(floor_height_m=0.0, ground_velocity_mps=(0.0, 0.0), max_point_offset_m=0.0)
    candidates = detect_terrain(model0, ref.qpos, rate, t0_s=float(motion.time_s[0]))
    terrain = _needed(candidates, model0, ref, frames, options, skeleton.height_m)
    before = floor.stance_clearance(model0, ref.qpos, rate, terrain=terrain)
    unfiltered = ref.aligned(model0, motion)[1][: len(ref.qpos)]
    calib = floor.calibrate_soles(model0, ref.qpos, rate, depth_m=CONTACT_DEPTH_M, terrain=terrain,
                                  unfiltered_qpos=unfiltered)
    calib.apply(spec)
    terrain.add_to(spec)
    model = spec.compile()
    after = floor.stance_clearance(model, ref.qpos, rate, depth_m=CONTACT_DEPTH_M, terrain=terrain)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed frame is zero force, counted in info
        est = solve_contact_forces(model, ref.qpos[frames], ref.qvel[frames], ref.qacc[frames],
                                   options, keep_armature=True, height_m=skeleton.height_m,
                                   terrain=terrain)
    prior_index = np.minimum(np.searchsorted(frames, np.arange(len(ref.qpos))), len(frames) - 1)
    # a muscle model is stepped with fixed tendons refreshed from its spatial paths
    paths = LinearPaths(spec, model) if muscles is not None else None
    cref = ControlReference(ref.qpos, ref.qvel, ref.qacc, [p.geom for p in est.points],
                            est.forces, prior_index,
                            feedforward_ctrl(model, est, ref.qpos[frames], config.control_rate_hz)
                            if feedforward else None, paths)
    info = {"sole_calibration_mm": calib.to_dict(),
            "sole_calibration_from_other_foot": list(calib.from_other_foot),
            "contact_depth_m": CONTACT_DEPTH_M, "stance_clearance_before": before, "stance_clearance": after,
            "terrain_boxes": terrain.to_dict(),
            "terrain_boxes_not_built": [b for b in candidates.to_dict() if b not in terrain.to_dict()], "floor_shift_m": ref.floor_shift_m,
            "belt_velocity_mps": list(ref.belt_velocity), "floor_tilt": ref.floor_tilt.to_dict(),
            "contact_prior_qp_failures": est.qp_failures}
    if muscle_info is not None:
        info["muscle_model"] = {**muscle_info.summary(), "reserve_gear_nm": muscles.reserves_nm,
                                "passive_fibre_force": muscles.passive}
    return (model if paths is None else paths.model), cref, ref, info


def _needed(candidates, model0, ref, frames, options: ContactOptions, height_m: float):
    """The candidate support boxes the trial needs (``sim/terrain.Terrain.needed``), judged by the
    kinematics-only contact estimate on the floor alone at the control frames."""
    if not candidates:
        return candidates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = solve_contact_forces(model0, ref.qpos[frames], ref.qvel[frames], ref.qacc[frames],
                                   options, keep_armature=True, height_m=height_m)
    return candidates.needed(est, float(model0.body_mass.sum()) * GRAVITY, height_m)


@dataclass
class Run:
    """What ``simulate`` recorded: one frame per control step (its end)."""

    recording: Recording
    completed: bool
    stopped_at: int | None  # physics frame (reference index) where tracking was lost
    penetration_mm: float  # force-weighted mean depth of the foot contacts


def lost_track(data: mujoco.MjData, target_qpos: np.ndarray) -> bool:
    """Tracking lost: a non-finite state, the pelvis more than ``MAX_PELVIS_ERROR_M`` from the
    reference or below ``MIN_PELVIS_HEIGHT_FRAC`` of its reference height, or the joints more than
    ``MAX_JOINT_RMS_ERROR_RAD`` (RMS) from the reference's."""
    if not np.all(np.isfinite(data.qpos)):
        return True
    pelvis_m, joints_rad = pose_error(data.qpos, target_qpos)
    return bool(pelvis_m > MAX_PELVIS_ERROR_M or joints_rad > MAX_JOINT_RMS_ERROR_RAD
                or data.qpos[2] < MIN_PELVIS_HEIGHT_FRAC * target_qpos[2])


def simulate(model: mujoco.MjModel, cref: ControlReference, drive, substeps: int, start: int = 0,
             qpos0=None, qvel0=None, bar=None, max_steps: int | None = None) -> Run:
    """Step ``drive(data, i) -> ctrl`` (i: the reference frame of the state) every ``substeps``
    physics steps from reference frame ``start`` (state ``qpos0``/``qvel0``, default the
    reference's) to the end of the reference (or for at most ``max_steps`` control steps) or until
    tracking is lost. Recorded per control step
    (means over its physics steps): the generalized actuator force on each motor's coordinate (the
    joint moment: motor, or muscles + reserve), the pelvis residual, the foot sensors, and for a
    muscle model each muscle's activation and tension and each reserve's torque."""
    data = mujoco.MjData(model)
    data.qpos[:] = cref.qpos[start] if qpos0 is None else qpos0
    data.qvel[:] = cref.qvel[start] if qvel0 is None else qvel0
    cref.refresh_paths(data, substeps)
    mujoco.mj_forward(model, data)
    n = substeps
    steps = (len(cref.qpos) - 1 - start) // n
    if max_steps is not None:
        steps = min(steps, max_steps)
    joint = model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT
    dofs = model.jnt_dofadr[model.actuator_trnid[joint, 0]]
    residuals = np.flatnonzero(model.actuator_trntype == mujoco.mjtTrn.mjTRN_SITE)
    muscles = muscle_actuators(model)
    reserves = reserve_actuators(model)
    rec = Recording()
    gear = np.abs(model.actuator_gear).max(axis=1)
    sens = np.zeros((n, model.nsensordata))
    cforce, sink = np.zeros(6), np.zeros(2)
    for k in range(steps):
        i = start + k * n
        cref.refresh_paths(data, n)
        data.ctrl[:] = drive(data, i)
        force, qfrc, act = np.zeros(model.nu), np.zeros(model.nv), np.zeros(model.na)
        for s in range(n):
            mujoco.mj_step(model, data)
            sens[s] = data.sensordata
            force += data.actuator_force
            qfrc += data.qfrc_actuator
            act += data.act
        force /= n
        if lost_track(data, cref.qpos[i + n]):
            return Run(rec, False, i + n, float(-1000 * sink[0] / max(sink[1], 1e-9)))
        rec.add(data.qpos, qfrc[dofs] / n, force[residuals] * gear[residuals], sens)
        if len(muscles):
            rec.add_muscles(act[model.actuator_actadr[muscles]] / n, -force[muscles],
                            force[reserves] * gear[reserves])
        for c in range(data.ncon):  # contact penetration weighted by normal force
            mujoco.mj_contactForce(model, data, c, cforce)
            sink[0] += cforce[0] * data.contact[c].dist
            sink[1] += cforce[0]
        if bar is not None:
            bar.update()
    return Run(rec, True, None, float(-1000 * sink[0] / max(sink[1], 1e-9)))


def ctrl_limits(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) control of each actuator: its ``ctrlrange`` where limited, else [0, 1] for a
    muscle (MuJoCo clamps excitations there) and [-1, 1] for the others."""
    muscle = np.zeros(model.nu, bool)
    muscle[muscle_actuators(model)] = True
    limited = model.actuator_ctrllimited.astype(bool)
    lo = np.where(limited, model.actuator_ctrlrange[:, 0], np.where(muscle, 0.0, -1.0))
    hi = np.where(limited, model.actuator_ctrlrange[:, 1], 1.0)
    return lo, hi


def feedforward_ctrl(model: mujoco.MjModel, est, frames_qpos: np.ndarray | None = None,
                     rate_hz: float | None = None) -> np.ndarray:
    """(Tc, nu) controls of a contact estimate (``ContactSolution``): each motor's joint torque /
    its peak, the pelvis residual wrench (world) / the residual gears, clipped to [-1, 1]. A
    muscle model (``frames_qpos`` (Tc, nq) the estimate's states at ``rate_hz``): the muscles'
    activations and the reserves' torques of static optimization of the estimate's joint torques
    (``dynamics/static_optimization``), the toe, arm and neck motors the joint torques."""
    ctrl = np.zeros((len(est.tau), model.nu))
    gear = np.abs(model.actuator_gear).max(axis=1)
    wrench = np.concatenate([est.residual_force, est.residual_moment], axis=1)
    muscles, reserves = muscle_actuators(model), reserve_actuators(model)
    so = None
    if len(muscles):
        from ..dynamics.static_optimization import SOOptions, TorqueTable, static_optimization

        t = np.arange(len(frames_qpos)) / rate_hz
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            so = static_optimization(model, Motion.from_qpos(model, t, frames_qpos),
                                     TorqueTable(t, list(est.names), est.tau, "contact estimate"),
                                     SOOptions(cutoff_hz=None))
        ctrl[:, muscles] = so.activation
    k = 0
    for a in range(model.nu):
        if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT:
            name = model.joint(model.actuator_trnid[a, 0]).name
            if a in reserves:
                ctrl[:, a] = so.reserve_nm[:, so.coordinate_names.index(name)] / gear[a]
            else:
                ctrl[:, a] = est.tau[:, est.names.index(name)] / gear[a]
        elif model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_SITE:  # the six residuals, in order
            ctrl[:, a] = wrench[:, k] / gear[a]
            k += 1
    return np.clip(ctrl, *ctrl_limits(model))


def run_controlled_twin(skeleton: Skeleton, motion: Motion, config: WholeBodyConfig | None = None,
                        progress: bool = False, policy=None,
                        muscles: MuscleDrive | None = None) -> ControlledTwin:
    """Simulate the whole trial under the whole-body controller (module doc), or under a policy
    distilled from it (``policy``: a ``learn.distill.DistilledPolicy``; no controller in the loop);
    ``muscles``: the muscle-driven model (the controller then plans muscle activations)."""
    cfg = config or (policy.controller if policy is not None else default_config(muscles is not None))
    if policy is not None:  # a policy runs on the model it was distilled on
        from ..learn.distill import muscle_drive

        if muscles is not None and policy.muscles is None:
            raise InputError("this policy was distilled on the torque-driven twin, not the "
                             "muscle-driven one", advice="leave out --muscles")
        muscles = muscle_drive(policy)
    check_trial_span(motion, 0.1, "at least 0.1 s of motion")
    t0 = time.perf_counter()
    model, cref, ref, info = prepare(skeleton, motion, cfg, muscles=muscles,
                                     feedforward=policy is not None)
    t_prep = time.perf_counter() - t0
    ctl = WholeBodyController(model, cref, skeleton.height_m, cfg)
    drive = ctl if policy is None else policy.driver(model, cref, (skeleton.height_m, skeleton.mass_kg))
    n = ctl.substeps
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=(len(cref.qpos) - 1) // n, desc="controller twin", unit="step", leave=False)
    t1 = time.perf_counter()
    run = simulate(model, cref, drive, n, bar=bar)
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t1
    rec, completed = run.recording, run.completed
    terminated_at = (None if completed else
                     float(motion.time_s[0] + run.stopped_at / (n * cfg.control_rate_hz)))
    if len(rec) < 2:
        raise ValueError("the controller twin lost track in its first control steps: nothing to report")
    dt = 1.0 / cfg.control_rate_hz
    time_s = motion.time_s[0] + dt * np.arange(1, len(rec) + 1)
    if cref.paths is not None:  # outputs, metrics and video on the muscle model with its paths
        model = cref.paths.spatial
    what = ("whole-body controller" if policy is None else
            "policy distilled from the whole-body controller") + ("" if muscles is None else ", muscles")
    info.update({"controller": "qp" if policy is None else "distilled policy",
                 "completed": completed, "terminated_at_s": terminated_at,
                 "control_rate_hz": cfg.control_rate_hz, "qp_failures": ctl.failures,
                 "config": {k: v for k, v in vars(cfg).items()},
                 "stance_penetration_mm": run.penetration_mm,
                 "prepare_s": t_prep, "simulate_s": wall,
                 "realtime_factor": float(time_s[-1] - motion.time_s[0]) / max(wall, 1e-9)})
    results = rec.results(model, time_s, motion, (skeleton.height_m, float(model.body_mass.sum())),
                          f"kintwin twin ({what})", info)
    # the reference the twin tracked, unfiltered, aligned as it was (tilt, floor, belt), frame 0 first
    t, q = ref.aligned(model, motion, cfg.control_rate_hz)
    reference = Motion.from_qpos(model, t, q, subject=motion.subject,
                                 source_file=motion.source_file, source_convention="canonical")
    return ControlledTwin(model, reference, results, completed, terminated_at, info)
