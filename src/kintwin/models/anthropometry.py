"""The built-in full-body skeleton, scaled to a subject's height and mass.

Sources (cited next to the numbers they give):

* Joint centres, joint axes and segment frames: the OpenSim gait2392 / Hamner 2010 full-body
  model (Delp et al. 1990, IEEE TBME 37:757; Anderson & Pandy 1999; Hamner, Seth & Delp 2010,
  J Biomech 43:2709), generic model of a 1.80 m adult, scaled here by height. Knee translations,
  which are functions of knee angle in gait2392, are fixed at their value at 20 deg of flexion.
  The neck joint and head segment are added at the cervical (C7) level.
* Segment masses, centres of mass and radii of gyration: de Leva 1996, "Adjustments to
  Zatsiorsky-Seluyanov's segment inertia parameters", J Biomech 29:1223, Table 4 (males):
  mass as a fraction of body mass, COM as a fraction of segment length from the proximal joint,
  radii of gyration as fractions of segment length (sagittal, transverse, longitudinal axes).
  The trunk is split into the pelvis (de Leva's lower trunk, LPT) and the torso (UPT + MPT).

All positions scale with ``height / 1.80`` or an optional per-segment factor; masses are the
de Leva fractions of the subject's mass (they sum to exactly 1); inertias follow m * (r * L)^2
with the scaled segment length L, so they scale consistently.
"""

from __future__ import annotations

import numpy as np

from . import feet
from .skeleton import Body, Capsule, ContactSphere, Dof, Skeleton

GENERIC_HEIGHT_M = 1.80
REFERENCE_MASS_KG = 75.0  # peak torques below are for this mass; they scale with subject mass

# Peak joint torques (N*m) of the torque motors for a REFERENCE_MASS_KG subject, by coordinate name
# without the side suffix; every model source (built-in, imported OpenSim) scales them by mass.
PEAK_TORQUE_NM = {
    "hip_flexion": 350, "hip_adduction": 250, "hip_rotation": 120, "knee_angle": 350,
    "ankle_angle": 300, "subtalar_angle": 100, "mtp_angle": 80,
    "lumbar_extension": 350, "lumbar_bending": 250, "lumbar_rotation": 150,
    "neck_flexion": 60, "neck_bending": 50, "neck_rotation": 40,
    "arm_flex": 150, "arm_add": 150, "arm_rot": 80, "elbow_flex": 100, "pro_sup": 40,
    "wrist_flex": 30, "wrist_dev": 30,
}


def peak_torque_nm(coordinate: str, mass_kg: float, default: float | None = None) -> float:
    """Peak torque (N*m) of a coordinate's motor for a subject of ``mass_kg`` (scaled by mass).

    ``default`` (N*m at the reference mass) is used for coordinates missing from the table;
    without it an unknown coordinate raises ``KeyError``.
    """
    base = coordinate[:-2] if coordinate.endswith(("_r", "_l")) else coordinate
    if base in PEAK_TORQUE_NM:
        ref = PEAK_TORQUE_NM[base]
    elif default is not None:
        ref = default
    else:
        raise KeyError(f"no peak torque for coordinate {coordinate!r}")
    return float(ref) * (mass_kg / REFERENCE_MASS_KG)

# de Leva 1996, Table 4, males: mass fraction, COM fraction from proximal joint, radii of gyration
# (sagittal ~ about X (anterior), transverse ~ about Z (lateral), longitudinal ~ about Y).
DE_LEVA_MALE = {
    #            mass     com     r_sag  r_trans r_long
    "head":     (0.0694, 0.4024, 0.362, 0.376, 0.312),  # COM measured from C7 here (59.76 % from vertex)
    "torso":    (0.3229, 0.5000, 0.372, 0.347, 0.191),  # UPT + MPT; trunk radii (de Leva trunk)
    "pelvis":   (0.1117, 0.0000, 0.615, 0.551, 0.587),  # LPT; COM between the hip centres
    "upperarm": (0.0271, 0.5772, 0.285, 0.269, 0.158),
    "forearm":  (0.0162, 0.4574, 0.276, 0.265, 0.121),  # split equally into ulna and radius
    "hand":     (0.0061, 0.7900, 0.628, 0.513, 0.401),
    "thigh":    (0.1416, 0.4095, 0.329, 0.329, 0.149),
    "shank":    (0.0433, 0.4459, 0.255, 0.249, 0.103),
    "foot":     (0.0137, 0.4415, 0.257, 0.245, 0.124),  # split: talus 5 %, calcn 80 %, toes 15 %
}

# Segment lengths of the generic 1.80 m model used for COM and radii of gyration (m).
_HEAD_LEN, _TORSO_LEN, _PELVIS_LEN = 0.2429 * GENERIC_HEIGHT_M / 1.741, 0.43, 0.145
_HAND_LEN, _FOOT_LEN = 0.0862 * GENERIC_HEIGHT_M / 1.741, 0.258 * GENERIC_HEIGHT_M / 1.741

_DEG = np.pi / 180.0


