"""The muscle-driven twin: the whole-body controller planning muscle activations (issue 18)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from kintwin.cli import main
from kintwin.control.wholebody import WholeBodyConfig, WholeBodyController
from kintwin.models.anthropometry import default_skeleton
from kintwin.motion.sample import sample_walk
from kintwin.twin.controlled import MuscleDrive, prepare, run_controlled_twin


@pytest.fixture(scope="module")
def walk():
    w = sample_walk()
    return w.slice_time(w.time_s[0], w.time_s[0] + 1.2)


def test_planned_muscle_forces_are_what_mujoco_applies(walk):
    """Activation dynamics and force-length-velocity as the plan has them: over each control step
    the muscles' generalized forces MuJoCo applies are the planned ones."""
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    cfg = WholeBodyConfig()
    model, cref, _, _ = prepare(skeleton, walk, cfg, muscles=MuscleDrive())
    ctl = WholeBodyController(model, cref, skeleton.height_m, cfg)
    mus = ctl.muscles
    assert len(mus) == 92
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = cref.qpos[0], cref.qvel[0]
    dense = np.zeros((model.nu, model.nv))
    errors, scale = [], []
    for k in range(60):
        cref.refresh_paths(data, ctl.substeps)  # the muscle paths over the control step
        data.ctrl[:] = ctl(data, k * ctl.substeps)
        mujoco.mj_forward(model, data)
        gain, bias, _ = ctl.activation.force_terms(data)
        mujoco.mju_sparse2dense(dense, data.actuator_moment, data.moment_rownnz,
                                data.moment_rowadr, data.moment_colind)
        planned = dense[mus].T @ (gain * ctl.planned_activation + bias)
        applied = np.zeros(model.nv)
        for _ in range(ctl.substeps):
            mujoco.mj_step(model, data)
            mujoco.mju_sparse2dense(dense, data.actuator_moment, data.moment_rownnz,
                                    data.moment_rowadr, data.moment_colind)
            applied += dense[mus].T @ data.actuator_force[mus] / ctl.substeps
        errors.append(np.abs(applied - planned)[6:].max())
        scale.append(np.abs(planned)[6:].max())
    assert ctl.failures == 0
    assert max(scale) > 20.0  # N*m: the muscles carry the joints
    assert np.median(errors) < 0.01 * max(scale)
    assert max(errors) < 0.05 * max(scale)


def test_activation_rises_cost_but_falls_are_free(walk):
    """The activation-rate cost acts on rises only: a muscle made active for no reason falls as
    fast as its deactivation allows (its planned activation is the reachable minimum; a cost on
    every change would have held every one of them near 0.8 for w_activation_rate / w_activation
    steps). Some the plan puts to use while they are on (peronei, adductors, hamstrings: how many
    depends on the moment of the gait cycle, 0-35 % of them in the states measured), so the share
    is pooled over three states."""
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    cfg = WholeBodyConfig()
    model, cref, _, _ = prepare(skeleton, walk, cfg, muscles=MuscleDrive())
    at_lowest = []
    for steps in (10, 20, 30):
        ctl = WholeBodyController(model, cref, skeleton.height_m, cfg)
        data = mujoco.MjData(model)
        data.qpos[:], data.qvel[:] = cref.qpos[0], cref.qvel[0]
        for k in range(steps):
            cref.refresh_paths(data, ctl.substeps)
            data.ctrl[:] = ctl(data, k * ctl.substeps)
            for _ in range(ctl.substeps):
                mujoco.mj_step(model, data)
        adr = ctl.activation.actadr
        idle = np.flatnonzero(ctl.planned_activation < 0.02)
        assert len(idle) > 5
        data.act[adr[idle]] = 0.8  # switched on for no reason
        cref.refresh_paths(data, ctl.substeps)
        ctl(data, steps * ctl.substeps)
        lowest, _ = ctl.activation.bounds(data)
        at_lowest += list(np.abs(ctl.planned_activation[idle] - lowest[idle]) < 1e-6)
        assert np.all(lowest[idle] < 0.78)  # mean over the 4 ms step: deactivation at work
    assert np.mean(at_lowest) > 0.6


