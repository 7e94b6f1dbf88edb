"""Run a trained tracking policy over a whole trial: the digital twin of that trial.

The policy acts deterministically (its mean action) from the reference state at the trial's first
frame until the trial ends or tracking fails. At every control step the twin records the
simulated state, the joint torques it applied (what we report as the joint moments), the pelvis
residual wrench and the ground reactions under each foot (the model's foot contact sensors, mean
over the physics steps of the control step, as the torques). Each output frame is the END of a control step: its state, the
torques and contact forces during that step; the last frame is the
trial's last frame when the twin completes it. Frame 0 (the reference start state) and a step
that loses track (terminates the episode) are not in the output.

The twin only runs the policy (``learn.policy.Policy``: no trainer, no optimiser). Optionally the
policy is first fine-tuned on the trial with PPO (:func:`finetune`: that trains, so it rebuilds
the trainer from the policy's checkpoint; :func:`finetune_distilled` for a policy distilled from
the whole-body controller, which ``twin.controlled`` runs).

Also here: which policy runs when none is given (:func:`shipped_policy`: the shipped walking or
running policy, both distilled, by the trial's flight phases) and loading any policy file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from ..analysis.results import Results
from ..learn.policy import Policy
from ..motion.motion import Motion
from ..sim.cpu_backend import CpuTrackingEnv
from ..sim.ground_reaction import foot_sensor_slices
from ..sim.tracking import TrackingConfig
from ..motion.checks import check_trial_span
from .recording import Recording

_DATA = Path(__file__).resolve().parents[1] / "data"
#: the shipped policies, distilled from the whole-body controller on a motion library
#: (``bench/distill_shipped_policy.py --gait walk|run``; BENCHMARKS.md, issue 16)
SHIPPED_POLICIES = {"walking": _DATA / "policy_walk.npz", "running": _DATA / "policy_run.npz"}
#: a trial is run by the running policy when its body is in flight (the kinematics-only contact
#: estimate puts less than 5 % BW on the feet) for at least this share of its frames: measured
#: 0.36 on hamner_run, 0 on subject01's and the generated walks, the step-up and the one-leg
#: stand, 0.07 on the generated countermovement jump
FLIGHT_SHARE_OF_RUNNING = 0.10


@dataclass
class TwinRun:
    results: Results
    reference: Motion  # the reference at the control rate (what the twin tracked)
    completed: bool
    terminated_at_s: float | None


def flight_share(motion: Motion, model: mujoco.MjModel) -> float:
    """Share of the trial's frames with the body in flight: the kinematics-only contact estimate
    (``dynamics.contact_estimation``) puts less than 5 % of body weight on the feet."""
    from ..dynamics.contact_estimation import estimate_contacts
    from ..models.build import GRAVITY

    est = estimate_contacts(motion, model, mass_kg=motion.subject.mass_kg,
                            height_m=motion.subject.height_m)
    load_n = sum(est.grf.vertical_n(side) for side in est.grf.sides)
    return float(np.mean(load_n < 0.05 * motion.subject.mass_kg * GRAVITY))


def shipped_policy(motion: Motion, model: mujoco.MjModel) -> tuple[str, Path]:
    """(gait, path) of the shipped policy for this trial: "running" when the body is in flight
    for at least ``FLIGHT_SHARE_OF_RUNNING`` of it (:func:`flight_share`), else "walking"."""
    gait = "running" if flight_share(motion, model) >= FLIGHT_SHARE_OF_RUNNING else "walking"
    return gait, SHIPPED_POLICIES[gait]


def load_policy(path: str | Path) -> Policy:
    """The policy of a checkpoint written by ``kintwin train``, or a policy distilled from the
    whole-body controller (``learn.distill.DistilledPolicy``, as the shipped ones)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"policy file {path} not found: give --policy CKPT "
                                "(a checkpoint written by `kintwin train`)")
    from ..learn.distill import KIND, load_distilled

    policy = Policy.read(path)
    return load_distilled(path, policy) if policy.kind == KIND else policy


def check_trial(motion: Motion, model: mujoco.MjModel, config: TrackingConfig) -> None:
    """Reject trials the policy twin cannot run, before anything is written."""
    check_trial_span(motion, (max(config.future_frames) + 2) / config.control_rate_hz,
                     f"{max(config.future_frames) + 2} control steps at {config.control_rate_hz:g} Hz")


