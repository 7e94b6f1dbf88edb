"""The subject: height, mass, segment scales or an OpenSim model, resolved by one set of rules.

Every command and the twin build the subject's ``Skeleton`` with ``resolve_subject``:

* ``osim`` given: the model's own geometry and segment masses. Its height is estimated from the
  geometry unless ``height_m`` is given; a given ``mass_kg`` scales every segment's mass and
  inertia by the same factor (as OpenSim's Scale tool with "preserve mass distribution").
  ``scales`` cannot be combined with it (an OpenSim model is already scaled).
* otherwise the built-in anthropometric model of ``height_m`` and ``mass_kg`` with the optional
  per-segment ``scales``. Height and mass may come from the trial file (``Motion.subject``, e.g.
  the generated sample); with neither there is no default: a 70 kg guess would silently scale
  every kinetic result. Kinematics written by ``kintwin ik`` bring the segment scales they were
  solved with (its ``scales.json`` beside them, ``Motion.subject.scales_file``), used unless
  ``scales`` or ``osim`` is given: the generic leg lengths would put the feet cm off the floor.

Whatever is inferred is said through ``note`` (default: a line on stderr).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .skeleton import Skeleton

HEIGHT_RANGE_M = (0.5, 2.6)
MASS_RANGE_KG = (10.0, 300.0)
SCALE_RANGE = (0.3, 3.0)  # segment scale factors relative to the generic 1.80 m model


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr, flush=True)


@dataclass
class SubjectSpec:
    height_m: float | None = None
    mass_kg: float | None = None
    scales: str | Path | dict | None = None  # JSON file (e.g. from `kintwin ik`) or a dict
    osim: str | Path | None = None

    def check(self) -> None:
        """Values in range and files present (before any work)."""
        if self.height_m is not None and not HEIGHT_RANGE_M[0] < self.height_m < HEIGHT_RANGE_M[1]:
            raise InputError(f"height {self.height_m} m is outside {HEIGHT_RANGE_M[0]}-"
                             f"{HEIGHT_RANGE_M[1]} m", advice="give the height in metres")
        if self.mass_kg is not None and not MASS_RANGE_KG[0] < self.mass_kg < MASS_RANGE_KG[1]:
            raise InputError(f"mass {self.mass_kg} kg is outside {MASS_RANGE_KG[0]:.0f}-"
                             f"{MASS_RANGE_KG[1]:.0f} kg", advice="give the mass in kilograms")
        if self.osim is not None and self.scales is not None:
            raise InputError("--scales applies to the built-in model; an --osim model is already "
                             "scaled", advice="give one of them")
        for f in (self.osim, self.scales):
            if isinstance(f, (str, Path)) and not Path(f).is_file():
                raise InputError(f"no such file: {f}")
        if self.scales is not None:
            load_scales(self.scales)


def load_scales(source: str | Path | dict | None) -> dict[str, float] | None:
    """Per-segment scale factors from a JSON file (``{"segment_scales": {...}}`` as written by
    ``kintwin ik``, or a flat ``{"femur_r": 1.05, ...}``) or a dict; each within ``SCALE_RANGE``."""
    if source is None:
        return None
    if isinstance(source, dict):
        data = source
    else:
        try:
            data = json.loads(Path(source).read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"{source}: not a JSON file of segment scales ({e})") from None
    data = data.get("segment_scales", data) if isinstance(data, dict) else data
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected {{segment: factor}}, e.g. {{\"femur_r\": 1.05}}")
    out = {}
    for k, v in data.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            raise InputError(f"{source}: scale of {k!r} is not a number: {v!r}") from None
        if not SCALE_RANGE[0] <= out[str(k)] <= SCALE_RANGE[1]:
            raise InputError(f"{source}: scale factor {v} of {k!r} is outside {SCALE_RANGE[0]}-"
                             f"{SCALE_RANGE[1]} (factors are relative to the generic 1.80 m model)")
    return out


def with_total_mass(skeleton: Skeleton, mass_kg: float) -> Skeleton:
    """Every segment's mass and inertia scaled by one factor so the total is ``mass_kg``."""
    k = mass_kg / skeleton.mass_kg
    for b in skeleton.bodies:
        b.mass_kg *= k
        b.inertia = np.asarray(b.inertia, float) * k
    return skeleton


def resolve_subject(spec: SubjectSpec, trial_subject=None, note=_note) -> Skeleton:
    """The subject's Skeleton by the rules in the module docstring. ``trial_subject`` is the
    trial's ``motion.Subject`` (height/mass a file may carry), used when the spec has none."""
    spec.check()
    if spec.osim is not None:
        from .osim import load_osim

        skeleton = load_osim(spec.osim, height_m=spec.height_m)
        if spec.height_m is None:
            note(f"height {skeleton.height_m:.3f} m estimated from the OpenSim model's geometry "
                 "(--height to set it)")
        if spec.mass_kg is not None and abs(spec.mass_kg / skeleton.mass_kg - 1) > 1e-3:
            note(f"the OpenSim model's segment masses ({skeleton.mass_kg:.1f} kg) scaled to "
                 f"--mass {spec.mass_kg:.1f} kg")
            with_total_mass(skeleton, spec.mass_kg)
        return skeleton
    height, mass = spec.height_m, spec.mass_kg
    from_trial = []
    if height is None and trial_subject is not None and trial_subject.height_m:
        height = float(trial_subject.height_m)
        from_trial.append(f"height {height:.2f} m")
    if mass is None and trial_subject is not None and trial_subject.mass_kg:
        mass = float(trial_subject.mass_kg)
        from_trial.append(f"mass {mass:.1f} kg")
    if height is None or mass is None:
        missing = " and ".join(n for n, v in (("--height (m)", height), ("--mass (kg)", mass))
                               if v is None)
        raise InputError(f"the subject's {missing} is needed",
                         advice="give --height and --mass, or --osim MODEL for a scaled OpenSim model")
    scales = spec.scales
    ik_scales = getattr(trial_subject, "scales_file", None)
    if scales is None and ik_scales:
        scales = ik_scales
        from_trial.append(f"segment scales ({ik_scales}, written by kintwin ik with the "
                          "kinematics; --scales to choose others)")
    if from_trial:
        note(f"{' and '.join(from_trial)} from the trial file")
    SubjectSpec(height, mass).check()
    from .anthropometry import default_skeleton

    return default_skeleton(height, mass, load_scales(scales))