def test_muscle_twin_recovers_a_forward_simulation():
    """A movement simulated by the muscle twin with the residual made unusable (knee bends and
    arm swings, feet on the floor) is given back to it as motion capture (60 Hz): it finds the
    same joint moments, ground reactions and the same muscles doing the work."""
    from test_controller_twin import _forward_simulation

    skeleton, motion, r0 = _forward_simulation(muscles=MuscleDrive())
    bw = 70.0 * 9.81
    assert np.linalg.norm(r0.residual_force_n, axis=1).mean() < 0.01 * bw  # no outside help
    tw = run_controlled_twin(skeleton, motion, muscles=MuscleDrive())
    assert tw.completed
    r = tw.results
    inside = (r.time_s > r0.time_s[0] + 0.1) & (r.time_s < r0.time_s[-1] - 0.1)
    # upper body and ankles: determined; hips and knees in double support: the split between the
    # legs is not (internal forces), measured 13-26 % of the peak
    for c, tol in (("lumbar_extension", 0.05), ("ankle_angle_r", 0.1), ("knee_angle_r", 0.3),
                   ("hip_flexion_l", 0.3)):
        truth = np.interp(r.time_s[inside], r0.time_s, r0.torque(c))
        err = r.torque(c)[inside] - truth
        assert np.sqrt(np.mean(err ** 2)) < tol * np.abs(truth).max(), c
    for s in ("r", "l"):
        truth = np.interp(r.time_s[inside], r0.time_s, r0.grf.force_n[s][:, 1])
        assert np.sqrt(np.mean((r.grf.force_n[s][inside, 1] - truth) ** 2)) < 0.05 * bw, s
    m0, m1 = r0.muscles, r.muscles
    rs = [np.corrcoef(np.interp(r.time_s[inside], r0.time_s, m0.activation[:, j]),
                      m1.activation[inside, j])[0, 1]
          for j in range(len(m0.names)) if m0.activation[:, j].max() > 0.1]
    assert len(rs) >= 10
    assert np.median(rs) > 0.8


def test_analyze_muscles_writes_the_muscle_outputs(walk, tmp_path, capsys):
    from kintwin.motion.kinematics_io import write_motion
    from kintwin.motion.storage import read_table

    trial = write_motion(tmp_path / "walk.mot", walk)
    out = tmp_path / "out"
    assert main(["analyze", str(trial), "--height", str(walk.subject.height_m), "--mass",
                 str(walk.subject.mass_kg), "--muscles", "--out", str(out)]) == 0
    assert "shipped muscles" in capsys.readouterr().err
    act = read_table(out / "activations.sto")
    assert len(act.labels) == 92 and 0.0 <= act.data.min() and act.data.max() <= 1.0
    forces = read_table(out / "muscle_forces.sto")
    assert forces.data.max() > 200.0  # N: someone is holding the body up
    reserves = read_table(out / "reserves.sto")
    assert "reserve_knee_angle_r" in reserves.labels
    import json

    doc = json.loads((out / "metrics.json").read_text())
    assert doc["metrics"]["muscles"]["count"] == 92
    assert "Muscle activations" in (out / "report.html").read_text()
    # a policy cannot drive the muscle model
    assert main(["analyze", str(trial), "--height", "1.7", "--mass", "70", "--muscles",
                 "--controller", "policy", "--out", str(tmp_path / "p")]) == 2


def test_activation_follows_the_files_time_constants():
    """A step of excitation in the simulated muscle model: activation rises with the .osim's
    activation time constant (10 ms x (0.5 + 1.5 a) in gait2392) and falls with its deactivation
    time constant (40 ms / (0.5 + 1.5 a)), as MuJoCo's muscle dynamics and OpenSim's Thelen model
    define them."""
    from kintwin.models.muscles import SHIPPED_MUSCLES, build_muscle_model
    from kintwin.models.osim_muscles import read_osim_muscles

    skeleton = default_skeleton(1.75, 70.0)
    model, info = build_muscle_model(skeleton)
    model.opt.timestep = MuscleDrive().timestep_s  # the muscle twin's physics step
    model.opt.gravity[:] = 0.0  # hold the body still: only the activation state matters here
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    fdef = {m.name: m for m in read_osim_muscles(SHIPPED_MUSCLES).muscles}["soleus_r"]
    a = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, "soleus_r")
    data = mujoco.MjData(model)
    dt = model.opt.timestep

    def run(e, a0, seconds):
        data.act[model.actuator_actadr[a]] = a0
        data.ctrl[:] = 0.0
        data.ctrl[a] = e
        out = []
        for _ in range(int(round(seconds / dt))):
            mujoco.mj_step(model, data)
            out.append(data.act[model.actuator_actadr[a]])
        return np.array(out)

    def ode(e, a0, seconds):  # Thelen 2003 / OpenSim first-order activation, fine Euler steps
        x, h, out = a0, dt / 100, []
        for _ in range(int(round(seconds / dt))):
            for _ in range(100):
                tau = (fdef.activation_time_constant * (0.5 + 1.5 * x) if e > x
                       else fdef.deactivation_time_constant / (0.5 + 1.5 * x))
                x += h * (e - x) / tau
            out.append(x)
        return np.array(out)

    rise, fall = run(1.0, 0.0, 0.1), run(0.0, 1.0, 0.2)
    t_half = lambda x, up: (np.argmax(x >= 0.5) if up else np.argmax(x <= 0.5)) * dt
    # MuJoCo integrates activation with explicit Euler at the physics step: a few % ahead of the
    # exact curve in the first milliseconds, the same half-times within a step
    assert np.abs(rise - ode(1.0, 0.0, 0.1)).max() < 0.08
    assert np.abs(fall - ode(0.0, 1.0, 0.2)).max() < 0.03
    assert abs(t_half(rise, True) - t_half(ode(1.0, 0.0, 0.1), True)) <= dt
    assert abs(t_half(fall, False) - t_half(ode(0.0, 1.0, 0.2), False)) <= dt


