"""Compile a ``Skeleton`` into a MuJoCo model with ``MjSpec``.

What the builder adds to the skeleton:

* World: Z-up, a floor plane at z = 0. The root's neutral orientation is +90 deg about X, so
  OpenSim's Y-up segment frames sit upright in MuJoCo's Z-up world.
* The root body gets a free joint (``root``); every ``Dof`` becomes a hinge (or slide) joint with
  its coordinate name, range (limited) and a small armature.
* Coupled dofs (``Dof.coupled_to``, e.g. the imported gait2392/Hamner knee's tibia translations):
  a joint WITHOUT limits and without a motor, tied to its master coordinate by a joint equality
  constraint (``mjEQ_JOINT``, ``polycoef`` = ``Dof.polycoef``; reference positions are 0, so
  ``q = c0 + c1 x + ... + c4 x^4``), nearly hard: ``solref`` = (2 timesteps, 1), ``solimp``
  (0.9999, 0.9999, 0.001): the gait2354 knee stays within 0.1 mm of its quartic while flailing in
  the air and within 0.03 mm on landing (tests/test_osim_import.py).
* Actuators: one torque motor per joint coordinate (coupled dofs excluded) named like the
  coordinate, control in [-1, 1]
  and gear = peak torque (N*m); six pelvis residual actuators (``residual_fx`` ... ``residual_mz``)
  acting at the pelvis origin along the WORLD axes (site transmission with a world reference site),
  gear = ``residual_force_bw`` body weights (N) and ``residual_moment_bw_h`` body weight x height (N*m).
* Contact: only the foot contact spheres collide, and only with the floor (no self-collision);
  friction 1.0 (shoe on floor). Segment capsules are visual only (group 1).
* Sensors, with ``SimOptions.foot_sensors`` (the twin's model): per foot, one MuJoCo contact
  sensor ``grf_r`` / ``grf_l`` (the foot's subtree against the world body's geoms: the floor and
  any support boxes of ``sim/terrain.py``; ``reduce="netforce"``: net
  force, torque and point in world axes), read by ``kintwin.sim.ground_reaction`` at every
  physics step (``mujoco.rollout`` returns them). Off by default: they cost ~15 % of the physics
  rate (21.7k -> 18.8k steps/s on one core), which training does not need; the dynamics are the
  same with and without them.

Simulation settings (``SimOptions``) are chosen for speed at acceptable accuracy: 2 ms step,
``implicitfast`` integrator (stable with stiff contacts at this step), Newton solver with few
iterations (few contacts, small problem), pyramidal friction cones.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from ..motion.frames import OSIM_TO_MUJOCO_QUAT
from .coordinates import RESIDUAL_ACTUATORS
from .skeleton import Skeleton

GRAVITY = 9.81
# Contact sensor settings: data = force, torque, pos (bits of mjtConDataField); reduce = netforce.
GRF_SENSOR_DATA = sum(1 << int(f) for f in (mujoco.mjtConDataField.mjCONDATA_FORCE,
                                            mujoco.mjtConDataField.mjCONDATA_TORQUE,
                                            mujoco.mjtConDataField.mjCONDATA_POS))
GRF_SENSOR_NETFORCE = 3


@dataclass
class SimOptions:
    timestep: float = 0.002
    iterations: int = 10
    ls_iterations: int = 6
    friction: float = 1.0
    armature: float = 0.01  # kg*m^2 added to each joint's inertia (numerical stability)
    residual_force_bw: float = 1.0  # residual force gear, body weights
    residual_moment_bw_h: float = 0.25  # residual moment gear, body weight x height
    foot_sensors: bool = False  # per-foot contact-wrench sensors (the twin's ground reactions)
    # Foot-floor contact softness (MuJoCo solref time constant, s; solimp dmin, dmax); MuJoCo's
    # defaults here. A stance foot sinks until the contact carries its load: ~5 mm under body
    # weight with these, ~1 mm with dmax 0.99.
    contact_timeconst_s: float = 0.02
    contact_dmin: float = 0.9
    contact_dmax: float = 0.95


def build_spec(skeleton: Skeleton, options: SimOptions | None = None) -> mujoco.MjSpec:
    opt = options or SimOptions()
    spec = mujoco.MjSpec()
    spec.modelname = skeleton.name
    spec.compiler.degree = False
    spec.option.timestep = opt.timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.solver = mujoco.mjtSolver.mjSOL_NEWTON
    spec.option.iterations = opt.iterations
    spec.option.ls_iterations = opt.ls_iterations
    spec.option.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL
    spec.option.gravity = [0, 0, -GRAVITY]

    world = spec.worldbody
    solref = [opt.contact_timeconst_s, 1.0]
    solimp = [opt.contact_dmin, opt.contact_dmax, 0.001, 0.5, 2.0]
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[50, 50, 0.1],
                   contype=0, conaffinity=1, friction=[opt.friction, 0.005, 0.0001],
                   solref=solref, solimp=solimp, rgba=[0.85, 0.85, 0.8, 1])
    world.add_site(name="world_origin", pos=[0, 0, 0])
    world.add_light(pos=[0, -2, 4], dir=[0, 0.4, -1])

    created = {}
    for i, b in enumerate(skeleton.bodies):
        if i == 0:
            body = world.add_body(name=b.name, quat=OSIM_TO_MUJOCO_QUAT)
            body.add_freejoint(name="root")
        else:
            body = created[b.parent].add_body(name=b.name, pos=b.pos_in_parent, quat=b.quat_in_parent)
            for d in b.dofs:
                jt = mujoco.mjtJoint.mjJNT_HINGE if d.kind == "hinge" else mujoco.mjtJoint.mjJNT_SLIDE
                limited = mujoco.mjtLimited.mjLIMITED_FALSE if d.coupled_to else \
                    mujoco.mjtLimited.mjLIMITED_TRUE
                body.add_joint(name=d.name, type=jt, pos=b.joint_pos, axis=d.axis,
                               range=list(d.range), limited=limited, armature=opt.armature)
        created[b.name] = body
        body.explicitinertial = True
        body.mass = b.mass_kg
        body.ipos = b.com
        body.fullinertia = b.inertia
        for c in b.capsules:
            body.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=np.r_[c.start, c.end],
                          size=[c.radius, 0, 0], contype=0, conaffinity=0, group=1,
                          rgba=[0.75, 0.6, 0.5, 0.6])
        for c in b.contacts:
            body.add_geom(name=c.name, type=mujoco.mjtGeom.mjGEOM_SPHERE, pos=c.pos,
                          size=[c.radius, 0, 0], contype=1, conaffinity=0, condim=3, group=2,
                          friction=[opt.friction, 0.005, 0.0001], solref=solref, solimp=solimp,
                          rgba=[0.2, 0.4, 0.8, 1])
        for name, p in b.sites.items():
            body.add_site(name=name, pos=p, size=[0.01, 0, 0])

    _add_couplings(spec, skeleton, opt)
    weight_n = skeleton.mass_kg * GRAVITY
    for d in skeleton.dofs:
        if d.coupled_to:
            continue  # moved by its master through the equality constraint: no motor
        a = spec.add_actuator(name=d.name, target=d.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_motor()
        a.gear[0] = d.peak_torque_nm
        a.ctrlrange = [-1, 1]
        a.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    root_site = "pelvis_origin"
    if not any(root_site in b.sites for b in skeleton.bodies[:1]):
        created[skeleton.bodies[0].name].add_site(name=root_site, pos=[0, 0, 0], size=[0.01, 0, 0])
    for k, name in enumerate(RESIDUAL_ACTUATORS):
        a = spec.add_actuator(name=name, target=root_site, trntype=mujoco.mjtTrn.mjTRN_SITE,
                              refsite="world_origin")
        a.set_to_motor()
        gear = np.zeros(6)
        gear[k] = weight_n * (opt.residual_force_bw if k < 3 else opt.residual_moment_bw_h * skeleton.height_m)
        a.gear = gear
        a.ctrlrange = [-1, 1]
        a.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    if opt.foot_sensors:
        _add_foot_sensors(spec, skeleton)
    return spec


def _add_foot_sensors(spec: mujoco.MjSpec, skeleton: Skeleton) -> None:
    """A net contact-wrench sensor per foot on the subtree holding that side's contact spheres."""
    parent = {b.name: b.parent for b in skeleton.bodies}

    def ancestors(name):
        while name is not None:
            yield name
            name = parent.get(name)

    for side in ("r", "l"):
        bodies = [b.name for b in skeleton.bodies if any(c.name.endswith(f"_{side}") for c in b.contacts)]
        if not bodies:
            continue
        roots = [r for r in bodies if all(r in ancestors(b) for b in bodies)]
        if not roots:
            raise ValueError(f"the {side} foot's contact spheres are on bodies {bodies} that are not "
                             "one subtree: cannot sum that foot's ground reaction")
        spec.add_sensor(name=f"grf_{side}", type=mujoco.mjtSensor.mjSENS_CONTACT,
                        objtype=mujoco.mjtObj.mjOBJ_XBODY, objname=roots[0],
                        reftype=mujoco.mjtObj.mjOBJ_BODY, refname="world",  # floor and terrain
                        intprm=[GRF_SENSOR_DATA, GRF_SENSOR_NETFORCE, 1])