def _env(policy: Policy, model, motion: Motion, subject, num_envs: int = 1,
         random_start: bool = False) -> CpuTrackingEnv:
    cfg = dataclasses.replace(policy.tracking, random_start=random_start, max_episode_steps=None,
                              mirror=False)
    env = CpuTrackingEnv(model, [motion], num_envs=num_envs, config=cfg, num_threads=1 if num_envs == 1 else 2,
                         subject=subject)
    if (env.obs_size, env.action_size) != (policy.obs_size, policy.action_size):
        raise ValueError(f"the policy expects observations of size {policy.obs_size} and "
                         f"{policy.action_size} actions; this model/trial gives "
                         f"{env.obs_size} and {env.action_size} (different model?)")
    return env


def finetune(policy: Policy, model, motion: Motion, subject, steps: int, num_envs: int = 32,
             progress: bool = True) -> Policy:
    """Continue PPO training of the policy on this trial only (random start frames): the trainer
    (optimiser, value network) is rebuilt from the policy's checkpoint. Returns the fine-tuned
    policy."""
    from ..learn.checkpoint import load_trainer

    if policy.source is None:
        raise ValueError("fine-tuning continues the training of a checkpoint: this policy has none")
    env = _env(policy, model, motion, subject, num_envs=num_envs, random_start=True)
    trainer, _ = load_trainer(policy.source)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc="fine-tuning", unit="step")

    start = trainer.env_steps

    def cb(stats):
        if bar is not None:
            bar.n = min(trainer.env_steps - start, steps)
            bar.set_postfix(ret=f"{stats.get('episode_return', float('nan')):.1f}")
            bar.refresh()

    trainer.train(env, start + steps, callback=cb)
    if bar is not None:
        bar.close()
    env.close()
    return Policy.from_state(trainer.state, tracking=policy.tracking, kind=policy.kind,
                             metadata=policy.metadata, source=policy.source)


def finetune_distilled(policy, skeleton, motion: Motion, steps: int):
    """``policy`` (distilled) fine-tuned with PPO on this trial (``learn/finetune.py``) for about
    ``steps`` env steps: ``ceil(steps / 1024)`` envs, at most 128, of 1024 steps per update; the
    policy of the best evaluation (the distilled one when nothing beat it)."""
    from ..learn.finetune import FinetuneConfig, finetune

    envs = min(128, -(-steps // 1024))
    cfg = FinetuneConfig(num_envs=envs, max_iterations=-(-steps // (envs * 1024)),
                         time_budget_s=float("inf"))
    return finetune(policy, [(skeleton, motion)], cfg)[0]


def run_twin(policy: Policy, model: mujoco.MjModel, motion: Motion,
             subject: tuple[float, float]) -> TwinRun:
    """Simulate the whole trial under the policy; ``subject`` = (height_m, mass_kg)."""
    check_trial(motion, model, policy.tracking)
    if not foot_sensor_slices(model):
        raise ValueError("the twin reports ground reactions from the feet's contact sensors: build "
                         "the model with SimOptions(foot_sensors=True)")
    env = _env(policy, model, motion, subject)
    ref = env.reference.trials[0]
    obs = env.reset_to(0, 0)
    T = ref.n_frames
    rec = Recording()
    completed, terminated_at = False, None
    for k in range(1, T):
        a = policy.action(obs)
        obs, _, done, info = env.step(a)
        if done[0] and not info["truncated"][0]:  # tracking lost: this step is not recorded
            terminated_at = motion.time_s[0] + k / ref.rate_hz
            break
        # the state at the end of the step (also before the env's auto-reset at the trial's end)
        rec.add(env.physics.substep_states[0, -1, 1:1 + env.model.nq],
                info["joint_torque"][0], info["residual_force"][0], env.physics.substep_sensordata[0])
        if done[0]:  # the trial's last frame
            completed = True
            break
    env.close()
    n = len(rec)
    if n < 2:
        raise ValueError("the twin failed at once (tracking lost in the first control step): "
                         "nothing to report")
    time_s = motion.time_s[0] + np.arange(1, n + 1) / ref.rate_hz
    reference = Motion.from_qpos(env.model, motion.time_s[0] + np.arange(T) / ref.rate_hz, ref.qpos,
                                 subject=motion.subject, source_file=motion.source_file,
                                 source_convention="canonical")
    results = rec.results(env.model, time_s, motion, subject, "kintwin twin",
                          {"completed": completed, "terminated_at_s": terminated_at,
                           "control_rate_hz": ref.rate_hz, "controller": "policy"})
    return TwinRun(results, reference, completed, terminated_at)