def test_muscle_policy_is_distilled_saved_and_run_by_analyze(tmp_path):
    """Distillation of the muscle twin (``kintwin train --distill --muscles``): the policy observes the activations, outputs the
    excitations (132 controls: 92 muscles, arms and neck, toes, reserves, residuals), learns the
    controller's output on states it has not seen, and ``analyze --muscles --policy`` runs it."""
    import json

    from kintwin.control.wholebody import WholeBodyConfig
    from kintwin.learn.distill import (DISTILL_TRACKING, MUSCLE_TEACHER_RESERVE_WEIGHT,
                                       TEACHER_SWING_HZ, TEACHER_TIGHT_WHEN_MOVED, DistillConfig, collect, distill,
                                       imitation_loss, teaching)
    from kintwin.motion.kinematics_io import write_motion
    from kintwin.sim.tracking import FREE_QPOS, obs_size

    walk = sample_walk(duration_s=1.0)
    trial = write_motion(tmp_path / "walk.mot", walk)
    h, m = walk.subject.height_m, walk.subject.mass_kg
    args = [str(trial), "--height", str(h), "--mass", str(m), "--no-progress", "--muscles"]
    assert main(["train", *args, "--out", str(tmp_path / "ppo")]) == 2  # PPO: not with muscles
    skeleton = default_skeleton(h, m)
    out = tmp_path / "distilled"
    cfg = DistillConfig(iterations=2, rollouts_per_iteration=12, epochs=30)
    distilled, rows = distill([(skeleton, walk)], cfg, muscles=MuscleDrive())
    distilled.save(out / "policy.npz")
    from kintwin.learn.distill import load_distilled

    policy = load_distilled(out / "policy.npz")
    sims = teaching([(skeleton, walk)], muscles=MuscleDrive())
    model = sims[0].model
    assert policy.muscles == "shipped" and model.na == 92
    # labelled by the muscle teacher, which spares the reserves more than the twin's controller
    assert policy.controller.w_reserve == sims[0].teacher.config.w_reserve == MUSCLE_TEACHER_RESERVE_WEIGHT
    assert WholeBodyConfig().w_reserve < MUSCLE_TEACHER_RESERVE_WEIGHT
    # and keeps the trunk at w_joint (gait2392's lumped trunk muscles co-contract to hold it tighter)
    assert policy.controller.w_joint_trunk is None
    # and holds the swing foot as the torque teacher does
    assert policy.controller.swing_joint_hz == TEACHER_SWING_HZ > policy.controller.joint_hz
    # and tracks the toes and subtalar joints tightly where the trial moves them (the sample walk
    # does: 42 and 1.8 deg)
    assert policy.controller.tight_when_moved == TEACHER_TIGHT_WHEN_MOVED == ("mtp_angle", "subtalar_angle")
    for joint in ("mtp_angle_r", "subtalar_angle_l"):
        dof = model.jnt_dofadr[model.joint(joint).id]
        assert sims[0].teacher.acc_weight[dof] == sims[0].teacher.config.w_joint
    # its reserve actions are in the gear it was distilled with, and it runs with that gear
    from kintwin.learn.distill import muscle_drive

    assert policy.reserves_nm == MuscleDrive().reserves_nm == muscle_drive(policy).reserves_nm
    assert (policy.obs_size, policy.action_size) == (
        obs_size(model.nq - FREE_QPOS, DISTILL_TRACKING, model.na, model.nu), model.nu) == (policy.obs_size, 132)
    # held-back states: rollouts of the teacher from other random starts; labels are the feedback
    # around the feed-forward (muscles: static optimization of the kinematics-only ID)
    obs, labels, _ = collect(sims, policy, 1.0, DistillConfig(), np.random.default_rng(7), 2)
    assert len(labels) > 50
    zero_feedback = float(np.mean(labels ** 2))  # the feed-forward alone
    loss = imitation_loss(policy, obs, labels)
    assert loss < 0.4 * zero_feedback, (loss, zero_feedback)  # measured 0.19 x
    res = tmp_path / "analyzed"
    rc = main(["analyze", str(trial), "--height", str(h), "--mass", str(m), "--muscles",
               "--policy", str(out / "policy.npz"), "--out", str(res)])
    assert rc in (0, 3)  # 3: a policy from 2 DAgger iterations may lose track; outputs written
    doc = json.loads((res / "metrics.json").read_text())
    assert doc["info"]["controller"] == "policy" and doc["metrics"]["muscles"]["count"] == 92
    assert (res / "activations.sto").is_file()