def _dof(name, axis, lo_deg, hi_deg, mass_kg):
    a = np.asarray(axis, float)
    return Dof(name=name, axis=a / np.linalg.norm(a), range=(lo_deg * _DEG, hi_deg * _DEG),
               peak_torque_nm=peak_torque_nm(name, mass_kg))


def _inertia(mass, length, r_sag, r_trans, r_long, long_axis="y"):
    """Principal inertia (Ixx, Iyy, Izz, 0, 0, 0) from radii of gyration."""
    sag, trans, lon = (mass * (r * length) ** 2 for r in (r_sag, r_trans, r_long))
    if long_axis == "y":
        return np.array([sag, lon, trans, 0, 0, 0])
    return np.array([lon, sag, trans, 0, 0, 0])  # foot: long axis is X


def default_skeleton(height_m: float = 1.75, mass_kg: float = 75.0,
                     segment_scales: dict[str, float] | None = None) -> Skeleton:
    """Full-body skeleton with 34 hinge coordinates (see ``coordinates.JOINT_COORDINATES``).

    ``segment_scales`` maps body names (``femur_r``, ``tibia_l``, ``torso``, ...) to length scale
    factors relative to the generic 1.80 m model (as OpenSim's Scale tool reports them); they
    replace ``height / 1.80`` for that body's own geometry (its COM, shapes and child joint centres).
    """
    if not (0.5 < height_m < 2.6):
        raise ValueError(f"height {height_m} m is outside 0.5-2.6 m: give the height in metres")
    if not (10.0 < mass_kg < 300.0):
        raise ValueError(f"mass {mass_kg} kg is outside 10-300 kg: give the mass in kilograms")
    segment_scales = dict(segment_scales or {})
    s0 = height_m / GENERIC_HEIGHT_M
    bodies: list[Body] = []
    seen = set()

    def scale_of(name):
        seen.add(name)
        return float(segment_scales.get(name, s0))

    def add(name, parent, pos_in_parent, dofs, seg, length, com, joint_pos=(0, 0, 0),
            mass_share=1.0, capsules=(), contacts=(), sites=None, long_axis="y"):
        s = scale_of(name)
        ps = scale_of(parent) if parent else s
        frac, _, rs, rt, rl = DE_LEVA_MALE[seg]
        m = frac * mass_share * mass_kg
        L = length * s
        bodies.append(Body(
            name=name, parent=parent,
            pos_in_parent=np.asarray(pos_in_parent, float) * ps,
            quat_in_parent=np.array([1.0, 0, 0, 0]),
            joint_pos=np.asarray(joint_pos, float) * s,
            dofs=[_dof(n, ax, lo, hi, mass_kg) for (n, ax, lo, hi) in dofs],
            mass_kg=m, com=np.asarray(com, float) * s,
            inertia=_inertia(m, L, rs, rt, rl, long_axis),
            capsules=[Capsule(np.asarray(a, float) * s, np.asarray(b, float) * s, r * s)
                      for a, b, r in capsules],
            contacts=[ContactSphere(n, np.asarray(p, float) * s, r * s) for n, p, r in contacts],
            sites={k: np.asarray(v, float) * s for k, v in (sites or {}).items()},
        ))

    # Pelvis: root, free joint. Hip centres from gait2392.
    add("pelvis", None, (0, 0, 0), [], "pelvis", _PELVIS_LEN, (-0.0707, 0, 0),
        capsules=[((-0.0707, -0.0661, 0.0835), (-0.0707, -0.0661, -0.0835), 0.07),
                  ((-0.1007, 0.0815, 0), (-0.0707, -0.03, 0), 0.07)],
        sites={"pelvis_origin": (0, 0, 0)})
    # Leg ranges cover real movement, not only gait (deep squats, drop landings, push-offs):
    # they bound what a trial may contain (motion.checks) and where the joint limits act.
    for side, z in (("r", 1.0), ("l", -1.0)):
        m = z  # mirror factor for lateral components and for the ab/adduction and rotation axes
        add(f"femur_{side}", "pelvis", (-0.0707, -0.0661, 0.0835 * z),
            [(f"hip_flexion_{side}", (0, 0, 1), -30, 140),
             (f"hip_adduction_{side}", (m, 0, 0), -50, 30),
             (f"hip_rotation_{side}", (0, m, 0), -40, 40)],
            "thigh", 0.396, (0, -0.409 * 0.396, 0),
            capsules=[((0, 0, 0), (-0.004, -0.396, 0), 0.06)])
        # gait2392 knee: tibia frame at the spline translation (20 deg flexion); canonical knee
        # flexion is positive, so the axis is -Z.
        add(f"tibia_{side}", f"femur_{side}", (-0.0044, -0.3955, 0),
            [(f"knee_angle_{side}", (0, 0, -1), -15, 160)],
            "shank", 0.43, (0, -0.4459 * 0.43, 0),
            capsules=[((0, 0, 0), (0, -0.43, 0), 0.045)])
        add(f"talus_{side}", f"tibia_{side}", (0, -0.43, 0),
            [(f"ankle_angle_{side}", (-0.10501355 * m, -0.17402245 * m, 0.97912632), -60, 50)],
            "foot", _FOOT_LEN, (0, 0, 0), mass_share=0.05)
        add(f"calcn_{side}", f"talus_{side}", (-0.04877, -0.04195, 0.00792 * z),
            [(f"subtalar_angle_{side}", (0.78717961 * m, 0.60474746 * m, -0.12094949), -25, 25)],
            "foot", _FOOT_LEN, (0.10, 0.03, 0), mass_share=0.80, long_axis="x",
            capsules=[((0.02, 0.01, 0), (0.17, 0.0, 0.0 * z), 0.035)],
            contacts=[(f"{n}_{side}", feet.mirrored(p, side), r) for n, p, r in feet.CALCN_SPHERES],
            sites={f"heel_{side}": feet.mirrored(feet.HEEL_SITE, side)})
        add(f"toes_{side}", f"calcn_{side}", (0.1788, -0.002, 0.00108 * z),
            [(f"mtp_angle_{side}", (-0.5809544 * m, 0, 0.81393611), -30, 70)],
            "foot", _FOOT_LEN, (0.0346, 0.006, -0.0175 * z), mass_share=0.15, long_axis="x",
            capsules=[((0.0, 0.0, 0), (0.055, -0.005, 0.0), 0.02)],
            contacts=[(f"{n}_{side}", feet.mirrored(p, side), r) for n, p, r in feet.TOES_SPHERES],
            sites={f"toe_{side}": feet.mirrored(feet.TOE_SITE, side)})

    add("torso", "pelvis", (-0.1007, 0.0815, 0),
        [("lumbar_extension", (0, 0, 1), -60, 45),
         ("lumbar_bending", (1, 0, 0), -40, 40),
         ("lumbar_rotation", (0, 1, 0), -40, 40)],
        "torso", _TORSO_LEN, (-0.03, 0.24, 0),
        capsules=[((-0.03, 0.05, 0), (-0.03, 0.36, 0), 0.13)])
    add("head", "torso", (-0.01, 0.43, 0),
        [("neck_flexion", (0, 0, 1), -60, 60),
         ("neck_bending", (1, 0, 0), -40, 40),
         ("neck_rotation", (0, 1, 0), -70, 70)],
        "head", _HEAD_LEN, (0.02, 0.4024 * _HEAD_LEN, 0),
        capsules=[((0.02, 0.06, 0), (0.02, 0.16, 0), 0.09)], sites={"head": (0.02, 0.12, 0)})
    for side, z in (("r", 1.0), ("l", -1.0)):
        m = z
        add(f"humerus_{side}", "torso", (0.003155, 0.3715, 0.17 * z),
            [(f"arm_flex_{side}", (0, 0, 1), -90, 180),
             (f"arm_add_{side}", (m, 0, 0), -120, 90),
             (f"arm_rot_{side}", (0, m, 0), -90, 90)],
            "upperarm", 0.2865, (0, -0.5772 * 0.2865, 0),
            capsules=[((0, 0, 0), (0.013, -0.286, -0.0096 * z), 0.04)])
        add(f"ulna_{side}", f"humerus_{side}", (0.013144, -0.286273, -0.009595 * z),
            [(f"elbow_flex_{side}", (0.22604696 * m, 0.022269 * m, 0.97386183), 0, 150)],
            "forearm", 0.24, (0, -0.4574 * 0.24, 0), mass_share=0.5,
            capsules=[((0, 0, 0), (-0.009, -0.235, 0.0136 * z), 0.03)])
        add(f"radius_{side}", f"ulna_{side}", (-0.006727, -0.013007, 0.026083 * z),
            [(f"pro_sup_{side}", (0.05639803 * m, 0.99840646 * m, 0.001952), -20, 160)],
            "forearm", 0.24, (0, -0.4574 * 0.24, 0), mass_share=0.5)
        add(f"hand_{side}", f"radius_{side}", (-0.008797, -0.235841, 0.01361 * z),
            [(f"wrist_flex_{side}", (0, 0, 1), -70, 70),
             (f"wrist_dev_{side}", (m, 0, 0), -25, 35)],
            "hand", _HAND_LEN, (0, -0.79 * _HAND_LEN, 0),
            capsules=[((0, -0.02, 0), (0, -0.09, 0), 0.03)], sites={f"hand_{side}": (0, -0.08, 0)})

    unknown = set(segment_scales) - seen
    if unknown:
        raise ValueError(f"unknown segment(s) in segment scales: {sorted(unknown)}; "
                         f"bodies are {[b.name for b in bodies]}")
    skel = Skeleton(name="kintwin_fullbody", bodies=bodies, height_m=height_m)
    # de Leva fractions sum to 1 up to rounding: make the total mass exact.
    k = mass_kg / skel.mass_kg
    for b in bodies:
        b.mass_kg *= k
        b.inertia = b.inertia * k
    return skel
