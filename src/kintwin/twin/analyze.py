"""Analyze trials with the twin: simulate, score, write the results layout and the HTML report."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..analysis.results import write_results
from ..errors import InputError
from ..models.build import SimOptions, build_model
from ..models.coordinates import PELVIS_COORDINATES
from ..models.subject import SubjectSpec, resolve_subject
from ..motion.checks import (check_kinematics, check_reactions, check_time_overlap,
                             time_window)
from ..motion.kinematics_io import read_motion, write_motion
from ..motion.motion import Motion
from ..motion.sample import sample_walk
from ..workers import one_blas_thread

SAMPLE = "sample"  # the trial name that means the generated sample walking trial
KINEMATICS_SUFFIXES = (".mot", ".sto")


@dataclass
class TrialJob:
    trial: str  # a kinematics file or SAMPLE
    out_dir: Path
    subject: SubjectSpec
    policy: str | None = None
    finetune_steps: int = 0
    grf: str | None = None
    loads: str | None = None
    foot_of: dict | None = None
    reference_id: str | None = None
    reference_convention: str = "auto"  # "auto": detected against the trial's inverse dynamics
    convention: str = "auto"
    coordinate_map: str | None = None
    angle_units: str = "header"
    allow_out_of_range: bool = False
    start: float | None = None
    end: float | None = None
    video: bool = False  # an animated GIF of the twin beside the reference in the report
    #: "policy", "qp", or None: "policy" when a policy file or fine-tuning is asked for, else "qp"
    #: (the whole-body controller: on subject01 its per-foot vertical GRF is 8 %BW off the
    #: plates, the shipped policy's 39 %BW; BENCHMARKS.md, issues 15 and 16)
    controller: str | None = None
    muscles: str | None = None  # an .osim whose muscles drive legs and trunk (controller "qp")


def expand_trials(items: list[str]) -> list[str]:
    """Files, folders (their .mot/.sto files) or the word ``sample``."""
    out = []
    for item in items:
        p = Path(item)
        if item == SAMPLE:
            out.append(item)
        elif p.is_dir():
            found = sorted(str(f) for f in p.iterdir() if f.suffix in KINEMATICS_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{p}: no .mot/.sto kinematics files in this folder")
            out += found
        elif p.exists():
            out.append(item)
        else:
            raise FileNotFoundError(f"trial {item} not found")
    return out


def load_trial(job: TrialJob) -> Motion:
    """The job's trial (read, in its time window)."""
    if job.trial == SAMPLE:
        motion = sample_walk()
    else:
        motion = read_motion(job.trial, convention=job.convention,
                             coordinate_map=job.coordinate_map, angle_units=job.angle_units)
    return time_window(motion, job.start, job.end)


def _policy_fits(policy, model) -> str | None:
    """Why the policy cannot drive this model (None: it can)."""
    from ..sim.tracking import FREE_QPOS, obs_size

    want = (obs_size(model.nq - FREE_QPOS, policy.tracking, n_controls=model.nu), model.nu)
    if (policy.obs_size, policy.action_size) != want:
        return (f"it was trained for {policy.action_size - 6} joint motors and {policy.obs_size} "
                f"observations; this model has {model.nu - 6} and {want[0]}")
    return None


@dataclass
class CheckedTrial:
    """A job's inputs, read and checked before any simulation (``check_job``)."""

    motion: Motion
    skeleton: object
    model: object  # the torque model with foot sensors (the policy's; ranges checked on it)
    reference_grf: object | None
    reference_moments: tuple | None  # (time_s, {coordinate: N*m}) in canonical signs
    reference_convention: str | None
    plate_sync: dict | None = None  # dynamics.inverse_dynamics.plate_sync of the plates


def controller_of(job: TrialJob) -> str:
    """"policy" or "qp": the job's controller, by default a given policy, else the controller."""
    return job.controller or ("policy" if job.policy or job.finetune_steps else "qp")