def test_train_distill_takes_the_muscle_settings_with_muscles(monkeypatch, tmp_path):
    """`kintwin train --distill N --muscles` fits ``MUSCLE_EPOCHS`` per DAgger iteration (the
    teacher's reserve weight, the other muscle setting, is checked on a distillation above);
    without --muscles the torque twin's 20."""
    import kintwin.learn.distill as distill_module
    from kintwin.motion.kinematics_io import write_motion

    class Stop(Exception):
        pass

    seen = []

    def record(trials, config=None, controller=None, log=None, muscles=None):
        seen.append((config, muscles))
        raise Stop

    monkeypatch.setattr(distill_module, "distill", record)
    w = sample_walk(duration_s=1.0)
    trial = write_motion(tmp_path / "walk.mot", w)
    args = ["train", str(trial), "--height", str(w.subject.height_m), "--mass", str(w.subject.mass_kg),
            "--distill", "3", "--seed", "2"]
    for extra in (["--muscles"], []):
        with pytest.raises(Stop):
            main([*args, *extra, "--out", str(tmp_path / f"out{len(extra)}")])
    (muscle_cfg, drive), (torque_cfg, none) = seen
    assert drive is not None and none is None
    assert (muscle_cfg.epochs, torque_cfg.epochs) == (distill_module.MUSCLE_EPOCHS, 20) == (40, 20)
    assert muscle_cfg.iterations == torque_cfg.iterations == 3 and muscle_cfg.seed == 2


def test_committed_muscle_policies_record_their_reserve_gear_and_action_kind(tmp_path):
    """A muscle policy's reserve actions are in units of the reserve motors' gear; one loaded with
    another gear than it was distilled with falls (a 40 N*m policy run at 100 N*m: MAE 17 deg, not
    completed). Its muscle actions are excitations; one whose muscle actions were planned
    activations (distilled before) is refused, not run with the wrong meaning. Every committed
    muscle checkpoint records both and loads."""
    from pathlib import Path

    from kintwin.errors import InputError
    from kintwin.learn.checkpoint import load_checkpoint, save_checkpoint
    from kintwin.learn.distill import MUSCLE_ACTIONS, load_distilled

    files = sorted((Path(__file__).resolve().parents[1] / "bench" / "results").glob("*.npz"))
    cks = {f: load_checkpoint(f) for f in files}
    muscle = [f for f, ck in cks.items() if ck.metadata.get("muscles") is not None]
    assert muscle, "no committed muscle policy found"
    for f in muscle:
        policy = load_distilled(f)
        assert policy.reserves_nm is not None and policy.metadata["muscle_actions"] == MUSCLE_ACTIONS, f.name
    ck = cks[muscle[0]]
    old = {k: v for k, v in ck.metadata.items() if k != "muscle_actions"}
    save_checkpoint(tmp_path / "old.npz", ck.state, ck.config, old)
    with pytest.raises(InputError, match="distil it again|planned activations"):
        load_distilled(tmp_path / "old.npz")