def _add_couplings(spec: mujoco.MjSpec, skeleton: Skeleton, opt: SimOptions) -> None:
    names = {d.name: d for d in skeleton.dofs}
    for d in skeleton.coupled_dofs:
        master = names.get(d.coupled_to)
        if master is None:
            raise ValueError(f"dof {d.name!r} is coupled to {d.coupled_to!r}, which is not a dof "
                             "of the skeleton")
        c = np.zeros(5)
        if d.polycoef is None or not 1 <= len(d.polycoef) <= 5:
            raise ValueError(f"coupled dof {d.name!r} needs 1-5 polynomial coefficients, got "
                             f"{d.polycoef!r}")
        c[:len(d.polycoef)] = d.polycoef
        eq = spec.add_equality(name=f"couple_{d.name}", type=mujoco.mjtEq.mjEQ_JOINT,
                               objtype=mujoco.mjtObj.mjOBJ_JOINT, name1=d.name, name2=d.coupled_to)
        data = np.zeros(len(eq.data))
        data[:5] = c
        eq.data = data
        eq.solref = [2 * opt.timestep, 1.0]
        eq.solimp = [0.9999, 0.9999, 0.001, 0.5, 2.0]


def build_model(skeleton: Skeleton, options: SimOptions | None = None) -> mujoco.MjModel:
    return build_spec(skeleton, options).compile()