def check_job(job: TrialJob, note=None) -> CheckedTrial:
    """Read and check everything a job needs (trial, subject, ranges, references and their time
    overlap, the reference's sign convention); raises ``InputError`` before any simulation."""
    from ..analysis.metrics import load_reference_moments
    from ..motion.grf import read_grf
    from ..motion.storage import read_table

    motion = load_trial(job)
    kw = {} if note is None else {"note": note}
    skeleton = resolve_subject(job.subject, motion.subject, **kw)
    motion.subject.height_m, motion.subject.mass_kg = skeleton.height_m, skeleton.mass_kg
    model = build_model(skeleton, SimOptions(foot_sensors=True))  # the twin reports GRFs
    check_kinematics(motion, model, allow=job.allow_out_of_range)
    from ..sim.floor import NonLevelSupportError, check_level_support, level_floor, lowest_foot_points

    if controller_of(job) == "policy":  # learned on a level floor; the controller twin builds
        check_level_support(model, motion.to_qpos(model, warn=False), motion.rate_hz,  # the
                            t0_s=float(motion.time_s[0]))  # support instead (sim/terrain.py)
    # plates to feet by the feet in the frame the twin levels to (sim/floor.py, "Tilted floor")
    feet = lowest_foot_points(model, level_floor(model, motion)[0]) if job.grf else None
    ref_grf = read_grf(job.grf, loads_xml=job.loads, foot_of=job.foot_of,
                       feet=lambda: feet) if job.grf else None
    sync = None
    if ref_grf is not None:
        from ..dynamics.inverse_dynamics import warn_plate_sync

        check_reactions(motion, ref_grf, job.grf, mass_kg=skeleton.mass_kg, feet=lambda: feet)
        sync = warn_plate_sync(motion, model, ref_grf, job.grf)
    ref_moments, conv = None, None
    if job.reference_id:
        check_time_overlap(motion, read_table(job.reference_id).time_s, "reference moments",
                           job.reference_id)
        estimate = None
        if job.reference_convention == "auto":  # the trial's kinematics-only inverse dynamics
            from ..dynamics.contact_estimation import estimate_contacts

            try:
                estimate = estimate_contacts(motion, model, mass_kg=skeleton.mass_kg,
                                             height_m=skeleton.height_m)
            except NonLevelSupportError as err:
                raise InputError(f"cannot tell the sign convention of the reference moments "
                                 f"{job.reference_id} on this trial: {err}",
                                 advice="give --reference-convention legacy|canonical") from None
        t, m, conv = load_reference_moments(job.reference_id, job.reference_convention, estimate)
        ref_moments = (t, m)
    return CheckedTrial(motion, skeleton, model, ref_grf, ref_moments, conv, sync)


def measured_only(reference: Motion, trial: Motion) -> Motion:
    """The twin's ``reference`` with only the coordinates the ``trial`` file gave (and the pelvis).
    The model's other coordinates (the arms and neck of a lower-body IK file) were held at the
    model's neutral pose: they are not data, so they are neither scored nor written as reference
    (scored, the 17 of subject01's gait2354 IK, at ~0 error, halved its joint MAE). A coordinate
    the file holds constant stays: an IK's locked joint (gait2354's toes) cannot be told from a
    posture held on purpose (the sample walk's trunk lean)."""
    return reference.reordered([n for n in reference.names
                                if n in trial.names or n in PELVIS_COORDINATES])


