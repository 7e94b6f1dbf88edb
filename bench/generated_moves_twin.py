"""The controller twin and ``kintwin id`` on generated trials that are not level walking
(``motion/sample_moves.py``): non-level support, one leg, a jump.

``kintwin analyze --controller qp`` on ``step_stand`` (2 s: the right foot on a 15 cm step, the
weight shifting between the feet), ``step_up`` (6 s: stepping up onto it, right foot first;
``step_up_close``: the same step 25 cm ahead instead of 30, its edge near the toes of the feet on
the floor; ``step_up_low``: a 5 cm step) and ``one_leg_stand`` (2 s on the left leg, the right foot held still 20 cm up: no box wanted) and
``countermovement_jump`` (2.9 s: 15 cm down, take-off at 1.4 m/s, 0.29 s of flight, landing),
1.75 m / 70 kg. No plates: each trial is scored against its own kinematics-only contact estimate
(the controller's prior, ``dynamics/contact_estimation`` on the same calibrated model and support)
and physics: the support built (``sim/terrain.py``), completed, joint MAE, mean pelvis residual
force and moment, the total vertical ground reaction (%BW: 5th, 50th, 95th percentile), the
per-foot vertical force against the estimate's (mean absolute difference, %BW) and the height of
each loaded foot's centre of pressure; and ``kintwin id`` without plates on the same trial (the
support it builds, its total vertical ground reaction and mean residual force).

    .venv/bin/python bench/generated_moves_twin.py   # bench/results/generated_moves_twin.json

Outputs under ``runs/generated_moves_twin/``.
"""

from __future__ import annotations

import json

import numpy as np

from paths import REPO  # noqa: E402
OUT = REPO / "runs" / "generated_moves_twin"


def main() -> None:
    from kintwin.control.wholebody import default_config
    from kintwin.models.subject import SubjectSpec
    from kintwin.motion.kinematics_io import write_motion
    from kintwin.motion.sample_moves import countermovement_jump, one_leg_stand, step_stand, step_up
    from kintwin.motion.storage import read_table
    from kintwin.twin.analyze import TrialJob, analyze_trial
    from kintwin.dynamics.contact_estimation import estimate_contacts
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import build_model
    from kintwin.twin.controlled import prepare

    OUT.mkdir(parents=True, exist_ok=True)
    weight_n = 70.0 * 9.81
    result = {}
    for name, motion in (("step_stand", step_stand()), ("step_up", step_up()),
                         ("step_up_close", step_up(reach_m=0.25)), ("step_up_low", step_up(step_m=0.05)),
                         ("one_leg_stand", one_leg_stand()), ("countermovement_jump", countermovement_jump())):
        path = write_motion(OUT / f"{name}.mot", motion)
        m = analyze_trial(TrialJob(trial=str(path), out_dir=OUT / name, subject=SubjectSpec(1.75, 70.0),
                                   controller="qp"), progress=False)
        info = json.loads((OUT / name / "metrics.json").read_text())["info"]
        grf = read_table(OUT / name / "grf.mot")
        t = grf.time_s
        vert = {s: grf.column(c) / weight_n * 100 for s, c in (("r", "ground_force_vy"), ("l", "1_ground_force_vy"))}
        cop_y = {s: grf.column(c) for s, c in (("r", "ground_force_py"), ("l", "1_ground_force_py"))}
        # the controller's prior at the output times
        model, cref, _, _ = prepare(default_skeleton(1.75, 70.0), motion, default_config())
        idx = np.round((t - motion.time_s[0]) / model.opt.timestep).astype(int)  # physics frames
        idx = np.clip(idx, 0, len(cref.prior_index) - 1)
        prior = cref.sphere_force_n[cref.prior_index[idx]][:, :, 2] / weight_n * 100
        half = prior.shape[1] // 2
        est = {"r": prior[:, :half].sum(axis=1), "l": prior[:, half:].sum(axis=1)}
        total = vert["r"] + vert["l"]
        result[name] = {
            "terrain_boxes": info["terrain_boxes"], "not_built": info["terrain_boxes_not_built"],
            "completed": m["completed"],
            "joint_angle_mae_deg": m["joint_angle_mae_deg"],
            "residual_force_mean_pct_bw": m["residual_force_mean_pct_bw"],
            "residual_moment_mean_pct_bw_height": m["residual_moment_mean_pct_bw_height"],
            "total_vertical_pct_bw_p5_p50_p95": [round(float(v), 1) for v in np.percentile(total, [5, 50, 95])],
            "foot_vertical_vs_estimate_mae_pct_bw": {s: round(float(np.abs(vert[s] - est[s]).mean()), 1) for s in vert},
            "loaded_cop_height_m": {s: sorted({round(float(h), 3) for h in cop_y[s][vert[s] > 5]}) for s in vert},
            "total_vertical_peak_pct_bw": round(float(total.max()), 1),
            "frames_without_ground_reaction": int((total < 2).sum()), "frame_s": float(t[1] - t[0]),
        }
        est = estimate_contacts(motion, build_model(default_skeleton(1.75, 70.0)), mass_kg=70.0,
                                height_m=1.75)  # kintwin id without plates
        est_total = (est.grf.vertical_n("r") + est.grf.vertical_n("l")) / weight_n * 100
        result[name]["id_estimate"] = {
            "terrain_boxes": est.info["terrain_boxes"], "floor_height_m": est.info["floor_height_m"],
            "total_vertical_pct_bw_p5_p50_p95": [round(float(v), 1) for v in np.percentile(est_total, [5, 50, 95])],
            "residual_force_mean_pct_bw": float(np.linalg.norm(est.residual_force_n, axis=1).mean() / weight_n * 100),
            "total_vertical_peak_pct_bw": round(float(est_total.max()), 1)}
        print(name, json.dumps(result[name]), flush=True)
    (REPO / "bench" / "results" / "generated_moves_twin.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