def analyze_trial(job: TrialJob, progress: bool = True, checked: CheckedTrial | None = None) -> dict:
    """Everything for one trial; returns its metrics (also written to ``metrics.json``)."""
    from ..analysis.tracking_metrics import compute_all
    from ..report.html import write_report

    t0 = time.perf_counter()
    say = print if progress else (lambda *a, **k: None)
    name = Path(job.trial).stem
    c = checked or check_job(job, note=lambda text: say(f"[{name}] note: {text}", flush=True))
    motion, skeleton, model, ref_grf = c.motion, c.skeleton, c.model, c.reference_grf
    subject = (float(skeleton.height_m), float(skeleton.mass_kg))
    controller, policy, policy_name = controller_of(job), None, None
    if controller == "policy":
        from .runner import load_policy, shipped_policy

        if job.policy:
            policy_name, path = str(job.policy), job.policy
        else:
            gait, path = shipped_policy(motion, model)
            policy_name = f"shipped ({gait})"
            say(f"[{name}] the shipped {gait} policy", flush=True)
        policy = load_policy(path)
        muscle_policy = getattr(policy, "muscles", None) is not None
        if job.muscles and not muscle_policy:
            raise InputError("this policy drives the torque-driven twin, not the muscle-driven one",
                             advice="leave out --policy (the whole-body controller drives the "
                                    "muscles) or give a policy distilled with kintwin train --muscles")
        why = None if muscle_policy else _policy_fits(policy, model)  # sized on its muscle model
        if why:
            raise InputError(f"the policy does not fit this model: {why}",
                             advice="leave out --controller policy and --policy: the whole-body "
                                    "controller drives any model")
    distilled = False
    if policy is not None:  # (the controller twin does not import learn.distill)
        from ..learn.distill import DistilledPolicy

        distilled = isinstance(policy, DistilledPolicy)
    if job.finetune_steps and controller == "qp":
        raise InputError("--finetune-steps fine-tunes a policy: not the whole-body controller")
    span = motion.time_s[-1] - motion.time_s[0]
    if job.finetune_steps and distilled:
        from .runner import finetune_distilled

        say(f"[{name}] fine-tuning the policy for {job.finetune_steps} steps ...", flush=True)
        policy = finetune_distilled(policy, skeleton, motion, job.finetune_steps)
    if controller == "policy" and not distilled:
        from .runner import finetune, run_twin

        if job.finetune_steps:
            say(f"[{name}] fine-tuning the policy for {job.finetune_steps} steps ...", flush=True)
            policy = finetune(policy, model, motion, subject, job.finetune_steps, progress=progress)
        say(f"[{name}] running the twin (policy) over {span:.2f} s ...", flush=True)
        run = run_twin(policy, model, motion, subject)
        results, reference, completed, terminated_at = (run.results, run.reference, run.completed,
                                                        run.terminated_at_s)
    else:
        from .controlled import run_controlled_twin

        what = "policy distilled from the whole-body controller" if distilled else "whole-body controller"
        drive = None
        if job.muscles:
            from .controlled import MuscleDrive

            what = "whole-body controller, muscle-driven"
            drive = MuscleDrive(job.muscles)
            say(f"[{name}] building the muscle model ...", flush=True)
        say(f"[{name}] running the twin ({what}) over {span:.2f} s ...", flush=True)
        tw = run_controlled_twin(skeleton, motion, progress=progress, policy=policy, muscles=drive)
        model, results, reference = tw.model, tw.results, tw.reference
        completed, terminated_at = tw.completed, tw.terminated_at_s
    say(f"[{name}] scoring and writing the outputs ...", flush=True)
    reference = measured_only(reference, motion)
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = compute_all(results, reference, reference_grf=ref_grf,
                          reference_moments=c.reference_moments, model=model,
                          terminated_at_s=terminated_at)
    metrics["completed"] = completed
    # in kinematics.mot's convention, so the two open side by side in OpenSim
    convention = results.kinematics.source_convention
    write_motion(out / "reference_kinematics.mot", reference, convention=convention)
    results.info.update({"reference_kinematics": "reference_kinematics.mot",
                         "reference_kinematics_convention": convention, "trial": job.trial,
                         "controller": controller,
                         "policy": policy_name,
                         "finetune_steps": job.finetune_steps,
                         "reference_convention": c.reference_convention, "plate_sync": c.plate_sync})
    write_results(out, results, metrics)
    video = None
    if job.video:
        from ..report.video import render_video

        say(f"[{name}] rendering the video ...", flush=True)
        ref_q = reference.to_qpos(model, warn=False)[1:]  # reference frame k+1 = twin frame k
        video = render_video(model, results.kinematics.to_qpos(model, warn=False), ref_q,
                             results.info["control_rate_hz"], out / "twin.gif")
    report = write_report(out, results, metrics, reference, reference_grf=ref_grf,
                          reference_moments=c.reference_moments, trial_name=name,
                          subject={"Height (m)": f"{subject[0]:.2f}", "Mass (kg)": f"{subject[1]:.1f}"},
                          video=video)
    say(f"[{name}] done in {time.perf_counter() - t0:.1f} s: {report}", flush=True)
    return metrics


def analyze_trials(jobs: list[TrialJob], workers: int = 2) -> list[tuple[TrialJob, dict | Exception]]:
    """Several trials in parallel processes (one per core, each on one BLAS thread:
    ``kintwin.workers``). Every job's inputs are checked first
    (an ``InputError`` is raised before any simulation); errors of the simulation itself are
    returned per trial, not raised."""
    if len(jobs) == 1:
        return [(jobs[0], analyze_trial(jobs[0]))]
    for job in jobs:
        check_job(job, note=lambda text, n=Path(job.trial).stem: print(f"[{n}] note: {text}"))
    out = []
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=one_blas_thread) as pool:
        futures = [(job, pool.submit(analyze_trial, job, True)) for job in jobs]
        for job, f in futures:
            try:
                out.append((job, f.result()))
            except Exception as e:  # noqa: BLE001 - reported per trial in the summary
                out.append((job, e))
    return out
